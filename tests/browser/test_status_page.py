"""The served app shows what the store holds, and an empty state when there is nothing yet."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from pipelines.ingest import ingest_file
from pipelines.store import Store
from tests.browser.conftest import screenshot, serve
from tests.conftest import PLAYERS, txn

pytestmark = pytest.mark.browser


@pytest.fixture
def filled_app(tmp_path, write_csv):
    db = tmp_path / "app.duckdb"
    with Store(db) as store:
        ingest_file(store, "players", write_csv("players.csv", PLAYERS))
        ingest_file(store, "transactions", write_csv("t.csv", [txn(1), txn(2), txn(3, amount="-1")]))
    yield from serve(db)


@pytest.fixture
def empty_app(tmp_path):
    yield from serve(tmp_path / "none.duckdb")


def test_counts_per_source(filled_app, page):
    filled_app.login(page, "admin")
    page.goto(filled_app.url)
    expect(page.locator(".count-events")).to_contain_text("5", timeout=20_000)
    expect(page.locator(".by-source")).to_contain_text("transactions")
    expect(page.locator(".by-source")).to_contain_text("buy_in")
    screenshot(page, "store-overview")


def test_empty_store_shows_an_empty_state(empty_app, page):
    # serving creates the store (users, settings); with no events every section says so
    empty_app.login(page, "admin")
    page.goto(empty_app.url)
    expect(page.locator(".page-overview")).to_contain_text("No events yet", timeout=20_000)
