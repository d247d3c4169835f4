"""The Rewards page in the served app: a bad rule is refused with its fields named, a rule is
simulated, and the player page shows the wallet."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.app.demo_store import busiest_player, copy_store
from tests.browser.conftest import ServedApp, tall_screenshot

pytestmark = pytest.mark.browser
WAIT = 30_000
BAD = '{"rule_id": "BAD", "priority": 1, "conditions": {"net_los_min": 5}, "reward": {"type": "CASH"}}'
GOOD = """{"rule_id": "WIDE_COMP", "priority": 3, "profit_check": "report",
 "conditions": {"visits_total_min": 1}, "reward": {"type": "COMP", "formula": "10", "max_amount": 10}}"""


@pytest.fixture(scope="module")
def served(demo_db, tmp_path_factory):
    db = copy_store(demo_db, tmp_path_factory.mktemp("served-rewards") / "p360.duckdb")
    facts = {"busy": busiest_player(db)}
    with ServedApp(db) as app:
        yield app, facts


def test_validate_a_bad_rule_then_simulate_a_good_one(served, page):
    app, _ = served
    app.login(page, "marketer")
    page.goto(f"{app.url}?page=rewards")
    editor = page.locator(".rule-text textarea")
    expect(editor).to_be_visible(timeout=WAIT)
    editor.fill(BAD)
    page.locator(".rule-validate button").click()
    problems = page.locator(".rule-problems")
    expect(problems).to_contain_text("conditions.net_los_min", timeout=WAIT)
    expect(problems).to_contain_text("did you mean 'net_loss'")
    expect(problems).to_contain_text("reward.type")
    editor.fill(GOOD)
    page.locator(".rule-validate button").click()
    expect(problems).to_contain_text("WIDE_COMP is valid", timeout=WAIT)
    page.locator(".rule-simulate button").click()
    expect(page.locator(".sim-totals")).to_contain_text("WIDE_COMP", timeout=WAIT)
    expect(page.locator(".sim-totals")).to_contain_text("ALL")
    page.locator(".runs-list .tabulator-row").first.click()
    expect(page.locator(".roi-headline")).to_contain_text("treated vs", timeout=WAIT)
    tall_screenshot(page, "rewards", 2400)


def test_the_player_page_shows_the_wallet(served, page):
    app, facts = served
    app.login(page, "admin")  # every property: the busiest player may be anywhere
    page.goto(f"{app.url}?player={facts['busy']['player_id']}")
    wallet = page.locator(".player-wallet")
    expect(wallet).to_contain_text("Loyalty points", timeout=WAIT)
    expect(wallet).to_contain_text("derived from the ledger")
    tall_screenshot(page, "player-wallet", 2600)
