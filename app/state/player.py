"""Player 360 state: search, the open player, its timeline filter and its collaboration actions.

Pure Param (no Panel): a notebook can drive the same objects, e.g.

    >>> from app.data import DataStore
    >>> from app.state import PlayerState, Session
    >>> state = PlayerState(data=DataStore("data/player360.duckdb"), session=Session(user="ana"))
    >>> state.player_id = "PL0000001"
    >>> state.add_note("Prefers the high-limit room")
"""

from __future__ import annotations

import logging
import time
from datetime import date, timedelta
from typing import Any

import param
import polars as pl

from app import export
from app import model as M
from app.data import DataStore, DataUnavailable, PlayerData
from pipelines import gdpr
from app.state.paging import Paged
from app.state.session import Session

log = logging.getLogger("player360.app")

MAX_NOTE = 4000
MAX_TAG = 40
MAX_TITLE = 200
# the permission (pipelines.roles) each collaboration write needs
WRITE_ACTIONS = {"note": "note", "note_edited": "note", "tag_added": "tag", "tag_removed": "tag",
                 "task_created": "task", "task_completed": "task"}


class PlayerSearch(param.Parameterized):
    """Find players by name, player id, card number, e-mail or phone (partial, any case)."""

    data = param.ClassSelector(class_=DataStore, doc="The cached data store searches run against.")
    session = param.ClassSelector(class_=Session, default=Session(), instantiate=True,
                                  doc="The signed-in user: every read is scoped to them.")
    query = param.String(default="", doc="What the user typed: words to find in id, name, e-mail, phone or card.")
    limit = param.Integer(default=10, bounds=(1, 100), doc="Most results shown.")

    @param.depends("query", "limit")
    def results(self) -> pl.DataFrame:
        """Matching players, exact id or card matches first (empty frame for an empty query)."""
        if len(self.query.strip()) < 2:
            return pl.DataFrame()
        try:
            return self.data.search(self.session.principal, self.query, self.limit)
        except DataUnavailable:
            return pl.DataFrame()

    @param.depends("query", "limit")
    def message(self) -> str:
        """A line about the results (or about why there are none)."""
        text = self.query.strip()
        if not text:
            return "Type a name, player id, card number, e-mail or phone."
        if len(text) < 2:
            return "Type at least 2 characters."
        ok, why = self.data.available()
        if not ok:
            return why
        n = self.results().height
        if n == 0:
            return f"No player matches “{text}”."
        return f"{n} match{'es' if n != 1 else ''}" + (" (refine to see more)" if n >= self.limit else "")


