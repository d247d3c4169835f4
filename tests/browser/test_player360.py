"""The served app end to end: overview KPIs, search and open a player, filter the timeline, notes,
tags, tasks, export, and the shift report's open visit."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.app.demo_store import an_open_visit, busiest_player, copy_store
from tests.browser.conftest import ServedApp, tall_screenshot

pytestmark = pytest.mark.browser
WAIT = 25_000


@pytest.fixture(scope="module")
def served(demo_db, tmp_path_factory):
    """The app on a private copy of the demo store, plus facts read before serving (the app then
    holds the file)."""
    db = copy_store(demo_db, tmp_path_factory.mktemp("served") / "p360.duckdb")
    facts = {"busy": busiest_player(db), "visit": an_open_visit(db)}
    with ServedApp(db) as app:
        yield app, facts


def _open_player(page, url: str, player_id: str, name: str) -> None:
    page.goto(f"{url}?player={player_id}")
    expect(page.locator(".player-header")).to_contain_text(name, timeout=WAIT)


def test_overview_shows_kpis_and_shift_summaries(served, page):
    app, _ = served
    app.login(page)
    page.goto(app.url)
    expect(page.locator(".kpi-strip")).to_contain_text("Cash-in", timeout=WAIT)
    expect(page.locator(".kpi-strip")).to_contain_text("vs previous 30 days")
    expect(page.locator(".kpi-strip")).to_contain_text("At-risk players")
    expect(page.locator(".shift-summary").first).to_contain_text("In room")
    expect(page.locator(".count-events")).to_contain_text(re.compile(r"\d"))
    page.locator(".kpi-period").get_by_text("7 days").click()
    expect(page.locator(".kpi-strip")).to_contain_text("vs previous 7 days", timeout=WAIT)
    tall_screenshot(page, "overview", 1500)


def test_search_open_and_export_a_player(served, page, tmp_path):
    app, facts = served
    app.login(page)
    busy = facts["busy"]
    page.goto(f"{app.url}?page=player")
    box = page.locator(".player-search input")
    expect(box).to_be_visible(timeout=WAIT)
    box.fill(busy["player_id"].lower()[2:])  # partial id, other case
    result = page.locator(".search-result").first
    expect(result).to_contain_text(busy["last_name"], timeout=WAIT)
    result.locator("button").click()
    expect(page.locator(".player-header")).to_contain_text(f"{busy['first_name']} {busy['last_name']}", timeout=WAIT)
    expect(page.locator(".player-header")).to_contain_text("Data as of")
    expect(page.locator(".key-metrics")).to_contain_text("Visits (30d)")
    expect(page.locator(".timeline-status")).to_contain_text("events")
    expect(page.locator(".recent-players")).to_contain_text(busy["player_id"])
    expect(page).to_have_url(re.compile(f"player={busy['player_id']}"))
    # a name search finds the player too
    box.fill(busy["last_name"][:4].upper())
    expect(page.locator(".search-results")).to_contain_text(busy["player_id"], timeout=WAIT)
    tall_screenshot(page, "player-360", 2300)
    # export the player's timeline
    with page.expect_download() as download:
        page.locator(".export-csv button").click()
    saved = tmp_path / "export.csv"
    download.value.save_as(saved)
    assert download.value.suggested_filename == f"{busy['player_id']}-timeline.csv"
    assert saved.read_text(encoding="utf-8").startswith("ts,event_type,summary")


def _busy_timeline(served, page):
    """Sign in, open the busiest player and return the timeline's status line (page 1 shown)."""
    app, facts = served
    app.login(page)
    busy = facts["busy"]
    _open_player(page, app.url, busy["player_id"], busy["last_name"])
    status = page.locator(".timeline-status .muted")
    expect(status).to_contain_text("page 1 of", timeout=WAIT)
    # Bokeh lays a new pane out hidden for a moment, and `inner_text()` of a hidden element is "";
    # `expect` matched the text content, so the reads below take the text content too
    expect(status).to_be_visible(timeout=WAIT)
    return status


def test_filter_the_timeline_by_type(served, page):
    status = _busy_timeline(served, page)
    everything = status.text_content()
    page.locator(".timeline-types").get_by_text("Visits", exact=True).click()
    expect(page.locator(".timeline-feed")).not_to_contain_text("Rating slip", timeout=WAIT)
    expect(page.locator(".timeline-feed")).to_contain_text("Visit")
    expect(status).not_to_have_text(everything)
    page.locator(".timeline-next button").click()
    expect(status).to_contain_text("page 2 of", timeout=WAIT)
    page.locator(".timeline-clear button").click()
    expect(status).to_contain_text("page 1 of", timeout=WAIT)


