"""Tests of the demo data generator (`pipelines/generate.py`) against docs/sources.md."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from pipelines.generate import SCHEMAS, SOURCES, generate

END = datetime(2025, 6, 1, 21, 0)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "sources.md"
EVENT_SOURCES = [s for s in SOURCES if s != "players"]
KEYS = {"visits": "visit_id", "rating_slips": "slip_id", "transactions": "txn_id", "loyalty": "entry_id",
        "notes": "note_id", "compliance": "entry_id"}


def _split_top_level(cell: str) -> list[str]:
    """Split a column list on commas that are not inside parentheses."""
    parts, depth, current = [], 0, ""
    for ch in cell:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [*parts, current]


def documented() -> dict[str, dict[str, set[str] | None]]:
    """{source: {column: allowed values or None}} read from the sources table of docs/sources.md."""
    out: dict[str, dict[str, set[str] | None]] = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `(\w+)` \| [^|]+ \| ([^|]+) \|", line)
        if not match or match.group(1) not in SOURCES:
            continue
        columns: dict[str, set[str] | None] = {}
        for token in _split_top_level(match.group(2)):
            name = token.split("(")[0].strip().rstrip("*")
            note = token[token.find("("):] if "(" in token else ""
            allowed = set(re.findall(r"`(\w+)`", note))
            columns[name] = allowed if allowed else None
        out[match.group(1)] = columns
    return out


def read(path: Path, source: str) -> pl.DataFrame:
    """A generated CSV with its typed schema."""
    return pl.read_csv(path, schema=SCHEMAS[source])


@pytest.fixture(scope="module")
def csv_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One realistic data set shared by the tests."""
    out = tmp_path_factory.mktemp("csv")
    generate(out, players=3000, days=730, seed=11, end=END)
    return out


@pytest.fixture(scope="module")
def data(csv_dir: Path) -> dict[str, pl.DataFrame]:
    """The shared data set, typed."""
    return {s: read(csv_dir / f"{s}.csv", s) for s in SOURCES}


