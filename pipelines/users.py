"""Logins: users with argon2 password hashes, roles and property scope, and login throttling.

No plaintext password is ever stored, logged or audited: only `argon2-cffi` hashes reach the store.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from pipelines.errors import UserError
from pipelines.roles import ROLES, check_role
from pipelines.store import Store

MIN_PASSWORD = 8
ALL = "*"  # a property scope of every property, present and future
_HASHER = PasswordHasher()
# verifying against this keeps an unknown user as slow as a wrong password (no user enumeration)
_DUMMY_HASH = _HASHER.hash("not-a-password-of-anyone")


def _check_name(username: str) -> str:
    name = (username or "").strip()
    if not name or len(name) > 64 or not all(c.isalnum() or c in "._-@" for c in name):
        raise UserError(f"user name {username!r}: expected 1-64 letters, digits or . _ - @")
    return name


def _check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise UserError(f"password: expected at least {MIN_PASSWORD} characters")
    return password


def _scope(properties: list[str]) -> tuple[list[str], bool]:
    """(explicit property ids, whether the scope is every property)."""
    props = sorted({p.strip() for p in properties if p and p.strip()})
    if not props:
        raise UserError("properties: expected at least one property id, or '*' for every property")
    return [p for p in props if p != ALL], ALL in props


def add(store: Store, username: str, password: str, role: str, properties: list[str], *,
        actor: str, actor_role: str) -> None:
    """Create a user (UserError when the name is taken or a field is invalid)."""
    name = _check_name(username)
    try:
        check_role(role)
    except ValueError as exc:
        raise UserError(f"role: {exc}") from None
    if store.user(name) is not None:
        raise UserError(f"user {name!r} exists already (use `player360 users passwd` or `grant`)")
    props, every = _scope(properties)
    store.put_user({"username": name, "password_hash": _HASHER.hash(_check_password(password)), "role": role,
                    "properties": props, "all_properties": every}, actor=actor, role=actor_role,
                   action="user.add")


def passwd(store: Store, username: str, password: str, *, actor: str, actor_role: str) -> None:
    """Set a user's password."""
    _existing(store, username)
    store.put_user({"username": username, "password_hash": _HASHER.hash(_check_password(password))},
                   actor=actor, role=actor_role, action="user.passwd")


def grant(store: Store, username: str, *, role: str | None = None, properties: list[str] | None = None,
          actor: str, actor_role: str) -> None:
    """Change a user's role and/or property scope."""
    _existing(store, username)
    row: dict = {"username": username}
    if role is not None:
        try:
            row["role"] = check_role(role)
        except ValueError as exc:
            raise UserError(f"role: {exc}") from None
    if properties is not None:
        row["properties"], row["all_properties"] = _scope(properties)
    store.put_user(row, actor=actor, role=actor_role, action="user.grant")


def remove(store: Store, username: str, *, actor: str, actor_role: str) -> None:
    """Delete a user (their past writes and the audit log keep their name)."""
    if not store.delete_user(username, actor=actor, role=actor_role):
        raise UserError(f"no user {username!r}")


def _existing(store: Store, username: str) -> dict:
    row = store.user(username)
    if row is None:
        raise UserError(f"no user {username!r}")
    return row


def verify(store: Store, username: str, password: str) -> dict | None:
    """The user's row (without its hash) when the password is right, else None; rehashes a hash
    made with older argon2 parameters."""
    row = store.user((username or "").strip())
    try:
        _HASHER.verify(row["password_hash"] if row else _DUMMY_HASH, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if _HASHER.check_needs_rehash(row["password_hash"]):
        store.put_user({"username": row["username"], "password_hash": _HASHER.hash(password)},
                       actor=row["username"], role=row["role"], action="user.rehash")
    return {k: v for k, v in row.items() if k != "password_hash"}


@dataclass
class Throttle:
    """Slows repeated failed logins down: each failure for a user name or a client address in the
    last `window` seconds doubles the wait before the next answer (capped at `max_delay`)."""

    window: float = 900.0
    base_delay: float = 0.5
    max_delay: float = 30.0
    _failures: dict[str, list[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def delay(self, *keys: str) -> float:
        """Seconds to wait before answering a login attempt for these keys."""
        now = time.monotonic()
        with self._lock:
            n = max((len([t for t in self._failures.get(k, []) if now - t < self.window]) for k in keys),
                    default=0)
        return 0.0 if n == 0 else min(self.max_delay, self.base_delay * 2 ** (n - 1))

    def failed(self, *keys: str) -> None:
        """Count a failed attempt against each key."""
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._failures[k] = [t for t in self._failures.get(k, []) if now - t < self.window] + [now]

    def succeeded(self, *keys: str) -> None:
        """Forget the failures of these keys."""
        with self._lock:
            for k in keys:
                self._failures.pop(k, None)


DEMO_USERS = {  # user name -> (role, properties); demo password = "<user name>-demo-pass"
    "host": ("host", ["P01"]),
    "shift": ("shift_manager", ["P01"]),
    "marketer": ("marketer", [ALL]),
    "analyst": ("analyst", [ALL]),
    "compliance": ("compliance", [ALL]),
    "admin": ("admin", [ALL]),
}


def demo_password(username: str) -> str:
    """The documented password of a demo user (demo databases only)."""
    return f"{username}-demo-pass"


def add_demo_users(store: Store) -> list[str]:
    """Create the demo users that do not exist yet (one per role); returns their names."""
    added = []
    for name, (role, props) in DEMO_USERS.items():
        if store.user(name) is None:
            add(store, name, demo_password(name), role, props, actor="demo-setup", actor_role="admin")
            added.append(name)
    return added


assert set(r for r, _ in DEMO_USERS.values()) == set(ROLES)
