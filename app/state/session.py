"""Who is working: the actor and role recorded with every write (no Panel here)."""

from __future__ import annotations

import os

import param

DEFAULT_USER = "demo"


class Session(param.Parameterized):
    """The logged-in user of a session and their role."""

    user = param.String(default=DEFAULT_USER,
                        doc="The logged-in user (pn.state.user; 'demo' without auth): the actor of every write.")
    role = param.String(default="host", doc="The user's role, recorded with every write; decides which notes they see.")

    @classmethod
    def from_login(cls, user: str | None, user_info: dict | None = None) -> Session:
        """A session for a logged-in user (role from the auth provider's user info, else
        $PLAYER360_ROLE, else host)."""
        role = (user_info or {}).get("role") or os.environ.get("PLAYER360_ROLE") or "host"
        return cls(user=user or DEFAULT_USER, role=str(role))
