"""Browser fixtures: the real app served by `player360 serve` (app/served.py), driven by Debian's
headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.served import CHROMIUM, CHROMIUM_ARGS, ServedApp

__all__ = ["ServedApp", "screenshot", "serve", "tall_screenshot"]  # ServedApp: the modules import it from here
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh page (context) per test."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    yield pg
    context.close()


def serve(db: Path) -> Iterator[ServedApp]:
    """Serve the app on `db` for the duration of a fixture."""
    with ServedApp(db) as app:
        yield app


def screenshot(page, name: str) -> Path:
    """Save a screenshot as a test artifact."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def tall_screenshot(page, name: str, height: int = 2000) -> Path:
    """A screenshot of the whole page: the template scrolls inside its main area, so the viewport
    grows for the shot instead (and shrinks back after)."""
    before = page.viewport_size
    page.set_viewport_size({"width": before["width"], "height": height})
    page.wait_for_timeout(400)
    try:
        return screenshot(page, name)
    finally:
        page.set_viewport_size(before)
