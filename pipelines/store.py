"""The DuckDB store: the one module that imports duckdb. Owns connections, migrations and writes."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import polars as pl

from pipelines import schema as S
from pipelines.errors import UserError
from pipelines.scope_sql import scoped_macros
from pipelines.store_cards import PlayerCards
from pipelines.store_derived import DerivedStore
from pipelines.store_ingest import IngestWrites
from pipelines.store_layout import PointReads
from pipelines.store_stats import EventStats

DEFAULT_DB = Path("data") / "player360.duckdb"
T = TypeVar("T")


def default_db_path() -> Path:
    """The store path: PLAYER360_DB if set, else data/player360.duckdb."""
    return Path(os.environ.get("PLAYER360_DB") or DEFAULT_DB)


def copy_with_block_size(source: Path | str, target: Path | str, *, block_size: int) -> Path:
    """Copy a store (every table, view, sequence and index, rows in their stored order) into a new
    file of ``block_size``-byte blocks; the source is opened read-only and never written.

    DuckDB fixes a file's block size when it creates it (256 KiB by default) and always reads whole
    blocks, so a one-player read of a few rows loads a block per column it touches: a copy with
    smaller blocks is how to measure what that costs (``benchmarks.bench_read --block-size``)."""
    source, target = Path(source), Path(target)
    if block_size not in (16_384, 32_768, 65_536, 131_072, 262_144):
        raise UserError(f"block size {block_size}: expected a power of two from 16384 to 262144")
    if not source.exists():
        raise UserError(f"{source}: no such database")
    if target.exists():
        raise UserError(f"{target}: already exists; remove it or choose another path")
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:  # paths are quoted as SQL string literals: ATTACH takes no parameters
        con.execute(f"ATTACH {S.sql_literal(source)} AS _source (READ_ONLY)")
        con.execute(f"ATTACH {S.sql_literal(target)} AS _target (BLOCK_SIZE {int(block_size)})")
        con.execute("COPY FROM DATABASE _source TO _target")
        con.execute("DETACH _target")
    except BaseException:
        con.close()
        for leftover in (target, Path(f"{target}.wal")):
            leftover.unlink(missing_ok=True)
        raise
    con.close()
    return target


def _now() -> datetime:
    """Wall-clock time without a time zone, as stored in TIMESTAMP columns."""
    return datetime.now().replace(microsecond=0)


def _sql_type(dtype: pl.DataType) -> str:
    """DuckDB type of a staging column."""
    if dtype == pl.String:
        return "VARCHAR"
    if dtype == pl.Int64:
        return "BIGINT"
    if dtype == pl.Float64:
        return "DOUBLE"
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMP"
    raise ValueError(f"no DuckDB type for staging dtype {dtype}")


class Store(IngestWrites, DerivedStore, EventStats, PlayerCards, PointReads):
    """A connection to one player360 DuckDB file, migrated to the newest schema on open.

    A read-write open also clears what an interrupted ingest left behind (`recover_batches`). The
    ingest's and the derived build's writes live in ``pipelines.store_ingest`` and
    ``pipelines.store_derived``, the storage layout for one-player reads (compaction, the 360 read)
    in ``pipelines.store_layout`` and the player cards in ``pipelines.store_cards`` (mixins over this
    connection; none imports duckdb).
    """

    def __init__(self, path: Path | str | None = None, *, read_only: bool = False):
        self.path = Path(path) if path is not None else default_db_path()
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise UserError(f"{self.path}: no such database; ingest something first")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # bounded memory: DuckDB spills to disk past this (ingest of 20M-row files)
        memory_limit = os.environ.get("PLAYER360_MEMORY_LIMIT", "4GB")
        # what `settings` restores: DuckDB displays a size rounded (4GB as 3.7 GiB), so restoring the
        # displayed value would shrink the pool a little with every build
        self._set_values: dict[str, Any] = {"memory_limit": memory_limit}
        try:
            self.con = duckdb.connect(
                str(self.path), read_only=read_only,
                config={"autoinstall_known_extensions": False, "autoload_known_extensions": False,
                        "memory_limit": memory_limit},
            )
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise UserError(
                    f"{self.path}: the database is in use by another process "
                    "(stop the app or the other command, then retry)"
                ) from None
            raise UserError(f"{self.path}: cannot open the database: {exc}") from None
        if not read_only:
            self.migrate()
            self.recover_batches()
        # Opened read-only, the file holds a shared lock: no process can open it for writing while
        # this connection lives (and this process cannot open it again read-write), so what it reads
        # cannot change. One-player reads keep their fixed lookups for the connection's life then.
        self.frozen = read_only
        self._unscoped()

    def _unscoped(self) -> None:
        """Give a new connection the scoped macros that match nothing (until `scoped` sets a scope)."""
        self._scope_key: str | None = None
        if self._exists(S.AUDIT_LOG):
            self.scoped({})

    def _once(self, key: str, read: Callable[[], T]) -> T:
        """``read()``, kept for the connection's life when it is frozen (see ``__init__``), else
        read again on every call: a connection that can write, or that sees another's commits,
        must ask each time."""
        if not self.frozen:
            return read()
        memo = self.__dict__.setdefault("_frozen_reads", {})
        if key not in memo:
            memo[key] = read()
        return memo[key]

    def close(self) -> None:
        """Close the connection (and the one beside it, when a read opened it)."""
        beside = self.__dict__.pop("_alongside", None)
        if beside is not None:
            beside[1].shutdown(wait=True)
            beside[0].close()
        self.con.close()

    def alongside(self) -> tuple[Store, ThreadPoolExecutor] | None:
        """A second read-only connection to this database and the one thread that runs its queries,
        for a read that runs a query beside this connection's: DuckDB runs the two connections'
        queries in parallel (the app's one-player read, `pipelines.access_player`). Made on first
        use, closed with the store; like the store itself, for one thread at a time. None inside a
        transaction of this connection: the other connection would not see its uncommitted writes."""
        if self.__dict__.get("_in_transaction"):
            return None
        beside = self.__dict__.get("_alongside")
        if beside is None:
            beside = self.__dict__["_alongside"] = (self.cursor(), ThreadPoolExecutor(1, thread_name_prefix="alongside"))
        return beside

    def cursor(self) -> Store:
        """A read-only second connection to this open database, with its own transaction and scoped
        macros: DuckDB runs the queries of different connections in parallel, so a long read on it
        (a shift report's scan) does not hold up the short reads of this one. Close it after use."""
        other = object.__new__(type(self))
        other.path, other.read_only, other.con = self.path, True, self.con.cursor()
        other.frozen = self.frozen  # read-only, yet it sees this connection's commits unless frozen
        other._set_values = dict(self._set_values)
        other._unscoped()
        return other

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Apply pending migrations in order, each in its own transaction; return versions applied."""
        self.con.execute(
            f"CREATE TABLE IF NOT EXISTS {S.MIGRATIONS} (version INTEGER PRIMARY KEY, "
            "description VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
        )
        done = {r[0] for r in self.con.execute(f"SELECT version FROM {S.MIGRATIONS}").fetchall()}
        applied = []
        for version, description, statements in S.MIGRATIONS_LIST:
            if version in done:
                continue
            with self.transaction():
                for step in statements:
                    step(self.con) if callable(step) else self.con.execute(step)
                self.con.execute(
                    f"INSERT INTO {S.MIGRATIONS} VALUES (?, ?, ?)", [version, description, _now()]
                )
            applied.append(version)
        return applied

    def schema_version(self) -> int:
        """The newest applied migration."""
        return self.con.execute(f"SELECT max(version) FROM {S.MIGRATIONS}").fetchall()[0][0]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block in one transaction: all of it commits, or none of it."""
        self.con.execute("BEGIN TRANSACTION")
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        finally:
            self._in_transaction = False
        self.con.execute("COMMIT")

    @contextmanager
    def settings(self, **values: Any) -> Iterator[None]:
        """Run the block with some DuckDB settings of this connection changed (a bool, or text such as
        a memory size); restore each as it was after, whatever happened: to the value this store last
        set (at open or here), else to the value DuckDB shows."""
        def sql(value: Any) -> str:
            return ("true" if value else "false") if isinstance(value, bool) else S.sql_literal(value)

        def put(name: str, value: Any) -> None:
            self.con.execute(f"SET {name} = {sql(value)}")
            self._set_values[name] = value

        shown = [name for name in values if name not in self._set_values]
        before = {name: self._set_values.get(name) for name in values}
        if shown:
            asked = ", ".join(f"current_setting({S.sql_literal(name)})" for name in shown)
            before.update(zip(shown, self.con.execute(f"SELECT {asked}").fetchall()[0], strict=True))
        try:
            for name, value in values.items():
                put(name, value)
            yield
        finally:
            for name, value in before.items():
                put(name, value)

    # -- reads --------------------------------------------------------------------------------
    def sql(self, query: str, params: list[Any] | None = None) -> pl.DataFrame:
        """Run a parameterised query and return a Polars frame (user input only via params)."""
        return self.con.sql(query, params=params or None).pl()

    def table(self, name: str) -> pl.DataFrame:
        """A whole table or view by its schema name."""
        if not re.fullmatch(r"[a-z_]+", name):
            raise ValueError(f"not a table name: {name!r}")
        return self.sql(f"SELECT * FROM {name}")

    def counts(self) -> dict[str, int]:
        """Rows per table, for status displays."""
        names = [S.PLAYERS, S.PLAYER_PROPERTIES, S.PLAYER_MERGES, S.INGEST_BATCHES, S.REJECTED_ROWS]
        counts = {n: self.con.execute(f"SELECT count(*) FROM {n}").fetchall()[0][0] for n in names}
        # from the event summary: a running batch's events are not there yet, and no scan at 20M
        events = {S.EVENTS: int(self.event_summary()["events"].sum())}
        return events | counts | {"schema_version": self.schema_version()}

    def recent_batches(self, limit: int = 20) -> pl.DataFrame:
        """The newest ingest batches first."""
        return self.sql(f"SELECT * FROM {S.INGEST_BATCHES} ORDER BY started_at DESC, batch_id DESC LIMIT ?", [limit])

    def rejected_rows(self, batch_id: str, limit: int | None = None) -> pl.DataFrame:
        """Rejected rows of one batch in file order."""
        return self.sql(
            f"SELECT * FROM {S.REJECTED_ROWS} WHERE batch_id = ? ORDER BY row_number LIMIT ?",
            [batch_id, limit if limit is not None else 2**62],
        )

    def events_by_source(self) -> pl.DataFrame:
        """Events, players and newest event time per source."""
        return self.sql(
            f"SELECT source, event_type, count(*) AS events, count(DISTINCT player_id) AS players, "
            f"max(ts) AS newest FROM {S.EVENTS_CURRENT} GROUP BY ALL ORDER BY source, event_type"
        )

    def known_player_ids(self) -> pl.DataFrame:
        """Every player id in the master (survivors and merged ids alike)."""
        return self.sql(f"SELECT player_id FROM {S.PLAYERS}")

    def resolve_player(self, player_id: str) -> str:
        """The survivor id of a possibly merged player id."""
        row = self.con.execute(
            f"SELECT survivor_id FROM {S.PLAYER_ALIASES} WHERE merged_id = ?", [player_id]
        ).fetchall()
        return row[0][0] if row else player_id

    def player_events(self, player_id: str, limit: int = 200) -> pl.DataFrame:
        """The newest events of a player (merged ids included), newest first."""
        survivor = self.resolve_player(player_id)
        return self.sql(
            f"SELECT * FROM {S.EVENTS_CURRENT} WHERE player_id = ? ORDER BY ts DESC, seq DESC LIMIT ?",
            [survivor, limit],
        )

    def batch(self, batch_id: str) -> dict[str, Any]:
        """One ingest batch as a dict."""
        frame = self.sql(f"SELECT * FROM {S.INGEST_BATCHES} WHERE batch_id = ?", [batch_id])
        return frame.row(0, named=True)

    # -- ingest writes: batches, chunks and the player master live in pipelines/store_ingest.py --
    def _insert_row(self, table: str, row: dict[str, Any]) -> None:
        """Insert one row given as column -> value (values always as parameters)."""
        cols = list(row)
        self.con.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            list(row.values()),
        )

    def log_batch(self, row: dict[str, Any]) -> None:
        """Record a batch in ingest_batches (inside the batch's transaction when it commits)."""
        self._insert_row(S.INGEST_BATCHES, row)

    def record_event(
        self,
        *,
        player_id: str,
        event_type: str,
        actor: str,
        role: str,
        attrs: dict[str, Any] | None = None,
        property_id: str | None = None,
        amount: float | None = None,
        points: float | None = None,
        source_ref: str = "app",
        corrects_event_id: str | None = None,
        ts: datetime | None = None,
    ) -> str:
        """Append one event written by a person (note, tag, task, ...) and return its id.

        App writes are events like any other: attributed, append-only; an edit is a new event that
        supersedes the old one through `corrects_event_id`.
        """

        import uuid

        if not actor or not role:
            raise UserError("every write needs an actor and a role")
        survivor = self.resolve_player(player_id)
        known = self.con.execute(f"SELECT count(*) FROM {S.PLAYERS} WHERE player_id = ?", [survivor]).fetchall()[0][0]
        if not known:
            raise UserError(f"unknown player {player_id!r}")
        now = _now()
        key = uuid.uuid4().hex
        with self.transaction():
            seq = self.con.execute(f"SELECT coalesce(max(seq), 0) + 1 FROM {S.EVENTS}").fetchall()[0][0]
            self.con.execute(
                f"""INSERT INTO {S.EVENTS} (event_id, seq, record_key, player_id, property_id, ts,
                    event_type, amount, currency, points, attrs, source, source_ref, actor, role,
                    recorded_at, batch_id, corrects_event_id)
                VALUES (md5(?), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'app', ?, ?, ?, ?, ?, ?)""",
                [f"app\x1f{key}", seq, key, survivor, property_id, ts or now, event_type, amount,
                 "USD" if amount is not None else None, points, json.dumps(attrs or {}), source_ref,
                 actor, role, now, f"app-{now:%Y%m%d}", corrects_event_id],
            )
            event_id = self.con.execute(f"SELECT event_id FROM {S.EVENTS} WHERE seq = ?", [seq]).fetchall()[0][0]
            before = None
            if corrects_event_id:
                rows = self.con.execute(f"SELECT CAST(attrs AS VARCHAR) FROM {S.EVENTS} WHERE event_id = ?",
                                        [corrects_event_id]).fetchall()
                before = json.loads(rows[0][0]) if rows and rows[0][0] else None
            self.audit(actor=actor, role=role, action=f"event.{event_type}", target_kind="event",
                       target_id=event_id, player_id=survivor, before=before,
                       after={**(attrs or {}), **({"amount": amount} if amount is not None else {}),
                              **({"points": points} if points is not None else {})})
        return event_id

    def record_events_bulk(
        self,
        *,
        player_ids: list[str] | pl.Series | pl.DataFrame,
        event_type: str,
        actor: str,
        role: str,
        attrs: dict[str, Any] | None = None,
        source_ref: str = "app",
        ts: datetime | None = None,
    ) -> int:
        """Append the same attributed event (e.g. one tag) for many players in one transaction and
        return how many were written: each player gets its own event, id and seq, exactly as if
        `record_event` had been called once per player (merged ids resolve to their survivor;
        duplicates in `player_ids` count once). `player_ids` may be a frame with `player_id` and
        `property_id` (the property each event concerns). Unknown players are refused, all or
        nothing. Every event is audited like a single write."""
        import uuid

        if not actor or not role:
            raise UserError("every write needs an actor and a role")
        if isinstance(player_ids, pl.DataFrame):
            ids = player_ids.select(pl.col("player_id").cast(pl.String),
                                    pl.col("property_id").cast(pl.String) if "property_id" in player_ids.columns
                                    else pl.lit(None, dtype=pl.String).alias("property_id"))
        else:
            ids = pl.DataFrame({"player_id": pl.Series(player_ids, dtype=pl.String)}).with_columns(
                pl.lit(None, dtype=pl.String).alias("property_id"))
        if ids.height == 0:
            return 0
        now = _now()
        key = uuid.uuid4().hex
        self.con.register("_bulk_ids", ids)
        try:
            with self.transaction():
                self.con.execute(
                    f"""CREATE OR REPLACE TEMP TABLE _bulk AS
                    SELECT coalesce(a.survivor_id, b.player_id) AS player_id, any_value(b.property_id) AS property_id,
                        bool_or(p.player_id IS NULL) AS unknown
                    FROM _bulk_ids b LEFT JOIN {S.PLAYER_ALIASES} a ON a.merged_id = b.player_id
                    LEFT JOIN {S.PLAYERS} p ON p.player_id = coalesce(a.survivor_id, b.player_id)
                    GROUP BY 1""")
                unknown = self.con.execute("SELECT player_id FROM _bulk WHERE unknown LIMIT 3").fetchall()
                if unknown:
                    raise UserError(f"unknown player(s) {[u[0] for u in unknown]}: nothing was written")
                base = self.con.execute(f"SELECT coalesce(max(seq), 0) FROM {S.EVENTS}").fetchall()[0][0]
                self.con.execute(
                    f"""INSERT INTO {S.EVENTS} (event_id, seq, record_key, player_id, property_id, ts,
                        event_type, amount, currency, points, attrs, source, source_ref, actor, role,
                        recorded_at, batch_id, corrects_event_id)
                    SELECT md5('app' || chr(31) || rk), ? + n, rk, player_id, property_id, ?, ?, NULL, NULL, NULL,
                        CAST(? AS JSON), 'app', ?, ?, ?, ?, ?, NULL
                    FROM (SELECT player_id, property_id, row_number() OVER (ORDER BY player_id) AS n,
                                 ? || '#' || CAST(row_number() OVER (ORDER BY player_id) AS VARCHAR) AS rk
                          FROM _bulk)""",
                    [base, ts or now, event_type, json.dumps(attrs or {}), source_ref, actor, role, now,
                     f"app-{now:%Y%m%d}", key],
                )
                written = self.con.execute("SELECT count(*) FROM _bulk").fetchall()[0][0]
                if self._exists(S.AUDIT_LOG):  # audited like record_event: one entry per event
                    self.con.execute(
                        f"""INSERT INTO {S.AUDIT_LOG}
                        SELECT (SELECT coalesce(max(audit_id), 0) FROM {S.AUDIT_LOG}) + row_number() OVER (ORDER BY seq),
                            ?, ?, ?, ?, 'event', event_id, player_id, NULL, CAST(attrs AS JSON), NULL
                        FROM {S.EVENTS} WHERE seq > ? AND seq <= ? + ?""",
                        [now, actor, role, f"event.{event_type}", base, base, written])
        finally:
            self.con.unregister("_bulk_ids")
        return int(written)

    # -- derived snapshots ------------------------------------------------------------------------
    def events_frame(self, columns: list[str] | None = None) -> pl.LazyFrame:
        """Current events (corrections applied, merged ids resolved) as a Polars LazyFrame.

        Pass the columns a stage reads: at 20M events every column left out saves memory.
        """
        return self.events_for(columns or S.EVENT_COLUMNS).lazy()  # every player

    def players_frame(self) -> pl.LazyFrame:
        """The player master (survivors only) as a Polars LazyFrame."""
        return self.sql(
            f"SELECT * FROM {S.PLAYERS} WHERE player_id NOT IN (SELECT merged_id FROM {S.PLAYER_ALIASES})"
        ).lazy()

    def watermark(self) -> tuple[int, datetime | None]:
        """(newest event sequence number, newest event time): what a build was computed from."""
        row = self.con.execute(f"SELECT coalesce(max(seq), 0), max(ts) FROM {S.EVENTS} WHERE {S.VISIBLE}").fetchall()[0]
        return int(row[0]), row[1]

    def snapshot_dates(self, table: str = "player_metrics") -> list[Any]:
        """The as_of dates a derived table holds, newest first."""
        self._derived(table)
        if not self._exists(table):
            return []
        return [r[0] for r in self.con.execute(f"SELECT DISTINCT as_of FROM {table} ORDER BY as_of DESC").fetchall()]

    def snapshot(self, table: str, as_of: Any = None) -> pl.DataFrame:
        """One derived snapshot (default: the newest)."""
        self._derived(table)
        if not self._exists(table):
            return pl.DataFrame()
        if as_of is None:
            return self.sql(f"SELECT * FROM {table} WHERE as_of = (SELECT max(as_of) FROM {table})")
        return self.sql(f"SELECT * FROM {table} WHERE as_of = ?", [as_of])

    def write_snapshot(self, table: str, frame: pl.DataFrame, as_of: Any) -> None:
        """Replace the rows of `as_of` in a derived table (call inside a transaction).

        Rows are written sorted by player (stable): with each snapshot contiguous and sorted, a
        one-player read of one as_of touches one row group (zone maps on as_of and player_id)."""
        self._derived(table)
        if not frame.get_column("player_id").is_sorted():
            frame = frame.sort("player_id", maintain_order=True)
        if len(set(frame.n_chunks("all"))) > 1:
            # columns chunked unlike each other (a join's output) make DuckDB's scan of the frame
            # one thread: 1M metrics rows took 5.1 s to insert that way, 2.6 s contiguous (+0.3 s)
            frame = frame.rechunk()
        self.con.register("_snap", frame)
        try:
            # Explicit DDL, not CREATE TABLE AS: see begin_staging for the DuckDB 2.0.0 bug.
            types = {r[0]: r[1] for r in self.con.execute("DESCRIBE SELECT * FROM _snap").fetchall()}
            if not self._exists(table):
                columns = ", ".join(S.DERIVED_ID if name == "player_id" else f'"{name}" {kind}'
                                    for name, kind in types.items())
                self.con.execute(f"CREATE TABLE {table} ({columns})")
            have = {r[0] for r in self.con.execute(f"DESCRIBE {table}").fetchall()}
            for name, kind in types.items():
                if name not in have:
                    self.con.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {kind}')
            self.con.execute(f"DELETE FROM {table} WHERE as_of = ?", [as_of])
            self.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _snap")
        finally:
            self.con.unregister("_snap")

    def log_build(self, row: dict[str, Any]) -> None:
        """Record a build (inside the build's transaction)."""
        self._insert_row(S.BUILDS, row)

    def save_scheme_version(self, *, name: str, kind: str, version: int, toml: str, actor: str,
                            role: str, reason: str) -> None:
        """Keep a new version of a scheme's thresholds; versions are append-only."""
        if not reason.strip():
            raise UserError("saving a scheme version needs a reason")
        latest = self.con.execute(
            f"SELECT coalesce(max(version), 0) FROM {S.SCHEME_VERSIONS} WHERE name = ?", [name]
        ).fetchall()[0][0]
        if version <= latest:
            raise UserError(f"scheme {name}: version {version} is not newer than the saved version {latest}")
        before = self.latest_schemes().get(name)
        with self.transaction():
            self.con.execute(
                f"INSERT INTO {S.SCHEME_VERSIONS} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [name, kind, version, toml, actor, role, reason, _now()],
            )
            self.audit(actor=actor, role=role, action="scheme.save", target_kind="scheme",
                       target_id=f"{name} v{version}", before={"toml": before} if before else None,
                       after={"toml": toml}, detail=reason)

    def scheme_versions(self, name: str | None = None) -> pl.DataFrame:
        """Saved scheme versions, newest first (all schemes, or one)."""
        where, params = ("WHERE name = ?", [name]) if name else ("", [])
        return self.sql(f"SELECT * FROM {S.SCHEME_VERSIONS} {where} ORDER BY name, version DESC", params)

    def latest_schemes(self) -> dict[str, str]:
        """The TOML of the newest saved version of each scheme, by name."""
        rows = self.con.execute(
            f"SELECT name, arg_max(toml, version) FROM {S.SCHEME_VERSIONS} GROUP BY name"
        ).fetchall()
        return dict(rows)

    def _derived(self, table: str) -> None:
        """Refuse anything but a derived table name."""
        if table not in S.DERIVED:
            raise ValueError(f"not a derived table: {table!r}")

    def _exists(self, table: str) -> bool:
        """Whether a table exists."""
        return self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
        ).fetchall()[0][0] > 0

    def has_table(self, table: str) -> bool:
        """Whether a table exists, for reads that ask often (about 2 ms a question at 1M players). A
        yes is kept for the connection's life: the store drops no table without recreating it in the
        same transaction. A no is asked again: another process may build it meanwhile."""
        seen = self.__dict__.setdefault("_tables_seen", set())
        if table not in seen and self._exists(table):
            seen.add(table)
        return table in seen

    # -- player merges ------------------------------------------------------------------------
    def merge_players(self, survivor_id: str, merged_id: str, *, actor: str, role: str, reason: str) -> None:
        """Merge a duplicate player into a survivor; reads resolve the merged id from now on."""
        if survivor_id == merged_id:
            raise UserError("a player cannot be merged into itself")
        if not reason.strip():
            raise UserError("a merge needs a reason")
        known = self.con.execute(
            f"SELECT count(*) FROM {S.PLAYERS} WHERE player_id IN (?, ?)", [survivor_id, merged_id]
        ).fetchall()[0][0]
        if known < 2:
            raise UserError(f"both players must exist: {survivor_id}, {merged_id}")
        if self.resolve_player(survivor_id) == merged_id:
            raise UserError(f"{survivor_id} is already merged into {merged_id}; unmerge it first")
        if self.resolve_player(merged_id) != merged_id:
            raise UserError(f"{merged_id} is already merged into {self.resolve_player(merged_id)}")
        self._log_merge("merge", survivor_id, merged_id, actor, role, reason)

    def unmerge_players(self, merged_id: str, *, actor: str, role: str, reason: str) -> None:
        """Undo the current merge of `merged_id`."""
        row = self.con.execute(
            f"SELECT arg_max(survivor_id, merge_seq), arg_max(action, merge_seq) "
            f"FROM {S.PLAYER_MERGES} WHERE merged_id = ?",
            [merged_id],
        ).fetchall()[0]
        if row[1] != "merge":
            raise UserError(f"{merged_id} is not merged")
        if not reason.strip():
            raise UserError("an unmerge needs a reason")
        self._log_merge("unmerge", row[0], merged_id, actor, role, reason)

    def _log_merge(self, action: str, survivor: str, merged: str, actor: str, role: str, reason: str) -> None:
        """Append one merge or unmerge action to the log and refresh the aliases, atomically."""
        with self.transaction():
            self.con.execute(
                f"INSERT INTO {S.PLAYER_MERGES} SELECT coalesce(max(merge_seq), 0) + 1, ?, ?, ?, ?, ?, ?, ? "
                f"FROM {S.PLAYER_MERGES}",
                [action, survivor, merged, actor, role, reason, _now()],
            )
            self.con.execute(f"DELETE FROM {S.PLAYER_ALIASES}")
            self.con.execute(f"INSERT INTO {S.PLAYER_ALIASES} {S.ALIASES_QUERY}")
            self.audit(actor=actor, role=role, action=f"player.{action}", target_kind="player",
                       target_id=merged, player_id=survivor,
                       after={"survivor_id": survivor, "merged_id": merged}, detail=reason)

    # -- access layer support -----------------------------------------------------------------
    def scoped(self, scope: dict[str, Any]) -> None:
        """Define the `s_*` macros for one principal's scope (see `pipelines.scope_sql`), unless
        they already are: a session's reads in a row cost nothing extra. Callers sharing the
        connection between threads must hold their own lock around the scope and its reads."""
        key = repr(sorted(scope.items()))
        if key == self._scope_key:
            return
        self._scope_key = None
        for macro in scoped_macros(**scope):
            self.con.execute(macro)
        self._scope_key = key

    def setting(self, key: str, default: str | None = None) -> str | None:
        """An installation setting; `default` is stored (and returned) when the key is new."""
        rows = self.con.execute(f"SELECT value FROM {S.SETTINGS} WHERE key = ?", [key]).fetchall()
        if rows:
            return rows[0][0]
        if default is not None:
            self.con.execute(f"INSERT INTO {S.SETTINGS} VALUES (?, ?) ON CONFLICT DO NOTHING", [key, default])
        return default

    def audit(self, *, actor: str, role: str, action: str, target_kind: str | None = None,
              target_id: str | None = None, player_id: str | None = None, before: Any = None,
              after: Any = None, detail: str | None = None) -> None:
        """Append one entry to the audit log (the log is never updated or deleted from)."""


        if not actor or not role:
            raise UserError("every audited action needs an actor and a role")
        self.con.execute(
            f"INSERT INTO {S.AUDIT_LOG} SELECT coalesce(max(audit_id), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? "
            f"FROM {S.AUDIT_LOG}",
            [_now(), actor, role, action, target_kind, target_id, player_id,
             None if before is None else json.dumps(before, default=str),
             None if after is None else json.dumps(after, default=str), detail],
        )

    # -- users (hashes only: pipelines.users does the hashing) --------------------------------------
    def user(self, username: str) -> dict[str, Any] | None:
        """One user's row (with its password hash), or None."""
        frame = self.sql(f"SELECT * FROM {S.USERS} WHERE username = ?", [username])
        return frame.row(0, named=True) if frame.height else None

    def users(self) -> pl.DataFrame:
        """Every user without the password hashes."""
        return self.sql(f"SELECT * EXCLUDE (password_hash) FROM {S.USERS} ORDER BY username")

    def put_user(self, row: dict[str, Any], *, actor: str, role: str, action: str) -> None:
        """Insert or replace a user row, audited (before/after without the hashes)."""
        before = self.user(row["username"])
        row = {**(before or {}), **row, "updated_at": _now()}
        row.setdefault("created_at", row["updated_at"])
        row.setdefault("created_by", actor)
        strip = ("password_hash", "created_at", "updated_at")
        with self.transaction():
            self.con.execute(f"DELETE FROM {S.USERS} WHERE username = ?", [row["username"]])
            self._insert_row(S.USERS, row)
            self.audit(actor=actor, role=role, action=action, target_kind="user", target_id=row["username"],
                       before={k: v for k, v in before.items() if k not in strip} if before else None,
                       after={k: v for k, v in row.items() if k not in strip})

    def delete_user(self, username: str, *, actor: str, role: str) -> bool:
        """Remove a user (audited); False when there was none."""
        before = self.user(username)
        if before is None:
            return False
        with self.transaction():
            self.con.execute(f"DELETE FROM {S.USERS} WHERE username = ?", [username])
            self.audit(actor=actor, role=role, action="user.remove", target_kind="user", target_id=username,
                       before={k: v for k, v in before.items() if k != "password_hash"})
        return True

    # -- GDPR erasure -------------------------------------------------------------------------------
    # attrs keys that may hold personal data or free text about a person
    PERSONAL_ATTRS = ("text", "description", "title", "tag", "first_name", "last_name", "email", "phone",
                      "address", "date_of_birth", "card_number", "external_id", "name", "device_id", "ip")

    def erase_player(self, player_id: str, *, actor: str, role: str, reason: str) -> dict[str, int]:
        """Anonymize a player everywhere (GDPR erasure), keeping aggregates and the audit trail.

        The player master's personal fields, card numbers and external ids are cleared; every event
        of the player (all ids merged into it, every version) loses the personal and free-text keys
        of its attrs; rejected rows of the player lose their raw values; audit entries about the
        player lose note texts from before/after. Amounts, times, types and who did what stay, so
        totals and the gaming record do not change. The one exception to append-only, audited.
        """
        if not reason.strip():
            raise UserError("an erasure needs a reason")
        survivor = self.resolve_player(player_id)
        if not self.con.execute(f"SELECT count(*) FROM {S.PLAYERS} WHERE player_id = ?", [survivor]).fetchall()[0][0]:
            raise UserError(f"unknown player {player_id!r}")
        ids = [survivor, *[r[0] for r in self.con.execute(
            f"SELECT merged_id FROM {S.PLAYER_ALIASES} WHERE survivor_id = ?", [survivor]).fetchall()]]
        patch = json.dumps({k: None for k in self.PERSONAL_ATTRS} | {"erased": True})
        counts: dict[str, int] = {}
        with self.transaction():
            counts["players"] = self.con.execute(
                f"""UPDATE {S.PLAYERS} SET first_name = NULL, last_name = NULL, date_of_birth = NULL,
                    email = NULL, phone = NULL, address = NULL, status = 'erased'
                WHERE player_id IN (SELECT unnest(?::VARCHAR[]))""", [ids]).fetchall()[0][0]
            counts["player_properties"] = self.con.execute(
                f"UPDATE {S.PLAYER_PROPERTIES} SET card_number = NULL, external_id = NULL "
                "WHERE player_id IN (SELECT unnest(?::VARCHAR[]))", [ids]).fetchall()[0][0]
            counts["events"] = self.con.execute(
                f"UPDATE {S.EVENTS} SET attrs = json_merge_patch(coalesce(attrs, '{{}}'::JSON), ?::JSON) "
                "WHERE player_id IN (SELECT unnest(?::VARCHAR[]))", [patch, ids]).fetchall()[0][0]
            counts["rejected_rows"] = self.con.execute(
                f"""UPDATE {S.REJECTED_ROWS} SET raw = '{{"erased": true}}'::JSON
                WHERE raw->>'player_id' IN (SELECT unnest(?::VARCHAR[]))""", [ids]).fetchall()[0][0]
            counts["audit_log"] = self.con.execute(
                f"""UPDATE {S.AUDIT_LOG} SET before = CASE WHEN before IS NOT NULL THEN json_merge_patch(before, ?::JSON) END,
                    after = CASE WHEN after IS NOT NULL THEN json_merge_patch(after, ?::JSON) END
                WHERE player_id IN (SELECT unnest(?::VARCHAR[])) AND action <> 'gdpr.erase'""",
                [patch, patch, ids]).fetchall()[0][0]
            self.audit(actor=actor, role=role, action="gdpr.erase", target_kind="player", target_id=survivor,
                       player_id=survivor, after={"ids": ids, "rows_anonymized": counts}, detail=reason)
        return counts

    # -- reward rules engine (tables of pipelines.schema_rewards) ---------------------------------
    def append_rows(self, table: str, frame: pl.DataFrame) -> int:
        """Append a frame to one of the reward tables by column name; return the rows written."""
        if table not in S.schema_rewards.REWARD_TABLES:
            raise ValueError(f"not an appendable table: {table!r}")
        if frame.height == 0:
            return 0
        self.con.register("_rows", frame)
        try:
            self.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows")
        finally:
            self.con.unregister("_rows")
        return frame.height

    def record_events(self, frame: pl.DataFrame, *, actor: str, role: str, batch_id: str) -> int:
        """Append many events written by a person or an app action at once (call inside a transaction).

        `frame` holds record_key (unique per event: the event id is its md5 under source 'app'),
        player_id, ts, event_type and any of property_id, amount, currency, points, attrs (JSON
        text), source_ref. Every player must exist; ids are resolved to their survivors.
        """
        if not actor or not role:
            raise UserError("every write needs an actor and a role")
        if frame.height == 0:
            return 0
        optional = {"property_id": pl.String, "amount": pl.Float64, "currency": pl.String, "points": pl.Float64,
                    "attrs": pl.String, "source_ref": pl.String}
        cols = [pl.col(c) for c in ("record_key", "player_id", "ts", "event_type")]
        cols += [pl.col(c).cast(t) if c in frame.columns else pl.lit(None, dtype=t).alias(c) for c, t in optional.items()]
        self.con.register("_new", frame.select(cols))
        try:
            unknown = self.con.execute(
                f"SELECT count(*) FROM _new n LEFT JOIN {S.PLAYER_ALIASES} a ON a.merged_id = n.player_id "
                f"WHERE coalesce(a.survivor_id, n.player_id) NOT IN (SELECT player_id FROM {S.PLAYERS})").fetchall()[0][0]
            if unknown:
                raise UserError(f"{unknown} event(s) name unknown players; nothing was written")
            base = self.con.execute(f"SELECT coalesce(max(seq), 0) FROM {S.EVENTS}").fetchall()[0][0]
            self.con.execute(
                f"""INSERT INTO {S.EVENTS} (event_id, seq, record_key, player_id, property_id, ts, event_type,
                    amount, currency, points, attrs, source, source_ref, actor, role, recorded_at, batch_id)
                SELECT md5('app' || chr(31) || n.record_key), ? + row_number() OVER (ORDER BY n.player_id, n.record_key),
                    n.record_key, coalesce(a.survivor_id, n.player_id), n.property_id, n.ts, n.event_type, n.amount,
                    coalesce(n.currency, CASE WHEN n.amount IS NOT NULL THEN 'USD' END), n.points,
                    coalesce(n.attrs, '{{}}'), 'app', coalesce(n.source_ref, 'app'), ?, ?, ?, ?
                FROM _new n LEFT JOIN {S.PLAYER_ALIASES} a ON a.merged_id = n.player_id""",
                [base, actor, role, _now(), batch_id])
        finally:
            self.con.unregister("_new")
        return frame.height
