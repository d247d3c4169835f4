"""Segmentation dashboard at 1M players: threshold moves, member pages, exports, cohort rollups.

1. A store of `--players` synthetic players (player master, property links, metrics and segment
   snapshots of two days) is made once and cached under data/bench/.
2. Threshold move, in process: relabel + counts/value shares (what the user waits for), then also
   crosstab + profiles + histogram (`SegmentsState.refresh`), for a fixed-threshold scheme
   (spending), a quantile scheme (worth) and a recency scheme (engagement); then the same moves with
   the whole Segments page attached to a Bokeh document (every view's update, run at once). Baselines for the relabel and count
   alone on the same data: pandas (np.select + groupby) and hand-written DuckDB SQL over the table.
3. Member list: one page of a filtered, sorted segment.
4. Export of the biggest segment (400k+ rows) to CSV, Parquet and Excel, each in a fresh process:
   wall time and that process's peak memory.
5. Optional (`--browser`): in headless Chromium against `player360 serve`, from typing a threshold
   to the new count on screen, and to the member list's new total (charts and list come after).

    python -m benchmarks.bench_segments --players 1000000 [--browser]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path("data/bench")
AS_OF = date(2026, 11, 20)
BEFORE = date(2026, 9, 20)
GAMES = np.array(["blackjack", "baccarat", "roulette", "craps", "slots", "poker"])


def peak_mb() -> float:
    """This process's peak resident memory in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stats(values: list[float]) -> dict[str, float]:
    """p50 / p95 / max in milliseconds."""
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 1), "p95_ms": round(p95, 1),
            "max_ms": round(ms[-1], 1)}


def synthetic_metrics(ids: list[str], as_of: date, seed: int) -> pl.DataFrame:
    """Metrics with casino-like shapes (heavy-tailed money, many one-time visitors) for every
    column the dashboard reads."""
    from app.state.segments import FRAME_COLUMNS
    from metrics.catalog import CATALOG

    rng = np.random.default_rng(seed)
    n = len(ids)
    visits = rng.geometric(0.15, n).astype(np.int64)
    cash = np.where(rng.random(n) < 0.3, 0.0, np.round(rng.lognormal(5.5, 1.8, n), 2))
    theo = np.round(cash * rng.uniform(0.01, 0.2, n) + rng.lognormal(3, 1.5, n), 2)
    recency = rng.exponential(90, n).astype(np.int64)
    tenure = recency + rng.integers(0, 1500, n)
    cols: dict[str, object] = {
        "player_id": ids, "as_of": [as_of] * n, "visits_total": visits, "sessions_total": visits * 2,
        "cash_in_total": cash, "theo_total": theo, "recency_days": recency, "tenure_days": tenure,
        "first_seen": pl.Series((np.datetime64(as_of, "D") - tenure.astype("timedelta64[D]")).astype("datetime64[us]")),
        "visits_30d": rng.poisson(visits / 12), "visits_prior_30d": rng.poisson(visits / 12),
        "visits_90d": rng.poisson(visits / 5), "exclusion_active": rng.random(n) < 0.002,
        "favourite_game": GAMES[rng.integers(0, len(GAMES), n)],
        "preferred_property": np.where(rng.random(n) < 0.7, "P01", "P02"),
    }
    for name in FRAME_COLUMNS:
        if name in cols or name not in CATALOG:
            continue
        unit = CATALOG[name].unit
        if unit in ("count", "days"):
            cols[name] = rng.poisson(3, n).astype(np.int64)
        elif unit == "ratio":
            cols[name] = rng.random(n)
        elif unit == "score":
            cols[name] = rng.uniform(0, 100, n)
        else:
            cols[name] = np.round(rng.lognormal(4, 1.5, n), 2)
    return pl.DataFrame(cols)


def make_store(players: int) -> Path:
    """The cached store: players, property links, two days of metrics and segments."""
    from benchmarks.bench_app import make_players_store
    from metrics.churn import ChurnRisk
    from metrics.segments import default_schemes, segment_all
    from pipelines.store import Store

    db = ROOT / f"segments-{players}.duckdb"
    if db.exists():
        return db
    tmp = db.with_suffix(".tmp.duckdb")
    tmp.unlink(missing_ok=True)
    t = time.perf_counter()
    make_players_store(tmp, players)
    print(f"  players ingested in {time.perf_counter() - t:.1f} s")
    with Store(tmp) as store:
        ids = store.sql("SELECT player_id FROM players ORDER BY player_id")["player_id"].to_list()
        for i, as_of in enumerate((BEFORE, AS_OF)):
            metrics = synthetic_metrics(ids, as_of, seed=i)
            segments = segment_all(metrics, [*default_schemes(), ChurnRisk()])
            with store.transaction():
                store.write_snapshot("player_metrics", metrics, as_of)
                store.write_snapshot("player_segments", segments, as_of)
        store.log_build({"build_id": "bench", "as_of": AS_OF, "status": "done", "max_seq": 0, "newest_event_ts": None,
                         "players": players, "insights": 0, "seconds": 0.0, "actor": "bench", "role": "etl",
                         "started_at": time.strftime("%Y-%m-%d %H:%M:%S"), "finished_at": None})
    tmp.rename(db)
    print(f"  store ready in {time.perf_counter() - t:.1f} s: {db}")
    return db


