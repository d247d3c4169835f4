"""Pure derivations the app shows, over frames read from the store (no I/O, no Panel).

The collaboration layer has no tables of its own: notes, tags and tasks are events
(`note`, `note_edited`, `tag_added`, `tag_removed`, `task_created`, `task_completed`), and their
current state is derived here from those events, so the timeline, the shift report and the
player page agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from pipelines.roles import NOTE_VISIBILITIES, policy

NOTE_TYPES = ("note", "note_edited", "dispute", "service")
EDITABLE_NOTE_TYPES = ("note", "note_edited")
VISIBILITIES = NOTE_VISIBILITIES
ATTENTION_TAG = "attention needed"
SUGGESTED_TAGS = ("VIP", "attention needed", "dispute history", "comps sensitive",
                  "prefers blackjack", "smoke-free table", "do not call")
TIER_ORDER = {"bronze": 1, "silver": 2, "gold": 3, "platinum": 4, "black": 5}
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
EVENT_LABELS = {
    "enrollment": "Enrollment", "profile_update": "Profile update", "visit": "Visit",
    "rating_slip": "Rating slip", "buy_in": "Buy-in", "cash_out": "Cash-out", "marker": "Marker",
    "marker_repayment": "Marker repayment", "points_earned": "Points earned",
    "points_redeemed": "Points redeemed", "points_adjusted": "Points adjusted",
    "reward_issued": "Reward issued", "reward_redeemed": "Reward redeemed",
    "reward_expired": "Reward expired", "campaign_contact": "Campaign contact", "note": "Note",
    "note_edited": "Note (edited)", "dispute": "Dispute", "service": "Service", "incident": "Incident",
    "exclusion": "Exclusion", "exclusion_lifted": "Exclusion lifted", "mtl": "MTL", "ctr": "CTR",
    "order": "Order", "refund": "Refund", "tag_added": "Tag added", "tag_removed": "Tag removed",
    "task_created": "Task created", "task_completed": "Task completed",
}
TYPE_GROUPS = {  # the timeline's type filter, in words staff use
    "Visits": ("visit",),
    "Play": ("rating_slip",),
    "Money": ("buy_in", "cash_out", "marker", "marker_repayment", "order", "refund"),
    "Loyalty": ("points_earned", "points_redeemed", "points_adjusted", "reward_issued", "reward_redeemed",
                "reward_expired", "campaign_contact"),
    "Staff notes": ("note", "note_edited", "dispute", "service"),
    "Compliance": ("incident", "exclusion", "exclusion_lifted", "mtl", "ctr"),
    "Tags & tasks": ("tag_added", "tag_removed", "task_created", "task_completed"),
    "Profile": ("enrollment", "profile_update"),
}
TAB_TYPES = {
    "Visits": ("visit",),
    "Play": ("rating_slip",),
    "Rewards": ("reward_issued", "reward_redeemed", "reward_expired", "points_earned",
                "points_redeemed", "points_adjusted", "campaign_contact"),
    "Transactions": ("buy_in", "cash_out", "marker", "marker_repayment", "order", "refund"),
    "Compliance": ("mtl", "ctr", "incident", "exclusion", "exclusion_lifted", "dispute"),
}


def tag_key(tag: str) -> str:
    """Tags compare without case and surrounding space: each tag at most once per player."""
    return " ".join((tag or "").split()).casefold()


def money(value: Any, digits: int = 0) -> str:
    """$1,234 (or an em dash for a missing value)."""
    if value is None:
        return "—"
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{digits}f}"


def number(value: Any, digits: int = 0) -> str:
    """1,234 (or an em dash)."""
    return "—" if value is None else f"{value:,.{digits}f}"


def when(value: datetime | date | None) -> str:
    """2026-01-01 18:21 (or an em dash)."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


# -- timeline ----------------------------------------------------------------------------------------
def current(events: pl.DataFrame) -> pl.DataFrame:
    """The current version of every event (corrected versions dropped)."""
    if events.is_empty() or "superseded" not in events.columns or not events["superseded"].any():
        return events
    return events.filter(~pl.col("superseded"))


def open_visit(events: pl.DataFrame) -> dict[str, Any] | None:
    """The newest visit without an end among a player's current events (in the room), or None."""
    if events.is_empty():
        return None
    open_ = events.filter((pl.col("event_type") == "visit") & pl.col("ends_at").is_null()).sort("ts", descending=True)
    return open_.row(0, named=True) if open_.height else None


