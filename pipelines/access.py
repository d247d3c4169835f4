"""The access layer: every read of the app and the notebooks, scoped to one user (deny by default).

A `Principal` is who is asking (user, role, property scope). `Access` wraps an open `Store` for
that principal: its `sql` runs a query with the principal's scope set, and refuses any query that
names a protected table directly instead of its scoped relation:

    s_players()            players linked to a property in scope; personal fields masked (NULL)
                           for roles without personal data, a `pseudonym` column for everyone
    s_player_properties()  property links in scope (card numbers masked like personal fields)
    s_aliases()            merged ids of visible players
    s_events()             current events at properties in scope (or without a property, of a
                           visible player), notes by visibility, MTL/CTR for compliance only
    s_events_all()         the same over every stored version (note history)
    s_derived('table')     rows of a derived per-player table (player_metrics, ...) of visible players
    s_audit()              the audit log, for roles that may read it

Writes go through `Access` too: each checks the role's permission, is attributed to the principal
and audited.

    >>> with Store("data/player360.duckdb") as store:
    ...     acc = Access.for_user(store, "ana")
    ...     acc.sql("SELECT count(*) FROM s_players()")
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from pipelines import schema as S
from pipelines.errors import UserError
from pipelines.roles import Policy, policy
from pipelines.store import Store

if TYPE_CHECKING:
    from pipelines.access_player import PlayerView

_PROTECTED = re.compile(r"\b(FROM|JOIN)\s+(" + "|".join(S.PROTECTED) + r")\b(?!\s*\()", re.IGNORECASE)
_DERIVED_ARG = re.compile(r"\bs_derived\s*\(\s*([^)]*)\)", re.IGNORECASE)
# per-player tables s_derived may read: the build's snapshots, the player cards (the newest
# snapshot's metrics and segments rows packed, see pipelines.cards) and those later stages register
DERIVED_TABLES: set[str] = {*S.DERIVED, S.PLAYER_CARDS}


def register_derived(table: str) -> None:
    """Allow `s_derived('table')` for a per-player table (it must have a player_id column)."""
    DERIVED_TABLES.add(table)


def check_query(query: str) -> None:
    """AccessDenied when a query names a protected table directly or s_derived's argument is not
    a registered per-player table."""
    hit = _PROTECTED.search(query)
    if hit:
        raise AccessDenied(f"a scoped read may not name {hit.group(2)!r} directly: use its s_* relation")
    for arg in _DERIVED_ARG.findall(query):
        if arg.strip().strip("'") not in DERIVED_TABLES or not re.fullmatch(r"'\w+'", arg.strip()):
            raise AccessDenied(f"s_derived({arg}): expected a quoted derived table name")


class AccessDenied(UserError):
    """The principal may not do this (the message says what and why)."""


@dataclass(frozen=True)
class Principal:
    """Who is asking: user name, role and property scope (`None` = every property)."""

    user: str
    role: str
    properties: tuple[str, ...] | None = ()

    @property
    def policy(self) -> Policy:
        """What the role may see and do."""
        return policy(self.role)

    @property
    def key(self) -> tuple:
        """A cache key: two principals with equal keys see exactly the same rows."""
        return (self.role, self.properties, self.user)

    def can(self, action: str) -> bool:
        """Whether the role may perform an action (see pipelines.roles)."""
        return action in self.policy.actions

    def may_view(self, page: str) -> bool:
        """Whether the role may open an app page."""
        return page in self.policy.pages

    def require(self, action: str) -> None:
        """AccessDenied unless the role may perform the action."""
        if not self.can(action):
            raise AccessDenied(f"{self.user} ({self.role}) may not {action.replace('_', ' ')}")

    def in_scope(self, property_id: str | None) -> bool:
        """Whether a property is within the principal's scope."""
        return self.properties is None or property_id in self.properties

    @classmethod
    def from_user_row(cls, row: dict[str, Any]) -> Principal:
        """The principal of a `users` row."""
        props = None if row.get("all_properties") else tuple(sorted(row.get("properties") or ()))
        return cls(row["username"], row["role"], props)


SYSTEM = Principal("system", "admin", None)  # batch jobs (build, ingest) that see everything


