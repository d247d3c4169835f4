"""Identity fields of generated players (names, contact details) and the `players` source frame."""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.generate_common import PROPERTIES, frame, labels, player_ids, ts_array
from pipelines.generate_names import CITIES, EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES, NICKNAMES, STREET_KINDS, STREETS
from pipelines.generate_people import WHALE, People

PLAYER_SCHEMA = {
    "player_id": pl.String, "first_name": pl.String, "last_name": pl.String, "date_of_birth": pl.Date,
    "email": pl.String, "phone": pl.String, "address": pl.String, "status": pl.String,
    "enrolled_at": pl.Datetime("us"), "property_id": pl.String, "card_number": pl.String,
    "external_id": pl.String, "tier": pl.String, "flags": pl.String,
}
TIERS = np.array(["bronze", "silver", "gold", "platinum", "black"])
STATUSES = np.array(["active", "inactive", "banned", "deceased"])
ACTIVE, INACTIVE, BANNED, DECEASED = range(len(STATUSES))
# Theo over the last year at a property that earns each tier.
TIER_THEO = np.array([300, 1_500, 6_000, 25_000])
_CITY_TABLE = [(home, *city) for home, cities in CITIES.items() for city in cities]
_CITY_HOME = np.array([row[0] for row in _CITY_TABLE])


def _components(rng: np.random.Generator, people: People, end_day: int) -> dict[str, np.ndarray]:
    """Random building blocks of each identity, as indices and numbers."""
    n = people.n
    age = np.clip(21 + rng.gamma(4.0, 7.0, n) + np.where(people.arch == WHALE, 10, 0), 21, 92)
    local_city = rng.random(n) < 0.85
    city = np.empty(n, dtype=np.int64)
    for home in range(len(PROPERTIES)):
        mine = np.flatnonzero(_CITY_HOME == home)
        rows = people.home == home
        city[rows] = mine[rng.integers(0, len(mine), rows.sum())]
    city = np.where(local_city, city, rng.integers(0, len(_CITY_TABLE), n))
    parts = {
        "first": rng.integers(0, len(FIRST_NAMES), n),
        "last": rng.integers(0, len(LAST_NAMES), n),
        "dob": (end_day - age * 365.25).astype(np.int64),
        "city": city,
        "street": rng.integers(0, len(STREETS), n),
        "kind": rng.integers(0, len(STREET_KINDS), n),
        "number": rng.integers(1, 9_900, n),
        "zip": rng.integers(0, 100, n),
        "domain": rng.integers(0, len(EMAIL_DOMAINS), n),
        "email_no": np.where(rng.random(n) < 0.5, rng.integers(1, 100, n), -1),
        "sep": rng.integers(0, 3, n),
        "line": rng.integers(0, 10_000, n),
    }
    # A duplicate enrollment is the same person: copy everything, the phone most of the time.
    copies = np.flatnonzero(people.dup_of >= 0)
    originals = people.dup_of[copies]
    same_phone = rng.random(len(copies)) < 0.7
    for key, values in parts.items():
        if key == "line":
            values[copies[same_phone]] = values[originals[same_phone]]
        else:
            values[copies] = values[originals]
    return parts


def _strings(parts: dict[str, np.ndarray]) -> pl.DataFrame:
    """Assemble the identity strings from their building blocks."""
    city = np.array(_CITY_TABLE, dtype=object)[parts["city"]]
    df = pl.DataFrame({
        "first_name": FIRST_NAMES[parts["first"]],
        "last_name": LAST_NAMES[parts["last"]],
        "dob": parts["dob"],
        "number": parts["number"],
        "street": STREETS[parts["street"]],
        "kind": STREET_KINDS[parts["kind"]],
        "city": city[:, 1].astype(str),
        "state": city[:, 2].astype(str),
        "zip": city[:, 3].astype(str),
        "zip_tail": parts["zip"],
        "area": city[:, 4].astype(str),
        "line": parts["line"],
        "domain": EMAIL_DOMAINS[parts["domain"]],
        "email_no": parts["email_no"],
        "sep": np.array([".", "_", ""])[parts["sep"]],
    })
    local = pl.concat_str(
        pl.col("first_name").str.to_lowercase(), pl.col("sep"),
        pl.col("last_name").str.to_lowercase().str.replace_all("'", ""),
        pl.when(pl.col("email_no") >= 0).then(pl.col("email_no").cast(pl.String)).otherwise(pl.lit("")),
    )
    return df.select(
        "first_name",
        "last_name",
        pl.col("dob").cast(pl.Int32).cast(pl.Date).alias("date_of_birth"),
        pl.concat_str(local, pl.lit("@"), pl.col("domain")).alias("email"),
        pl.format("({}) 555-{}", "area", pl.col("line").cast(pl.String).str.zfill(4)).alias("phone"),
        pl.format("{} {} {}, {}, {} {}{}", "number", "street", "kind", "city", "state", "zip",
                  pl.col("zip_tail").cast(pl.String).str.zfill(2)).alias("address"),
    )


