"""Player cards: packed rows decode to exactly what DuckDB returns for the snapshot row, the build
keeps them on the newest as_of, and the one-player read takes its rows from them."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines import cards
from pipelines.access import AccessDenied, check_query
from pipelines.build import build
from pipelines.store import Store
from tests.demo import demo_files_fixture


def same_row(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Rows equal value for value and type for type (NaN equals NaN, -0.0 is not 0.0)."""
    if a is None or b is None:
        return a is b
    if list(a) != list(b):
        return False
    for name, x in a.items():
        y = b[name]
        if type(x) is not type(y):
            return False
        if isinstance(x, float):
            if not (math.isnan(x) and math.isnan(y)) and (x != y or math.copysign(1, x) != math.copysign(1, y)):
                return False
        elif x != y:
            return False
    return True


def assert_cards_mirror(store: Store) -> None:
    """Every card decodes to its player's rows in the snapshot of the cards' as_of, and every player
    of that snapshot has a card."""
    held = store.cards_as_of()
    assert held is not None, "no cards"
    as_of = held[0]
    ids = store.sql("SELECT player_id FROM player_metrics WHERE as_of = ? ORDER BY player_id", [as_of])["player_id"]
    assert store.sql("SELECT count(*) AS n FROM player_cards")["n"][0] == ids.len()
    for pid in ids:
        card = store.card(pid, as_of)
        assert card is not None, pid
        for table in ("player_metrics", "player_segments"):
            row = store.first_row(f"SELECT * FROM {table} WHERE as_of = ? AND player_id = ?", [as_of, pid])
            assert same_row(card[table], row), (table, pid, card[table], row)


def _roundtrip(store: Store, frame: pl.DataFrame) -> None:
    spec = cards.layout(frame)
    assert spec is not None
    blobs = cards.pack(frame, spec).to_pylist()
    store.con.register("_f", frame)
    cursor = store.con.execute("SELECT * FROM _f")
    names = [d[0] for d in cursor.description]
    for blob, values in zip(blobs, cursor.fetchall(), strict=True):
        expected = dict(zip(names, values, strict=True))
        got = cards.unpack(blob, spec, expected.get("player_id"))
        assert same_row(got, expected), (got, expected)
    store.con.unregister("_f")


def test_every_kind_and_null_decodes_as_duckdb_returns_it(store):
    frame = pl.DataFrame({
        "player_id": ["PL1", "PL2", "PL3", "PL4"],
        "as_of": [date(2026, 1, 1), None, date(1969, 12, 31), date(2100, 2, 28)],
        "ratio": [0.1, float("nan"), None, -0.0],
        "big": [float("inf"), -1e308, 5e-324, None],
        "count": [0, None, -(2**62), 2**62],
        "version": pl.Series([1, 2, None, 4], dtype=pl.Int32),
        "flag": [True, False, None, True],
        "seen": [datetime(2026, 1, 1, 12, 30, 5, 123456), None, datetime(1960, 5, 1), datetime(2030, 1, 1)],
        "label": ["vip", None, "é ' \" \x1f", ""],
        # an Enum packs by its codes: categories in another order than the dictionary's, one unused
        "band": pl.Series(["low", None, "high", "low"], dtype=pl.Enum(["low", "unused", "high"])),
        "tier": pl.Series(["b", "a", None, "b"], dtype=pl.Categorical),
        "small": pl.Series([1.5, None, 2.25, -3.0], dtype=pl.Float32),
        "nothing": pl.Series([None] * 4, dtype=pl.Null),
    })
    _roundtrip(store, frame)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
    st.one_of(st.none(), st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1))),
    st.one_of(st.none(), st.text(max_size=8)),
    st.one_of(st.none(), st.booleans()),
), min_size=1, max_size=30))
def test_packed_rows_decode_to_the_rows_duckdb_returns(store, rows):
    f, i, t, s, b = zip(*rows, strict=True)
    frame = pl.DataFrame({"f": pl.Series(f, dtype=pl.Float64), "i": pl.Series(i, dtype=pl.Int64),
                          "t": pl.Series(t, dtype=pl.Datetime("us")), "s": pl.Series(s, dtype=pl.String),
                          "b": pl.Series(b, dtype=pl.Boolean)})
    _roundtrip(store, frame)


def test_columns_the_card_cannot_pack_mean_no_layout():
    assert cards.layout(pl.DataFrame({"d": [timedelta(days=1)]})) is None
    assert cards.layout(pl.DataFrame({"l": [[1, 2]]})) is None
    assert cards.layout(pl.DataFrame({"t": [datetime(2026, 1, 1)]}).with_columns(
        pl.col("t").dt.replace_time_zone("UTC"))) is None
    many = pl.DataFrame({"s": [str(k) for k in range(cards.MAX_DICTIONARY + 2)]})
    assert cards.layout(many) is None
    # the key is stored beside the card, not in a dictionary: any number of players
    assert cards.layout(many.rename({"s": "player_id"})) is not None


