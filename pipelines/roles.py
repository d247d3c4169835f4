"""Roles and what each may see and do: the policy the access layer enforces (pure, no I/O).

Deny by default: a capability not listed for a role is refused; a page not listed is hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("host", "shift_manager", "marketer", "analyst", "compliance", "admin")
# note visibilities, widest first; "private" notes are seen by their author only
NOTE_VISIBILITIES = ("all", "managers", "compliance", "private")
# event types only compliance and admin see (MTL and currency transaction reports)
COMPLIANCE_EVENT_TYPES = ("mtl", "ctr")
PII_FIELDS = ("first_name", "last_name", "date_of_birth", "email", "phone", "address", "card_number")


@dataclass(frozen=True)
class Policy:
    """What one role may see and do."""

    pages: frozenset[str]
    actions: frozenset[str]
    note_levels: tuple[str, ...]
    pii: bool
    compliance: bool


_FLOOR = frozenset({"overview", "player"})
_COLLAB = frozenset({"note", "tag", "task"})
POLICIES: dict[str, Policy] = {
    "host": Policy(_FLOOR | {"shift"}, _COLLAB, ("all",), pii=True, compliance=False),
    "shift_manager": Policy(_FLOOR | {"shift", "segments", "cohorts"},
                            _COLLAB | {"export_player", "bulk_tag"}, ("all", "managers"), pii=True,
                            compliance=False),
    "marketer": Policy(_FLOOR | {"segments", "cohorts", "rewards"},
                       frozenset({"export_segment", "bulk_tag", "edit_rules", "issue_rewards"}), (),
                       pii=False, compliance=False),
    "analyst": Policy(_FLOOR | {"segments", "cohorts", "rewards", "status"},
                      frozenset({"export_segment", "edit_schemes"}), (), pii=False, compliance=False),
    "compliance": Policy(_FLOOR | {"shift", "audit", "status"},
                         _COLLAB | {"export_player", "view_audit", "export_audit", "gdpr", "merge"},
                         ("all", "managers", "compliance"), pii=True, compliance=True),
    "admin": Policy(_FLOOR | {"shift", "segments", "cohorts", "rewards", "audit", "status"},
                    _COLLAB | {"export_player", "export_segment", "bulk_tag", "edit_schemes", "edit_rules",
                               "issue_rewards", "view_audit", "export_audit", "gdpr", "merge",
                               "manage_users", "view_rejects"},
                    ("all", "managers", "compliance"), pii=True, compliance=True),
}


def policy(role: str) -> Policy:
    """The policy of a role; an unknown role gets nothing at all."""
    return POLICIES.get(role, Policy(frozenset(), frozenset(), (), pii=False, compliance=False))


def check_role(role: str) -> str:
    """The role itself, or ValueError naming the known roles."""
    if role not in POLICIES:
        raise ValueError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    return role
