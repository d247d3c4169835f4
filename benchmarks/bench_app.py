"""Latency of the served app on a given store (`--db`).

1. Server side, in process (no browser): the time to switch the open player, i.e. set
   `PlayerState.player_id` with the whole Player 360 page attached to a Bokeh document (reads +
   derivations + view updates), cold (first read of that player) and warm; the read alone; and
   player search (name, id, card, e-mail, phone fragments).
2. In the browser (Playwright + Debian chromium against `player360 serve`): from navigation to
   `?player=ID` until the page is fully rendered (header, key metrics, timeline, notes and the
   first tab's charts), and a switch inside the page (search, click a result, new header shown), with
   the served app's own server time for each switch (it logs every open: reads and view updates).

    python -m benchmarks.bench_app --db data/player360.duckdb --players 20
    python -m benchmarks.bench_app --make-players-store /tmp/p1m.duckdb --count 1000000  # search at scale
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import time
from pathlib import Path


def stats(values: list[float]) -> dict[str, float]:
    """p50 / p95 / max in milliseconds."""
    ms = sorted(v * 1000 for v in values)
    if not ms:
        return {}
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 1), "p95_ms": round(p95, 1),
            "max_ms": round(ms[-1], 1)}


def sample_players(db: Path, n: int, seed: int = 1) -> list[dict]:
    """`n` players with events, spread over activity levels (busiest included)."""
    from pipelines.store import Store

    with Store(db, read_only=True) as s:
        frame = s.sql("""SELECT p.player_id, p.first_name, p.last_name, p.email, p.phone,
                            any_value(pp.card_number) AS card, count(e.event_id) AS events
                         FROM players p LEFT JOIN player_properties pp USING (player_id)
                         LEFT JOIN events e USING (player_id)
                         GROUP BY ALL HAVING count(e.event_id) > 0 ORDER BY events DESC""")
    rows = frame.to_dicts()
    rng = random.Random(seed)
    picked = rows[:1] + rng.sample(rows[1:], min(n - 1, len(rows) - 1))
    return picked


def server_side(db: Path, players: list[dict]) -> dict:
    """Switch times with the whole player page attached to a document, and search times."""
    import panel as pn
    from bokeh.document import Document

    from app.data import DataStore
    from app.pages.player import PlayerPage
    from app.state import PlayerSearch, PlayerState, Session

    data = DataStore(db)
    # a host scoped to every property: reads go through the access layer as in the app
    session = Session(user="bench", role="host", all_properties=True)
    who = session.principal
    state = PlayerState(data=data, session=session)
    search = PlayerSearch(data=data, session=session)
    page = pn.panel(PlayerPage(player=state, search=search))
    page.get_root(Document())
    state.player_id = players[-1]["player_id"]  # warm imports and the first render
    reads, cold, warm = [], [], []
    for p in players:
        t = time.perf_counter()
        data.player(who, p["player_id"])
        reads.append(time.perf_counter() - t)
    data.invalidate()
    for p in players:
        t = time.perf_counter()
        state.player_id = p["player_id"]
        cold.append(time.perf_counter() - t)
    for p in players:
        state.player_id = "__none__"
        t = time.perf_counter()
        state.player_id = p["player_id"]
        warm.append(time.perf_counter() - t)
    queries = []
    for p in players:
        digits = "".join(ch for ch in (p["phone"] or "") if ch.isdigit())
        queries += [p["last_name"][:4].lower(), f"{p['first_name']} {p['last_name'][:3]}", p["player_id"][-5:],
                    (p["card"] or "")[-6:], (p["email"] or "")[:6], digits[-7:]]
    searches = []
    for q in [q for q in queries if q]:
        data.invalidate()
        t = time.perf_counter()
        data.search(who, q, 10)
        searches.append(time.perf_counter() - t)
    events = [p["events"] for p in players]
    data.close()
    return {"read_player": stats(reads), "switch_cold": stats(cold), "switch_warm": stats(warm),
            "search": stats(searches), "events_per_player": {"min": min(events), "max": max(events)}}


def wait_for_log(path: Path, text: str, timeout: float) -> None:
    """Wait until the server's log holds `text` (or `timeout` seconds passed: then say so)."""
    deadline = time.monotonic() + timeout
    while text not in path.read_text(encoding="utf-8", errors="replace"):
        if time.monotonic() > deadline:
            print(f"  (no '{text}' in the server log after {timeout:.0f} s: measuring anyway)", flush=True)
            return
        time.sleep(0.5)


