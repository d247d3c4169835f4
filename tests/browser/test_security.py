"""Security in the served app: sign-in, scope by search and by URL, masked fields, markup shown as
text, and the audit log recording an export."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from pipelines.store import Store
from tests.app.demo_store import copy_store
from tests.browser.conftest import ServedApp, screenshot

pytestmark = pytest.mark.browser
WAIT = 25_000
EVIL = "<script>window.__xss = 1; alert('xss')</script><img src=x onerror=\"window.__xss = 2\"> **not bold**"


@pytest.fixture(scope="module")
def served(demo_db, tmp_path_factory):
    """The app over a private copy of the demo store, with a P02-only player, a P01-only player
    carrying a note full of markup, and facts read before serving."""
    db = copy_store(demo_db, tmp_path_factory.mktemp("served-sec") / "p360.duckdb")
    with Store(db) as s:
        def only(prop: str) -> dict:
            return s.sql("SELECT p.player_id, p.first_name, p.last_name FROM players p JOIN (SELECT player_id FROM "
                         "player_properties GROUP BY 1 HAVING bool_and(property_id = ?)) USING (player_id) "
                         "ORDER BY p.player_id LIMIT 1", [prop]).row(0, named=True)
        facts = {"b": only("P02"), "a": only("P01")}
        s.record_event(player_id=facts["a"]["player_id"], event_type="note", actor="mallory", role="host",
                       attrs={"text": EVIL, "visibility": "all"}, property_id="P01")
        s.record_event(player_id=facts["a"]["player_id"], event_type="tag_added", actor="mallory", role="host",
                       attrs={"tag": "<b onmouseover=alert(1)>vip</b>"}, property_id="P01")
    with ServedApp(db) as app:
        yield app, facts


def test_signing_in_is_required_and_a_wrong_password_is_refused(served, page):
    app, _ = served
    page.goto(app.url)
    expect(page.locator("form.login-form")).to_be_visible(timeout=WAIT)  # redirected to the sign-in form
    app.login(page, "host", "not-the-password")
    expect(page.locator(".error")).to_contain_text("Wrong user name or password", timeout=WAIT)
    screenshot(page, "sign-in")
    app.login(page, "host")
    page.goto(app.url)
    expect(page.locator(".whoami")).to_contain_text("Signed in as host (host; P01)", timeout=WAIT)
    page.locator("a.logout").click()
    page.goto(app.url)
    expect(page.locator("form.login-form")).to_be_visible(timeout=WAIT)


def test_a_host_of_property_a_cannot_reach_a_property_b_player(served, page):
    app, facts = served
    b = facts["b"]
    app.login(page, "host")
    page.goto(f"{app.url}?player={b['player_id']}")  # by URL
    expect(page.locator(".player-empty")).to_contain_text(f"No player with id “{b['player_id']}”", timeout=WAIT)
    expect(page.locator(".player-header")).not_to_contain_text(b["last_name"])
    box = page.locator(".player-search input")
    for text in (b["player_id"], b["last_name"]):  # by search
        box.fill(text)
        expect(page.locator(".search-message")).to_contain_text("No player matches", timeout=WAIT)
    page.goto(f"{app.url}?page=audit")  # a page the role may not open falls back to the overview
    expect(page.locator(".kpi-strip")).to_be_visible(timeout=WAIT)
    expect(page.locator("div.nav")).to_contain_text("Shift report")
    expect(page.locator("div.nav")).not_to_contain_text("Audit log")
    # the same player is reachable for the admin
    page.locator("a.logout").click()
    app.login(page, "admin")
    page.goto(f"{app.url}?player={b['player_id']}")
    expect(page.locator(".player-header")).to_contain_text(b["last_name"], timeout=WAIT)


def test_a_marketer_sees_masked_fields_and_can_reveal_one(served, page):
    app, facts = served
    a = facts["a"]
    app.login(page, "marketer")
    page.goto(f"{app.url}?player={a['player_id']}")
    header = page.locator(".player-header")
    expect(header).to_contain_text("anon-", timeout=WAIT)
    expect(header).not_to_contain_text(a["last_name"])
    expect(page.locator(".masked-note")).to_contain_text("Personal data is masked for your role")
    page.locator(".reveal-field select").select_option(label="Last name")
    page.locator(".reveal button").click()
    expect(page.locator(".masked-note")).to_contain_text(a["last_name"], timeout=WAIT)
    screenshot(page, "marketer-masked")


def test_markup_in_notes_and_tags_shows_as_text(served, page):
    app, facts = served
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    app.login(page, "host")
    page.goto(f"{app.url}?player={facts['a']['player_id']}")
    expect(page.locator(".notes-list")).to_contain_text("<script>window.__xss = 1", timeout=WAIT)
    expect(page.locator(".notes-list")).to_contain_text("**not bold**")
    expect(page.locator(".collaboration")).to_contain_text("<b onmouseover=alert(1)>vip</b>")
    page.wait_for_timeout(500)
    assert dialogs == [] and page.evaluate("window.__xss") is None


def test_the_audit_log_records_an_export(served, page, tmp_path):
    app, facts = served
    a = facts["a"]
    app.login(page, "compliance")
    page.goto(f"{app.url}?player={a['player_id']}")
    expect(page.locator(".player-header")).to_contain_text(a["last_name"], timeout=WAIT)
    with page.expect_download() as info:
        page.locator(".export-csv button").click()
    info.value.save_as(tmp_path / "x.csv")
    assert (tmp_path / "x.csv").stat().st_size > 0
    page.goto(f"{app.url}?page=audit")
    page.locator(".audit-action input").fill("export")
    page.locator(".audit-action input").press("Enter")
    table = page.locator(".audit-table")
    expect(table).to_contain_text("export.player", timeout=WAIT)
    expect(table).to_contain_text(a["player_id"])
    expect(table).to_contain_text("compliance")
    with page.expect_download() as info:
        page.locator(".audit-export button").click()
    info.value.save_as(tmp_path / "audit.csv")
    assert "export.player" in (tmp_path / "audit.csv").read_text()
    screenshot(page, "audit-log")
