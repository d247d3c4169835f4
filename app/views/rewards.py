"""The Rewards page's rule list, rule editor (validation messages per field, save, retire, history)
and the one-player test."""

from __future__ import annotations

import panel as pn
import param
import polars as pl

from app.state.rewards import RewardsState
from app.views.common import empty, esc, html_pane


def frame_table(frame: pl.DataFrame, css: str, height: int = 260, on_click=None,
                empty_text: str = "Nothing yet.") -> pn.viewable.Viewable:
    """A read-only table of a frame (text shown as plain text); `on_click(row)` gets the clicked row."""
    if frame.is_empty():
        return empty(empty_text, f"{css}-empty")
    shown = frame.with_columns([pl.col(c).round(4) for c, t in frame.schema.items() if t == pl.Float64])
    shown = shown.with_columns([pl.col(c).dt.strftime("%Y-%m-%d %H:%M") for c, t in shown.schema.items()
                                if isinstance(t, pl.Datetime)])
    shown = shown.with_columns([pl.col(c).cast(pl.String) for c, t in shown.schema.items()
                                if isinstance(t, (pl.Date, pl.List, pl.Struct))])
    text = [c for c, t in shown.schema.items() if t == pl.String]
    widget = pn.widgets.Tabulator(shown.to_pandas(), disabled=True, show_index=False, sizing_mode="stretch_width",
                                  max_height=height, layout="fit_data_stretch", css_classes=[css], selectable=False,
                                  formatters={c: {"type": "plaintext"} for c in text})
    if on_click is not None:
        rows = frame.to_dicts()
        widget.on_click(lambda e: on_click(rows[e.row]) if e.row is not None and e.row < len(rows) else None)
    return widget


class RulesListView(pn.viewable.Viewer):
    """Every rule's newest version; click one to edit it."""

    rewards = param.ClassSelector(class_=RewardsState, doc="The Rewards page state.")

    @param.depends("rewards.refresh")
    def _list(self) -> pn.viewable.Viewable:
        rules = self.rewards.rules()
        if rules.is_empty():
            return empty("No rules yet: write one in the editor and save it.", "rules-empty")
        return frame_table(rules.drop("body"), "rules-list", 240, lambda row: self.rewards.load(row["rule_id"]))

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(html_pane("<h3>Rules <span class='muted'>click one to edit it</span></h3>"), self._list,
                         sizing_mode="stretch_width")


class RuleEditorView(pn.viewable.Viewer):
    """The rule as JSON or TOML, its validation (each problem named by its field), save and retire."""

    rewards = param.ClassSelector(class_=RewardsState, doc="The Rewards page state.")

    def __init__(self, **params):
        super().__init__(**params)
        r = self.rewards
        self._fmt = pn.widgets.RadioButtonGroup(options={"JSON": "json", "TOML": "toml"}, value=r.fmt,
                                                css_classes=["rule-format"])
        self._text = pn.widgets.TextAreaInput(value=r.text, height=380, sizing_mode="stretch_width",
                                              css_classes=["rule-text"], max_length=64_000)
        self._reason = pn.widgets.TextInput(placeholder="Why (required to save, retire or issue)",
                                            sizing_mode="stretch_width", css_classes=["rule-reason"], max_length=500)
        buttons = [("New", self._new, "default", "rule-new"), ("Validate", self._validate, "primary", "rule-validate"),
                   ("Save version", self._save, "success", "rule-save"), ("Retire", self._retire, "danger", "rule-retire")]
        self._buttons = []
        for label, handler, color, css in buttons:
            button = pn.widgets.Button(label=label, color=color, css_classes=[css])
            button.on_click(handler)
            self._buttons.append(button)
        writer = r.session.can("edit_rules")
        self._buttons[2].disabled = self._buttons[3].disabled = not writer
        self._text.param.watch(lambda e: setattr(r, "text", e.new), "value")
        self._reason.param.watch(lambda e: setattr(r, "reason", e.new), "value")
        self._fmt.param.watch(lambda e: setattr(r, "fmt", e.new), "value")
        r.param.watch(self._sync, ["text", "fmt", "reason"])

    def _sync(self, *_events) -> None:
        """Widgets follow the state (a rule loaded from the list, a cleared reason): a side effect."""
        self._text.value, self._fmt.value, self._reason.value = self.rewards.text, self.rewards.fmt, self.rewards.reason

    def _new(self, _e) -> None:
        self.rewards.new_rule()

    def _validate(self, _e) -> None:
        self.rewards.validate()

    def _save(self, _e) -> None:
        self.rewards.save()

    def _retire(self, _e) -> None:
        self.rewards.retire()

    @param.depends("rewards.problems", "rewards.valid", "rewards.message")
    def _feedback(self) -> pn.viewable.Viewable:
        r = self.rewards
        items = "".join(f"<li><b>{esc(field or 'rule')}</b>: {esc(problem)}</li>" for field, problem in r.problems)
        problems = f'<ul class="problems">{items}</ul>' if items else ""
        ok = '<div class="chip good">valid</div>' if r.valid and not r.problems else ""
        return html_pane(f'<div class="rewards-message">{esc(r.message)}</div>{ok}{problems}', ["rule-problems"])

    def __panel__(self) -> pn.viewable.Viewable:
        hint = ("<div class='muted'>Conditions name segments (loyalty / segment, lifecycle, ...) and metrics "
                "(<code>net_loss_min</code>, <code>theo_90d: {min, max}</code>); rewards: LOYALTY_POINTS, "
                "REWARD_POINTS, BONUS_BALANCE, FREEPLAY, COMP, VOUCHER, TICKETS.</div>")
        return pn.Column(html_pane("<h3>Rule editor</h3>" + hint), self._fmt, self._text, self._reason,
                         pn.Row(*self._buttons), self._feedback, sizing_mode="stretch_width")


class RuleTestView(pn.viewable.Viewer):
    """The editor's rule (with the other active rules) on one player."""

    rewards = param.ClassSelector(class_=RewardsState, doc="The Rewards page state.")

    def __init__(self, **params):
        super().__init__(**params)
        self._player = pn.widgets.TextInput(placeholder="Player id", width=200, css_classes=["rule-test-player"])
        self._go = pn.widgets.Button(label="Test on player", color="primary", css_classes=["rule-test"])
        self._player.param.watch(lambda e: setattr(self.rewards, "test_player", e.new), "value")
        self._go.on_click(lambda _e: self.rewards.test())

    @param.depends("rewards.tested")
    def _result(self) -> pn.viewable.Viewable:
        t = self.rewards.tested
        if not t:
            return empty("Type a player id and test the editor's rule on them.", "rule-test-empty")
        decisions = t["decisions"]
        shown = decisions.select("rule_id", "status", "amount", "issued_value", "expected_cost", "expected_margin",
                                 "reason") if decisions.height else decisions
        return pn.Column(
            html_pane(f"<b>{esc(t['player_id'])}</b>: decisions of every active rule and the draft"),
            frame_table(shown, "rule-test-decisions", 200) if shown.height else
            empty("No rule's conditions hold for this player.", "rule-test-none"),
            html_pane("<b>The draft's conditions</b>"), frame_table(t["conditions"], "rule-test-conditions", 200),
            sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(html_pane("<h3>Test on one player</h3>"), pn.Row(self._player, self._go), self._result,
                         sizing_mode="stretch_width")
