"""The names a reward rule may use: catalog metrics, reward features and segment schemes.

A rule's conditions and formula refer to columns by name. The names are checked when the rule is
parsed (so a typo fails at `player360 rules validate`, not at issue time) against:

* every metric of :data:`metrics.catalog.CATALOG` (``theo_90d``, ``recency_days``, ...);
* the reward features of :mod:`metrics.rewards.features` (``net_loss``, ``days_since_last_deposit``,
  the abuse signals, ...), which include seed 003's names;
* the segment schemes of the build (``loyalty``, ``lifecycle``, ...; ``segment`` is seed 003's name
  for ``loyalty``) and their labels.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from metrics.catalog import CATALOG
from metrics.churn import ChurnRisk
from metrics.rewards.features import FEATURES
from metrics.segments import SCHEMES

NUMERIC_UNITS = frozenset({"count", "days", "currency", "minutes", "ratio", "score", "points",
                           "per_month", "percent"})

# Segment columns of player_segments: scheme label column -> labels (churn's column is churn_level).
SEGMENTS: dict[str, tuple[str, ...]] = {
    **{cls().label_column(): tuple(cls.labels) for cls in SCHEMES.values()},
    ChurnRisk().label_column(): tuple(ChurnRisk.labels),
}
SEGMENT_ALIASES = {"segment": "loyalty"}  # seed 003 writes "segment": "LOSING"


@dataclass(frozen=True)
class Name:
    """A column a rule may read: its kind (number, bool, text) and where it comes from."""

    name: str
    kind: str  # number | bool | text
    source: str  # metric | feature | segment
    label: str
    description: str


def _kind(unit: str) -> str | None:
    if unit in NUMERIC_UNITS:
        return "number"
    if unit == "bool":
        return "bool"
    if unit == "text":
        return "text"
    return None  # dates: use a days feature instead


def _names() -> dict[str, Name]:
    out: dict[str, Name] = {}
    for m in CATALOG.values():
        kind = _kind(m.unit)
        if kind:
            out[m.name] = Name(m.name, kind, "metric", m.label, m.description)
    for f in FEATURES.values():
        out[f.name] = Name(f.name, _kind(f.unit) or "number", "feature", f.label, f.description)
    for column, labels in SEGMENTS.items():
        out[column] = Name(column, "segment", "segment", column, f"segment: one of {', '.join(labels)}")
    return out


NAMES: dict[str, Name] = _names()


def resolve(name: str) -> str:
    """The column a rule name refers to (seed aliases resolved)."""
    return SEGMENT_ALIASES.get(name, name)


def lookup(name: str) -> Name | None:
    """The known name, or None."""
    return NAMES.get(resolve(name))


def suggest(name: str) -> str:
    """' (did you mean ...?)' for a near miss, else ''."""
    close = difflib.get_close_matches(name, [*NAMES, *SEGMENT_ALIASES], n=2, cutoff=0.75)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def segment_label(column: str, value: str) -> str | None:
    """The scheme's own spelling of a label (labels compare without case), or None if unknown."""
    labels = SEGMENTS.get(column, ())
    return next((lab for lab in labels if lab.casefold() == str(value).casefold()), None)
