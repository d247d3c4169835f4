"""Reward types: their unit, the cash cost of one unit, and how they appear in the ledger.

Seed 003's wallet has loyalty points (LP), reward points (RP), bonus balance and tickets; the demo
ledger also has free play, comps and vouchers. One unit of a points type costs its redemption value
(``POINTS_PER_DOLLAR`` points buy one currency unit); money types cost their amount; a ticket costs
its ``unit_value`` (default ``TICKET_VALUE``).

In the ledger, loyalty points are a ``points_adjusted`` event (so ``points_balance`` counts them);
every other type is a ``reward_issued`` event whose ``amount`` is the cash value and whose attrs
carry the ``reward_type`` (the ledger's lower-case name), ``units``, the rule and the run.
"""

from __future__ import annotations

from dataclasses import dataclass

POINTS_PER_DOLLAR = 100.0  # redemption value of points (the demo ledger's rate)
TICKET_VALUE = 25.0  # default cash cost of one ticket


@dataclass(frozen=True)
class RewardType:
    """How one reward type is counted and recorded."""

    name: str
    label: str
    unit: str  # points | currency | count
    unit_cost: float
    event_type: str
    ledger_type: str  # attrs.reward_type in the ledger


REWARD_TYPES: dict[str, RewardType] = {t.name: t for t in (
    RewardType("LOYALTY_POINTS", "Loyalty points", "points", 1 / POINTS_PER_DOLLAR, "points_adjusted",
               "loyalty_points"),
    RewardType("REWARD_POINTS", "Reward points", "points", 1 / POINTS_PER_DOLLAR, "reward_issued",
               "reward_points"),
    RewardType("BONUS_BALANCE", "Bonus balance", "currency", 1.0, "reward_issued", "bonus"),
    RewardType("FREEPLAY", "Free play", "currency", 1.0, "reward_issued", "freeplay"),
    RewardType("COMP", "Comp", "currency", 1.0, "reward_issued", "comp"),
    RewardType("VOUCHER", "Voucher", "currency", 1.0, "reward_issued", "voucher"),
    RewardType("TICKETS", "Tickets", "count", TICKET_VALUE, "reward_issued", "ticket"),
)}
ALIASES = {"LP": "LOYALTY_POINTS", "RP": "REWARD_POINTS", "BONUS": "BONUS_BALANCE", "TICKET": "TICKETS",
           "FREE_PLAY": "FREEPLAY"}
WAGERING_TYPES = ("BONUS_BALANCE", "FREEPLAY")  # money that must be wagered before it can be cashed
# ledger reward types whose play counts towards wagering (demo data: bonus, freeplay)
BONUS_LEDGER_TYPES = ("bonus", "freeplay")


def canonical_type(value: object) -> str | None:
    """The canonical reward type for a name or alias (any case), or None."""
    if not isinstance(value, str):
        return None
    key = value.strip().upper().replace(" ", "_")
    key = ALIASES.get(key, key)
    return key if key in REWARD_TYPES else None