def test_writes_every_source_with_the_documented_columns(csv_dir: Path) -> None:
    docs = documented()
    assert set(docs) == set(SOURCES)
    assert sorted(p.name for p in csv_dir.iterdir()) == sorted(f"{s}.csv" for s in SOURCES)
    for source in SOURCES:
        header = (csv_dir / f"{source}.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
        assert header == list(docs[source]), source


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    runs = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    for out, seed in zip(runs, (5, 5, 6), strict=True):
        generate(out, players=400, days=200, seed=seed, end=END)
    for source in SOURCES:
        name = f"{source}.csv"
        assert (runs[0] / name).read_bytes() == (runs[1] / name).read_bytes(), source
    assert (runs[0] / "visits.csv").read_bytes() != (runs[2] / "visits.csv").read_bytes()


def test_parquet_holds_the_same_rows_as_csv(tmp_path: Path) -> None:
    csv_paths = generate(tmp_path / "csv", players=400, days=200, seed=5, end=END)
    pq_paths = generate(tmp_path / "pq", players=400, days=200, seed=5, end=END, fmt="parquet")
    for source in SOURCES:
        table = pl.read_parquet(pq_paths[source])
        assert table.schema == pl.Schema(SCHEMAS[source])
        as_csv = table.write_csv(datetime_format="%Y-%m-%d %H:%M:%S", date_format="%Y-%m-%d")
        assert as_csv == csv_paths[source].read_text(encoding="utf-8"), source
    again = generate(tmp_path / "pq2", players=400, days=200, seed=5, end=END, fmt="parquet")
    assert all(again[s].read_bytes() == pq_paths[s].read_bytes() for s in SOURCES)


def test_nothing_happens_after_the_end(data: dict[str, pl.DataFrame]) -> None:
    for source, df in data.items():
        for name, dtype in df.schema.items():
            if dtype == pl.Datetime:
                latest = df[name].max()
                assert latest is None or latest <= END, (source, name, latest)


def test_only_documented_values_and_no_dirty_rows(data: dict[str, pl.DataFrame]) -> None:
    for source, columns in documented().items():
        df = data[source]
        for name, allowed in columns.items():
            if allowed is not None:
                assert set(df[name].drop_nulls().unique()) <= allowed, (source, name)
            if name == "player_id":
                assert df[name].null_count() == 0, (source, name)
        if "flags" in df.columns:
            flags = df["flags"].drop_nulls().str.split(";").explode()
            assert set(flags) <= {"vip", "credit_line", "do_not_contact", "no_mail", "self_excluded"}
    assert (data["transactions"]["amount"] >= 0).all()


def test_ids_are_unique_and_every_player_is_known(data: dict[str, pl.DataFrame]) -> None:
    players = data["players"]
    assert players.select(pl.struct("player_id", "property_id").is_unique().all()).item()
    assert players["player_id"].str.contains(r"^PL\d{7}$").all()
    known = set(players["player_id"])
    prefixes = {"visits": "V", "rating_slips": "S", "transactions": "T", "loyalty": "L", "notes": "N", "compliance": "C"}
    for source in EVENT_SOURCES:
        ids = data[source][KEYS[source]]
        assert ids.is_unique().all(), source
        assert ids.str.starts_with(prefixes[source]).all(), source
        assert set(data[source]["player_id"]) <= known, source


def test_activity_happens_where_and_after_the_player_enrolled(data: dict[str, pl.DataFrame]) -> None:
    enrolled = data["players"].select("player_id", "property_id", "enrolled_at")
    for source, ts in (("visits", "check_in"), ("rating_slips", "start_time"), ("transactions", "ts")):
        joined = data[source].join(enrolled, on=["player_id", "property_id"], how="left")
        assert joined["enrolled_at"].null_count() == 0, source
        assert (joined[ts] >= joined["enrolled_at"]).all(), source
    assert data["players"]["property_id"].n_unique() == 3
    assert (data["players"].group_by("player_id").len()["len"] > 1).any()


def test_some_visits_are_still_open(data: dict[str, pl.DataFrame]) -> None:
    visits = data["visits"]
    still_in = visits.filter(pl.col("check_out").is_null())
    assert still_in.height >= 3
    assert (still_in["check_in"] > END - timedelta(hours=12)).all()
    closed = visits.filter(pl.col("check_out").is_not_null())
    assert (closed["check_out"] > closed["check_in"]).all()
    # No one is in two places at once.
    previous = visits.sort("player_id", "check_in").with_columns(pl.col("check_out").shift().over("player_id").alias("prev"))
    assert previous.filter(pl.col("check_in") < pl.col("prev")).height == 0


def test_duplicate_enrollments_exist(data: dict[str, pl.DataFrame]) -> None:
    people = data["players"].unique("player_id")
    groups = people.group_by("date_of_birth", pl.col("email").str.to_lowercase()).agg(
        pl.col("player_id"), pl.col("email").alias("spellings"), pl.concat_str("first_name", "last_name").alias("names")
    ).filter(pl.col("player_id").list.len() > 1)
    assert groups.height >= 0.008 * people.height
    differs = groups.filter(
        (pl.col("names").list.n_unique() > 1) & (pl.col("spellings").list.n_unique() > 1)
    )
    assert differs.height >= 0.8 * groups.height


def test_theo_follows_the_formula_and_results_vary(data: dict[str, pl.DataFrame]) -> None:
    slips = data["rating_slips"]
    expected = pl.col("avg_bet") * pl.col("minutes_played") / 60 * pl.col("decisions_per_hour") * pl.col("house_edge")
    assert slips.select(((pl.col("theo") - expected).abs() <= 0.006).all()).item()
    rules = slips.group_by("game").agg(pl.col("decisions_per_hour").unique(), pl.col("house_edge").unique())
    got = {r["game"]: (r["decisions_per_hour"], r["house_edge"]) for r in rules.iter_rows(named=True)}
    assert got["blackjack"] == ([70], [0.02]) and got["slots"] == ([600], [0.08])
    assert (slips["casino_win"] < 0).any() and (slips["casino_win"] > 0).any()
    assert set(slips["game_type"]) == {"table", "slot"}


def test_slips_lie_inside_their_visit(data: dict[str, pl.DataFrame]) -> None:
    joined = data["rating_slips"].join(data["visits"], on="visit_id", suffix="_visit")
    assert joined.height == data["rating_slips"].height
    assert (joined["player_id"] == joined["player_id_visit"]).all()
    assert (joined["start_time"] >= joined["check_in"]).all()
    assert (joined["end_time"] <= joined["check_out"].fill_null(END)).all()


def test_archetypes_are_visible(data: dict[str, pl.DataFrame]) -> None:
    visits = data["visits"]
    players = data["players"].unique("player_id")
    per_player = visits.group_by("player_id").agg(
        pl.col("check_in").max().alias("last"),
        pl.len().alias("visits"),
        (pl.col("check_in") > END - timedelta(days=90)).sum().alias("recent"),
        pl.col("check_in").is_between(END - timedelta(days=360), END - timedelta(days=90)).sum().alias("before"),
    )
    dormant = per_player.filter(pl.col("last") < END - timedelta(days=90))
    assert dormant.height >= 0.1 * players.height
    new = players.filter(pl.col("enrolled_at") > END - timedelta(days=60))
    assert new.height >= 0.02 * players.height
    assert per_player.filter(pl.col("visits") >= 50).height >= 10  # weekly regulars
    # Cooling: the last 90 days at less than half the pace of the 270 days before.
    cooling = per_player.filter((pl.col("before") >= 12) & (pl.col("recent") > 0) & (pl.col("recent") * 6 < pl.col("before")))
    assert cooling.height >= 5
    assert per_player.filter(pl.col("visits") == 1).height >= 0.1 * players.height  # one-timers
    whales = data["transactions"].filter(pl.col("type") == "marker")["player_id"].n_unique()
    assert whales >= 3
    assert set(players["status"]) >= {"active", "inactive"}
    assert set(data["players"]["tier"]) == {"bronze", "silver", "gold", "platinum", "black"}


def test_compliance_follows_cash_and_exclusions(data: dict[str, pl.DataFrame]) -> None:
    comp = data["compliance"]
    kinds = set(comp["type"])
    assert kinds == {"mtl", "ctr", "incident", "exclusion", "exclusion_lifted"}
    assert (comp.filter(pl.col("type") == "ctr")["amount"] > 10_000).all()
    assert (comp.filter(pl.col("type") == "mtl")["amount"] >= 3_000).all()
    big_cash = data["transactions"].filter((pl.col("method") == "cash") & (pl.col("amount") >= 3_000))
    assert comp.filter(pl.col("type") == "mtl").height == big_cash.height
    excluded = set(comp.filter(pl.col("type") == "exclusion")["player_id"])
    lifted = set(comp.filter(pl.col("type") == "exclusion_lifted")["player_id"])
    assert lifted <= excluded
    notes = data["notes"]
    assert set(notes["kind"]) == {"note", "dispute", "service"}
    assert (notes["visibility"] == "all").mean() > 0.7


def test_loyalty_ledger_is_consistent(data: dict[str, pl.DataFrame]) -> None:
    ledger = data["loyalty"]
    balance = ledger.filter(pl.col("points").is_not_null()).sort("player_id", "ts", "entry_id").select(
        pl.col("points").cum_sum().over("player_id")
    )
    assert (balance["points"] >= 0).all()
    rewards = ledger.filter(pl.col("reward_id").is_not_null()).sort("ts", "entry_id").group_by("reward_id", maintain_order=True).agg(
        pl.col("type")
    )
    outcomes = rewards["type"].list.join(",").value_counts()
    assert set(outcomes["type"]) == {"reward_issued", "reward_issued,reward_redeemed", "reward_issued,reward_expired"}
    contacts = ledger.filter(pl.col("type") == "campaign_contact")
    assert contacts["campaign_id"].null_count() == 0
    assert 0.06 < (contacts["arm"] == "holdout").mean() < 0.14
    arms = contacts.group_by("campaign_id").agg(pl.col("arm").n_unique(), pl.len())
    assert (arms.filter(pl.col("len") >= 100)["arm"] == 2).all()


def test_dirty_rows_only_on_request(tmp_path: Path) -> None:
    paths = generate(tmp_path, players=50, days=60, seed=1, end=END, dirty=True)
    raw = {s: pl.read_csv(p, infer_schema_length=0) for s, p in paths.items()}
    known = set(raw["players"]["player_id"])
    visits = raw["visits"].with_columns(pl.col("check_in").str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False).alias("t"))
    assert visits["t"].null_count() == 1
    assert (raw["transactions"]["amount"].cast(pl.Float64) < 0).sum() == 1
    unknown = sum((~raw[s]["player_id"].drop_nulls().is_in(known)).sum() for s in EVENT_SOURCES)
    assert unknown >= 1
    assert sum(raw[s]["player_id"].null_count() for s in EVENT_SOURCES) >= 1
    with pytest.raises(ValueError, match="CSV"):
        generate(tmp_path / "pq", players=10, end=END, fmt="parquet", dirty=True)


def test_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, players=0, end=END)
    with pytest.raises(ValueError):
        generate(tmp_path, days=0, end=END)
    with pytest.raises(ValueError):
        generate(tmp_path, end=END, fmt="xlsx")


def test_default_run_is_fast_reports_progress_and_ends_by_default_at_this_hour(tmp_path: Path) -> None:
    calls: list[tuple[str, float]] = []
    started = time.perf_counter()
    paths = generate(tmp_path, progress=lambda stage, fraction: calls.append((stage, fraction)))
    elapsed = time.perf_counter() - started
    assert elapsed < 15
    total = sum(pl.scan_csv(p).select(pl.len()).collect().item() for p in paths.values())
    assert 80_000 <= total <= 300_000
    fractions = [f for _, f in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    latest = pl.read_csv(paths["visits"], schema=SCHEMAS["visits"])["check_in"].max()
    now = datetime.now()
    assert latest <= now and latest > now - timedelta(days=1)