def summary(row: dict[str, Any]) -> str:
    """One line describing an event, from its columns and attrs (plain text, never HTML)."""
    t = row.get("event_type")
    g = row.get
    if t == "visit":
        where = g("location") or "visit"
        return f"{where} · {'still in (open)' if g('ends_at') is None else number(g('minutes')) + ' min'}"
    if t == "rating_slip":
        parts = [g("game") or "play", f"at {g('location')}" if g("location") else "",
                 f"avg bet {money(g('avg_bet'), 2)}" if g("avg_bet") is not None else "",
                 f"{number(g('minutes'))} min" if g("minutes") is not None else "",
                 f"theo {money(g('theo'), 2)}" if g("theo") is not None else ""]
        return " · ".join(p for p in parts if p)
    if t in ("buy_in", "cash_out", "marker", "marker_repayment", "order", "refund"):
        method = f" ({g('a_method')})" if g("a_method") else ""
        return f"{money(g('amount'), 2)}{method}"
    if t and t.startswith("points_"):
        return f"{g('points') or 0:+,.0f} points"
    if t and t.startswith("reward_"):
        bits = [g("a_reward_type") or "reward", g("a_reward_id") or "",
                f"campaign {g('a_campaign_id')}" if g("a_campaign_id") else "",
                money(g("amount"), 2) if g("amount") is not None else ""]
        return " · ".join(b for b in bits if b)
    if t == "campaign_contact":
        bits = [g("a_campaign_id") or "campaign", f"via {g('a_channel')}" if g("a_channel") else "",
                g("a_arm") or ""]
        return " · ".join(b for b in bits if b)
    if t in NOTE_TYPES:
        return g("a_text") or ""
    if t in ("incident", "exclusion", "exclusion_lifted", "mtl", "ctr"):
        sev = f" [{g('a_severity')}]" if g("a_severity") else ""
        amount = f" {money(g('amount'), 2)}" if g("amount") is not None else ""
        return f"{g('a_description') or t}{amount}{sev}"
    if t in ("tag_added", "tag_removed"):
        return g("a_tag") or ""
    if t == "task_created":
        due = f" · due {g('a_due')}" if g("a_due") else ""
        who = f" · for {g('a_assignee')}" if g("a_assignee") else ""
        return f"{g('a_title') or 'task'}{due}{who}"
    if t == "task_completed":
        return g("a_title") or "task done"
    if t in ("enrollment", "profile_update"):
        return "player master record"
    return ""


def timeline(events: pl.DataFrame, types: list[str] | None = None, start: date | None = None,
             end: date | None = None) -> pl.DataFrame:
    """Current events newest first, filtered by type and by day range (both ends inclusive)."""
    frame = current(events)
    if frame.is_empty():
        return frame
    if types:
        frame = frame.filter(pl.col("event_type").is_in(list(types)))
    if start is not None:
        frame = frame.filter(pl.col("ts") >= datetime.combine(start, datetime.min.time()))
    if end is not None:
        frame = frame.filter(pl.col("ts") < datetime.combine(end + timedelta(days=1), datetime.min.time()))
    return frame.sort(["ts", "seq"], descending=True)


def who(row: dict[str, Any]) -> str:
    """Who wrote an event: the note author for staff notes, else the recorded actor (role)."""
    if row.get("a_author"):
        role = row.get("a_author_role")
        return f"{row['a_author']} ({role})" if role else row["a_author"]
    return f"{row.get('actor')} ({row.get('role')})"


