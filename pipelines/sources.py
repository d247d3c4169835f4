"""Declarations of the raw sources: their columns, types, allowed values and record keys."""

from __future__ import annotations

from dataclasses import dataclass, field

# Decisions per hour and house edge by game: the defaults behind theo when a slip lacks them.
GAME_RATES: dict[str, tuple[float, float]] = {
    "blackjack": (70.0, 0.02),
    "baccarat": (72.0, 0.0124),
    "roulette": (38.0, 0.053),
    "craps": (48.0, 0.014),
    "poker": (30.0, 0.025),
    "slots": (600.0, 0.08),
}


@dataclass(frozen=True)
class Field:
    """One raw column: its name, type and constraints."""

    name: str
    kind: str = "str"  # str | ts | date | float | enum | list
    required: bool = False
    allowed: tuple[str, ...] = ()
    nonnegative: bool = False


@dataclass(frozen=True)
class Source:
    """A raw source: its fields, record key and whether its players must already be known."""

    name: str
    fields: tuple[Field, ...]
    key: str | None = None
    known_player: bool = True
    one_of: tuple[tuple[str, ...], ...] = field(default=())  # alternatives: any one group complete

    def field_names(self) -> list[str]:
        """All declared column names."""
        return [f.name for f in self.fields]

    def required(self) -> list[str]:
        """Columns that must be present in the file."""
        return [f.name for f in self.fields if f.required]


def _f(name: str, kind: str = "str", *, req: bool = False, allowed: tuple[str, ...] = (), nonneg: bool = False) -> Field:
    return Field(name, kind, req, allowed, nonneg)


PLAYER_STATUS = ("active", "inactive", "banned", "deceased")
TIERS = ("bronze", "silver", "gold", "platinum", "black")

SOURCES: dict[str, Source] = {
    s.name: s
    for s in [
        Source(
            "players",
            (
                _f("player_id", req=True), _f("first_name"), _f("last_name"),
                _f("date_of_birth", "date"), _f("email"), _f("phone"), _f("address"),
                _f("status", "enum", allowed=PLAYER_STATUS), _f("enrolled_at", "ts"),
                _f("property_id"), _f("card_number"), _f("external_id"),
                _f("tier", "enum", allowed=TIERS), _f("flags", "list"),
            ),
            key=None,  # the record key is player_id + property_id, built in staging
            known_player=False,
        ),
        Source(
            "visits",
            (
                _f("visit_id"), _f("player_id", req=True), _f("property_id", req=True),
                _f("check_in", "ts", req=True), _f("check_out", "ts"), _f("area"),
            ),
            key="visit_id",
        ),
        Source(
            "rating_slips",
            (
                _f("slip_id"), _f("player_id", req=True), _f("property_id", req=True),
                _f("visit_id"), _f("start_time", "ts", req=True), _f("end_time", "ts"),
                _f("game", "enum", req=True, allowed=tuple(GAME_RATES)),
                _f("game_type", "enum", allowed=("table", "slot")), _f("location"),
                _f("avg_bet", "float", req=True, nonneg=True),
                _f("minutes_played", "float", req=True, nonneg=True),
                _f("decisions_per_hour", "float", nonneg=True), _f("house_edge", "float"),
                _f("theo", "float"), _f("casino_win", "float"),
            ),
            key="slip_id",
        ),
        Source(
            "transactions",
            (
                _f("txn_id"), _f("player_id", req=True), _f("property_id", req=True),
                _f("ts", "ts", req=True),
                _f("type", "enum", req=True, allowed=("buy_in", "cash_out", "marker", "marker_repayment")),
                _f("amount", "float", req=True, nonneg=True), _f("currency"),
                _f("method", "enum", allowed=("cash", "chips", "card", "ticket", "wire")),
            ),
            key="txn_id",
        ),
        Source(
            "loyalty",
            (
                _f("entry_id"), _f("player_id", req=True), _f("property_id"), _f("ts", "ts", req=True),
                _f("type", "enum", req=True, allowed=(
                    "points_earned", "points_redeemed", "points_adjusted", "reward_issued",
                    "reward_redeemed", "reward_expired", "campaign_contact")),
                _f("points", "float"), _f("amount", "float", nonneg=True), _f("reward_id"),
                _f("reward_type", "enum", allowed=("comp", "freeplay", "bonus", "voucher", "ticket")),
                _f("campaign_id"), _f("arm", "enum", allowed=("treatment", "holdout")), _f("channel"),
            ),
            key="entry_id",
        ),
        Source(
            "notes",
            (
                _f("note_id"), _f("player_id", req=True), _f("property_id"), _f("ts", "ts", req=True),
                _f("author", req=True), _f("author_role"),
                _f("kind", "enum", allowed=("note", "dispute", "service")), _f("text", req=True),
                _f("visibility", "enum", allowed=("all", "managers", "compliance")),
            ),
            key="note_id",
        ),
        Source(
            "compliance",
            (
                _f("entry_id"), _f("player_id", req=True), _f("property_id"), _f("ts", "ts", req=True),
                _f("type", "enum", req=True, allowed=("mtl", "ctr", "incident", "exclusion", "exclusion_lifted")),
                _f("amount", "float", nonneg=True), _f("direction", "enum", allowed=("in", "out")),
                _f("description"), _f("severity", "enum", allowed=("low", "medium", "high")),
            ),
            key="entry_id",
        ),
        Source(
            "orders",
            (
                _f("order_id"), _f("player_id", req=True), _f("ts", "ts", req=True),
                _f("amount", "float"), _f("quantity", "float"), _f("unit_price", "float"),
                _f("type"), _f("property_id"), _f("currency"),
            ),
            key="order_id",
            known_player=False,
            one_of=(("amount",), ("quantity", "unit_price")),
        ),
    ]
}