demo_files = demo_files_fixture(players=300, days=200, seed=7)


def _from_tables(store: Store, player_id: str, as_of: date) -> dict[str, Any]:
    return {t: store.first_row(f"SELECT * FROM {t} WHERE as_of = ? AND player_id = ?", [as_of, player_id])
            for t in ("player_metrics", "player_segments")}


def test_the_360_read_takes_the_newest_snapshot_rows_from_the_cards(demo_store):
    result = build(demo_store, actor="t")
    assert demo_store.cards_as_of()[0] == result.as_of
    assert_cards_mirror(demo_store)
    for pid in demo_store.sql("SELECT player_id FROM players ORDER BY player_id LIMIT 40")["player_id"]:
        view = demo_store.player_360(pid)
        expected = _from_tables(demo_store, pid, result.as_of)
        assert same_row(view["player_metrics"], expected["player_metrics"])
        assert same_row(view["player_segments"], expected["player_segments"])


def test_cards_streamed_in_many_slices_mirror_the_snapshot(demo_store, monkeypatch):
    """The slices are packed ahead and streamed into one unordered INSERT: every player gets its own card."""
    monkeypatch.setattr("pipelines.store_cards.CARD_SLICE", 7)
    build(demo_store, actor="t")
    assert demo_store.sql("SELECT count(*) AS n FROM player_metrics")["n"][0] > 7 * 3
    assert_cards_mirror(demo_store)
    assert demo_store.con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]


def test_a_read_only_store_reads_the_cards_with_the_layout_read_once(demo_store):
    as_of = build(demo_store, actor="t").as_of
    ids = demo_store.sql("SELECT player_id FROM players ORDER BY player_id LIMIT 30")["player_id"].to_list()
    expected = {pid: _from_tables(demo_store, pid, as_of) for pid in ids}
    demo_store.close()
    with Store(demo_store.path, read_only=True) as reader:
        for pid in ids * 2:  # the second round from the kept layout
            view = reader.player_360(pid)
            assert same_row(view["player_metrics"], expected[pid]["player_metrics"]), pid
            assert same_row(view["player_segments"], expected[pid]["player_segments"]), pid
        assert reader.card(ids[0], as_of - timedelta(days=1)) is None  # the cards are of another day
        assert reader.card("NOPE", as_of) is None


def test_a_build_of_an_older_day_leaves_the_cards_of_the_newest(demo_store):
    newest = build(demo_store, actor="t").as_of
    older = build(demo_store, newest - timedelta(days=20), actor="t", force=True).as_of
    assert older < newest and demo_store.cards_as_of()[0] == newest
    assert_cards_mirror(demo_store)
    pid = demo_store.sql("SELECT min(player_id) AS p FROM player_metrics")["p"][0]
    assert same_row(demo_store.player_360(pid)["player_metrics"], _from_tables(demo_store, pid, newest)["player_metrics"])


def test_without_cards_the_read_falls_back_to_the_snapshots(demo_store):
    as_of = build(demo_store, actor="t").as_of
    pid = demo_store.sql("SELECT min(player_id) AS p FROM player_metrics")["p"][0]
    with_card = demo_store.player_360(pid)
    metrics, segments = demo_store.snapshot("player_metrics"), demo_store.snapshot("player_segments")
    unpackable = metrics.with_columns(pl.lit(timedelta(days=1)).alias("odd"))
    with demo_store.transaction():
        assert not demo_store.write_cards({"player_metrics": unpackable, "player_segments": segments}, as_of, "x")
    assert demo_store.cards_as_of() is None
    without = demo_store.player_360(pid)
    assert same_row(without["player_metrics"], with_card["player_metrics"])
    assert same_row(without["player_segments"], with_card["player_segments"])
    assert without["events"].equals(with_card["events"])


def test_scoped_reads_may_not_name_the_cards():
    with pytest.raises(AccessDenied):
        check_query("SELECT * FROM player_cards WHERE player_id = ?")


