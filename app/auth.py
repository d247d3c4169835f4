"""Logins for the served app: a Bokeh auth module (`panel serve --auth-module app/auth.py`).

Users and their argon2 hashes live in the store (`player360 users add`). A successful login sets a
signed, http-only cookie holding the user name (the cookie secret comes from the environment,
see `player360 serve`); role and scope are read from the store for every session, never from the
cookie. Failed logins are slowed down per user name and per client address, and every login,
failure and logout is audited.
"""

from __future__ import annotations

import asyncio
import html
import urllib.parse

from tornado.web import RequestHandler

from app.data import DataStore, DataUnavailable
from pipelines import users
from pipelines.users import Throttle

login_url = "/login"
logout_url = "/logout"
COOKIE_DAYS = 1
THROTTLE = Throttle()

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Player 360 · sign in</title>
<style>body{{font-family:system-ui,sans-serif;background:#f4f6f9;display:flex;justify-content:center;
padding-top:12vh}}form{{background:#fff;padding:28px 32px;border-radius:8px;box-shadow:0 1px 4px #0002;
width:300px}}h1{{font-size:20px;color:#2f5d8a;margin:0 0 16px}}label{{display:block;font-size:13px;
margin-top:10px;color:#333}}input{{width:100%;padding:8px;margin-top:4px;box-sizing:border-box}}
button{{margin-top:18px;width:100%;padding:9px;background:#2f5d8a;color:#fff;border:0;border-radius:4px;
font-size:15px}}.error{{color:#b00020;font-size:13px;margin-top:10px}}.muted{{color:#5f6b7a;font-size:12px}}
</style></head><body><form method="post" action="/login" class="login-form">
<h1>Player 360</h1><input type="hidden" name="next" value="{next}">
<label>User name<input name="username" id="username" autocomplete="username" autofocus></label>
<label>Password<input name="password" id="password" type="password" autocomplete="current-password"></label>
<button type="submit" id="login-submit">Sign in</button><div class="error">{error}</div>
<p class="muted">{note}</p></form></body></html>"""


def _safe_next(url: str | None) -> str:
    """Only a local path: never redirect off-site after a login."""
    url = url or "/"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme or parts.netloc or not url.startswith("/") or url.startswith("//"):
        return "/"
    return url


def get_user(request_handler: RequestHandler) -> str | None:
    """The signed-in user name from the signed cookie, or None."""
    user = request_handler.get_secure_cookie("user", max_age_days=COOKIE_DAYS)
    return user.decode("utf-8") if user else None


def _audit(action: str, user: str, role: str, detail: str) -> None:
    try:
        with DataStore.shared().store() as s:
            s.audit(actor=user or "anonymous", role=role, action=action, target_kind="login",
                    target_id=user or None, detail=detail)
    except DataUnavailable:
        pass


def _verify(username: str, password: str) -> dict | None:
    with DataStore.shared().store() as s:
        return users.verify(s, username, password)


class LoginHandler(RequestHandler):
    """The sign-in form and its check."""

    def get(self) -> None:
        error = self.get_argument("error", "")
        note = ""
        try:
            with DataStore.shared().store() as s:
                if s.users().is_empty():
                    note = "No users yet: create one with `player360 users add`."
        except DataUnavailable as exc:
            note = str(exc)
        self.write(PAGE.format(next=html.escape(_safe_next(self.get_argument("next", "/")), quote=True),
                               error=html.escape(error), note=html.escape(note)))

    async def post(self) -> None:
        username = self.get_argument("username", "").strip()[:64]
        password = self.get_argument("password", "")
        client = self.request.remote_ip or "?"
        keys = (f"user:{username.casefold()}", f"ip:{client}")
        delay = THROTTLE.delay(*keys)
        if delay:
            await asyncio.sleep(delay)
        try:
            row = await asyncio.to_thread(_verify, username, password)
        except DataUnavailable:
            row = None
        nxt = _safe_next(self.get_argument("next", "/"))
        if row is None:
            THROTTLE.failed(*keys)
            _audit("login.failed", username, "none", f"from {client}")
            query = urllib.parse.urlencode({"error": "Wrong user name or password.", "next": nxt})
            self.redirect(f"{login_url}?{query}")
            return
        THROTTLE.succeeded(*keys)
        self.set_secure_cookie("user", row["username"], expires_days=COOKIE_DAYS, httponly=True, samesite="Strict")
        _audit("login", row["username"], row["role"], f"from {client}")
        self.redirect(nxt)


class LogoutHandler(RequestHandler):
    """Sign out: forget the cookie and go back to the sign-in form."""

    def get(self) -> None:
        user = get_user(self)
        self.clear_cookie("user")
        self.clear_cookie("id_token")
        if user:
            _audit("logout", user, "none", "")
        self.redirect(login_url)