def timeline_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Display rows of timeline events: time, type, summary, amount, property, source, actor."""
    rows = [{
        "time": r["ts"], "type": EVENT_LABELS.get(r["event_type"], r["event_type"]),
        "summary": summary(r), "amount": r["amount"], "property": r["property_id"],
        "source": f"{r['source']} · {r['source_ref']}" if r.get("source_ref") else r["source"],
        "by": who(r), "event_id": r["event_id"],
    } for r in frame.iter_rows(named=True)]
    schema = {"time": pl.Datetime("us"), "type": pl.String, "summary": pl.String, "amount": pl.Float64,
              "property": pl.String, "source": pl.String, "by": pl.String, "event_id": pl.String}
    return pl.DataFrame(rows, schema=schema)


# -- collaboration ---------------------------------------------------------------------------------------
def note_root(row: dict[str, Any]) -> str:
    """The id of the note a version belongs to (the first version's event id)."""
    return row.get("a_note_id") or row["event_id"]


def is_manager(role: str) -> bool:
    """Whether a role reads managers-only notes (and may edit others' notes)."""
    return "managers" in policy(role).note_levels


def can_see(visibility: str | None, author: str | None, user: str, role: str) -> bool:
    """Note visibility (the access layer already filters reads the same way): everyone in scope,
    managers only, compliance only, private to its author."""
    if visibility == "private":
        return author == user
    return (visibility or "all") in policy(role).note_levels


def notes(events: pl.DataFrame, user: str = "", role: str = "") -> tuple[list[dict[str, Any]], int]:
    """(visible current notes newest first, how many are hidden by visibility). Each note carries
    its kind, text, author, time, visibility, version count and whether it can be edited."""
    if events.is_empty():
        return [], 0
    all_notes = events.filter(pl.col("event_type").is_in(NOTE_TYPES))
    versions: dict[str, int] = {}
    first_at: dict[str, datetime] = {}
    for r in all_notes.iter_rows(named=True):
        root = note_root(r)
        versions[root] = versions.get(root, 0) + 1
        if r["event_type"] != "note_edited":
            first_at[root] = r["ts"]
    out, hidden = [], 0
    for r in current(all_notes).sort(["ts", "seq"], descending=True).iter_rows(named=True):
        author = r.get("a_author") or r["actor"]
        if not can_see(r.get("a_visibility"), author, user, role):
            hidden += 1
            continue
        root = note_root(r)
        out.append({
            "note_id": root, "event_id": r["event_id"], "kind": r["event_type"],
            "text": r.get("a_text") or "", "author": author,
            "role": r.get("a_author_role") or r["role"], "ts": r["ts"],
            "created_at": first_at.get(root, r["ts"]), "visibility": r.get("a_visibility") or "all",
            "versions": versions.get(root, 1), "editable": r["event_type"] in EDITABLE_NOTE_TYPES,
            "property_id": r["property_id"], "source": r["source"],
        })
    return out, hidden


def note_history(events: pl.DataFrame, note_id: str) -> list[dict[str, Any]]:
    """Every version of a note, oldest first: the audit trail of its edits."""
    if events.is_empty():
        return []
    rows = events.filter(pl.col("event_type").is_in(NOTE_TYPES)).sort("seq")
    return [{"event_id": r["event_id"], "text": r.get("a_text") or "", "by": r.get("a_author") or r["actor"],
             "role": r.get("a_author_role") or r["role"], "at": r["recorded_at"] if r["source"] == "app" else r["ts"],
             "current": not r["superseded"]}
            for r in rows.iter_rows(named=True) if note_root(r) == note_id]


def tags(events: pl.DataFrame) -> list[dict[str, Any]]:
    """Current tags (the newest add/remove of each tag decides), in the order first added."""
    state: dict[str, dict[str, Any]] = {}
    if events.is_empty():
        return []
    rows = current(events).filter(pl.col("event_type").is_in(["tag_added", "tag_removed"])).sort("seq")
    for r in rows.iter_rows(named=True):
        key = tag_key(r.get("a_tag") or "")
        if not key:
            continue
        if r["event_type"] == "tag_added":
            state.setdefault(key, {"tag": r["a_tag"].strip(), "by": r["actor"], "at": r["ts"]})
        else:
            state.pop(key, None)
    return list(state.values())


def tasks(events: pl.DataFrame) -> list[dict[str, Any]]:
    """Tasks newest first: title, due, assignee, who created it, and whether and when it was done."""
    if events.is_empty():
        return []
    rows = current(events).filter(pl.col("event_type").is_in(["task_created", "task_completed"])).sort("seq")
    found: dict[str, dict[str, Any]] = {}
    for r in rows.iter_rows(named=True):
        if r["event_type"] == "task_created":
            found[r["event_id"]] = {
                "task_id": r["event_id"], "title": r.get("a_title") or "", "due": _date(r.get("a_due")),
                "assignee": r.get("a_assignee") or "", "by": r["actor"], "at": r["ts"],
                "property_id": r["property_id"], "done": False, "done_by": None, "done_at": None,
            }
        elif (task := found.get(r.get("a_task_id") or "")) is not None:
            task.update(done=True, done_by=r["actor"], done_at=r["ts"])
    return sorted(found.values(), key=lambda t: (t["done"], t["due"] or date.max, -t["at"].timestamp()))


def _date(value: Any) -> date | None:
    """An ISO date from attrs, or None."""
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def collab_state(frame: pl.DataFrame) -> dict[str, dict[str, Any]]:
    """Per player: current tag keys and open tasks, from the tag and task events of many players."""
    out: dict[str, dict[str, Any]] = {}
    if frame.is_empty():
        return out
    frame = frame.with_columns(pl.lit(False).alias("superseded"))
    for (pid,), part in frame.group_by("player_id"):
        out[pid] = {"tags": {tag_key(t["tag"]) for t in tags(part)},
                    "open_tasks": [t for t in tasks(part) if not t["done"]]}
    return out


# -- flags -----------------------------------------------------------------------------------------------
@dataclass
class Flags:
    """Quick flags of a player's header, each with the reasons behind it."""

    vip: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    disputes: list[str] = field(default_factory=list)
    attention: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)