def test_the_newest_events_in_one_scan_equal_the_ordered_query(loaded, write_csv, monkeypatch):
    import pipelines.store_layout as layout
    from pipelines.ingest import ingest_file
    from tests.conftest import txn

    rows = [txn(i, p, amount=str(10 + i), ts=f"2025-01-{1 + i % 9:02d} 1{i % 10}:00:00")
            for i, p in enumerate(["PL1", "PL3", "PL2", "PL3", "PL1", "PL3", "PL1"])]
    ingest_file(loaded, "transactions", write_csv("a.csv", rows))
    ingest_file(loaded, "transactions", write_csv("b.csv", [txn(1, "PL3", amount="99"), txn(5, "PL3", amount="7")]))
    loaded.merge_players("PL1", "PL3", actor="a", role="admin", reason="dup")
    expected = {limit: loaded.sql("SELECT event_id FROM events_current WHERE player_id = 'PL1' "
                                  "ORDER BY ts DESC, seq DESC LIMIT ?", [limit])["event_id"].to_list()
                for limit in (2, 200)}
    for whole in (layout.WHOLE_TIMELINE, 0):  # one scan, and the two queries of a long timeline
        monkeypatch.setattr(layout, "WHOLE_TIMELINE", whole)
        for asked in ("PL1", "PL3"):
            for limit in (2, 200):
                got = loaded.player_360(asked, limit=limit)["events"]
                assert got["event_id"].to_list() == expected[limit], (whole, asked, limit)
        assert got.schema == loaded.sql("SELECT * FROM events LIMIT 0").schema


def test_the_app_reads_the_same_rows_from_the_cards_within_the_users_scope(demo_store):
    from pipelines.access import Access, Principal
    from tests import scoped_reference as oracle

    build(demo_store, actor="t")
    links = demo_store.sql("SELECT player_id, property_id FROM player_properties ORDER BY player_id, property_id")
    prop = links["property_id"][0]
    inside = set(links.filter(pl.col("property_id") == prop)["player_id"])
    for principal in (Principal("ann", "admin", None), Principal("hal", "host", (prop,))):
        acc = Access(demo_store, principal)
        for pid in links["player_id"].unique().sort().head(30):
            view = acc.player(pid)  # the rows from the player's card
            rows = {"player_metrics": view and view.metrics, "player_segments": view and view.segments}
            for table in ("player_metrics", "player_segments"):
                expected = oracle.snapshot_row(acc, table, pid)  # the row of the snapshot table
                assert same_row(rows[table], expected), (principal.role, pid, table)
                visible = principal.properties is None or pid in inside
                assert (rows[table] is not None) == visible, (principal.role, pid, table)


def test_cards_packed_before_narrow_slots_still_decode():
    # a store's cards stay until its next build: those of the 8-byte-slot layout (no "wide" key),
    # as that code packed them, decode unchanged
    spec = {"columns": [["player_id", "key", -1], ["ratio", "f64", 0], ["visits", "int", 1], ["as_of", "date", 2],
                        ["seen", "ts", 3], ["tier", "str", 4], ["flag", "bool", 5]],
            "dicts": {"tier": ["vip"]}, "floats": 1, "slots": 6}
    full = bytes.fromhex("0000000000000000000000000000e03f0300000000000000e74f00000000000040f34cf65e470600"
                         "00000000000000000100000000000000")
    empty = bytes.fromhex("3f" + "00" * 55)
    assert cards.unpack(full, spec, "PL1") == {
        "player_id": "PL1", "ratio": 0.5, "visits": 3, "as_of": date(2026, 1, 2),
        "seen": datetime(2026, 1, 2, 3, 4, 5), "tier": "vip", "flag": True}
    assert cards.unpack(empty, spec, "PL2") == {
        "player_id": "PL2", "ratio": None, "visits": None, "as_of": None, "seen": None, "tier": None, "flag": None}


def test_narrow_slots_hold_what_fits_32_bits_and_make_a_card_smaller():
    frame = pl.DataFrame({
        "player_id": ["PL1", "PL2"], "ratio": [0.5, 1.5], "visits": [3, 2**31 - 1], "big": [-(2**31) - 1, 0],
        "as_of": [date(2026, 1, 2)] * 2, "seen": [datetime(2026, 1, 2)] * 2, "tier": ["vip", "low"],
        "flag": [True, False],
    })
    spec = cards.layout(frame)
    assert spec is not None
    slot = {name: k for name, _, k in spec["columns"]}
    # 8-byte slots: the float, the timestamp and the integer beyond 32 bits; the rest 4 bytes
    assert spec["wide"] == 3 and {slot["ratio"], slot["seen"], slot["big"]} == {0, 1, 2}
    blobs = cards.pack(frame, spec).to_pylist()
    assert [len(b) for b in blobs] == [8 + 3 * 8 + 4 * 4] * 2  # against 8 + 7 * 8 before
    assert cards.unpack(blobs[1], spec, "PL2")["visits"] == 2**31 - 1
    assert cards.unpack(blobs[0], spec, "PL1")["big"] == -(2**31) - 1