def browser_side(db: Path, players: list[dict], rounds: int) -> dict:
    """Navigation to a fully rendered player page, and an in-page switch, in headless Chromium."""
    from playwright.sync_api import expect, sync_playwright

    from app.served import CHROMIUM, CHROMIUM_ARGS, ServedApp

    with ServedApp(db, db.parent / "bench-serve-{port}.log", timeout=90) as app:
        url = app.url
        loads, switches = [], []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            app.login(page, "admin", wait=180)
            warm = players[-1]  # warm the server (imports, first session) on a player not measured
            page.goto(f"{url}?player={warm['player_id']}")
            expect(page.locator(".player-header")).to_contain_text(warm["last_name"], timeout=120_000)
            wait_for_log(app.log, "warm-up done", 600)  # the steady state, not the start-up scans
            for p in players[:rounds]:
                name = f"{p['first_name']} {p['last_name']}"
                t = time.perf_counter()
                page.goto(f"{url}?player={p['player_id']}")
                expect(page.locator(".player-header")).to_contain_text(name, timeout=60_000)
                expect(page.locator(".key-metrics")).to_contain_text("Visits", timeout=60_000)
                expect(page.locator(".timeline-status")).to_contain_text("events", timeout=60_000)
                expect(page.locator(".tab-visits, [class*='tab-empty']").first).to_be_visible(timeout=60_000)
                expect(page.locator(".notes-list")).to_contain_text("Notes", timeout=60_000)
                loads.append(time.perf_counter() - t)
            switch_log_from = app.log.stat().st_size
            for p in players[rounds:rounds * 2] or players[:rounds]:
                name = f"{p['first_name']} {p['last_name']}"
                page.locator(".player-search input").fill(p["player_id"])
                result = page.locator(".search-result").first
                expect(result).to_contain_text(p["player_id"], timeout=60_000)
                t = time.perf_counter()
                result.locator("button").click()
                expect(page.locator(".player-header")).to_contain_text(name, timeout=60_000)
                switches.append(time.perf_counter() - t)
            browser.close()
        # the app logs each open's server time (reads and every view's update): the switches' lines
        with app.log.open(encoding="utf-8", errors="replace") as served:
            served.seek(switch_log_from)
            server_ms = [float(m.group(1)) / 1000 for m in re.finditer(r"opened player \S+ in ([\d.]+) ms", served.read())]
        return {"navigate_to_rendered_360": stats(loads), "switch_in_page_to_header": stats(switches),
                "switch_server_time_in_app": stats(server_ms),
                "navigate_each_ms": [round(x * 1000) for x in loads]}


def make_players_store(path: Path, count: int, seed: int = 3) -> Path:
    """A store holding only `count` synthetic players (for search at scale)."""
    import numpy as np
    import polars as pl

    from pipelines.ingest import ingest_file
    from pipelines.store import Store

    rng = np.random.default_rng(seed)
    first = np.array(["Ann", "Bob", "Carla", "David", "Elena", "Frank", "Grace", "Hiro", "Ines", "Jamal", "Kim",
                      "Luis", "Maria", "Nina", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Wei"])
    last = np.array(["Lee", "Garcia", "Smith", "Nguyen", "Kowalski", "Okafor", "Rossi", "Schmidt", "Tanaka",
                     "Haddad", "Johnson", "Silva", "Dubois", "Ivanova", "Patel", "O'Brien", "Novak", "Costa"])
    ids = np.arange(1, count + 1)
    fn, ln = first[rng.integers(0, len(first), count)], last[rng.integers(0, len(last), count)]
    frame = pl.DataFrame({
        "player_id": [f"PL{i:07d}" for i in ids], "first_name": fn, "last_name": ln,
        "date_of_birth": "1980-01-01",
        "email": [f"{a.lower()}.{b.lower().replace(chr(39), '')}{i}@example.com" for a, b, i in zip(fn, ln, ids)],
        "phone": [f"(702) 555-{i % 10000:04d}" for i in ids],
        "property_id": np.where(rng.random(count) < 0.7, "P01", "P02"),
        "card_number": [f"70{i:010d}" for i in ids], "tier": "bronze", "enrolled_at": "2024-01-01",
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    csv = path.with_suffix(".players.csv")
    frame.write_csv(csv)
    with Store(path) as store:
        ingest_file(store, "players", csv)
    csv.unlink()
    return path


def search_only(db: Path, n: int) -> dict:
    """Search latency on a store (e.g. 1M players)."""
    from app.data import DataStore

    from pipelines.access import Principal

    data = DataStore(db)
    who = Principal("bench", "host", None)
    with data.store() as s:
        rows = s.sql("SELECT * FROM players USING SAMPLE 50 ROWS").to_dicts()[:n]
    queries = []
    for p in rows:
        queries += [p["last_name"][:5].lower(), f"{p['first_name']} {p['last_name'][:3]}", p["player_id"],
                    p["player_id"][-6:], (p["email"] or "")[:8], (p["phone"] or "")[-8:], "zz-no-match"]
    times = []
    for q in queries:
        data.invalidate()
        t = time.perf_counter()
        data.search(who, q, 10)
        times.append(time.perf_counter() - t)
    with data.store() as s:
        players = s.sql("SELECT count(*) AS n FROM players")["n"][0]
    data.close()
    return {"players": players, "search": stats(times)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=Path, help="the store to measure (default: $PLAYER360_DB or data/player360.duckdb)")
    ap.add_argument("--players", type=int, default=20, help="players sampled for switches")
    ap.add_argument("--browser-rounds", type=int, default=8, help="page loads measured in the browser")
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--search-only", action="store_true", help="only measure search (e.g. on a 1M-player store)")
    ap.add_argument("--make-players-store", type=Path, help="write a store of --count synthetic players and exit")
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.make_players_store:
        t = time.perf_counter()
        make_players_store(a.make_players_store, a.count)
        print(f"{a.make_players_store}: {a.count:,} players in {time.perf_counter() - t:.1f} s")
        return
    from pipelines.store import default_db_path

    db = (a.db or default_db_path()).resolve()
    if a.search_only:
        out = search_only(db, a.players)
    else:
        players = sample_players(db, a.players)
        out = {"db": str(db), "server": server_side(db, players)}
        if not a.json:
            print(f"  server   {json.dumps(out['server'], default=str)}", flush=True)  # before the long part
        if not a.no_browser:
            out["browser"] = browser_side(db, players, a.browser_rounds)
    if a.json:
        print(json.dumps(out, indent=2, default=str))
        return
    print(f"store: {db}")
    for section, values in out.items():
        if isinstance(values, dict):
            for name, st in values.items():
                print(f"  {section:8s} {name:28s} {st}")
        else:
            print(f"  {section}: {values}")


if __name__ == "__main__":
    main()
