"""Right column of the player page: attention, notes (with edit history), tags and tasks.

Every write goes through `PlayerState` (an attributed event via `Store.record_event`) and the
page re-reads the player, so the change shows at once.
"""

from __future__ import annotations

from datetime import date

import panel as pn
import param

from app import model as M
from app.state.player import PlayerState
from app.views.common import esc, html_pane, later, live_html


class CollaborationView(pn.viewable.Viewer):
    """Shared notes, tags and tasks about the open player."""

    player = param.ClassSelector(class_=PlayerState, doc="The open player.")

    def __init__(self, **params):
        super().__init__(**params)
        self._note = pn.widgets.TextAreaInput(placeholder="Add a note (plain text)", height=80,
                                              sizing_mode="stretch_width", css_classes=["note-input"], max_length=4000)
        self._visibility = pn.widgets.Select(options={"Everyone": "all", "Managers only": "managers",
                                                      "Compliance only": "compliance", "Only me": "private"}, value="all", width=140,
                                             css_classes=["note-visibility"])
        self._add_note = pn.widgets.Button(label="Add note", color="primary", css_classes=["add-note"])
        self._edit_pick = pn.widgets.Select(label="Edit a note", options={}, sizing_mode="stretch_width",
                                            css_classes=["note-edit-pick"])
        self._edit_text = pn.widgets.TextAreaInput(height=70, sizing_mode="stretch_width",
                                                   css_classes=["note-edit-input"], max_length=4000)
        self._save_edit = pn.widgets.Button(label="Save edit", color="default", css_classes=["save-note-edit"])
        # one widget for the current tags (× removes one) and the suggested ones (picking adds it)
        self._tag_pick = pn.widgets.MultiChoice(options=[], value=[], placeholder="Pick a suggested tag",
                                                sizing_mode="stretch_width", css_classes=["tag-picker"])
        self._edit = pn.Column(sizing_mode="stretch_width", css_classes=["note-edit"])  # only with editable notes
        self._tag = pn.widgets.TextInput(placeholder="New tag", sizing_mode="stretch_width", css_classes=["tag-input"],
                                         max_length=40)
        self._add_tag = pn.widgets.Button(label="Add tag", color="primary", css_classes=["add-tag"])
        self._task = pn.widgets.TextInput(placeholder="Task, e.g. follow up next visit", sizing_mode="stretch_width",
                                          css_classes=["task-title"], max_length=200)
        self._due = pn.widgets.DatePicker(label="Due", width=145, css_classes=["task-due"])
        self._assignee = pn.widgets.TextInput(label="Assignee", width=145, css_classes=["task-assignee"])
        self._add_task = pn.widgets.Button(label="Add task", color="primary", css_classes=["add-task"], align="end")
        self._attention = pn.widgets.Button(label="Flag: attention needed", color="warning",
                                            css_classes=["attention-toggle"])

        self._tasks_shown: tuple | None = None  # the tasks the list shows now (None: none rendered yet)
        self._add_note.on_click(self._on_add_note)
        self._save_edit.on_click(self._on_save_edit)
        self._edit_pick.param.watch(self._on_pick, "value")
        self._add_tag.on_click(self._on_add_tag)
        self._tag.param.watch(lambda _e: self._on_add_tag(None), "enter_pressed")
        self._tag_pick.param.watch(self._on_pick_tags, "value")
        self._syncing = False
        self._add_task.on_click(self._on_add_task)
        self._attention.on_click(self._on_attention)
        self.player.param.watch(self._sync_widgets, "snapshot")
        self._sync_widgets()

    # -- actions --------------------------------------------------------------------------------------
    def _on_add_note(self, _event) -> None:
        if self.player.add_note(self._note.value_input or self._note.value, self._visibility.value):
            self._note.param.update(value="", value_input="")

    def _on_pick(self, event) -> None:
        note = next((n for n in self.player.notes() if n["note_id"] == event.new), None)
        self._edit_text.value = note["text"] if note else ""

    def _on_save_edit(self, _event) -> None:
        if self._edit_pick.value:
            self.player.edit_note(self._edit_pick.value, self._edit_text.value_input or self._edit_text.value)

    def _on_add_tag(self, _event) -> None:
        if self.player.add_tag(self._tag.value_input or self._tag.value):
            self._tag.param.update(value="", value_input="")

    def _on_pick_tags(self, event) -> None:
        """A tag picked adds it, a tag's × removes it (not when the widget follows a new player)."""
        if self._syncing:
            return
        before, after = {M.tag_key(t): t for t in event.old}, {M.tag_key(t): t for t in event.new}
        for key in after.keys() - before.keys():
            later(lambda tag=after[key]: self.player.add_tag(tag))
        for key in before.keys() - after.keys():
            later(lambda tag=before[key]: self.player.remove_tag(tag))

    def _on_add_task(self, _event) -> None:
        due = self._due.value if isinstance(self._due.value, date) else None
        if self.player.add_task(self._task.value_input or self._task.value, due,
                                self._assignee.value_input or self._assignee.value):
            self._task.param.update(value="", value_input="")

    def _on_attention(self, _event) -> None:
        on = M.ATTENTION_TAG in {M.tag_key(t["tag"]) for t in self.player.tags()}
        self.player.set_attention(not on)

    def _sync_widgets(self, *_events) -> None:
        """Keep the edit picker and the attention button in step with the player (a side effect)."""
        editable = [n for n in self.player.notes() if self.player.can_edit(n)]
        options = {"—": ""} | {f"{M.when(n['created_at'])} · {n['text'][:40]}": n["note_id"] for n in editable}
        current = self._edit_pick.value
        self._edit_pick.options = options
        self._edit_pick.value = current if current in options.values() else ""
        self._edit_text.value = next((n["text"] for n in editable if n["note_id"] == self._edit_pick.value), "")
        edit = [self._edit_pick, self._edit_text, self._save_edit] if editable else []
        if self._edit.objects != edit:  # widgets only in the page when there is a note to edit
            self._edit.objects = edit
        tags = [t["tag"] for t in self.player.tags()]
        have = {M.tag_key(t) for t in tags}
        self._syncing = True
        try:
            self._tag_pick.param.update(options=tags + [t for t in M.SUGGESTED_TAGS if M.tag_key(t) not in have],
                                        value=tags)
        finally:
            self._syncing = False
        on = M.ATTENTION_TAG in have
        self._attention.label = "Clear attention flag" if on else "Flag: attention needed"

    # -- renders --------------------------------------------------------------------------------------
    def _attention_box(self) -> str:
        if not self.player.found:
            return ""
        reasons = self.player.flags().attention
        if reasons:
            return f'<div class="attention-on"><b>Attention needed</b><br>{esc("; ".join(reasons))}</div>'
        return '<div class="attention-off">No attention flags</div>'

    def _message(self) -> str:
        text = self.player.message if self.player.found else ""
        return f'<span class="muted">{esc(text)}</span>' if text else ""

    def _notes(self) -> str:
        notes = self.player.notes()
        hidden = self.player.hidden_notes()
        items = []
        for n in notes[:30]:
            kind = "" if n["kind"] in ("note", "note_edited") else f' <span class="chip">{esc(n["kind"])}</span>'
            edited = ""
            if n["versions"] > 1:
                hist = "".join(f'<div class="muted">{esc(M.when(v["at"]))} · {esc(v["by"])}: </div>'
                               f'<div class="text">{esc(v["text"])}</div>'
                               for v in self.player.note_history(n["note_id"]))
                edited = (f'<details class="note-history"><summary>edited · {n["versions"]} versions</summary>'
                          f"{hist}</details>")
            vis = "" if n["visibility"] == "all" else f' <span class="chip warn">{esc(n["visibility"])}</span>'
            items.append(f'<div class="note"><div class="muted">{esc(n["author"])} ({esc(n["role"])}) · '
                         f'{esc(M.when(n["ts"]))}{kind}{vis}</div>'
                         f'<div class="text">{esc(n["text"])}</div>{edited}</div>')
        more = f'<div class="muted">{len(notes) - 30} older notes not shown</div>' if len(notes) > 30 else ""
        hid = f'<div class="muted">{hidden} note(s) hidden by their visibility</div>' if hidden else ""
        body = "".join(items) or '<div class="empty">No notes yet.</div>'
        return "<h3>Notes</h3>" + body + more + hid

    def _tags(self) -> str:
        current = self.player.tags()
        if not current:
            return '<h3>Tags</h3><div class="empty">No tags yet.</div>'
        chips = "".join(f'<span class="chip tag-chip" title="added by {esc(t["by"])} {esc(M.when(t["at"]))}">'
                        f'{esc(t["tag"])}</span>' for t in current)
        who = "; ".join(f'{esc(t["tag"])}: {esc(t["by"])} {esc(M.when(t["at"]))}' for t in current)
        return f'<h3>Tags</h3><div class="row">{chips}</div><div class="muted">added by {who}</div>'

    @param.depends("player.snapshot")
    def _tasks(self) -> pn.viewable.Viewable:
        tasks = self.player.tasks()
        key = tuple(tuple(t.values()) for t in tasks)
        if key == self._tasks_shown:
            raise param.Skip  # same tasks as shown: keep the widgets
        self._tasks_shown = key
        if not tasks:
            return html_pane('<div class="empty">No tasks yet.</div>', ["tasks-list"])
        today = date.today()
        rows = []
        for t in tasks[:30]:
            due = f"due {t['due']}" if t["due"] else "no due date"
            late = t["due"] and t["due"] < today and not t["done"]
            meta = " · ".join(x for x in (due, f"for {t['assignee']}" if t["assignee"] else "",
                                          f"by {t['by']} {M.when(t['at'])}") if x)
            if t["done"]:
                text = (f'<div class="task done"><s>{esc(t["title"])}</s><div class="muted">{esc(meta)} · done by '
                        f'{esc(t["done_by"])} {esc(M.when(t["done_at"]))}</div></div>')
                rows.append(html_pane(text, ["task-item", "task-done"]))
            else:
                label = f'<b>{esc(t["title"])}</b><div class="muted{" stale" if late else ""}">{esc(meta)}</div>'
                button = pn.widgets.Button(label="Done", color="success", width=70, css_classes=["task-complete"],
                                           align="center")
                button.on_click(lambda _e, tid=t["task_id"]: later(lambda: self.player.complete_task(tid)))
                rows.append(pn.Row(html_pane(label, ["task-item", "task-open"]), button, sizing_mode="stretch_width"))
        return pn.Column(*rows, sizing_mode="stretch_width", css_classes=["tasks-list"])

    def __panel__(self) -> pn.viewable.Viewable:
        snap = [(self.player, ["snapshot"])]
        can = self.player.session.can
        tags = live_html(self._tags, snap, ["tags-list"])
        if not any(can(a) for a in ("note", "tag", "task")):
            return pn.Column(live_html(self._attention_box, snap, ["attention-indicator"]),
                             html_pane('<div class="muted">Your role reads no staff notes and writes no '
                                       "notes, tags or tasks.</div>"), tags,
                             sizing_mode="stretch_width", css_classes=["collaboration"])
        return pn.Column(
            live_html(self._attention_box, snap, ["attention-indicator"]), self._attention,
            live_html(self._message, [(self.player, ["message", "snapshot"])], ["collab-message"]),
            live_html(self._notes, snap, ["notes-list"]), self._note, pn.Row(self._visibility, self._add_note),
            self._edit, tags, self._tag_pick, pn.Row(self._tag, self._add_tag, sizing_mode="stretch_width"),
            html_pane("<h3>Tasks</h3>"), self._task, pn.Row(self._due, self._assignee), self._add_task,
            self._tasks, sizing_mode="stretch_width", css_classes=["collaboration"])
