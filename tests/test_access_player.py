"""The one-player read (`Access.player`, pipelines.access_player) against the `s_*` macros' read it
replaced (tests/scoped_reference.py): the same rows for every role and scope, over notes of every
visibility, an edited note, a merge, compliance entries, events without a property (one an edit,
under a merged id, of a note its survivor's host sees) and a batch still being ingested."""

from __future__ import annotations

import math
from datetime import datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipelines.access import Access, AccessDenied, Principal
from pipelines.scope_sql import ScopeSql
from pipelines.store import Store
from tests import scoped_reference as oracle
from tests.app.demo_store import copy_store

PRINCIPALS = [
    Principal("ana", "admin", None),
    Principal("hank", "host", ("P01",)),
    Principal("hope", "host", ("P02",)),
    Principal("mara", "marketer", ("P01", "P02")),  # no personal data
    Principal("cleo", "compliance", None),
    Principal("ann", "analyst", None),
    Principal("nobody", "no-such-role", None),  # may see nothing at all
]


@pytest.fixture(scope="module")
def store(demo_db, tmp_path_factory):
    """The demo store with notes of every visibility by two users (one edited, some without a
    property), a merge, and one batch made to look still running (its events hidden)."""
    s = Store(copy_store(demo_db, tmp_path_factory.mktemp("access-player") / "p.duckdb"))
    links = s.sql("SELECT player_id, min(property_id) AS p FROM player_properties GROUP BY 1 ORDER BY 1")
    pids, props = links["player_id"].to_list(), links["p"].to_list()
    at = datetime(2026, 1, 5, 12)
    for k, (pid, prop) in enumerate(zip(pids[:24], props[:24], strict=True)):
        for j, vis in enumerate(("all", "managers", "compliance", "private")):
            writer = ("hank", "host") if (k + j) % 2 else ("hope", "host")
            note = s.record_event(player_id=pid, event_type="note", actor=writer[0], role=writer[1], ts=at,
                                  property_id=None if (j, k % 3) in ((3, 0), (0, 1)) else prop,
                                  attrs={"text": f"n{k}{j}", "visibility": vis, "author": writer[0]})
        s.record_event(player_id=pid, event_type="note_edited", actor=writer[0], role=writer[1], ts=at,
                       property_id=prop, corrects_event_id=note,
                       attrs={"text": "edited", "visibility": "private", "author": writer[0]})
    s.merge_players(pids[0], pids[1], actor="ana", role="admin", reason="duplicate")
    s.merge_players(pids[30], pids[31], actor="ana", role="admin", reason="duplicate")
    # a guest known at P01 merged into a survivor linked to P02 only
    only = s.sql("SELECT player_id, min(property_id) AS p FROM player_properties GROUP BY 1 HAVING count(*) = 1 "
                 "ORDER BY player_id DESC")
    survivor, merged = (only.filter(pl.col("p") == p)["player_id"][0] for p in ("P02", "P01"))
    # an edit without a property, under the id a host at P02 does not see, of the survivor's note:
    # for that host the note is not superseded (the oracle computes it over what they may read)
    shown = s.record_event(player_id=survivor, event_type="note", actor="hope", role="host", ts=at, property_id="P02",
                           attrs={"text": "at P02", "visibility": "all", "author": "hope"})
    s.record_event(player_id=merged, event_type="note_edited", actor="hank", role="host", ts=at, property_id=None,
                   corrects_event_id=shown, attrs={"text": "edited elsewhere", "visibility": "all", "author": "hank"})
    s.merge_players(survivor, merged, actor="ana", role="admin", reason="duplicate")
    batch = s.sql("SELECT batch_id FROM ingest_batches WHERE status = 'committed' ORDER BY batch_id LIMIT 1")
    s.con.execute("UPDATE ingest_batches SET status = 'running' WHERE batch_id = ?", [batch["batch_id"][0]])
    yield s, pids, (survivor, merged)
    s.close()


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return type(a) is type(b) and a == b


def _same_row(a: dict | None, b: dict | None) -> bool:
    if a is None or b is None:
        return a is b
    return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)