def flags(profile: dict | None, props: pl.DataFrame, metrics: dict | None, segments: dict | None,
          current_tags: list[dict], open_tasks: list[dict], insights: pl.DataFrame,
          events: pl.DataFrame, today: date | None = None) -> Flags:
    """Derive the header flags: VIP, excluded, dispute history, attention needed (with reasons)."""
    out = Flags()
    today = today or date.today()
    prop_flags = sorted({f for fl in (props["flags"].to_list() if "flags" in props.columns else []) if fl for f in fl})
    keys = {tag_key(t["tag"]) for t in current_tags}
    if "vip" in prop_flags:
        out.vip.append("property flag vip")
    if "vip" in keys:
        out.vip.append("tagged VIP")
    tiers = set(props["tier"].drop_nulls().to_list()) if "tier" in props.columns else set()
    if tiers & {"black", "platinum"}:
        out.vip.append(f"tier {'black' if 'black' in tiers else 'platinum'}")
    if metrics and metrics.get("exclusion_active"):
        out.excluded.append("active exclusion")
    if "self_excluded" in prop_flags:
        out.excluded.append("property flag self_excluded")
    if profile and (profile.get("status") or "") in ("banned", "excluded"):
        out.excluded.append(f"status {profile['status']}")
    disputes = (metrics or {}).get("disputes_total")
    if disputes is None and not events.is_empty():
        disputes = current(events).filter(pl.col("event_type") == "dispute").height
    if disputes:
        out.disputes.append(f"{disputes} dispute{'s' if disputes != 1 else ''} on record")
    if "dispute history" in keys:
        out.disputes.append("tagged dispute history")
    if segments and segments.get("attention") not in (None, "none"):
        out.attention.append(f"segment: {str(segments['attention']).replace('_', ' ')}")
    if ATTENTION_TAG in keys:
        out.attention.append("tagged attention needed")
    overdue = [t for t in open_tasks if t["due"] and t["due"] < today]
    if overdue:
        out.attention.append(f"{len(overdue)} overdue task{'s' if len(overdue) != 1 else ''}")
    if not insights.is_empty() and "severity" in insights.columns:
        critical = insights.filter(pl.col("severity").cast(pl.String) == "critical").height
        if critical:
            out.attention.append(f"{critical} critical insight{'s' if critical != 1 else ''}")
    if out.excluded:
        out.attention.append("excluded player")
    out.other = [f for f in prop_flags if f not in ("vip", "self_excluded")]
    return out


