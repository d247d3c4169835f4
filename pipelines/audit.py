"""Reading the audit log through the access layer (only roles allowed to read it see any entry)."""

from __future__ import annotations

import polars as pl

from pipelines.access import Access


def audit_entries(acc: Access, *, action: str | None = None, actor: str | None = None,
                  player_id: str | None = None, since=None, limit: int | None = 500) -> pl.DataFrame:
    """Audit entries, newest first, filtered by action prefix, actor, player and time."""
    where, params = ["true"], []
    if action:
        where.append("starts_with(action, ?)")
        params.append(action)
    if actor:
        where.append("actor = ?")
        params.append(actor)
    if player_id:
        where.append("player_id = ?")
        params.append(player_id)
    if since is not None:
        where.append("logged_at >= ?")
        params.append(since)
    tail = "" if limit is None else " LIMIT ?"
    return acc.sql(
        "SELECT audit_id, logged_at, actor, role, action, target_kind, target_id, player_id, "
        "CAST(before AS VARCHAR) AS before, CAST(after AS VARCHAR) AS after, detail "
        f"FROM s_audit() WHERE {' AND '.join(where)} ORDER BY audit_id DESC{tail}",
        params + ([] if limit is None else [limit]))