MOVES = {"spending": ("vip_above", [2_000.0, 5_000.0, 10_000.0, 1_500.0, 800.0, 1_000.0]),
         "worth": ("high_quantile", [0.8, 0.95, 0.85, 0.99, 0.9, 0.75]),
         "engagement": ("dormant_after_days", [60, 120, 45, 180, 90, 75])}


def in_process(db: Path) -> dict:
    """Threshold moves on the state alone, then with the page attached to a document."""
    import panel as pn
    from bokeh.document import Document

    from app.data import DataStore
    from app.data_segments import SegmentData
    from app.pages.segments import SegmentsPage
    from app.state.segment_members import MemberListState
    from app.state.segments import SegmentsState
    from app.state.session import Session

    data = DataStore(db)
    out: dict = {}
    t = time.perf_counter()
    seg = SegmentsState(data=data, session=Session(user="bench", role="analyst", all_properties=True))
    seg.frame()
    out["frame_read_s"] = round(time.perf_counter() - t, 2)
    out["frame_rows"] = seg.frame().height
    out["frame_mb"] = round(seg.frame().estimated_size("mb"), 1)
    for name, (threshold, values) in MOVES.items():
        seg.scheme = name
        seg.refresh()
        counts, everything = [], []
        for v in values:
            setattr(seg.current, threshold, v)
            t = time.perf_counter()
            seg.summary()  # relabel + counts and value shares: what the user waits for
            counts.append(time.perf_counter() - t)
            seg.refresh()  # + crosstab, profiles, histogram
            everything.append(time.perf_counter() - t)
        out[f"move_{name}_counts"] = stats(counts)
        out[f"move_{name}_all_stats"] = stats(everything)
    members = MemberListState(segments=seg)
    seg.scheme = "spending"
    pages = []
    for segment, sort in (("low", "theo_total"), ("vip", "recency_days"), ("", "name"), ("medium", "cash_in_total")):
        t = time.perf_counter()
        members.param.update(segment=segment, sort_by=sort)
        members.page_rows()
        members.page = 3
        members.page_rows()
        pages.append(time.perf_counter() - t)
    out["member_page"] = stats(pages)
    page = pn.panel(SegmentsPage(segments=seg))
    page.get_root(Document())
    for name, (threshold, values) in MOVES.items():
        seg.scheme = name
        times = []
        for v in values:
            t = time.perf_counter()
            setattr(seg.current, threshold, v)  # what the slider does: every watcher runs
            times.append(time.perf_counter() - t)
        out[f"move_{name}_whole_page_sync"] = stats(times)  # every view, run at once (no server ticks)
    out["frame_reads"] = SegmentData.of(data).frame_reads
    out["process_peak_mb"] = round(peak_mb())
    data.close()
    return out


def baselines(db: Path) -> dict:
    """Relabel + count of the spending tiers: ours (Polars on the in-memory frame), pandas on the
    same frame, DuckDB SQL over the stored table."""
    import duckdb  # the baseline is hand-written SQL on purpose

    from metrics.segments import SpendingTiers, segment_all
    from pipelines.store import Store

    with Store(db, read_only=True) as s:
        frame = s.sql("SELECT player_id, as_of, cash_in_total FROM player_metrics WHERE as_of = ?", [AS_OF])
    scheme = SpendingTiers()
    out = {}
    t = time.perf_counter()
    for _ in range(5):
        segment_all(frame, [scheme]).group_by("spending").len()
    out["polars_ours_ms"] = round((time.perf_counter() - t) / 5 * 1000, 1)
    pdf = frame.to_pandas()
    t = time.perf_counter()
    for _ in range(5):
        x = pdf["cash_in_total"].fillna(0).to_numpy()
        labels = np.select([x > 1000, x >= 500, x >= 100], ["vip", "high", "medium"], "low")
        pdf.assign(spending=labels).groupby("spending").size()
    out["pandas_ms"] = round((time.perf_counter() - t) / 5 * 1000, 1)
    con = duckdb.connect(str(db), read_only=True)
    t = time.perf_counter()
    for _ in range(5):
        con.execute("""SELECT CASE WHEN cash_in_total > 1000 THEN 'vip' WHEN cash_in_total >= 500 THEN 'high'
                       WHEN cash_in_total >= 100 THEN 'medium' ELSE 'low' END AS spending, count(*)
                       FROM player_metrics WHERE as_of = ? GROUP BY 1""", [AS_OF]).fetchall()
    out["duckdb_sql_ms"] = round((time.perf_counter() - t) / 5 * 1000, 1)
    con.close()
    return out


