"""Who is working: the signed-in user, their role and property scope (no Panel here).

The role and scope always come from the `users` table of the store (`Session.for_user`), never
from the browser: a cookie only says who signed in.
"""

from __future__ import annotations

import param

from pipelines.access import Principal
from pipelines.roles import ROLES


class Session(param.Parameterized):
    """The signed-in user of a session: the actor of every write and the scope of every read."""

    user = param.String(default="", doc="The signed-in user name: the actor of every write.")
    role = param.Selector(default="host", objects=list(ROLES),
                          doc="The user's role: what they may see and do (pipelines.roles).")
    properties = param.List(default=[], item_type=str,
                            doc="Property ids the user may see (empty and not all_properties: nothing).")
    all_properties = param.Boolean(default=False, doc="Whether the user may see every property.")
    revealed = param.Dict(default={}, doc="Personal fields revealed in this session: (player, field) -> value.")

    @property
    def principal(self) -> Principal:
        """The access layer's view of this session."""
        return Principal(self.user or "anonymous", self.role,
                         None if self.all_properties else tuple(sorted(self.properties)))

    @property
    def signed_in(self) -> bool:
        """Whether a user is signed in."""
        return bool(self.user)

    @classmethod
    def for_user(cls, row: dict | None) -> Session:
        """A session for a `users` row (a signed-out session, which sees nothing, for None)."""
        if not row:
            return cls()
        return cls(user=row["username"], role=row["role"], properties=list(row.get("properties") or []),
                   all_properties=bool(row.get("all_properties")))

    def may_view(self, page: str) -> bool:
        """Whether the user may open an app page."""
        return self.signed_in and self.principal.may_view(page)

    def can(self, action: str) -> bool:
        """Whether the user may perform an action (note, tag, export_player, ...)."""
        return self.signed_in and self.principal.can(action)