@pytest.mark.parametrize("principal", PRINCIPALS, ids=lambda p: f"{p.role}-{p.properties}")
def test_the_point_read_sees_what_the_scoped_macros_see(store, principal):
    s, pids, (_, merged) = store
    acc = Access(s, principal)
    asked = [*pids[:40], pids[1], pids[31], merged, "PL-NOT-THERE"]  # pids[1], pids[31], merged: merged away
    found = 0
    for pid in asked:
        got, want = acc.player(pid), oracle.read_player(acc, pid)
        if want is not None and got is None:
            # the one difference, on purpose: a merged-away id whose survivor is out of scope was
            # shown as a player of its own; now, like its survivor, it does not exist for the principal
            assert s.resolve_player(pid) != pid and want["player_id"] == pid, (principal, pid)
            continue
        assert (got is None) == (want is None), (principal, pid)
        if got is None:
            continue
        found += 1
        assert (got.player_id, sorted(got.ids)) == (want["player_id"], sorted(want["ids"])), (principal, pid)
        assert _same_row(got.profile, want["profile"]), (principal, pid)
        assert _same_row(got.metrics, want["metrics"]) and _same_row(got.segments, want["segments"]), (principal, pid)
        assert_frame_equal(got.properties, want["properties"])
        assert_frame_equal(got.insights, want["insights"])
        assert_frame_equal(got.events, want["events"])
    if principal.policy.pages:
        assert found > 5, principal
    else:
        assert found == 0


def test_the_read_leaves_out_what_the_policy_hides(store):
    s, pids, _ = store
    hank, mara = Access(s, Principal("hank", "host", ("P01",))), Access(s, Principal("mara", "marketer", ("P01", "P02")))
    seen = [v for v in (hank.player(pid) for pid in pids[2:24]) if v is not None]
    assert seen, "hank sees some of the noted players"
    private = pl.concat([v.events for v in seen]).filter(pl.col("a_visibility") == "private")
    assert private.height and set(private["actor"]) == {"hank"}  # his own private notes, never hope's
    assert private["superseded"].any()  # an edited note's first version is kept, marked
    assert pl.concat([v.events for v in seen])["property_id"].is_null().any()  # a visible player's notes without a property
    for view in (mara.player(pid) for pid in pids[2:24]):
        if view is not None:
            assert view.profile["first_name"] is None and view.properties["card_number"].is_null().all()


def test_a_running_batch_stays_hidden(store):
    s, _, _ = store
    hidden = s.sql("SELECT batch_id FROM ingest_batches WHERE status = 'running'")["batch_id"].to_list()
    pid = s.sql("SELECT player_id FROM events WHERE batch_id = ? LIMIT 1", [hidden[0]])["player_id"][0]
    view = Access(s, Principal("ana", "admin", None)).player(pid)
    assert view is not None and not view.events["batch_id"].is_in(hidden).any()


def test_a_merged_id_does_not_reach_a_survivor_out_of_scope(store):
    s, _, (survivor, merged) = store
    host = Access(s, Principal("hank", "host", ("P01",)))  # merged was linked to P01, survivor is at P02
    assert host.resolve_player(merged) is None and host.player(merged) is None
    with pytest.raises(AccessDenied):
        host.record_event(player_id=merged, event_type="note", action="note", attrs={"text": "x"})
    assert Access(s, Principal("ana", "admin", None)).resolve_player(merged) == survivor
    assert Access(s, Principal("hope", "host", ("P02",))).resolve_player(merged) == survivor


def test_inside_a_transaction_the_read_sees_the_uncommitted_events(store):
    """The events are read on a second connection (Store.alongside), which sees committed rows only:
    inside a transaction of the store the read stays on its one connection."""
    s, pids, _ = store
    admin = Access(s, Principal("ana", "admin", None))
    note = admin.player(pids[4]).events.filter(pl.col("event_type") == "note")["event_id"][0]
    with pytest.raises(RuntimeError, match="rolled back"), s.transaction():
        s.con.execute("""UPDATE events SET attrs = '{"text": "uncommitted", "visibility": "all"}'
                         WHERE event_id = ?""", [note])
        events = admin.player(pids[4]).events
        assert events.filter(pl.col("event_id") == note)["a_text"].to_list() == ["uncommitted"]
        raise RuntimeError("rolled back")
    events = admin.player(pids[4]).events  # beside again: the committed rows
    assert events.filter(pl.col("event_id") == note)["a_text"].to_list() != ["uncommitted"]
    assert "_alongside" in s.__dict__


@pytest.mark.parametrize("salt", ["", "s'alt", "ünï-ß 9f"])
def test_the_pseudonym_worked_out_in_python_is_the_policys(store, salt):
    """The one-player read works the pseudonym out in Python (`ScopeSql.pseudonym`); every other
    read takes it from the SQL select list (`ScopeSql.player_columns`)."""
    s, pids, _ = store
    scope = ScopeSql(all_properties=True, salt=salt)
    got = s.sql(f"SELECT {scope.player_columns()} FROM players p WHERE p.player_id IN {tuple(pids[:20])} "
                "ORDER BY p.player_id")
    assert got.height == 20
    assert got["pseudonym"].to_list() == [scope.pseudonym(pid) for pid in got["player_id"]]
    assert len(set(got["pseudonym"])) == 20
