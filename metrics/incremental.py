"""What an incremental build must recompute: the time intervals where moving ``as_of`` changes a
player's aggregated metrics, and a fingerprint of the metric definitions.

Pure (no I/O). A player's aggregated metrics (``pipelines.derived.metrics.player_aggregates``) are a
function of their events and the cutoff ``as_of`` alone, and the cutoff enters only through
``ts <= as_of`` and the window flags ``(as_of - offset - window, as_of - offset]``. So between two
cutoffs ``c1`` and ``c2`` a player's aggregates can only change if one of their events lies in an
interval that one of those edges sweeps: ``(min(c1, c2) - d, max(c1, c2) - d]`` for every edge
distance ``d`` (0 for the cutoff itself, ``offset`` and ``offset + window`` per window). Everyone
else keeps their aggregates; only the derived metrics (recency, tenure, health...) are recomputed,
vectorised, for all players.

The fingerprint changes whenever a metric's or grain's definition does, so a snapshot computed by
other definitions is never carried forward.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from metrics import catalog as C

__all__ = ["changed_intervals", "edge_distances", "fingerprint"]


def edge_distances(catalog: dict[str, C.Metric] | None = None) -> list[int]:
    """Distances in days behind the cutoff of every window edge the catalog uses (0 = the cutoff)."""
    edges = {0}
    for window, offset in C.windows(catalog):
        edges.update((offset, offset + window))
    return sorted(edges)


def changed_intervals(before: datetime, after: datetime,
                      catalog: dict[str, C.Metric] | None = None) -> list[tuple[datetime, datetime]]:
    """Half-open ``(lo, hi]`` ts intervals whose events may change aggregates when the cutoff moves
    from ``before`` to ``after`` (either direction); empty when the cutoff stays. Overlapping
    intervals are merged."""
    lo, hi = min(before, after), max(before, after)
    if lo == hi:
        return []
    spans = sorted((lo - timedelta(days=d), hi - timedelta(days=d)) for d in edge_distances(catalog))
    merged: list[tuple[datetime, datetime]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def fingerprint(catalog: dict[str, C.Metric] | None = None) -> str:
    """A short hash of the metric, grain and attribute definitions (names, scopes, expressions, fills)."""
    catalog = C.CATALOG if catalog is None else catalog
    digest = hashlib.sha256()
    for m in catalog.values():
        digest.update(repr((m.name, m.stage, m.event_types, m.window, m.window_offset, m.grain, m.depends,
                            m.fill, str(m.expr))).encode())
    for name in sorted({m.grain for m in catalog.values() if m.grain}):
        g = C.GRAINS[name]
        digest.update(repr((g.name, str(g.key), g.event_types, g.window, [str(x) for x in g.measures],
                            g.measure_windows, g.drop_null_key)).encode())
    for a in C.ATTRIBUTES.values():  # where the columns that metrics read come from
        digest.update(repr((a.name, a.path, a.event_types)).encode())
    return digest.hexdigest()[:16]