# -- trends ----------------------------------------------------------------------------------------------
def monthly(events: pl.DataFrame, end: date, months: int = 12, days: int = 30) -> pl.DataFrame:
    """Per 30-day window (oldest first, all `months` present, the last one ending with the day
    `end`, so it matches the snapshot's 30-day metrics): visits, sessions, cash-in, cash-out, theo,
    minutes played, casino win, rewards issued and redeemed, points moved. `month` is the window's
    first day."""
    stop = datetime.combine(end + timedelta(days=1), datetime.min.time())
    starts = [(stop - timedelta(days=days * (months - i))).date() for i in range(months)]
    grid = pl.DataFrame({"bucket": list(range(months)), "month": starts},
                        schema={"bucket": pl.Int64, "month": pl.Date})
    cols = ["visits", "sessions", "cash_in", "cash_out", "theo", "minutes", "casino_win",
            "rewards_issued", "rewards_redeemed", "points"]
    frame = current(events)
    if frame.is_empty():
        out = grid.with_columns([pl.lit(0.0).alias(c) for c in cols])
    else:
        t = pl.col("event_type")
        back = ((pl.lit(stop) - pl.col("ts")).dt.total_seconds() // (days * 86400)).cast(pl.Int64)
        agg = (frame.filter(pl.col("ts") < stop)
               .with_columns((months - 1 - back).alias("bucket"))
               .filter(pl.col("bucket") >= 0)
               .group_by("bucket").agg(
                   (t == "visit").sum().alias("visits"),
                   (t == "rating_slip").sum().alias("sessions"),
                   pl.col("amount").filter(t.is_in(["buy_in", "marker"])).sum().alias("cash_in"),
                   pl.col("amount").filter(t == "cash_out").sum().alias("cash_out"),
                   pl.col("theo").filter(t == "rating_slip").sum().alias("theo"),
                   pl.col("minutes").filter(t == "rating_slip").sum().alias("minutes"),
                   pl.col("casino_win").filter(t == "rating_slip").sum().alias("casino_win"),
                   (t == "reward_issued").sum().alias("rewards_issued"),
                   (t == "reward_redeemed").sum().alias("rewards_redeemed"),
                   pl.col("points").sum().alias("points"),
               ))
        out = grid.join(agg, on="bucket", how="left")
        out = out.with_columns([pl.col(c).fill_null(0).cast(pl.Float64) for c in cols])
    before = 0.0
    if not frame.is_empty() and "points" in frame.columns:
        before = frame.filter(pl.col("ts") < datetime.combine(starts[0], datetime.min.time()))["points"].sum() or 0.0
    return out.drop("bucket").with_columns(
        (pl.col("minutes") / pl.when(pl.col("sessions") > 0).then(pl.col("sessions"))).alias("avg_session"),
        (pl.col("points").cum_sum() + before).alias("points_cum"),
    )


def day_hour(events: pl.DataFrame, types: tuple[str, ...] = ("visit",)) -> pl.DataFrame:
    """Counts per weekday (Mon..Sun) x hour of the player's events of `types` (all 7x24 cells)."""
    days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    grid = pl.DataFrame({"weekday": [d for d in days for _ in range(24)], "hour": list(range(24)) * 7})
    frame = current(events)
    if frame.is_empty():
        return grid.with_columns(pl.lit(0).alias("count"))
    counts = (frame.filter(pl.col("event_type").is_in(list(types)))
              .select(pl.col("ts").dt.weekday().sub(1).map_elements(lambda i: days[i], return_dtype=pl.String)
                      .alias("weekday"), pl.col("ts").dt.hour().cast(pl.Int64).alias("hour"))
              .group_by("weekday", "hour").len("count"))
    return grid.join(counts, on=["weekday", "hour"], how="left").with_columns(pl.col("count").fill_null(0))


def breakdown(events: pl.DataFrame, by: str, types: tuple[str, ...], value: str | None = None) -> pl.DataFrame:
    """Counts (and a summed `value`) of the player's events of `types` per `by` column."""
    frame = current(events)
    if frame.is_empty():
        return pl.DataFrame({by: [], "count": [], "value": []},
                            schema={by: pl.String, "count": pl.UInt32, "value": pl.Float64})
    frame = frame.filter(pl.col("event_type").is_in(list(types)))
    agg = [pl.len().alias("count"),
           (pl.col(value).sum() if value else pl.lit(None, pl.Float64)).cast(pl.Float64).alias("value")]
    return (frame.with_columns(pl.col(by).fill_null("unknown")).group_by(by).agg(agg)
            .sort("count", descending=True))


# -- export ----------------------------------------------------------------------------------------------
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def defuse(frame: pl.DataFrame) -> pl.DataFrame:
    """Text cells starting like a formula get a leading apostrophe (CSV / spreadsheet injection)."""
    exprs = []
    for name, dtype in frame.schema.items():
        if dtype == pl.String:
            c = pl.col(name)
            exprs.append(pl.when(c.str.starts_with("=") | c.str.starts_with("+") | c.str.starts_with("-")
                                 | c.str.starts_with("@") | c.str.starts_with("\t") | c.str.starts_with("\r"))
                         .then(pl.lit("'") + c).otherwise(c).alias(name))
    return frame.with_columns(exprs) if exprs else frame


def flat(frame: pl.DataFrame) -> pl.DataFrame:
    """Lists and structs as text: CSV and Excel take flat columns only."""
    exprs = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, (pl.List, pl.Array)):
            exprs.append(pl.col(name).cast(pl.List(pl.String)).list.join(", ").alias(name))
        elif isinstance(dtype, pl.Struct):
            exprs.append(pl.col(name).struct.json_encode().alias(name))
    return frame.with_columns(exprs) if exprs else frame


# -- shift report ----------------------------------------------------------------------------------------
SHIFTS = {"day": (6, 8), "swing": (14, 8), "grave": (22, 8)}  # start hour, hours
STALE_OPEN_HOURS = 24


def shift_window(day: date, shift: str) -> tuple[datetime, datetime]:
    """[start, end) of a shift on a day (the grave shift runs into the next morning)."""
    hour, hours = SHIFTS[shift]
    start = datetime.combine(day, datetime.min.time()) + timedelta(hours=hour)
    return start, start + timedelta(hours=hours)


def shift_of(ts: datetime) -> tuple[date, str]:
    """The shift (day, name) that contains a moment."""
    h = ts.hour
    if 6 <= h < 14:
        return ts.date(), "day"
    if 14 <= h < 22:
        return ts.date(), "swing"
    return (ts.date() if h >= 22 else ts.date() - timedelta(days=1)), "grave"


