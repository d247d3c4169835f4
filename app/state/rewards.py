"""Rewards page state: the rule list, the editor and its validation, a one-player test, the
simulation, issuing, and past runs with their ROI (no Panel here: notebooks drive it as is).

    >>> state = RewardsState(data=DataStore("data/player360.duckdb"), session=Session.for_user(row))
    >>> state.text = open("rule.json").read(); state.validate(); state.simulate(); state.simulation["totals"]
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import param
import polars as pl

from app import queries_rewards as QR
from app.data import DataStore, DataUnavailable
from app.state.session import Session
from metrics.rewards.conditions import Condition
from metrics.rewards.engine import prepare
from metrics.rewards.rules import Rule, RuleError, load_text, parse_rule
from pipelines import rewards_rules as RR
from pipelines.errors import UserError

TEMPLATE = """{
  "rule_id": "LOSING_PLAYER_CASHBACK",
  "priority": 10,
  "conditions": {
    "segment": "LOSING",
    "net_loss_min": 100,
    "session_count_min": 3,
    "days_since_last_deposit": {"max": 7}
  },
  "reward": {
    "type": "BONUS_BALANCE",
    "formula": "net_loss * 0.10",
    "max_amount": 500,
    "wagering_requirement": 10,
    "expiry_hours": 48,
    "eligible_games": ["slots", "roulette"]
  }
}"""
EXAMPLES = 20  # decisions not issued shown with their reason


class RewardsState(param.Parameterized):
    """What the Rewards page shows and does for the signed-in user."""

    data = param.ClassSelector(class_=DataStore, doc="The cached data store (reads and writes through the access layer).")
    session = param.ClassSelector(class_=Session, default=Session(), instantiate=True,
                                  doc="The signed-in user: scope of every read, author of every write.")
    text = param.String(default=TEMPLATE, doc="The rule in the editor (JSON or TOML).")
    fmt = param.Selector(default="json", objects=["json", "toml"], doc="Format of the editor's text.")
    problems = param.List(default=[], item_type=tuple,
                          doc="(field, problem) pairs of the last validation; empty when the rule is valid.")
    valid = param.Boolean(default=False, doc="Whether the editor's rule passed the last validation.")
    reason = param.String(default="", doc="Why a rule is saved or retired, or a run issued (required for writes).")
    test_player = param.String(default="", doc="Player id to test the editor's rule on.")
    tested = param.Dict(default={}, doc="The last one-player test: decisions and the conditions checked.")
    simulation = param.Dict(default={}, doc="The last simulation: totals, per segment, examples not issued.")
    holdout = param.Number(default=0.1, bounds=(0.0, 0.9), step=0.05, doc="Share held out when issuing.")
    window = param.Integer(default=14, bounds=(1, 365), doc="ROI measurement window of an issued run, in days.")
    run_id = param.String(default="", doc="The run or campaign whose ROI is shown.")
    message = param.String(default="", doc="The outcome of the last action, or why it failed.")
    refresh = param.Event(doc="Read rules and runs again.")

    # -- reads --------------------------------------------------------------------------------------
    def _read(self, key: tuple, fn: Any, ttl: float | None = None) -> Any:
        return self.data.cached(self.session.principal, ("rewards", *key), fn, ttl)

    @param.depends("refresh")
    def rules(self) -> pl.DataFrame:
        """Every rule's newest version (retired too), highest priority first."""
        try:
            return self._read(("rules",), QR.rules)
        except DataUnavailable:
            return pl.DataFrame()

    def history(self, rule_id: str) -> pl.DataFrame:
        """Every change of a rule (who, role, when, why, before and after)."""
        return self._read(("history", rule_id), lambda acc: QR.history(acc, rule_id))

    @param.depends("refresh")
    def runs(self) -> pl.DataFrame:
        """Issued runs and ingested campaigns, newest first."""
        try:
            return self._read(("runs",), QR.runs)
        except DataUnavailable:
            return pl.DataFrame()

    @param.depends("run_id", "refresh")
    def roi(self) -> Any:
        """The ROI report of the selected run (None when none is selected or it cannot be measured)."""
        if not self.run_id:
            return None
        try:
            return self._read(("roi", self.run_id), lambda acc: QR.roi(acc, self.run_id), self.data.aggregate_ttl)
        except (UserError, DataUnavailable) as exc:
            self.message = str(exc)
            return None

    # -- the editor ----------------------------------------------------------------------------------
    def new_rule(self) -> None:
        """Start from the seed's example rule."""
        self.param.update(text=TEMPLATE, fmt="json", problems=[], valid=False, message="")

    def load(self, rule_id: str) -> bool:
        """Put a saved rule (its newest version, as JSON) into the editor."""
        rows = self.rules().filter(pl.col("rule_id") == rule_id) if self.rules().height else pl.DataFrame()
        if rows.is_empty():
            self.message = f"No rule named {rule_id}."
            return False
        self.param.update(text=rows["body"][0], fmt="json", problems=[], valid=False,
                          message=f"Loaded {rule_id} version {rows['version'][0]}.")
        return True

    def rule(self) -> Rule | None:
        """The editor's rule, or None with `problems` saying why (each naming its field)."""
        try:
            rule = parse_rule(self.text, self.fmt, games=RR.games())
        except RuleError as exc:
            self.param.update(problems=[tuple(p) for p in exc.problems], valid=False)
            return None
        self.param.update(problems=[], valid=True)
        return rule

    def validate(self) -> bool:
        """Check the editor's rule; `problems` and `message` say what is wrong."""
        rule = self.rule()
        self.message = (f"{rule.rule_id} is valid." if rule else
                        f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''} in the rule.")
        return rule is not None

    def save(self) -> bool:
        """Save the editor's rule as its next version (edit_rules; a reason is required)."""
        rule = self.rule()
        if rule is None:
            self.message = "Fix the problems before saving."
            return False
        return self._write(lambda acc: f"{rule.rule_id}: version {QR.save(acc, rule, self.reason)} saved.")

    def retire(self) -> bool:
        """Retire the editor's rule (edit_rules; a reason is required)."""
        try:
            rule_id = load_text(self.text, self.fmt).get("rule_id")
        except RuleError:
            rule_id = None
        if not rule_id:
            self.message = "The editor holds no rule id to retire."
            return False
        return self._write(lambda acc: f"{rule_id} retired (version {QR.retire(acc, str(rule_id), self.reason)}).")

    def issue(self, rule_ids: list[str]) -> bool:
        """Issue saved rules now to the user's players with a random holdout (issue_rewards)."""
        def run(acc: Any) -> str:
            res = QR.issue(acc, rule_ids, self.reason, self.holdout, self.window)
            self.run_id = res.run_id
            return (f"Run {res.run_id}: {res.treated:,} players rewarded, {res.holdout:,} held out, "
                    f"value {res.issued_value:,.2f}.")
        return self._write(run)

    def _write(self, fn: Any) -> bool:
        if not self.reason.strip():
            self.message = "Say why (reason) before saving, retiring or issuing."
            return False
        try:
            with self.data.access(self.session.principal) as acc:
                message = fn(acc)
        except (UserError, DataUnavailable) as exc:
            self.message = f"Not done: {exc}"
            return False
        self.data.invalidate()
        self.param.update(message=message, reason="")
        self.param.trigger("refresh")
        return True

    # -- evaluation ----------------------------------------------------------------------------------
    def _rules_with_draft(self) -> list[Rule] | None:
        draft = self.rule()
        if draft is None:
            self.message = "Fix the problems first."
            return None
        with self.data.access(self.session.principal) as acc:
            saved = {r.rule_id: r for r in QR.active(acc)}
        return list((saved | {draft.rule_id: draft}).values())

    def test(self, at: datetime | None = None) -> bool:
        """The editor's rule (with the other active rules) on one player: every decision with its
        reason, and each condition of the rule with the player's value."""
        rules, pid = self._rules_with_draft(), self.test_player.strip()
        if rules is None:
            return False
        if not pid:
            self.message = "Type a player id to test on."
            return False
        try:
            with self.data.access(self.session.principal) as acc:
                survivor = acc.resolve_player(pid)
                if survivor is None:
                    self.message = f"No player {pid!r} in your scope."
                    return False
                ev = QR.evaluate(acc, rules, players=[survivor], at=at)
                frame, profit, abuse = QR.player_frame(acc, survivor, at)
        except (UserError, DataUnavailable) as exc:
            self.message = f"Not tested: {exc}"
            return False
        draft = self.rule()
        self.tested = {"player_id": survivor, "decisions": ev.explained(),
                       "conditions": _conditions(frame, draft.conditions, profit, abuse) if frame.height
                       else pl.DataFrame()}
        mine = ev.decisions.filter(pl.col("rule_id") == draft.rule_id)
        self.message = (f"{draft.rule_id} for {survivor}: " + (mine["status"][0] if mine.height else
                                                              "conditions not met"))
        return True

    def simulate(self, at: datetime | None = None) -> bool:
        """What issuing the active rules plus the editor's rule would do now, per rule and segment."""
        rules = self._rules_with_draft()
        if rules is None:
            return False
        try:
            with self.data.access(self.session.principal) as acc:
                ev = QR.evaluate(acc, rules, at=at)
        except (UserError, DataUnavailable) as exc:
            self.message = f"Not simulated: {exc}"
            return False
        examples = ev.explained(ev.decisions.filter(pl.col("status") != "issued").head(EXAMPLES))
        self.simulation = {"as_of": ev.as_of, "players": ev.players, "totals": ev.totals, "segments": ev.summary,
                           "examples": examples}
        self.message = f"Simulated {len(rules)} rule(s) over {ev.players:,} players (snapshot {ev.as_of})."
        return True


def _conditions(frame: pl.DataFrame, conditions: tuple[Condition, ...], profit: Any, abuse: Any) -> pl.DataFrame:
    """Each condition of a rule with the player's value and whether it holds."""
    row = prepare(frame, abuse, profit).collect()
    out = []
    for c in conditions:
        value = row[c.column][0] if c.column in row.columns else None
        holds = bool(row.select(c.expr())[0, 0]) if c.column in row.columns else False
        out.append({"condition": c.describe(), "value": None if value is None else str(value), "holds": holds})
    return pl.DataFrame(out, schema={"condition": pl.String, "value": pl.String, "holds": pl.Boolean})
