"""Ingestion: raw files in, events out, one batch per file seen whole or not at all (the I/O edge)."""

from __future__ import annotations

import getpass
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from pipelines import facts, readers, staging
from pipelines.errors import UserError
from pipelines.prefetch import prefetch
from pipelines.sources import SOURCES, Source
from pipelines.store import Store

FUTURE_TOLERANCE = timedelta(minutes=5)
Progress = Callable[[int, int | None], None]


@dataclass
class IngestResult:
    """What one batch did; rows_read = events_added + duplicates + rejected."""

    batch_id: str
    source: str
    file: str
    rows_read: int
    events_added: int
    duplicates: int
    rejected: int
    seconds: float

    def to_dict(self) -> dict:
        """Plain dict for JSON output."""
        return asdict(self)


def default_actor() -> str:
    """The OS user running the command, the actor of CLI writes."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def normalize(name: str) -> str:
    """Column name as matched: trimmed, lower case, inner spaces as underscores."""
    return re.sub(r"\s+", "_", name.strip().lstrip("\ufeff").strip().lower())


def resolve_columns(path: Path, columns: list[str], source: Source, mapping: dict[str, str]) -> dict[str, str]:
    """Map file columns to source fields; refuse unknown targets and missing required columns."""
    declared = source.field_names()
    bad_targets = [t for t in mapping if t not in declared]
    if bad_targets:
        raise UserError(f"{path}: --map target {', '.join(bad_targets)} is not a {source.name} column "
                        f"(expected one of: {', '.join(declared)})")
    by_norm = {normalize(c): c for c in columns}
    rename = {c: normalize(c) for c in columns}
    for target, column in mapping.items():
        original = by_norm.get(normalize(column))
        if original is None:
            raise UserError(f"{path}: --map {target}={column}: no column {column!r} in the file "
                            f"(found: {', '.join(columns)})")
        rename[original] = target
    names = list(rename.values())
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UserError(f"{path}: line 1: column names repeat after matching: {', '.join(dupes)}")
    present = set(names)
    missing = [f for f in source.required() if f not in present]
    if source.one_of and not any(set(group) <= present for group in source.one_of):
        missing.append(" or ".join(" + ".join(g) for g in source.one_of))
    if missing:
        raise UserError(f"{path}: line 1: missing required column(s) for {source.name}: "
                        f"{', '.join(missing)} (found: {', '.join(columns)})")
    return rename


def _estimate_rows(raw: readers.RawFile) -> int | None:
    """Rough row count for the progress bar."""
    if raw.kind == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(raw.path).metadata.num_rows
    if raw.kind in ("csv", "text"):
        with raw.path.open("rb") as fh:
            sample = fh.read(1 << 16)
        lines = max(sample.count(b"\n"), 1)
        return max(int(raw.size / (len(sample) / lines)) - 1, 1)
    return None


def stage_chunk(chunk: pl.DataFrame, source: Source, rules: list, *, date_format: str | None,
                file_name: str, known: pl.Series | None, now: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(staged events, rejected rows) of one raw chunk: typing, checks and facts, all in Polars."""
    formats = staging.timestamp_formats(chunk, source, date_format)
    formats |= staging.plain_numbers(source, dict(chunk.schema))

    def check(formats: dict) -> pl.DataFrame:
        return chunk.lazy().pipe(staging.typed, source, date_format, formats).pipe(staging.flag_bad, rules).collect()

    checked = check(formats)
    retry = staging.misread(checked, formats)
    if retry:  # a guessed format or plain cast did not read every value: read those columns in full
        checked = check({k: v for k, v in formats.items() if k not in retry})
    bad = staging.rejected(checked.lazy(), rules).collect()
    staged = facts.events(checked.lazy(), source, file_name=file_name, known_players=known, now=now).collect()
    return staged, bad


def ingest_file(
    store: Store,
    source_name: str,
    path: Path | str,
    *,
    mapping: dict[str, str] | None = None,
    actor: str | None = None,
    role: str = "etl",
    date_format: str | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
    chunk_rows: int = readers.CHUNK_ROWS,
) -> IngestResult:
    """Ingest one file as one batch, visible to readers once whole; raise UserError for file-level problems.

    Chunks are staged in Polars on a background thread while the previous chunk is written to
    DuckDB; each chunk commits on its own (bounded memory) inside a batch readers do not see
    until it is committed.
    """
    path = Path(path)
    actor = actor or default_actor()
    batch_id = f"B{datetime.now():%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}"
    started, t0 = datetime.now().replace(microsecond=0), time.perf_counter()
    log = {"batch_id": batch_id, "source": source_name, "file_name": str(path), "actor": actor,
           "role": role, "started_at": started}
    store.recover_batches()
    try:
        if source_name not in SOURCES:
            raise UserError(f"{path}: unknown source {source_name!r} (expected one of: {', '.join(SOURCES)})")
        source = SOURCES[source_name]
        raw = readers.open_raw(path)
        log["file_hash"] = raw.sha256
        rename = resolve_columns(path, raw.columns, source, mapping or {})
    except UserError as exc:
        store.log_batch(log | {"status": "failed", "error": str(exc),
                               "finished_at": datetime.now().replace(microsecond=0)})
        raise
    known = store.known_player_ids()["player_id"] if (source.known_player or source.name == "players") else None
    cutoff = (now or datetime.now()) + FUTURE_TOLERANCE
    total = _estimate_rows(raw)

    def staged_chunks() -> Iterator[tuple[int, pl.DataFrame, pl.DataFrame]]:
        rules = None
        for chunk in readers.chunks(raw, rename, chunk_rows):
            if rules is None:  # raw types are known once the first chunk is read
                rules = staging.problems(source, present=dict(chunk.schema), known_players=known, now=cutoff)
            staged, bad = stage_chunk(chunk, source, rules, date_format=date_format, file_name=path.name,
                                      known=known, now=cutoff - FUTURE_TOLERANCE)
            yield chunk.height, staged, bad

    rows = rejected_count = added = duplicates = 0
    base_seq = store.start_batch(log)
    try:
        with prefetch(staged_chunks()) as chunks:
            for height, staged, bad in chunks:
                new, dup = store.apply_chunk(staged, bad, batch_id=batch_id, source=source.name, actor=actor,
                                             role=role, base_seq=base_seq)
                added, duplicates = added + new, duplicates + dup
                rows += height
                rejected_count += bad.height
                if progress:
                    progress(rows, total)
        if rows == 0:
            raise UserError(f"{path}: the file has a header but no rows")
        store.finish_batch(batch_id, source=source.name, base_seq=base_seq, counts={
            "rows_read": rows, "events_added": added, "duplicates": duplicates, "rejected": rejected_count})
    except BaseException as exc:
        store.fail_batch(batch_id, str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}")
        raise
    return IngestResult(batch_id, source.name, str(path), rows, added, duplicates, rejected_count,
                        round(time.perf_counter() - t0, 3))


def ingest(
    source: str,
    files: Iterable[Path | str] | Path | str,
    *,
    db: Path | str | None = None,
    mapping: dict[str, str] | None = None,
    actor: str | None = None,
    role: str = "etl",
    date_format: str | None = None,
) -> pl.DataFrame:
    """Notebook entry point: ingest files of one source into the store; one summary row per file."""
    files = [files] if isinstance(files, (str, Path)) else list(files)
    with Store(db) as store:
        results = [
            ingest_file(store, source, f, mapping=mapping, actor=actor, role=role, date_format=date_format)
            for f in files
        ]
    return pl.DataFrame([r.to_dict() for r in results])