@dataclass
class ShiftSnapshot:
    """One property's shift: who is in the room, who needs attention, incidents, top theo."""

    property_id: str
    start: datetime
    end: datetime
    generated_at: datetime
    data_newest: datetime | None
    in_room: pl.DataFrame
    stale_open: int
    attention: pl.DataFrame
    incidents: pl.DataFrame
    top_theo: pl.DataFrame
    players_seen: int = 0
    message: str = ""

    @property
    def totals(self) -> dict[str, Any]:
        """Headline counts for summaries and embeddable widgets."""
        return {"in_room": self.in_room.filter(pl.col("open")).height if self.in_room.height else 0,
                "visited": self.in_room.height, "attention": self.attention.height,
                "incidents": self.incidents.height,
                "theo": float(self.top_theo["theo"].sum()) if self.top_theo.height else 0.0,
                "players_seen": self.players_seen}

    def player(self, player_id: str) -> dict[str, Any]:
        """How one player appears in this shift (in the room, attention reasons, incidents, theo)."""
        def rows(frame: pl.DataFrame) -> list[dict]:
            return frame.filter(pl.col("player_id") == player_id).to_dicts() if frame.height else []
        return {"in_room": rows(self.in_room), "attention": rows(self.attention),
                "incidents": rows(self.incidents), "top_theo": rows(self.top_theo)}


def empty_shift(property_id: str, start: datetime, end: datetime, message: str) -> ShiftSnapshot:
    """A shift snapshot with nothing in it and a message saying why."""
    return ShiftSnapshot(property_id, start, end, datetime.now().replace(microsecond=0), None,
                         pl.DataFrame(), 0, pl.DataFrame(), pl.DataFrame(), pl.DataFrame(), 0, message)