def export_one(db: Path, fmt: str) -> dict:
    """Export the biggest spending segment (in this process: its peak memory is the export's)."""
    from app.data import DataStore
    from app.state.segment_members import MemberListState
    from app.state.segments import SegmentsState
    from app.state.session import Session

    data = DataStore(db)
    seg = SegmentsState(data=data, session=Session(user="bench", role="marketer", all_properties=True),
                        scheme="spending")
    members = MemberListState(segments=seg)
    biggest = seg.summary().sort("players", descending=True)["segment"][0]
    members.segment = biggest
    before = peak_mb()
    t = time.perf_counter()
    path, rows = members.export(fmt, ROOT)
    seconds = time.perf_counter() - t
    size = path.stat().st_size / 1e6
    path.unlink()
    data.close()
    return {"format": fmt, "rows": rows, "seconds": round(seconds, 2), "file_mb": round(size, 1),
            "peak_before_mb": round(before), "peak_after_mb": round(peak_mb())}


def exports(db: Path) -> list[dict]:
    """Each export in a fresh process."""
    results = []
    for fmt in ("csv", "parquet", "xlsx"):
        done = subprocess.run([sys.executable, "-m", "benchmarks.bench_segments", "--db", str(db), "--export-one", fmt],
                              capture_output=True, text=True, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return results


def _wait_change(locator, before: str, timeout: float = 120) -> None:
    """Return as soon as the locator's text differs from `before` (polled every 10 ms)."""
    deadline = time.monotonic() + timeout
    while locator.inner_text() == before:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no change from {before!r} within {timeout} s")
        time.sleep(0.01)


def browser(db: Path, rounds: int = 5) -> dict:
    """From typing a threshold to the new count on screen, in headless Chromium."""
    from playwright.sync_api import expect, sync_playwright

    from app.served import CHROMIUM, CHROMIUM_ARGS, ServedApp

    with ServedApp(db, ROOT / "bench-segments-serve-{port}.log", timeout=300) as app:
        url = f"{app.url}?page=segments"
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = b.new_page(viewport={"width": 1400, "height": 1400})
            app.login(page, "analyst", wait=180)
            t = time.perf_counter()
            page.goto(url)
            count = page.locator(".segment-counts tr[data-segment=vip] .segment-count")
            expect(count).to_be_visible(timeout=300_000)
            first_load = time.perf_counter() - t
            page.locator(".members-segment select").select_option("vip")
            status = page.locator(".members-info .members-status")
            expect(status).to_contain_text("players", timeout=60_000)
            box = page.locator(".thresholds-spending input").first
            counts, lists = [], []
            for i, v in enumerate((1500, 2000, 5000, 800, 12000, 3000)[:rounds + 1]):
                before, listed = count.inner_text(), status.inner_text()
                box.fill(str(v))
                t = time.perf_counter()
                box.press("Enter")
                # polled every 10 ms (expect() backs off to 1 s polls: too coarse to time this)
                _wait_change(count, before)
                shown = time.perf_counter() - t
                _wait_change(status, listed)
                if i:  # the first move warms the page's charts and caches up
                    counts.append(shown)
                    lists.append(time.perf_counter() - t)
            b.close()
        return {"first_load_s": round(first_load, 2), "type_threshold_to_new_count": stats(counts),
                "type_threshold_to_member_list_updated": stats(lists)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--players", type=int, default=1_000_000)
    ap.add_argument("--db", type=Path, help="an existing store (default: the cached synthetic one)")
    ap.add_argument("--browser", action="store_true", help="also measure in headless Chromium")
    ap.add_argument("--parts", default="in_process,relabel_and_count,exports",
                    help="comma-separated parts to run (in_process, relabel_and_count, exports, browser)")
    ap.add_argument("--export-one", help=argparse.SUPPRESS)
    a = ap.parse_args()
    ROOT.mkdir(parents=True, exist_ok=True)
    db = a.db or make_store(a.players)
    if a.export_one:
        print(json.dumps(export_one(db, a.export_one)))
        return
    every = {"in_process": in_process, "relabel_and_count": baselines, "exports": exports, "browser": browser}
    wanted = [p for p in a.parts.split(",") if p] + (["browser"] if a.browser else [])
    unknown = sorted(set(wanted) - set(every))
    if unknown:
        ap.error(f"unknown part(s) {unknown}: choose among {sorted(every)}")
    parts = {name: every[name] for name in dict.fromkeys(wanted)}
    print(json.dumps({"db": str(db)}), flush=True)
    for name, fn in parts.items():  # each part printed as soon as it is measured
        print(json.dumps({name: fn(db)}, indent=2, default=str), flush=True)


if __name__ == "__main__":
    main()