class TimelineState(Paged):
    """The unified timeline of one player: newest first, filtered by type and day range, paged."""

    events = param.ClassSelector(class_=pl.DataFrame, default=pl.DataFrame(),
                                 doc="Every stored version of the player's events (set by PlayerState).")
    types = param.List(default=[], item_type=str, doc="Event types to show (empty: all).")
    start = param.CalendarDate(default=None, allow_None=True, doc="First day shown (inclusive; None: no limit).")
    end = param.CalendarDate(default=None, allow_None=True, doc="Last day shown (inclusive; None: no limit).")
    page_size = param.Selector(default=25, objects=[10, 25, 50, 100], doc="Events per page.")

    @param.depends("types", "start", "end", "page_size", watch=True)
    def _first_page(self) -> None:
        """A new filter starts again at the first page."""
        self.page = 1

    @param.depends("events", watch=True)
    def _new_player(self) -> None:
        """Another player (or new events): keep the filter, start again at the first page."""
        self.page = 1

    def type_options(self) -> dict[str, str]:
        """Label -> event type for every type the player has (plus any selected)."""
        present = set(M.current(self.events)["event_type"].unique().to_list()) if self.events.height else set()
        present |= set(self.types)
        return {M.EVENT_LABELS.get(t, t): t for t in sorted(present, key=lambda t: M.EVENT_LABELS.get(t, t))}

    def groups(self) -> list[str]:
        """The type groups (Visits, Play, Money, ...) the current type filter covers entirely."""
        chosen = set(self.types)
        return [g for g, types in M.TYPE_GROUPS.items() if chosen and set(types) <= chosen]

    def set_groups(self, groups: list[str]) -> None:
        """Filter by type groups (empty: every type)."""
        self.types = [t for g in groups for t in M.TYPE_GROUPS.get(g, ())]

    @param.depends("events", "types", "start", "end")
    def filtered(self) -> pl.DataFrame:
        """Current events matching the filter, newest first."""
        return M.timeline(self.events, self.types, self.start, self.end)

    @property
    def total(self) -> int:
        """Events matching the filter."""
        return self.filtered().height

    @property
    def pages(self) -> int:
        """Pages of the filtered timeline (at least 1)."""
        return max(1, -(-self.total // self.page_size))

    @param.depends("events", "types", "start", "end", "page", "page_size")
    def rows(self) -> pl.DataFrame:
        """The display rows of the current page."""
        page = min(self.page, self.pages)
        part = self.filtered().slice((page - 1) * self.page_size, self.page_size)
        return M.timeline_rows(part)

    def clear(self) -> None:
        """Drop every filter."""
        self.param.update(types=[], start=None, end=None)

    def last_days(self, days: int) -> None:
        """Show the `days` days up to the player's newest event (the player's own 'now': a dormant
        player's last month, not an empty one)."""
        current = M.current(self.events) if self.events.height else pl.DataFrame()
        if current.is_empty():
            return
        newest = current["ts"].max().date()
        self.param.update(start=newest - timedelta(days=days - 1), end=newest)


class PlayerState(param.Parameterized):
    """The open player of a session: what the page shows and the writes staff make about the player."""

    data = param.ClassSelector(class_=DataStore, doc="The cached data store (reads and attributed writes).")
    session = param.ClassSelector(class_=Session, doc="Who is working: the actor and role of every write.")
    player_id = param.String(default="", doc="The open player's id (synced with ?player= in the URL).")
    snapshot = param.ClassSelector(class_=PlayerData, default=None, allow_None=True,
                                   doc="Everything read about the open player; read again after each write.")
    recent = param.List(default=[], item_type=dict,
                        doc="Players viewed in this session, newest first: dicts with player_id and name.")
    max_recent = param.Integer(default=8, bounds=(1, 50), doc="How many recently viewed players are kept.")
    message = param.String(default="", doc="The outcome of the last action, or why nothing shows.")
    timeline = param.ClassSelector(class_=TimelineState, doc="The timeline filter and paging of the open player.")

    def __init__(self, **params: Any):
        params.setdefault("session", Session())
        params.setdefault("timeline", TimelineState())
        super().__init__(**params)
        if self.player_id:
            self._load()

    # -- loading --------------------------------------------------------------------------------------
    @param.depends("player_id", watch=True)
    def _load(self) -> None:
        """Read the player (a side effect of opening one): snapshot, timeline, recently viewed."""
        pid = self.player_id.strip()
        if not pid:
            self.param.update(snapshot=None, message="")
            self.timeline.events = pl.DataFrame()
            return
        try:
            snap = self.data.player(self.session.principal, pid)
        except DataUnavailable as exc:
            self.param.update(snapshot=None, message=str(exc))
            self.timeline.events = pl.DataFrame()
            return
        self.timeline.events = snap.events
        message = "" if snap.found else f"No player with id “{pid}”."
        self.param.update(snapshot=snap, message=message)
        if snap.found:
            entry = {"player_id": snap.player_id, "name": snap.name}
            self.recent = [entry, *[r for r in self.recent if r["player_id"] != snap.player_id]][: self.max_recent]

    def open(self, player_id: str) -> None:
        """Open a player (again: re-reads when it is already open), logging the server time it took:
        the reads and every attached view's update, which run before this returns."""
        started = time.perf_counter()
        if player_id == self.player_id:
            self.reload()
        else:
            self.player_id = player_id
        log.info("opened player %s in %.1f ms", player_id, (time.perf_counter() - started) * 1000)

    def reload(self) -> None:
        """Read the open player again (after a write, or to see others' changes)."""
        self._load()

    @property
    def found(self) -> bool:
        """Whether a known player is open."""
        return bool(self.snapshot and self.snapshot.found)

    # -- derived views of the snapshot ------------------------------------------------------------------
    @param.depends("snapshot")
    def notes(self) -> list[dict[str, Any]]:
        """Notes the session's user may see, newest first."""
        return M.notes(self._events(), self.session.user, self.session.role)[0] if self.found else []

    @param.depends("snapshot")
    def hidden_notes(self) -> int:
        """Notes hidden from the user by their visibility."""
        return M.notes(self._events(), self.session.user, self.session.role)[1] if self.found else 0

    def note_history(self, note_id: str) -> list[dict[str, Any]]:
        """Every version of a note, oldest first."""
        return M.note_history(self._events(), note_id)

    @param.depends("snapshot")
    def tags(self) -> list[dict[str, Any]]:
        """Current tags."""
        return M.tags(self._events()) if self.found else []

    @param.depends("snapshot")
    def tasks(self) -> list[dict[str, Any]]:
        """Tasks, open ones first by due date."""
        return M.tasks(self._events()) if self.found else []

    @param.depends("snapshot")
    def flags(self) -> M.Flags:
        """Header flags with their reasons."""
        if not self.found:
            return M.Flags()
        s = self.snapshot
        open_tasks = [t for t in self.tasks() if not t["done"]]
        return M.flags(s.profile, s.properties, s.metrics, s.segments, self.tags(), open_tasks,
                       s.insights, s.events, date.today())

    @param.depends("snapshot")
    def trend(self) -> pl.DataFrame:
        """Monthly activity over the 12 months up to the newest event (sparklines, charts)."""
        if not self.found:
            return pl.DataFrame()
        return M.monthly(self.snapshot.current, self.snapshot.trend_end, 12)

    @param.depends("snapshot")
    def key_metrics(self) -> list[dict[str, Any]]:
        """The key metrics with change vs the prior period and a 12-month sparkline."""
        return M.key_metrics(self.snapshot.metrics, self.trend()) if self.found and self.snapshot.metrics else []

    @param.depends("snapshot")
    def health(self) -> dict[str, Any] | None:
        """Health score with its factors (None before a build)."""
        return M.health(self.snapshot.metrics) if self.found else None

    @param.depends("snapshot")
    def churn(self) -> dict[str, Any] | None:
        """Churn risk with the points of each factor (None before a build)."""
        return M.churn(self.snapshot.segments) if self.found else None

    def _events(self) -> pl.DataFrame:
        return self.snapshot.events if self.snapshot is not None else pl.DataFrame()

    # -- writes ---------------------------------------------------------------------------------------
    def _home_property(self) -> str | None:
        """The property a write concerns: the player's preferred property, else the first link."""
        s = self.snapshot
        mine = s.properties["property_id"].to_list() if s.properties.height else []  # in the user's scope
        preferred = (s.metrics or {}).get("preferred_property")
        return preferred if preferred in mine or (preferred and self.session.principal.properties is None) else (
            mine[0] if mine else None)

    def _write(self, event_type: str, attrs: dict[str, Any], done: str,
               corrects_event_id: str | None = None) -> bool:
        """Record one attributed event about the open player, re-read it, and say what happened."""
        if not self.found:
            self.message = "Open a player first."
            return False
        try:
            self.data.record_event(self.session.principal, action=WRITE_ACTIONS[event_type],
                                   player_id=self.snapshot.player_id, event_type=event_type, attrs=attrs,
                                   property_id=self._home_property(), corrects_event_id=corrects_event_id,
                                   source_ref=f"app:player360:{self.session.user}")
        except Exception as exc:  # noqa: BLE001 - the page says what failed; it never crashes
            self.message = f"Not saved: {exc}"
            return False
        self.reload()
        self.message = done
        return True

    def add_note(self, text: str, visibility: str = "all") -> bool:
        """Add a note (plain text) with a visibility (all, managers, private)."""
        text = (text or "").strip()
        if not text:
            self.message = "A note needs some text."
            return False
        if len(text) > MAX_NOTE:
            self.message = f"A note has at most {MAX_NOTE} characters."
            return False
        if visibility not in M.VISIBILITIES:
            self.message = f"Unknown visibility {visibility!r}."
            return False
        return self._write("note", {"text": text, "visibility": visibility}, "Note added.")

    def can_edit(self, note: dict[str, Any]) -> bool:
        """App notes can be edited by their author or a manager."""
        return (note.get("editable") and note.get("source") == "app"
                and (note["author"] == self.session.user or M.is_manager(self.session.role)))

    def edit_note(self, note_id: str, text: str) -> bool:
        """Replace a note's text: a `note_edited` event supersedes the current version (history kept)."""
        note = next((n for n in self.notes() if n["note_id"] == note_id), None)
        text = (text or "").strip()
        if note is None:
            self.message = "That note is gone or not visible to you."
            return False
        if not self.can_edit(note):
            self.message = "Only the author or a manager can edit this note."
            return False
        if not text or len(text) > MAX_NOTE:
            self.message = f"A note needs 1 to {MAX_NOTE} characters."
            return False
        if text == note["text"]:
            self.message = "Nothing changed."
            return False
        return self._write("note_edited", {"text": text, "visibility": note["visibility"], "note_id": note_id},
                           "Note edited (the earlier version is kept in its history).",
                           corrects_event_id=note["event_id"])

    def add_tag(self, tag: str) -> bool:
        """Tag the player (each tag at most once, compared without case)."""
        tag = " ".join((tag or "").split())
        if not tag:
            self.message = "A tag needs some text."
            return False
        if len(tag) > MAX_TAG:
            self.message = f"A tag has at most {MAX_TAG} characters."
            return False
        if M.tag_key(tag) in {M.tag_key(t["tag"]) for t in self.tags()}:
            self.message = f"Already tagged “{tag}”."
            return False
        return self._write("tag_added", {"tag": tag}, f"Tagged “{tag}”.")

    def remove_tag(self, tag: str) -> bool:
        """Remove a current tag."""
        current = next((t for t in self.tags() if M.tag_key(t["tag"]) == M.tag_key(tag)), None)
        if current is None:
            self.message = f"Not tagged “{tag}”."
            return False
        return self._write("tag_removed", {"tag": current["tag"]}, f"Removed tag “{current['tag']}”.")

    def set_attention(self, needed: bool) -> bool:
        """Flag (or unflag) the player as needing attention: the `attention needed` tag."""
        return self.add_tag(M.ATTENTION_TAG) if needed else self.remove_tag(M.ATTENTION_TAG)

    def add_task(self, title: str, due: date | None = None, assignee: str = "") -> bool:
        """Create a follow-up task (title, optional due day and assignee)."""
        title = " ".join((title or "").split())
        if not title:
            self.message = "A task needs a title."
            return False
        if len(title) > MAX_TITLE:
            self.message = f"A task title has at most {MAX_TITLE} characters."
            return False
        attrs = {"title": title, "due": due.isoformat() if due else None, "assignee": (assignee or "").strip() or None}
        return self._write("task_created", attrs, f"Task “{title}” created.")

    def complete_task(self, task_id: str) -> bool:
        """Mark an open task done."""
        task = next((t for t in self.tasks() if t["task_id"] == task_id), None)
        if task is None:
            self.message = "Unknown task."
            return False
        if task["done"]:
            self.message = f"“{task['title']}” is already done."
            return False
        return self._write("task_completed", {"task_id": task_id, "title": task["title"]},
                           f"Task “{task['title']}” done.")

    # -- privacy: exports, reveals, GDPR ------------------------------------------------------------------
    def masked(self) -> bool:
        """Whether personal fields are masked for the user's role."""
        return not self.session.principal.policy.pii

    def reveal(self, field_name: str) -> Any:
        """Reveal one masked personal field of the open player (audited); kept for this session."""
        if not self.found:
            return None
        try:
            value = self.data.reveal(self.session.principal, self.snapshot.player_id, field_name)
        except Exception as exc:  # noqa: BLE001 - the page says what failed
            self.message = f"Not revealed: {exc}"
            return None
        self.session.revealed = {**self.session.revealed, (self.snapshot.player_id, field_name): value}
        self.message = f"{field_name.replace('_', ' ')} revealed (recorded in the audit log)."
        return value

    def export_file(self, kind: str) -> bytes:
        """The open player's data as 'csv' (timeline) or 'xlsx' (every section); audited."""
        self.session.principal.require("export_player")
        s = self.snapshot
        data = export.to_csv(s) if kind == "csv" else export.to_excel(s, self.notes(), self.tags(), self.tasks())
        self.data.audit(self.session.principal, "export.player", target_kind="player", target_id=s.player_id,
                        player_id=s.player_id, after={"format": kind, "events": s.events.height})
        return data

    def gdpr_export(self, fmt: str) -> bytes:
        """Everything stored about the open player (JSON, or a zip of CSV files); audited."""
        with self.data.access(self.session.principal) as acc:
            return gdpr.export_player(acc, self.snapshot.player_id, fmt)

    def erase(self, reason: str) -> bool:
        """Anonymize the open player (GDPR erasure; audited); the page then shows the erased record."""
        if not self.found:
            return False
        try:
            with self.data.access(self.session.principal) as acc:
                gdpr.erase_player(acc, self.snapshot.player_id, reason)
        except Exception as exc:  # noqa: BLE001 - the page says what failed
            self.message = f"Not erased: {exc}"
            return False
        self.data.invalidate()
        self.reload()
        self.message = "Personal data erased; aggregates and the audit trail are kept."
        return True