def build_shift(property_id: str, start: datetime, end: datetime, *, visits: pl.DataFrame,
                events: pl.DataFrame, people: pl.DataFrame, segments: pl.DataFrame,
                insights: pl.DataFrame, collab: dict[str, dict[str, Any]], exclusions: set[str],
                data_newest: datetime | None, clock: datetime | None = None) -> ShiftSnapshot:
    """Assemble a shift snapshot from its reads (see `app.data.DataStore.shift_snapshot`); `clock`
    is the data's 'now' (the newest event anywhere) that open visits are timed up to."""
    now = datetime.now().replace(microsecond=0)
    clock = min(end, clock or data_newest or end)
    stale_cut = start - timedelta(hours=STALE_OPEN_HOURS)
    stale = visits.filter(pl.col("open") & (pl.col("ts") < stale_cut)).height if visits.height else 0
    room = visits.filter(~(pl.col("open") & (pl.col("ts") < stale_cut))) if visits.height else visits
    info = {r["player_id"]: r for r in people.iter_rows(named=True)} if people.height else {}

    def name(pid: str) -> str:
        return (info.get(pid) or {}).get("name") or pid

    def tier(pid: str) -> str:
        return (info.get(pid) or {}).get("tier") or ""

    room_rows = []
    for r in room.iter_rows(named=True) if room.height else []:
        until = r["ends_at"] or clock
        room_rows.append({"player_id": r["player_id"], "name": name(r["player_id"]), "tier": tier(r["player_id"]),
                          "since": r["ts"], "until": r["ends_at"], "open": r["open"],
                          "minutes": max(0.0, (until - r["ts"]).total_seconds() / 60),
                          "location": r["location"] or "", "source": r["source_ref"] or r["source"]})
    in_room = pl.DataFrame(room_rows, schema={
        "player_id": pl.String, "name": pl.String, "tier": pl.String, "since": pl.Datetime("us"),
        "until": pl.Datetime("us"), "open": pl.Boolean, "minutes": pl.Float64, "location": pl.String,
        "source": pl.String})
    present = set(in_room["player_id"].to_list())
    seen = set(events["player_id"].to_list()) if events.height else set()

    # incidents
    inc = (events.filter(pl.col("event_type").is_in(["incident", "dispute", "exclusion"])).sort("ts", descending=True)
           if events.height else pl.DataFrame())
    incidents = pl.DataFrame([{
        "time": r["ts"], "player_id": r["player_id"], "name": name(r["player_id"]),
        "type": EVENT_LABELS.get(r["event_type"], r["event_type"]), "detail": r["detail"] or "",
        "severity": r["severity"] or "", "by": r["actor"], "source": r["source_ref"] or r["source"],
    } for r in inc.iter_rows(named=True)] if inc.height else [], schema={
        "time": pl.Datetime("us"), "player_id": pl.String, "name": pl.String, "type": pl.String,
        "detail": pl.String, "severity": pl.String, "by": pl.String, "source": pl.String})

    # top players by theo
    slips = events.filter(pl.col("event_type") == "rating_slip") if events.height else pl.DataFrame()
    if slips.height:
        top = (slips.group_by("player_id").agg(pl.col("theo").sum().alias("theo"),
                                               pl.col("minutes").sum().alias("minutes"),
                                               pl.len().alias("slips"))
               .sort(["theo", "player_id"], descending=[True, False]).head(10))
        top = top.with_columns(pl.col("player_id").map_elements(name, return_dtype=pl.String).alias("name"),
                               pl.col("player_id").map_elements(tier, return_dtype=pl.String).alias("tier"))
        top_theo = top.select("player_id", "name", "tier", "theo", "minutes", "slips")
    else:
        top_theo = pl.DataFrame(schema={"player_id": pl.String, "name": pl.String, "tier": pl.String,
                                        "theo": pl.Float64, "minutes": pl.Float64, "slips": pl.UInt32})

    # attention: players in the room or seen this shift with a reason, and tasks due by the end
    seg = {r["player_id"]: r for r in segments.iter_rows(named=True)} if segments.height else {}
    ins: dict[str, list[dict]] = {}
    for r in insights.iter_rows(named=True) if insights.height else []:
        ins.setdefault(r["player_id"], []).append(r)
    due_by = end.date()
    candidates = present | seen | {pid for pid, c in collab.items()
                                   if any(t["due"] and t["due"] <= due_by for t in c["open_tasks"])
                                   and (property_id in ((info.get(pid) or {}).get("properties") or [])
                                        or any(t["property_id"] == property_id for t in c["open_tasks"]))}
    rows = []
    for pid in sorted(candidates):
        reasons, level = [], 2
        c = collab.get(pid, {"tags": set(), "open_tasks": []})
        if pid in exclusions:
            reasons.append("excluded player" + (" in the room" if pid in present else ""))
            level = 0
        s = seg.get(pid) or {}
        if s.get("attention") not in (None, "none"):
            reasons.append(f"attention: {str(s['attention']).replace('_', ' ')}")
            level = min(level, 1)
        if ATTENTION_TAG in c["tags"]:
            reasons.append("tagged attention needed")
            level = min(level, 1)
        for t in c["open_tasks"]:
            if t["due"] and t["due"] <= due_by:
                reasons.append(f"task due {t['due']}: {t['title']}")
                level = min(level, 0 if t["due"] < start.date() else 1)
            elif pid in present:
                reasons.append(f"open task: {t['title']}")
                level = min(level, 1)
        for r in ins.get(pid, []):
            if pid in present or pid in seen:
                reasons.append(r["sentence"])
                level = min(level, SEVERITY_RANK.get(r["severity"], 2))
        if reasons:
            rows.append({"player_id": pid, "name": name(pid), "tier": tier(pid), "in_room": pid in present,
                         "severity": ("critical", "warning", "info")[level], "reasons": "; ".join(reasons)})
    attention = pl.DataFrame(rows, schema={"player_id": pl.String, "name": pl.String, "tier": pl.String,
                                           "in_room": pl.Boolean, "severity": pl.String, "reasons": pl.String})
    if attention.height:
        attention = attention.sort(
            [pl.col("severity").replace_strict(SEVERITY_RANK, return_dtype=pl.Int8), pl.col("in_room"), "name"],
            descending=[False, True, False])
    return ShiftSnapshot(property_id, start, end, now, data_newest, in_room, stale, attention, incidents,
                         top_theo, len(seen | present))


# -- KPIs ------------------------------------------------------------------------------------------------
@dataclass
class Kpis:
    """The overview's KPI strip: the current period vs the previous one, with a trend per KPI."""

    end: datetime | None
    days: int
    trend: pl.DataFrame  # one row per period-long bucket, oldest first; the last is the current one
    at_risk: pl.DataFrame  # per segments snapshot
    message: str = ""

    def value(self, column: str, back: int = 0) -> float | None:
        """A KPI of the current period (back=0) or of an earlier one (back=1: previous)."""
        if self.trend.height <= back or column not in self.trend.columns:
            return None
        return self.trend[column][self.trend.height - 1 - back]


# -- key metrics ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetricSpec:
    """One key metric of the player page: where its value, comparison and sparkline come from."""

    key: str
    label: str
    value: str
    prior: str | None
    kind: str  # count | money | minutes | days | percent | points
    spark: str | None
    higher_is_better: bool = True
    compare: str = "vs prior 30d"


