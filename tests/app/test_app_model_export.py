"""Pure derivations, exports, and that user text is always shown as text."""

from __future__ import annotations

import io

import polars as pl
import pytest

from app import export
from app import model as M
from app.state import PlayerState, Session
from tests.app.demo_store import WHO, busiest_player, session


def test_defuse_neutralises_formula_like_text():
    frame = pl.DataFrame({"t": ["=1+1", "+A1", "@SUM(1)", "plain", None], "n": [1, 2, 3, 4, 5]})
    out = M.defuse(frame)
    assert out["t"].to_list() == ["'=1+1", "'+A1", "'@SUM(1)", "plain", None] and out["n"].to_list() == [1, 2, 3, 4, 5]


def test_flat_turns_lists_into_text():
    out = M.flat(pl.DataFrame({"flags": [["vip", "x"], None]}))
    assert out["flags"].to_list() == ["vip, x", None]


def test_summary_never_fails_on_sparse_rows():
    for t in [*M.EVENT_LABELS, "something_new"]:
        assert isinstance(M.summary({"event_type": t}), str)


@pytest.fixture
def state(data, demo_db) -> PlayerState:
    return PlayerState(data=data, session=session("ana"), player_id=busiest_player(demo_db)["player_id"])


def test_csv_export_holds_the_timeline_with_sources_and_is_defused(state):
    state.add_note("=HYPERLINK(\"http://evil\")")
    text = export.to_csv(state.snapshot).decode()
    frame = pl.read_csv(io.StringIO(text), infer_schema=False)
    assert frame.height == M.current(state.snapshot.events).height
    assert {"ts", "event_type", "summary", "source", "source_ref", "actor", "by"} <= set(frame.columns)
    assert "'=HYPERLINK" in text


def test_excel_export_has_a_sheet_per_section(state):
    state.add_tag("VIP")
    data = export.to_excel(state.snapshot, state.notes(), state.tags(), state.tasks())
    book = pl.read_excel(io.BytesIO(data), sheet_id=0)
    sheets = {"profile", "properties", "metrics", "segments", "insights", "timeline", "notes", "tags", "tasks"}
    assert sheets <= set(book)
    assert book["tags"]["tag"].to_list() == ["VIP"]
    assert book["timeline"].height == M.current(state.snapshot.events).height


def test_views_escape_what_people_typed(state):
    from app.views.collaboration import CollaborationView
    from app.views.header import PlayerHeaderView

    state.add_note("<script>alert(1)</script> & <b>bold</b>")
    state.add_tag("<img src=x onerror=alert(1)>")
    html = CollaborationView(player=state)._notes()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    header = PlayerHeaderView(player=state)._header()
    assert "<img" not in header