@dataclass
class Access:
    """Scoped reads and permitted, audited writes for one principal over one open store."""

    store: Store
    principal: Principal
    _salt: str | None = field(default=None, repr=False)

    @classmethod
    def for_user(cls, store: Store, username: str) -> Access:
        """The access of a user in the `users` table (AccessDenied for an unknown user)."""
        row = store.user(username)
        if row is None:
            raise AccessDenied(f"no user {username!r}: create one with `player360 users add`")
        return cls(store, Principal.from_user_row(row))

    # -- reads -------------------------------------------------------------------------------------
    def variables(self) -> dict[str, Any]:
        """The principal's scope, as `pipelines.scope_sql` writes it into the `s_*` macros."""
        p, pol = self.principal, self.principal.policy
        if self._salt is None:
            self._salt = self.store.setting("pseudonym_salt") or ""
        return {"all_properties": p.properties is None, "scope": tuple(p.properties or ()), "pii": pol.pii,
                "notes": tuple(pol.note_levels), "compliance": pol.compliance, "user": p.user,
                "audit": p.can("view_audit"), "salt": self._salt, "visible": bool(pol.pages)}

    def sql(self, query: str, params: list[Any] | None = None) -> pl.DataFrame:
        """Run a read with the principal's scope (user input only as `params`)."""
        check_query(query)
        self.store.scoped(self.variables())
        return self.store.sql(query, params)

    def data_clock(self, properties: tuple[str, ...] | None = None, since_seq: int | None = None) -> dict[str, Any]:
        """How many events the principal's properties hold and how new they are (see
        `Store.event_clock`): at `properties` within the scope, else at the whole scope.

        Counts, never rows: they include events whose content the role may not read (private notes
        of others, compliance entries). A scoped principal's counts leave out events without a
        property; someone who may see nothing gets zeros."""
        scope = self.principal.properties
        if properties is not None:
            scope = tuple(p for p in properties if self.principal.in_scope(p))
        if not self.principal.policy.pages:
            scope = ()
        if scope == ():
            return {"events": 0, "max_seq": None, "newest_ts": None, "newest_recorded": None,
                    "events_after": None if since_seq is None else 0}
        return self.store.event_clock(scope, since_seq)

    def event_summary(self) -> pl.DataFrame:
        """Events per property, source and type in the principal's scope (see `Store.event_summary`;
        counts, like `data_clock`)."""
        scope = self.principal.properties if self.principal.policy.pages else ()
        frame = self.store.event_summary(scope)
        return frame.clear() if scope == () else frame

    def player(self, player_id: str, event_limit: int = 100_000) -> PlayerView | None:
        """One player's 360 as the principal may see it, or None when the player does not exist for
        the principal (see `pipelines.access_player`: the scope checked once, then point reads)."""
        from pipelines.access_player import read_player  # it builds on this module's Access

        return read_player(self, player_id, event_limit)

    def resolve_player(self, player_id: str) -> str | None:
        """The survivor id of a visible player (merged ids resolved), else None: a player outside
        the scope does not exist for this principal (see `access_player.survivor_in_scope`)."""
        from pipelines.access_player import survivor_in_scope

        return survivor_in_scope(self, player_id)

    # -- writes ------------------------------------------------------------------------------------
    def record_event(self, *, player_id: str, event_type: str, action: str, **kwargs: Any) -> str:
        """Append an attributed event (note, tag, task, ...) about a visible player."""
        self.principal.require(action)
        survivor = self.resolve_player(player_id)
        if survivor is None:
            raise AccessDenied(f"no player {player_id!r} in your scope")
        prop = kwargs.get("property_id")
        if prop is not None and not self.principal.in_scope(prop):
            raise AccessDenied(f"property {prop!r} is outside your scope")
        return self.store.record_event(player_id=survivor, event_type=event_type, actor=self.principal.user,
                                       role=self.principal.role, **kwargs)

    def audit(self, action: str, **kwargs: Any) -> None:
        """Record an action (export, reveal, ...) of the principal in the audit log."""
        self.store.audit(actor=self.principal.user, role=self.principal.role, action=action, **kwargs)

    def reveal(self, player_id: str, field_name: str, reason: str = "") -> Any:
        """Reveal one masked personal field of a visible player: an explicit, audited action."""
        if field_name not in ("first_name", "last_name", "date_of_birth", "email", "phone", "address"):
            raise UserError(f"field {field_name!r}: expected a personal field of the player master")
        survivor = self.resolve_player(player_id)
        if survivor is None:
            raise AccessDenied(f"no player {player_id!r} in your scope")
        # the scope check above is done by the access layer; the value itself is read unmasked
        self.store.scoped({**self.variables(), "pii": True})
        value = self.store.sql(f"SELECT {field_name} AS v FROM s_players() WHERE player_id = ?", [survivor])["v"][0]
        self.store.scoped(self.variables())
        self.audit("pii.reveal", target_kind="player", target_id=survivor, player_id=survivor,
                   after={"field": field_name}, detail=reason or None)
        return value


def ensure_salt(store: Store) -> str:
    """The installation's pseudonym salt, created on first use."""
    return store.setting("pseudonym_salt", secrets.token_hex(16)) or ""
