"""Ingestion: idempotency, corrections, conservation, rejected rows and the file formats."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from pipelines.errors import UserError
from pipelines.ingest import ingest_file
from tests.conftest import txn


def _conserved(r) -> bool:
    return r.rows_read == r.events_added + r.duplicates + r.rejected


def test_players_build_the_master(loaded):
    players = loaded.table("players").sort("player_id")
    assert players["player_id"].to_list() == ["PL1", "PL2", "PL3"]
    assert players.filter(pl.col("player_id") == "PL1")["date_of_birth"][0].isoformat() == "1980-01-02"
    links = loaded.table("player_properties")
    assert links.filter(pl.col("player_id") == "PL3")["tier"].to_list() == ["bronze"]
    types = loaded.sql("SELECT DISTINCT event_type FROM events")["event_type"].to_list()
    assert types == ["enrollment"]


def test_same_file_twice_adds_nothing(loaded, write_csv):
    path = write_csv("t.csv", [txn(i) for i in range(5)])
    first = ingest_file(loaded, "transactions", path)
    second = ingest_file(loaded, "transactions", path)
    assert (first.events_added, first.duplicates) == (5, 0)
    assert (second.events_added, second.duplicates) == (0, 5)
    assert loaded.sql("SELECT count(*) AS n FROM events WHERE source='transactions'")["n"][0] == 5


def test_overlapping_file_adds_only_new_rows(loaded, write_csv):
    ingest_file(loaded, "transactions", write_csv("a.csv", [txn(i) for i in range(0, 6)]))
    result = ingest_file(loaded, "transactions", write_csv("b.csv", [txn(i) for i in range(4, 10)]))
    assert (result.events_added, result.duplicates) == (4, 2)


def test_changed_record_is_a_correction_not_an_update(loaded, write_csv):
    ingest_file(loaded, "transactions", write_csv("a.csv", [txn(1, amount="100")]))
    result = ingest_file(loaded, "transactions", write_csv("b.csv", [txn(1, amount="120")]))
    assert result.events_added == 1
    events = loaded.sql("SELECT event_id, amount, corrects_event_id FROM events WHERE record_key='T1' ORDER BY seq")
    assert events["amount"].to_list() == [100.0, 120.0]
    assert events["corrects_event_id"][1] == events["event_id"][0]
    current = loaded.sql("SELECT amount FROM events_current WHERE record_key='T1'")
    assert current["amount"].to_list() == [120.0]


def test_repeated_key_within_file_chains_versions(loaded, write_csv):
    path = write_csv("a.csv", [txn(1, amount="100"), txn(1, amount="110"), txn(1, amount="110")])
    result = ingest_file(loaded, "transactions", path)
    assert (result.events_added, result.duplicates) == (2, 1)
    assert loaded.sql("SELECT amount FROM events_current WHERE record_key='T1'")["amount"].to_list() == [110.0]


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        (txn(1, player=""), "player_id", "missing player_id"),
        (txn(1, ts=""), "ts", "missing ts"),
        (txn(1, ts="2025-02-30 10:00"), "ts", "cannot read '2025-02-30 10:00' as a timestamp"),
        (txn(1, amount="ten"), "amount", "cannot read 'ten' as a number"),
        (txn(1, amount="-5"), "amount", "impossible negative amount"),
        (txn(1, ts="2999-01-01 00:00"), "ts", "is in the future"),
        (txn(1, player="NOPE"), "player_id", "unknown player 'NOPE'"),
        (txn(1, kind="bet"), "type", "'bet' is not a valid type"),
    ],
)
def test_bad_rows_are_kept_with_their_reason(loaded, write_csv, row, column, reason):
    path = write_csv("t.csv", [txn(0), row, txn(2)])
    result = ingest_file(loaded, "transactions", path)
    assert (result.rows_read, result.events_added, result.rejected) == (3, 2, 1)
    rejected = loaded.rejected_rows(result.batch_id)
    assert rejected["row_number"].to_list() == [2]
    assert rejected["column"][0] == column
    assert reason in rejected["reason"][0]
    assert '"txn_id":"T1"' in rejected["raw"][0]


def test_numbers_with_separators_or_spaces_read_like_plain_ones(loaded, write_csv):
    """Plain numbers take a fast cast; a chunk with any other spelling is read with the clean-up."""
    amounts = ["12", "1,250.50", " 7 ", "ten", "3.5"]
    result = ingest_file(loaded, "transactions", write_csv("t.csv", [txn(i, amount=a) for i, a in enumerate(amounts)]))
    assert (result.events_added, result.rejected) == (4, 1)
    read = loaded.sql("SELECT amount FROM events WHERE source = 'transactions' ORDER BY seq")["amount"].to_list()
    assert read == [12.0, 1250.5, 7.0, 3.5]
    assert "cannot read 'ten' as a number" in loaded.rejected_rows(result.batch_id)["reason"][0]


def test_conservation_on_a_mixed_file(loaded, write_csv):
    rows = [txn(i) for i in range(10)] + [txn(3), txn(11, amount="x"), txn(12, player="ZZ")]
    result = ingest_file(loaded, "transactions", write_csv("t.csv", rows))
    assert _conserved(result)
    batch = loaded.batch(result.batch_id)
    assert batch["status"] == "committed"
    assert batch["rows_read"] == batch["events_added"] + batch["duplicates"] + batch["rejected"] == 13


def test_file_without_key_column_uses_content_and_occurrence(loaded, write_csv):
    rows = [{k: v for k, v in txn(i % 2).items() if k != "txn_id"} for i in range(4)]
    path = write_csv("nokey.csv", rows)
    first = ingest_file(loaded, "transactions", path)
    assert (first.events_added, first.duplicates) == (4, 0)  # identical rows are distinct occurrences
    again = ingest_file(loaded, "transactions", path)
    assert (again.events_added, again.duplicates) == (0, 4)


@pytest.mark.parametrize("suffix", ["csv", "xlsx", "parquet"])
def test_formats_give_the_same_events(tmp_path, loaded, suffix):
    frame = pl.DataFrame([txn(i, amount=str(10 * i)) for i in range(1, 4)])
    path = tmp_path / f"t.{suffix}"
    if suffix == "parquet":
        frame = frame.with_columns(pl.col("amount").cast(pl.Float64),
                                   pl.col("ts").str.to_datetime())
    getattr(frame, "write_excel" if suffix == "xlsx" else f"write_{suffix}")(path)
    result = ingest_file(loaded, "transactions", path)
    assert (result.events_added, result.rejected) == (3, 0)
    amounts = loaded.sql("SELECT amount, ts FROM events WHERE source='transactions' ORDER BY amount")
    assert amounts["amount"].to_list() == [10.0, 20.0, 30.0]
    assert amounts["ts"][0] == datetime(2025, 1, 1, 10, 0)


def test_orders_with_mapping_and_refunds(store, write_csv):
    path = write_csv("shop.csv", [
        {"Customer": "C1", "When": "2025-01-01", "Qty": "2", "Price": "5.5"},
        {"Customer": "C1", "When": "2025-01-03", "Qty": "-1", "Price": "5.5"},
    ])
    mapping = {"player_id": "customer", "ts": "when", "quantity": "Qty", "unit_price": "price"}
    result = ingest_file(store, "orders", path, mapping=mapping)
    assert (result.events_added, result.rejected) == (2, 0)
    events = store.sql("SELECT event_type, amount FROM events ORDER BY ts")
    assert events.rows() == [("order", 11.0), ("refund", -5.5)]


def test_cdnow_master_whitespace_file(store):
    result = ingest_file(store, "orders", "data/reference/cdnow/CDNOW_master.txt",
                         mapping={"player_id": "customer_id", "ts": "date", "amount": "dollar_value",
                                  "quantity": "number_of_cds"}, date_format="%Y%m%d")
    assert result.rows_read == 69659
    assert result.rejected == 0
    assert result.events_added + result.duplicates == 69659
    summary = store.sql("SELECT count(DISTINCT player_id) AS n, min(ts) AS first, max(ts) AS last FROM events")
    assert summary["n"][0] == 23570
    assert summary["first"][0] == datetime(1997, 1, 1)
    assert summary["last"][0] == datetime(1998, 6, 30)


@pytest.mark.parametrize(
    ("content", "source", "message"),
    [
        (None, "transactions", "no such file"),
        ("", "transactions", "the file is empty"),
        ("txn_id,player_id\nT1,PL1\n", "transactions", "missing required column(s) for transactions: property_id, ts, type, amount"),
        ("txn_id,player_id,property_id,ts,type,amount\n", "transactions", "header but no rows"),
        ("a,b\n1,2\n", "bogus", "unknown source 'bogus'"),
        (b"player_id,text\nPL1,caf\xe9\n", "notes", "line 2: not UTF-8"),
    ],
)
def test_file_level_problems_name_the_file(tmp_path, loaded, content, source, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(UserError, match="bad.csv") as info:
        ingest_file(loaded, source, path)
    assert message in str(info.value)
    failed = loaded.sql("SELECT status, error FROM ingest_batches WHERE status = 'failed'")
    assert failed.height == 1 and message in failed["error"][0]
    assert loaded.sql("SELECT count(*) AS n FROM events WHERE source != 'players'")["n"][0] == 0


def test_unknown_map_target_is_refused(loaded, write_csv):
    path = write_csv("t.csv", [txn(1)])
    with pytest.raises(UserError, match="--map target wager is not a transactions column"):
        ingest_file(loaded, "transactions", path, mapping={"wager": "amount"})


def test_rating_slip_theo_is_computed_when_absent(loaded, write_csv):
    row = {"slip_id": "S1", "player_id": "PL1", "property_id": "P01", "start_time": "2025-01-01 20:00",
           "game": "Blackjack", "avg_bet": "100", "minutes_played": "60"}
    ingest_file(loaded, "rating_slips", write_csv("s.csv", [row]))
    slip = loaded.sql("SELECT theo, game, game_type FROM events WHERE source='rating_slips'").row(0)
    assert slip == (pytest.approx(100 * 1 * 70 * 0.02), "blackjack", "table")


def test_open_visit_then_closed_visit_supersedes(loaded, write_csv):
    base = {"visit_id": "V1", "player_id": "PL1", "property_id": "P01", "check_in": "2025-01-01 20:00"}
    ingest_file(loaded, "visits", write_csv("v1.csv", [base | {"check_out": ""}]))
    ingest_file(loaded, "visits", write_csv("v2.csv", [base | {"check_out": "2025-01-01 23:30"}]))
    current = loaded.sql("SELECT minutes, ends_at FROM events_current WHERE source='visits'")
    assert current["minutes"].to_list() == [210.0]


def test_every_event_carries_actor_role_and_batch(loaded):
    attribution = loaded.sql("SELECT DISTINCT actor, role, batch_id IS NOT NULL AS b FROM events")
    assert attribution.rows() == [("tester", "etl", True)]


def test_chunked_ingest_equals_one_chunk(tmp_path, players_csv, write_csv):
    """Bounded-memory chunks give the same events: repeats, occurrences and versions span chunks."""
    from pipelines.store import Store

    keyed = [txn(1), txn(2), txn(1), txn(3, amount="5"), txn(3, amount="6"), txn(2)]
    unkeyed = [{k: v for k, v in txn(i % 2).items() if k != "txn_id"} for i in range(7)]
    results = []
    for chunk_rows in (1_000_000, 2):
        with Store(tmp_path / f"c{chunk_rows}.duckdb") as store:
            ingest_file(store, "players", players_csv)
            a = ingest_file(store, "transactions", write_csv("k.csv", keyed), chunk_rows=chunk_rows)
            b = ingest_file(store, "transactions", write_csv("u.csv", unkeyed), chunk_rows=chunk_rows)
            events = store.sql("SELECT event_id, record_key, amount, corrects_event_id FROM events "
                               "WHERE source = 'transactions' ORDER BY event_id")
            results.append(((a.events_added, a.duplicates), (b.events_added, b.duplicates), events.rows()))
    assert results[0] == results[1]
    assert results[0][0] == (4, 2) and results[0][1] == (7, 0)
