"""The Segments and Cohorts pages served and driven in headless Chromium: move a threshold and see
the counts change, export a segment and read the file back, open a member's 360 page, migration and
cohort charts."""

from __future__ import annotations

import re

import polars as pl
import pytest
from playwright.sync_api import expect

from pipelines.store import Store
from tests.app.demo_store import copy_store
from tests.app.segment_store import add_earlier_snapshot
from tests.browser.conftest import ServedApp, tall_screenshot

pytestmark = pytest.mark.browser
WAIT = 30_000


@pytest.fixture(scope="module")
def served(demo_db, tmp_path_factory):
    """The app on a private copy of the demo store with two snapshots, plus the facts the tests
    expect, read before serving (the app then holds the file)."""
    db = copy_store(demo_db, tmp_path_factory.mktemp("segments") / "p360.duckdb")
    add_earlier_snapshot(db, days=60)
    with Store(db, read_only=True) as s:
        metrics = s.snapshot("player_metrics")
        segments = s.snapshot("player_segments")
    facts = {
        "vip": segments.filter(pl.col("spending") == "vip").height,
        "vip_over_5000": metrics.filter(pl.col("cash_in_total") > 5000).height,
        "low": segments.filter(pl.col("spending") == "low").select("player_id"),
    }
    with ServedApp(db) as app:
        yield app, facts


def _count(page, segment: str):
    return page.locator(f".segment-counts tr[data-segment={segment}] .segment-count")


def test_move_a_threshold_and_see_the_counts_change(served, page):
    app, facts = served
    app.login(page, "admin")
    page.goto(f"{app.url}?page=segments")
    expect(_count(page, "vip")).to_have_text(f"{facts['vip']:,}", timeout=WAIT)
    expect(page.locator(".members-info")).to_contain_text(f"{300:,} players")
    vip_line = page.locator(".thresholds-spending input").first  # "Vip above", the Param's own widget
    expect(vip_line).to_have_value("1000")
    vip_line.fill("5000")
    vip_line.press("Enter")
    expect(_count(page, "vip")).to_have_text(f"{facts['vip_over_5000']:,}", timeout=WAIT)
    expect(page.locator(".scheme-status")).to_contain_text("changed, not saved")
    # the member list follows the live labels
    page.locator(".members-segment select").select_option("vip")
    expect(page.locator(".members-info")).to_contain_text(f"{facts['vip_over_5000']:,} players", timeout=WAIT)
    tall_screenshot(page, "segments", 3600)


def test_export_a_segment_and_read_the_file_back(served, page, tmp_path):
    app, facts = served
    app.login(page, "marketer")  # may export segments; sees pseudonyms, not names
    page.goto(f"{app.url}?page=segments")
    expect(_count(page, "low")).to_be_visible(timeout=WAIT)
    page.locator(".members-segment select").select_option("low")
    low = facts["low"].height
    expect(page.locator(".members-info")).to_contain_text(f"{low:,} players", timeout=WAIT)
    for fmt, read in (("csv", pl.read_csv), ("parquet", pl.read_parquet)):
        with page.expect_download(timeout=WAIT) as download:
            page.locator(f".export-segment-{fmt} button").click()
        saved = tmp_path / f"export.{fmt}"
        download.value.save_as(saved)
        assert download.value.suggested_filename == f"spending-low.{fmt}"
        back = read(saved)
        assert back.height == low
        assert set(back["player_id"]) == set(facts["low"]["player_id"])
        assert set(back["segment"]) == {"low"}
        assert back["email"].null_count() == low and back["pseudonym"].str.starts_with("anon-").all()


def test_open_a_member_360_page_from_the_list(served, page):
    app, _ = served
    app.login(page, "admin")
    page.goto(f"{app.url}?page=segments")
    table = page.locator(".members-table")
    expect(table).to_contain_text("PL", timeout=WAIT)
    expect(table).to_be_visible(timeout=WAIT)  # a new pane is laid out hidden first (see test_player360)
    first = table.locator(".tabulator-row").first
    player_id = first.locator('.tabulator-cell[tabulator-field="Id"]').text_content().strip()
    name = first.locator('.tabulator-cell[tabulator-field="Name"]').text_content().strip()
    assert re.fullmatch(r"PL\d+", player_id)
    expect(page.locator(".members-info")).to_contain_text("players", timeout=WAIT)
    header = page.locator(".player-header")
    for _ in range(3):  # a click that lands while Tabulator is still wiring its handlers does nothing
        first.locator('.tabulator-cell[tabulator-field="Name"]').click()
        try:
            expect(header).to_be_visible(timeout=8_000)
            break
        except AssertionError:
            continue
    expect(header).to_contain_text(name, timeout=WAIT)
    expect(page).to_have_url(re.compile(f"player={player_id}"))


def test_migration_and_cohorts(served, page):
    app, _ = served
    app.login(page, "admin")
    page.goto(f"{app.url}?page=segments")
    matrix = page.locator(".migration-matrix")
    expect(matrix).to_contain_text("engagement:", timeout=WAIT)
    expect(matrix).to_contain_text("players changed segment")
    expect(page.locator(".migration-sankey")).to_be_visible()
    page.goto(f"{app.url}?page=cohorts")
    expect(page.locator(".cohort-fits")).to_contain_text("all", timeout=WAIT)
    expect(page.locator(".cohort-heatmap")).to_be_visible()
    page.locator(".cohort-by select").select_option("property")
    expect(page.locator(".cohort-fits")).to_contain_text("P01", timeout=WAIT)
    tall_screenshot(page, "cohorts", 2400)
