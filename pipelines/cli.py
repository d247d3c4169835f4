"""The `player360` command line: ingest, generate, demo, serve, status, merge."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipelines.cli_rules import rules_app
from pipelines.errors import UserError

app = typer.Typer(
    help="Player 360: one source of truth for every player, and the analytics on top of it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

DbOption = Annotated[
    Optional[Path],
    typer.Option("--db", help="DuckDB store (default: $PLAYER360_DB or data/player360.duckdb).",
                 show_default=False),
]
ActorOption = Annotated[Optional[str], typer.Option(help="Who writes (default: the OS user).")]
RoleOption = Annotated[str, typer.Option(help="The writer's role, recorded with every event.")]


def _parse_map(items: list[str]) -> dict[str, str]:
    """`target=column` pairs into a dict."""
    mapping = {}
    for item in items:
        target, sep, column = item.partition("=")
        if not sep or not target.strip() or not column.strip():
            raise UserError(f"--map {item!r}: expected target=column, e.g. --map player_id=customer_id")
        mapping[target.strip()] = column.strip()
    return mapping


@app.command()
def ingest(
    source: Annotated[str, typer.Argument(help="players, visits, rating_slips, transactions, loyalty, notes, compliance or orders.")],
    files: Annotated[list[Path], typer.Argument(help="CSV, .txt, .xlsx or .parquet files; each is one atomic batch.")],
    db: DbOption = None,
    map_: Annotated[list[str], typer.Option("--map", help="Column mapping target=column (repeatable).")] = [],
    date_format: Annotated[Optional[str], typer.Option(help="strftime pattern of dates in the file, e.g. %Y%m%d.")] = None,
    actor: ActorOption = None,
    role: RoleOption = "etl",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (a list for several files).")] = False,
) -> None:
    """Ingest raw files of one source as append-only events, idempotently."""
    from pipelines.ingest import ingest_file
    from pipelines.store import Store

    mapping = _parse_map(map_)
    results = []
    with Store(db) as store:
        for path in files:
            with _progress(enabled=not as_json) as bar:
                task = bar.add_task(f"{source} {path.name}", total=None)
                result = ingest_file(
                    store, source, path, mapping=mapping, actor=actor, role=role,
                    date_format=date_format,
                    progress=lambda done, total: bar.update(task, completed=done, total=total and max(total, done)),
                )
            results.append(result)
            if not as_json:
                out.print(
                    f"[bold]{result.file}[/]: {result.rows_read:,} rows read, "
                    f"{result.events_added:,} events added, {result.duplicates:,} duplicates, "
                    f"{result.rejected:,} rejected ({result.seconds:.2f} s, batch {result.batch_id})"
                )
                if result.rejected:
                    out.print(f"  rejected rows are kept: player360 rejects {result.batch_id}")
    if as_json:
        payload = [r.to_dict() for r in results]
        print(json.dumps(payload[0] if len(payload) == 1 else payload, default=str))


def _progress(enabled: bool) -> Progress:
    """A progress bar on stderr (silent when disabled or not a terminal)."""
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=True, disable=not enabled,
    )


@app.command()
def build(
    as_of: Annotated[Optional[datetime], typer.Option("--as-of", help="Snapshot day (default: the day of the newest event).", formats=["%Y-%m-%d"])] = None,
    db: DbOption = None,
    force: Annotated[bool, typer.Option(help="Recompute even when nothing changed.")] = False,
    full: Annotated[bool, typer.Option(help="Recompute every player from their events (default: only those whose events changed since the last build).")] = False,
    refit: Annotated[Optional[bool], typer.Option("--refit/--reuse-models", help="Fit the CLV and churn models now / score with the last fit whatever its age (default: refit when older than 7 days).", show_default=False)] = None,
    actor: ActorOption = None,
    role: RoleOption = "etl",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Compute player metrics, deltas, segments, churn and insights as of a day (kept as a snapshot).

    Incremental: players whose events did not change since the last build are carried forward."""
    from pipelines.build import build as run
    from pipelines.ingest import default_actor
    from pipelines.store import Store

    with Store(db) as store, _progress(enabled=not as_json) as bar:
        task = bar.add_task("build", total=None)
        result = run(store, as_of.date() if as_of else None, actor=actor or default_actor(), role=role,
                     force=force, full=full, refit=refit,
                     progress=lambda stage: bar.update(task, description=stage))
    if as_json:
        print(json.dumps(result.to_dict()))
    elif result.status == "current":
        out.print(f"snapshot {result.as_of} is current: no new events since its build")
    else:
        how = "all recomputed" if result.mode == "full" else f"{result.recomputed:,} recomputed, the rest carried forward"
        out.print(f"snapshot {result.as_of}: {result.players:,} players ({how}), {result.insights:,} insights "
                  f"({result.seconds:.2f} s, build {result.build_id})")