def test_filter_the_timeline_by_date_range(served, page):
    status = _busy_timeline(served, page)
    text = status.text_content()
    found = re.search(r"of ([\d,]+) events", text)
    assert found, text
    total = int(found.group(1).replace(",", ""))
    page.locator(".timeline-last select").select_option("7 days")
    expect(page.locator(".timeline-days input").first).to_have_value(re.compile(r"\d{4}-\d{2}-\d{2}.+\d{4}"),
                                                                      timeout=WAIT)
    expect(status).not_to_contain_text(f"of {total:,} events", timeout=WAIT)
    week = status.text_content()
    page.locator(".timeline-last select").select_option("1 year")
    expect(status).not_to_have_text(week, timeout=WAIT)
    year = re.search(r"of ([\d,]+) events|No events match", status.text_content())
    assert year is not None
    page.locator(".timeline-clear button").click()
    expect(status).to_contain_text(f"of {total:,} events", timeout=WAIT)
    expect(page.locator(".timeline-days input").first).to_have_value("", timeout=WAIT)
    expect(page.locator(".timeline-last select")).to_have_value("—")  # no quick range once the dates go


def test_add_a_note_shown_as_text_and_edit_it(served, page):
    app, facts = served
    app.login(page)
    busy = facts["busy"]
    _open_player(page, app.url, busy["player_id"], busy["last_name"])
    page.locator(".note-input textarea").fill("Likes <b>quiet</b> tables & window seats")
    page.locator(".add-note button").click()
    notes = page.locator(".notes-list")
    expect(notes).to_contain_text("Likes <b>quiet</b> tables & window seats", timeout=WAIT)
    expect(notes).to_contain_text("admin (admin)")
    expect(notes.locator("b", has_text="quiet")).to_have_count(0)  # text, not markup
    expect(page.locator(".timeline-feed")).to_contain_text("Likes <b>quiet</b>")
    page.locator(".note-edit-pick select").select_option(index=1)  # the only app note
    page.locator(".note-edit-input textarea").fill("Likes quiet tables")
    page.locator(".save-note-edit button").click()
    expect(notes).to_contain_text("edited · 2 versions", timeout=WAIT)


def test_tag_task_and_attention(served, page):
    app, facts = served
    app.login(page)
    busy = facts["busy"]
    _open_player(page, app.url, busy["player_id"], busy["last_name"])
    # a tag, at most once
    page.locator(".tag-input input").fill("Smoke-free table")
    page.locator(".add-tag button").click()
    expect(page.locator(".tags-list")).to_contain_text("Smoke-free table", timeout=WAIT)
    page.locator(".tag-input input").fill("smoke-free TABLE")
    page.locator(".add-tag button").click()
    expect(page.locator(".collab-message")).to_contain_text("Already tagged", timeout=WAIT)
    expect(page.locator(".tag-chip")).to_have_count(1)
    # a suggested tag picked in the tag picker, then removed with its ×
    picker = page.locator(".tag-picker")
    picker.locator("input").click()
    picker.locator(".choices__item--choice", has_text="do not call").click()
    expect(page.locator(".tags-list")).to_contain_text("do not call", timeout=WAIT)
    expect(page.locator(".tag-chip")).to_have_count(2)
    picker.locator(".choices__item--selectable", has_text="do not call").locator("button").click()
    expect(page.locator(".tag-chip")).to_have_count(1, timeout=WAIT)
    expect(page.locator(".timeline-feed")).to_contain_text("Tag removed")
    # a task, created then completed
    page.locator(".task-title input").fill("Follow up next visit")
    page.locator(".add-task button").click()
    tasks = page.locator(".tasks-list")
    expect(tasks).to_contain_text("Follow up next visit", timeout=WAIT)
    page.locator(".task-complete button").first.click()
    expect(tasks).to_contain_text("done by admin", timeout=WAIT)
    expect(page.locator(".task-complete")).to_have_count(0)
    # attention needed
    toggle = page.locator(".attention-toggle button")
    expect(toggle).to_contain_text("Flag: attention needed")
    toggle.click()
    expect(page.locator(".attention-indicator")).to_contain_text("tagged attention needed", timeout=WAIT)
    expect(page.locator(".player-header")).to_contain_text("Attention needed")
    expect(page.locator(".timeline-feed")).to_contain_text("attention needed")


def test_shift_report_shows_the_open_visit_and_opens_the_player(served, page):
    app, facts = served
    app.login(page)
    v = facts["visit"]
    page.goto(f"{app.url}?page=shift&property={v['property_id']}")
    room = page.locator(".shift-in-room")
    expect(room).to_contain_text(f"{v['first_name']} {v['last_name']}", timeout=WAIT)
    expect(room).to_contain_text("in the room")
    expect(page.locator(".shift-head")).to_contain_text("In the room:")
    tall_screenshot(page, "shift-report", 1300)
    room.get_by_text(f"{v['first_name']} {v['last_name']}").first.click()
    expect(page.locator(".player-header")).to_contain_text(v["last_name"], timeout=WAIT)
    expect(page.locator(".shift-lens")).to_contain_text("In the room since", timeout=WAIT)


def test_unknown_player_is_an_empty_state(served, page):
    app, _ = served
    app.login(page)
    page.goto(f"{app.url}?player=NOPE123")
    expect(page.locator(".player-empty")).to_contain_text("No player with id", timeout=WAIT)
