"""GDPR: everything stored about a player (JSON, or CSV files in a zip), and erasure by anonymization.

Both go through the access layer: the principal must hold the `gdpr` permission and see the player;
both are audited.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, datetime
from typing import Any

import polars as pl

from pipelines.access import Access, AccessDenied
from pipelines.schema import DERIVED

# section -> query over the scoped relations (one parameter list of the player's ids)
SECTIONS = {
    "profile": "SELECT * FROM s_players() WHERE player_id IN (SELECT unnest(?::VARCHAR[]))",
    "properties": "SELECT * FROM s_player_properties() WHERE player_id IN (SELECT unnest(?::VARCHAR[]))",
    "events": ("SELECT * EXCLUDE (attrs), CAST(attrs AS VARCHAR) AS attrs FROM s_events_all() "
               "WHERE player_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY ts, seq"),
    "audit": ("SELECT * EXCLUDE (before, after), CAST(before AS VARCHAR) AS before, CAST(after AS VARCHAR) AS after "
              "FROM s_audit() WHERE player_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY audit_id"),
}


def player_record(acc: Access, player_id: str) -> dict[str, pl.DataFrame]:
    """Every section stored about a player, by section name (derived snapshots included)."""
    acc.principal.require("gdpr")
    survivor = acc.resolve_player(player_id)
    if survivor is None:
        raise AccessDenied(f"no player {player_id!r} in your scope")
    ids = [survivor, *acc.sql("SELECT merged_id FROM s_aliases() WHERE survivor_id = ?", [survivor])["merged_id"]]
    out = {name: acc.sql(sql, [ids]) for name, sql in SECTIONS.items()}
    tables = set(acc.sql("SELECT table_name FROM information_schema.tables")["table_name"])
    for table in DERIVED:
        if table in tables:
            out[table] = acc.sql(f"SELECT * FROM s_derived('{table}') WHERE player_id IN (SELECT unnest(?::VARCHAR[])) "
                                 "ORDER BY as_of", [ids])
    return out


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def export_player(acc: Access, player_id: str, fmt: str = "json") -> bytes:
    """The player's record as one JSON document or a zip of CSV files (audited)."""
    if fmt not in ("json", "csv"):
        raise ValueError(f"format {fmt!r}: expected json or csv")
    record = player_record(acc, player_id)
    survivor = record["profile"]["player_id"][0] if record["profile"].height else player_id
    if fmt == "json":
        doc = {name: [{k: _plain(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]
               for name, frame in record.items()}
        data = json.dumps({"player_id": survivor, "exported_at": datetime.now().isoformat(timespec="seconds"),
                           **doc}, indent=2, default=str).encode()
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, frame in record.items():
                flat = frame.with_columns(pl.col(c).cast(pl.String) for c, t in frame.schema.items()
                                          if isinstance(t, (pl.List, pl.Struct, pl.Array)))
                zf.writestr(f"{survivor}-{name}.csv", flat.write_csv())
        data = buf.getvalue()
    acc.audit("gdpr.export", target_kind="player", target_id=survivor, player_id=survivor,
              after={"format": fmt, "rows": {k: v.height for k, v in record.items()}})
    return data


def erase_player(acc: Access, player_id: str, reason: str) -> dict[str, int]:
    """Anonymize a player (see `Store.erase_player`); needs the gdpr permission and the player in scope."""
    acc.principal.require("gdpr")
    survivor = acc.resolve_player(player_id)
    if survivor is None:
        raise AccessDenied(f"no player {player_id!r} in your scope")
    return acc.store.erase_player(survivor, actor=acc.principal.user, role=acc.principal.role, reason=reason)
