"""The app served by `player360 serve` in a subprocess, and the headless Chromium that drives it.

One place for what the browser tests (tests/browser) and the latency benchmarks (benchmarks/bench_app,
bench_segments) both need: start the server on a free local port over a store, wait until it answers,
sign a Playwright page in as a demo user, and end the server with the `panel serve` it started. Not
imported by the app itself.

    with ServedApp(db) as app:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        app.login(page, "host")
        page.goto(f"{app.url}?player=PL0000001")
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# Debian's chromium package (`make chromium`), never a browser Playwright downloads
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServedApp:
    """A `player360 serve` subprocess on a free local port over `db`, started once it answers.

    The demo users are added to `db` first (one sign-in per role: `login(page, "host")`). The server's
    output goes to `log` (a file name that may hold `{port}`; default: serve-{port}.log beside the
    store); `timeout` is how long to wait for its first answer. `stop()` (or leaving a `with` block)
    ends it."""

    def __init__(self, db: Path, log: Path | str | None = None, timeout: float = 60):
        from pipelines.store import Store
        from pipelines.users import add_demo_users

        with Store(db) as store:
            add_demo_users(store)
        self.port = _free_port()
        self.root = f"http://localhost:{self.port}"
        self.url = f"{self.root}/main"
        path = Path(log or db.parent / "serve-{port}.log")
        self.log = path.with_name(path.name.format(port=self.port))
        env = os.environ | {"BOKEH_PY_LOG_LEVEL": "warning"}
        self._log_file = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "serve", "--port", str(self.port), "--db", str(db)],
            stdout=self._log_file, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,  # its own process group: stop() ends `panel serve` too
        )
        try:
            self._wait(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait(self, timeout: float) -> None:
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

    def login(self, page, user: str = "admin", password: str | None = None, wait: float | None = None) -> None:
        """Sign `page` in as a demo user (its browser context keeps the cookie). With `wait` (seconds),
        wait that long for the page after the login page (a refused sign-in then fails); without it,
        Playwright's default waits (a refused sign-in stays on the login page)."""
        from pipelines.users import demo_password

        page.goto(f"{self.root}/login")
        page.fill("#username", user)
        page.fill("#password", password if password is not None else demo_password(user))
        if wait is None:
            page.click("#login-submit")
            page.wait_for_load_state()
            return
        # the first page after a server start can take longer than a click's 30 s on a busy machine
        page.click("#login-submit", no_wait_after=True)
        page.wait_for_url(lambda url: "/login" not in url, timeout=wait * 1000)
        page.wait_for_load_state("load", timeout=wait * 1000)

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

    def __enter__(self) -> ServedApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
