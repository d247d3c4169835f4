"""Browser fixtures: the real app served by `player360 serve`, driven by Debian's headless Chromium."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServedApp:
    """A `player360 serve` subprocess on a free local port."""

    def __init__(self, db: Path):
        from pipelines.store import Store
        from pipelines.users import add_demo_users

        with Store(db) as store:  # one sign-in per role (tests.browser: `app.login(page, "host")`)
            add_demo_users(store)
        self.root = f"http://localhost:{_free_port()}"
        self.port = int(self.root.rsplit(":", 1)[1])
        self.url = f"http://localhost:{self.port}/main"
        self.log = db.parent / f"serve-{self.port}.log"
        env = os.environ | {"BOKEH_PY_LOG_LEVEL": "warning"}
        self._log_file = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "serve", "--port", str(self.port), "--db", str(db)],
            stdout=self._log_file, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,  # its own process group: stop() ends `panel serve` too
        )
        try:
            self._wait()
        except BaseException:
            self.stop()
            raise

    def _wait(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited early:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"the app did not answer within {timeout}s:\n{self.log.read_text()}")

    def login(self, page, user: str = "admin", password: str | None = None) -> None:
        """Sign `page` in as a demo user (its browser context keeps the cookie)."""
        from pipelines.users import demo_password

        page.goto(f"http://localhost:{self.port}/login")
        page.fill("#username", user)
        page.fill("#password", password if password is not None else demo_password(user))
        page.click("#login-submit")
        page.wait_for_load_state()

    def stop(self) -> None:
        """End the CLI and the `panel serve` it started (the whole process group)."""
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        if not self._log_file.closed:
            self._log_file.close()


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
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
    app = ServedApp(db)
    try:
        yield app
    finally:
        app.stop()


def screenshot(page, name: str) -> Path:
    """Save a screenshot as a test artifact."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> Path:
    """One built demo store (300 players) for the session; modules serve private copies."""
    from tests.app.demo_store import make_demo_store

    return make_demo_store(tmp_path_factory.mktemp("browser-demo"))


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
