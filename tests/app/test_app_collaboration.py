"""Notes, tags, tasks and attention: every write an attributed event, shown at once."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from pipelines.access import Access
from app import model as M
from app.state import PlayerState, Session
from tests.app.demo_store import WHO, busiest_player, session


@pytest.fixture
def state(data, demo_db) -> PlayerState:
    return PlayerState(data=data, session=session("ana", "host"),
                       player_id=busiest_player(demo_db)["player_id"])


def _app_events(state: PlayerState, event_type: str):
    with state.data.store() as s:
        return s.sql("SELECT * FROM events WHERE source = 'app' AND event_type = ? ORDER BY seq", [event_type])


def test_a_note_is_an_attributed_event_and_shows_at_once(state):
    assert state.add_note("Prefers the <b>high-limit</b> room", "all")
    note = state.notes()[0]
    assert note["text"] == "Prefers the <b>high-limit</b> room" and note["author"] == "ana" and note["role"] == "host"
    written = _app_events(state, "note").row(0, named=True)
    assert written["actor"] == "ana" and written["role"] == "host" and written["player_id"] == state.snapshot.player_id
    assert state.timeline.filtered()["event_type"][0] == "note"  # newest on the timeline too
    assert state.message == "Note added."


@pytest.mark.parametrize("text", ["", "   ", "x" * 4001])
def test_empty_or_huge_notes_are_refused(state, text):
    before = state.snapshot.events.height
    assert not state.add_note(text)
    assert state.snapshot.events.height == before and state.message


def test_editing_a_note_supersedes_it_and_keeps_its_history(state):
    state.add_note("first version")
    note_id = state.notes()[0]["note_id"]
    assert state.edit_note(note_id, "second version")
    assert state.edit_note(note_id, "third version")
    current = [n for n in state.notes() if n["note_id"] == note_id]
    assert len(current) == 1 and current[0]["text"] == "third version" and current[0]["versions"] == 3
    history = state.note_history(note_id)
    assert [h["text"] for h in history] == ["first version", "second version", "third version"]
    assert [h["current"] for h in history] == [False, False, True]
    edits = _app_events(state, "note_edited")
    assert edits.height == 2 and edits["corrects_event_id"].null_count() == 0
    visible = state.timeline.filtered()
    assert "first version" not in visible["a_text"].to_list() and "third version" in visible["a_text"].to_list()
    assert not state.edit_note(note_id, "third version")  # nothing changed


def test_only_the_author_or_a_manager_edits_a_note(state, data):
    state.add_note("ana's note")
    note_id = state.notes()[0]["note_id"]
    other = PlayerState(data=data, session=session("bob", "host"), player_id=state.player_id)
    assert not other.edit_note(note_id, "bob was here") and "author" in other.message
    manager = PlayerState(data=data, session=session("cat", "shift_manager"), player_id=state.player_id)
    assert manager.edit_note(note_id, "fixed by the manager")
    ingested = next(n for n in manager.notes() if n["source"] != "app") if any(
        n["source"] != "app" for n in manager.notes()) else None
    if ingested:
        assert not manager.can_edit(ingested)


def test_visibility_hides_notes_from_roles_that_may_not_see_them(state, data):
    state.add_note("for managers", "managers")
    state.add_note("just for me", "private")
    host = PlayerState(data=data, session=session("bob", "host"), player_id=state.player_id)
    texts = [n["text"] for n in host.notes()]
    # the access layer never reads them: the host cannot even count them
    assert "for managers" not in texts and "just for me" not in texts and host.hidden_notes() == 0
    assert "for managers" not in host.snapshot.events["a_text"].to_list()
    boss = PlayerState(data=data, session=session("cat", "shift_manager"), player_id=state.player_id)
    texts = [n["text"] for n in boss.notes()]
    assert "for managers" in texts and "just for me" not in texts
    assert "just for me" in [n["text"] for n in state.notes()]
    assert not state.add_note("x", "everyone-ish")


def test_a_tag_is_held_at_most_once_and_can_be_removed(state):
    assert state.add_tag("  Comps   sensitive ")
    assert [t["tag"] for t in state.tags()] == ["Comps sensitive"]
    assert not state.add_tag("comps SENSITIVE") and "Already tagged" in state.message
    assert _app_events(state, "tag_added").height == 1
    assert state.remove_tag("COMPS sensitive") and state.tags() == []
    assert not state.remove_tag("comps sensitive")
    assert state.add_tag("comps sensitive") and len(state.tags()) == 1  # re-adding after removal is fine


def test_attention_flag_is_the_attention_tag_and_shows_in_flags(state):
    assert state.set_attention(True)
    assert "tagged attention needed" in state.flags().attention
    assert state.set_attention(False)
    assert "tagged attention needed" not in state.flags().attention


def test_tasks_are_created_and_completed_once(state):
    due = date.today() + timedelta(days=2)
    assert state.add_task("Follow up next visit", due, "maria")
    task = state.tasks()[0]
    assert (task["title"], task["due"], task["assignee"], task["by"], task["done"]) == (
        "Follow up next visit", due, "maria", "ana", False)
    assert state.complete_task(task["task_id"])
    done = state.tasks()[0]
    assert done["done"] and done["done_by"] == "ana"
    assert not state.complete_task(task["task_id"]) and "already done" in state.message
    assert not state.add_task("   ")
    assert _app_events(state, "task_completed")["actor"].to_list() == ["ana"]


def test_an_overdue_task_raises_attention(state):
    state.add_task("Call back", date.today() - timedelta(days=1))
    assert any("overdue" in r for r in state.flags().attention)


def test_writes_need_an_open_player(data):
    state = PlayerState(data=data, session=session())
    assert not state.add_note("hello") and "Open a player" in state.message


def test_collab_state_of_many_players_matches_one_players_view(state):
    state.add_tag("VIP")
    state.add_task("Welcome back", date.today())
    with state.data.store() as s:
        from app import queries as Q
        many = M.collab_state(Q.collaboration_events(Access(s, WHO)))
    mine = many[state.snapshot.player_id]
    assert "vip" in mine["tags"] and [t["title"] for t in mine["open_tasks"]] == ["Welcome back"]