def _misspell(rng: np.random.Generator, name: str) -> str:
    """A plausible clerk's typo: a dropped, doubled or swapped letter."""
    if len(name) < 4:
        return name + name[-1]
    i = int(rng.integers(1, len(name) - 1))
    kind = int(rng.integers(0, 3))
    if kind == 0:
        return name[:i] + name[i + 1:]
    if kind == 1:
        return name[:i] + name[i] + name[i:]
    return name[:i] + name[i + 1] + name[i] + name[i + 2:]


def _email_case(rng: np.random.Generator, email: str) -> str:
    """The same address typed with different capitals."""
    local, domain = email.split("@")
    if rng.random() < 0.5:
        return email.upper()
    return ".".join(p.capitalize() for p in local.split(".")) + "@" + domain


def _vary_duplicates(rng: np.random.Generator, people: People, df: pl.DataFrame) -> pl.DataFrame:
    """Give duplicate enrollments a slightly different spelling (only ~1% of rows, so a loop is fine)."""
    copies = np.flatnonzero(people.dup_of >= 0)
    if not len(copies):
        return df
    first = df["first_name"].to_numpy().astype(object)
    last = df["last_name"].to_numpy().astype(object)
    email = df["email"].to_numpy().astype(object)
    for i in copies:
        change = int(rng.integers(0, 3))
        if change == 0 and first[i] in NICKNAMES:
            first[i] = NICKNAMES[first[i]]
        elif change == 1:
            first[i] = _misspell(rng, first[i])
        else:
            last[i] = _misspell(rng, last[i])
        email[i] = _email_case(rng, email[i])
    return df.with_columns(
        pl.Series("first_name", first, dtype=pl.String),
        pl.Series("last_name", last, dtype=pl.String),
        pl.Series("email", email, dtype=pl.String),
    )


def make_identity(rng: np.random.Generator, people: People, end_day: int) -> pl.DataFrame:
    """Names, date of birth and contact details per player (row i = local player i)."""
    df = _strings(_components(rng, people, end_day))
    return _vary_duplicates(rng, people, df)


def tier_of(theo_last_year: np.ndarray, arch: np.ndarray) -> np.ndarray:
    """Tier (index into TIERS) from a year's theo at the property; whales keep a high tier regardless."""
    level = np.searchsorted(TIER_THEO, theo_last_year, side="right")
    return np.where(arch == WHALE, np.maximum(level, 3), level)


def flags_of(rng: np.random.Generator, people: People, excluded: np.ndarray) -> pl.Series:
    """`;`-separated marketing and service flags per player."""
    n = people.n
    whale = people.arch == WHALE
    parts = [
        labels(["vip;credit_line"], np.where(whale, 0, -1)),
        labels(["do_not_contact"], np.where(people.no_contact, 0, -1)),
        labels(["no_mail"], np.where(rng.random(n) < 0.03, 0, -1)),
        labels(["self_excluded"], np.where(excluded, 0, -1)),
    ]
    return pl.select(pl.concat_str(parts, separator=";", ignore_nulls=True)).to_series()


def players_frame(
    people: People,
    identity: pl.DataFrame,
    rows: dict[str, np.ndarray],
    status: np.ndarray,
    flags: pl.Series,
) -> pl.DataFrame:
    """The `players` source: one row per player and enrolled property (`rows`: player, prop, enrolled_at, tier)."""
    player = rows["player"]
    number = people.first_no + player.astype(np.int64)
    prop_no = (rows["prop"] + 1).astype(np.int64)
    card = pl.Series(prop_no * 10**9 + number).cast(pl.String)
    return frame(
        {
            "player_id": player_ids(people.first_no, player),
            **{c: identity[c].gather(player) for c in ("first_name", "last_name", "date_of_birth", "email", "phone", "address")},
            "status": labels(STATUSES, status[player]),
            "enrolled_at": ts_array(rows["enrolled_at"]),
            "property_id": labels(PROPERTIES, rows["prop"]),
            "card_number": "70" + card,
            "external_id": labels(PROPERTIES, rows["prop"]) + "-" + pl.Series(number).cast(pl.String).str.zfill(8),
            "tier": labels(TIERS, rows["tier"]),
            "flags": flags.gather(player),
        },
        PLAYER_SCHEMA,
    )

