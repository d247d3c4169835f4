"""The player's data as files: CSV (the timeline) and Excel (every section on its own sheet).

No Panel here, so notebooks can export too. Text cells that look like spreadsheet formulas get a
leading apostrophe.
"""

from __future__ import annotations

import io

import polars as pl

from app import model as M
from app.data import PlayerData


def events_frame(s: PlayerData) -> pl.DataFrame:
    """The player's current events, newest first, with a readable summary and who wrote them."""
    cur = s.current
    if cur.is_empty():
        return pl.DataFrame()
    summary = [M.summary(r) for r in cur.iter_rows(named=True)]
    by = [M.who(r) for r in cur.iter_rows(named=True)]
    keep = ["ts", "event_type", "property_id", "amount", "currency", "points", "game", "location", "avg_bet",
            "minutes", "theo", "casino_win", "ends_at", "source", "source_ref", "actor", "role", "recorded_at",
            "event_id", "attrs"]
    return (cur.select(keep).with_columns(pl.Series("summary", summary, pl.String), pl.Series("by", by, pl.String))
            .select("ts", "event_type", "summary", *keep[2:], "by"))


def to_csv(s: PlayerData) -> bytes:
    """The timeline as CSV."""
    return M.defuse(M.flat(events_frame(s))).write_csv().encode()


def sheets(s: PlayerData, notes: list[dict], tags: list[dict], tasks: list[dict]) -> dict[str, pl.DataFrame]:
    """Sheet name -> frame of everything the player page shows."""
    def kv(row: dict | None) -> pl.DataFrame:
        if not row:
            return pl.DataFrame({"field": [], "value": []}, schema={"field": pl.String, "value": pl.String})
        return pl.DataFrame({"field": list(row), "value": [None if v is None else str(v) for v in row.values()]})

    out = {
        "profile": kv(s.profile), "properties": s.properties, "metrics": kv(s.metrics), "segments": kv(s.segments),
        "insights": s.insights, "timeline": events_frame(s),
        "notes": pl.DataFrame(notes) if notes else pl.DataFrame(),
        "tags": pl.DataFrame(tags) if tags else pl.DataFrame(),
        "tasks": pl.DataFrame(tasks) if tasks else pl.DataFrame(),
    }
    return {name: M.defuse(M.flat(frame)) for name, frame in out.items()}


def to_excel(s: PlayerData, notes: list[dict], tags: list[dict], tasks: list[dict]) -> bytes:
    """Everything on the player page as one workbook (one sheet per section)."""
    import xlsxwriter

    buf = io.BytesIO()
    with xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False,
                                   "strings_to_urls": False}) as book:
        for name, frame in sheets(s, notes, tags, tasks).items():
            if frame.width == 0:
                frame = pl.DataFrame({"note": ["nothing recorded"]})
            frame.write_excel(book, worksheet=name, autofit=True)
    return buf.getvalue()