KEY_METRICS = (
    MetricSpec("visits", "Visits (30d)", "visits_30d", "visits_prior_30d", "count", "visits"),
    MetricSpec("cash_in", "Cash-in (30d)", "cash_in_30d", "cash_in_prior_30d", "money", "cash_in"),
    MetricSpec("theo", "Theo (30d)", "theo_30d", "theo_prior_30d", "money", "theo"),
    MetricSpec("adt", "ADT (30d)", "adt_30d", "adt_prior_30d", "money", "theo_per_visit"),
    MetricSpec("session", "Avg session (30d)", "avg_session_minutes_30d", "avg_session_minutes_prior_30d",
               "minutes", "avg_session"),
    MetricSpec("sessions", "Rated sessions (30d)", "sessions_30d", "sessions_prior_30d", "count", "sessions"),
    MetricSpec("recency", "Days since last visit", "recency_days", "avg_days_between_visits", "days", "visits",
               higher_is_better=False, compare="vs usual gap"),
    MetricSpec("win_loss", "Casino win (lifetime)", "win_loss_total", None, "money", "casino_win"),
    MetricSpec("points", "Points balance", "points_balance", None, "points", "points_cum"),
    MetricSpec("redemption", "Reward redemption", "redemption_rate", None, "percent", "rewards_redeemed"),
)


def fmt(value: Any, kind: str) -> str:
    """A metric value for display."""
    if value is None:
        return "—"
    if kind == "money":
        return money(value)
    if kind == "minutes":
        return f"{value:,.0f} min"
    if kind == "days":
        return f"{value:,.0f} d"
    if kind == "percent":
        return f"{value:.0%}"
    return number(value)


def key_metrics(metrics: dict[str, Any] | None, trend: pl.DataFrame) -> list[dict[str, Any]]:
    """The 6-10 key metrics of the player page: value, change vs the prior period, 12-month trend."""
    m = dict(metrics or {})
    if m and m.get("adt_prior_30d") is None:
        prior_days = (m.get("trip_days_60d") or 0) - (m.get("trip_days_30d") or 0)
        m["adt_prior_30d"] = (m.get("theo_prior_30d") or 0) / prior_days if prior_days > 0 else None
    if trend.height and "theo_per_visit" not in trend.columns:
        trend = trend.with_columns((pl.col("theo") / pl.when(pl.col("visits") > 0).then(pl.col("visits")))
                                   .alias("theo_per_visit"))
    out = []
    for spec in KEY_METRICS:
        value = m.get(spec.value)
        prior = m.get(spec.prior) if spec.prior else None
        change = None
        if value is not None and prior is not None:
            change = (value - prior) / abs(prior) if prior else None
        direction = 0 if value is None or prior is None or value == prior else (1 if value > prior else -1)
        spark = trend[spec.spark].fill_null(0).to_list() if spec.spark and spec.spark in trend.columns else []
        if spec.kind == "percent" and value is not None:
            detail = f"{m.get('rewards_redeemed', 0)} of {m.get('rewards_issued', 0)} rewards redeemed"
        elif prior is not None:
            detail = f"{fmt(prior, spec.kind)} {spec.compare.replace('vs ', '')}"
        else:
            detail = ""
        out.append({
            "key": spec.key, "label": spec.label, "value": value, "display": fmt(value, spec.kind),
            "prior": prior, "change": change, "direction": direction,
            "good": None if direction == 0 else (direction > 0) == spec.higher_is_better,
            "compare": spec.compare if prior is not None else "", "detail": detail, "spark": spark,
        })
    return out


HEALTH_FACTORS = (("health_purchase", "Purchase"), ("health_engagement", "Engagement"),
                  ("health_service", "Service"), ("health_recency", "Recency"))
CHURN_LABELS = {"churn_recency": "Days since last visit", "churn_visit_drop": "Visit drop",
                "churn_cash_drop": "Cash-in drop", "churn_theo_drop": "Theo drop",
                "churn_no_redemption": "No reward redemption", "churn_disputes": "Disputes"}


def health(metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    """Health score (0-100), its level and its factors, or None before a build."""
    if not metrics or metrics.get("health_score") is None:
        return None
    return {"score": metrics["health_score"], "level": metrics.get("health_level") or "",
            "factors": [(label, metrics.get(key)) for key, label in HEALTH_FACTORS if key in metrics]}


def churn(segments: dict[str, Any] | None) -> dict[str, Any] | None:
    """Churn risk score, level and the points each factor contributed, or None before a build."""
    if not segments or segments.get("churn_score") is None:
        return None
    factors = [(CHURN_LABELS.get(k, k.removeprefix("churn_").replace("_", " ")), v)
               for k, v in segments.items()
               if k.startswith("churn_") and k not in ("churn_score", "churn_level", "churn_version")]
    return {"score": segments["churn_score"], "level": segments.get("churn_level") or "",
            "factors": sorted(factors, key=lambda f: -(f[1] or 0))}