metrics_app = typer.Typer(help="The metric catalog.", no_args_is_help=True)
app.add_typer(metrics_app, name="metrics")
app.add_typer(rules_app, name="rules")


@metrics_app.command("list")
def metrics_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print the catalog as JSON lines.")] = False,
) -> None:
    """Print every metric: name, label, unit, window and description."""
    from metrics.catalog import catalog_frame

    frame = catalog_frame()
    if as_json:
        for row in frame.iter_rows(named=True):
            print(json.dumps(row, default=str))
        return
    table = Table("name", "label", "unit", "window", "description")
    for row in frame.iter_rows(named=True):
        window = "" if row.get("window") is None else f"{row['window']}d"
        table.add_row(row["name"], row["label"], str(row["unit"]), window, row["description"])
    out.print(table)


@app.command()
def rejects(
    batch_id: Annotated[str, typer.Argument(help="The batch id printed by ingest.")],
    db: DbOption = None,
    limit: Annotated[int, typer.Option(help="How many rows to show.")] = 50,
) -> None:
    """Show the rejected rows of a batch with their reasons."""
    from pipelines.store import Store

    with Store(db, read_only=True) as store:
        frame = store.rejected_rows(batch_id, limit)
    table = Table("row", "column", "reason", "raw")
    for row in frame.iter_rows(named=True):
        table.add_row(str(row["row_number"]), row["column"] or "", row["reason"], row["raw"] or "")
    out.print(table)


@app.command()
def status(db: DbOption = None) -> None:
    """Counts per table and per source, and the newest batches."""
    from pipelines.store import Store

    with Store(db, read_only=True) as store:
        counts, by_source, batches = store.counts(), store.events_by_source(), store.recent_batches(10)
    out.print(f"store {store.path} (schema v{counts.pop('schema_version')})")
    for name, n in counts.items():
        out.print(f"  {name}: {n:,}")
    table = Table("source", "event type", "events", "players", "newest")
    for row in by_source.iter_rows(named=True):
        table.add_row(row["source"], row["event_type"], f"{row['events']:,}", f"{row['players']:,}", str(row["newest"]))
    out.print(table)
    table = Table("batch", "source", "file", "status", "read", "added", "dup", "rejected")
    for row in batches.iter_rows(named=True):
        table.add_row(row["batch_id"], row["source"] or "", Path(row["file_name"] or "").name, row["status"],
                      str(row["rows_read"]), str(row["events_added"]), str(row["duplicates"]), str(row["rejected"]))
    out.print(table)


@app.command()
def merge(
    survivor: Annotated[str, typer.Argument(help="The player id that stays.")],
    merged: Annotated[str, typer.Argument(help="The duplicate player id merged into the survivor.")],
    reason: Annotated[str, typer.Option(help="Why they are the same person (required).")],
    db: DbOption = None,
    actor: ActorOption = None,
    role: RoleOption = "admin",
) -> None:
    """Merge a duplicate player into a survivor (every read resolves the merged id)."""
    from pipelines.ingest import default_actor
    from pipelines.store import Store

    with Store(db) as store:
        store.merge_players(survivor, merged, actor=actor or default_actor(), role=role, reason=reason)
    out.print(f"{merged} merged into {survivor}")


@app.command()
def unmerge(
    merged: Annotated[str, typer.Argument(help="The merged player id to restore.")],
    reason: Annotated[str, typer.Option(help="Why the merge was wrong (required).")],
    db: DbOption = None,
    actor: ActorOption = None,
    role: RoleOption = "admin",
) -> None:
    """Undo a merge."""
    from pipelines.ingest import default_actor
    from pipelines.store import Store

    with Store(db) as store:
        store.unmerge_players(merged, actor=actor or default_actor(), role=role, reason=reason)
    out.print(f"{merged} unmerged")


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the raw files.")] = Path("data/demo"),
    players: Annotated[int, typer.Option(help="Number of players.")] = 5000,
    days: Annotated[int, typer.Option(help="Days of history.")] = 730,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 42,
    end: Annotated[Optional[datetime], typer.Option(help="Last timestamp (default: now, to the hour).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    dirty: Annotated[bool, typer.Option(help="Add a few bad rows (CSV only) to see them rejected.")] = False,
) -> None:
    """Write realistic raw source files for a multi-property casino group."""
    from pipelines.generate import generate as run

    if fmt not in ("csv", "parquet"):
        raise UserError(f"--format {fmt!r}: expected csv or parquet")
    with _progress(enabled=True) as bar:
        task = bar.add_task("generate", total=1.0)
        try:
            files = run(out_dir, players=players, days=days, seed=seed, end=end, fmt=fmt, dirty=dirty,
                        progress=lambda stage, frac: bar.update(task, completed=frac, description=stage))
        except ValueError as exc:
            raise UserError(str(exc)) from None
    for source, path in files.items():
        out.print(f"{source}: {path}")


DEMO_ORDER = ("players", "visits", "rating_slips", "transactions", "loyalty", "notes", "compliance")


@app.command()
def demo(
    db: DbOption = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the demo raw files.")] = Path("data/demo"),
    players: Annotated[int, typer.Option(help="Number of players when generating.")] = 5000,
    port: Annotated[int, typer.Option(help="Port of the app.")] = 5006,
    address: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Stop after ingesting.")] = False,
) -> None:
    """Generate demo data if absent, ingest it, and serve the app."""
    if not all((out_dir / f"{s}.csv").exists() for s in DEMO_ORDER):
        generate(out_dir=out_dir, players=players, days=730, seed=42, end=None, fmt="csv", dirty=False)
    for source in DEMO_ORDER:
        ingest(source=source, files=[out_dir / f"{source}.csv"], db=db, map_=[], date_format=None,
               actor=None, role="etl", as_json=False)
    build(as_of=None, db=db, force=False, actor=None, role="etl", as_json=False)
    from pipelines.cli_security import demo_users

    demo_users(db)
    if not no_serve:
        serve(port=port, address=address, db=db)


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port.")] = 5006,
    address: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    db: DbOption = None,
) -> None:
    """Serve the app with `panel serve` (sign-in required) and print its URL."""
    from pipelines.cli_security import cookie_secret
    from pipelines.store import default_db_path

    path = (db or default_db_path()).resolve()
    secret, n_users = cookie_secret(path)
    # the secret travels in the environment, never on a command line (`ps` shows those)
    env = os.environ | {"PLAYER360_DB": str(path), "PANEL_COOKIE_SECRET": secret, "BOKEH_COOKIE_SECRET": secret}
    root = Path(__file__).resolve().parent.parent / "app"
    host = "localhost" if address in ("127.0.0.1", "0.0.0.0") else address
    out.print(f"Player 360 is at http://{host}:{port}/main  (Ctrl+C stops it)")
    if not n_users:
        err.print("No users yet: nobody can sign in. Create one with `player360 users add NAME --role admin "
                  "--property '*'`.")
    cmd = [sys.executable, "-m", "panel", "serve", str(root / "main.py"), "--port", str(port), "--address", address,
           "--index", "main", "--allow-websocket-origin", f"{host}:{port}",
           "--allow-websocket-origin", f"{address}:{port}", "--auth-module", str(root / "auth.py"),
           "--setup", str(root / "warm_up.py")]
    sys.stdout.flush()
    # exec, not a child process: stopping `player360 serve` then stops the server itself
    os.execve(sys.executable, cmd, env)


from pipelines import cli_security  # noqa: E402 - registers `users`, `audit`, `gdpr` on `app`

cli_security.register(app)


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    try:
        app()
    except UserError as exc:
        err.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
