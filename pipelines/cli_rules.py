"""`player360 rules ...`: validate, add, list, retire, simulate, issue, runs and roi of reward rules."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from pipelines.errors import UserError

rules_app = typer.Typer(help="Reward rules: validate, version, simulate, issue with a holdout, measure ROI.",
                        no_args_is_help=True)
out = Console(soft_wrap=True)

DbOption = Annotated[Optional[Path], typer.Option("--db", help="DuckDB store (default: $PLAYER360_DB or "
                                                  "data/player360.duckdb).", show_default=False)]
ActorOption = Annotated[Optional[str], typer.Option(help="Who writes (default: the OS user).")]
RoleOption = Annotated[str, typer.Option(help="Your role (pipelines.roles: marketer or admin change rules and issue).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
ScopeOption = Annotated[list[str], typer.Option("--property", help="Limit to players of these properties (repeatable).")]
AtOption = Annotated[Optional[datetime], typer.Option(
    "--at", help="Issue time (default: now); caps count rewards up to it.", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"])]
AsOfOption = Annotated[Optional[datetime], typer.Option(
    "--as-of", help="Snapshot day of the metrics (default: the newest build).", formats=["%Y-%m-%d"])]


def _actor(actor: str | None) -> str:
    from pipelines.ingest import default_actor

    return actor or default_actor()


def _access(store, actor: str | None, role: str, scope: list[str]):
    """The access layer for a CLI user: their role, and the properties named (none: every one)."""
    from pipelines.access import Access, Principal
    from pipelines.roles import check_role

    try:
        check_role(role)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return Access(store, Principal(_actor(actor), role, tuple(sorted(scope)) if scope else None))


def _table(frame: pl.DataFrame, columns: list[str], title: str = "") -> Table:
    table = Table(*columns, title=title or None)
    for row in frame.select(columns).iter_rows():
        table.add_row(*[f"{v:,.2f}" if isinstance(v, float) else ("" if v is None else str(v)) for v in row])
    return table


def _print_json(payload: object) -> None:
    print(json.dumps(payload, default=str))


@rules_app.command("validate")
def validate(files: Annotated[list[Path], typer.Argument(help="Rule files (.json or .toml).")],
             as_json: JsonOption = False) -> None:
    """Check rule files without saving them: every problem is named by its field."""
    from pipelines.rewards_rules import load_file

    problems = []
    for path in files:
        try:
            rule = load_file(path)
            if not as_json:
                out.print(f"{path}: ok ({rule.rule_id}, {rule.reward.type}, priority {rule.priority})")
            problems.append({"file": str(path), "ok": True, "rule_id": rule.rule_id})
        except UserError as exc:
            problems.append({"file": str(path), "ok": False, "error": str(exc)})
    if as_json:
        _print_json(problems)
    bad = [p for p in problems if not p["ok"]]
    if bad:
        raise UserError("\n".join(p["error"] for p in bad))


@rules_app.command("add")
def add(files: Annotated[list[Path], typer.Argument(help="Rule files (.json or .toml); each saves a new version.")],
        reason: Annotated[str, typer.Option(help="Why the rule is added or changed (required).")],
        db: DbOption = None, actor: ActorOption = None, role: RoleOption = "marketer") -> None:
    """Save rules as new versions (audited: who, role, when, why, before and after)."""
    from pipelines.rewards_rules import load_file, save
    from pipelines.store import Store

    rules = [load_file(p) for p in files]  # all valid before anything is written
    with Store(db) as store:
        for rule in rules:
            version = save(store, rule, actor=_actor(actor), role=role, reason=reason)
            out.print(f"{rule.rule_id}: version {version} saved")


@rules_app.command("retire")
def retire(rule_id: Annotated[str, typer.Argument(help="The rule to retire.")],
           reason: Annotated[str, typer.Option(help="Why (required).")],
           db: DbOption = None, actor: ActorOption = None, role: RoleOption = "marketer") -> None:
    """Retire a rule (a new, retired version: the history stays)."""
    from pipelines.rewards_rules import retire as run
    from pipelines.store import Store

    with Store(db) as store:
        version = run(store, rule_id, actor=_actor(actor), role=role, reason=reason)
    out.print(f"{rule_id}: retired (version {version})")


@rules_app.command("list")
def list_rules(db: DbOption = None, history: Annotated[Optional[str], typer.Option(
                   help="Show every version and the audit trail of one rule.")] = None,
               all_: Annotated[bool, typer.Option("--all", help="Include retired rules.")] = False,
               as_json: JsonOption = False) -> None:
    """The current rules (highest priority first), or one rule's history."""
    from pipelines.rewards_rules import audit, current
    from pipelines.store import Store

    with Store(db) as store:
        frame = audit(store, history) if history else current(store, include_retired=all_)
    if history and frame.is_empty():
        raise UserError(f"no rule named {history}")
    if as_json:
        _print_json(frame.to_dicts())
    elif history:
        out.print(_table(frame, ["audit_seq", "action", "version_before", "version_after", "actor", "role",
                                 "changed_at", "reason"], f"history of {history}"))
    else:
        out.print(_table(frame, ["rule_id", "version", "status", "priority", "reward_type", "saved_by", "role",
                                 "saved_at", "reason"]))


def _evaluate(db, rule_ids, files, as_of, at, scope, role):
    from pipelines.rewards_rules import active_rules, load_file
    from pipelines.rewards_run import evaluate_rules
    from pipelines.store import Store

    drafts = [load_file(p) for p in files]
    with Store(db) as store:
        saved = active_rules(store, rule_ids or None)
        rules = {r.rule_id: r for r in saved} | {r.rule_id: r for r in drafts}  # a draft replaces its saved version
        return evaluate_rules(_access(store, None, role, scope), list(rules.values()),
                              as_of=as_of.date() if as_of else None, at=at)


@rules_app.command("simulate")
def simulate(rule_ids: Annotated[Optional[list[str]], typer.Argument(help="Saved rules (default: every active rule).")] = None,
             file: Annotated[list[Path], typer.Option("--file", help="Also simulate a draft rule file (repeatable).")] = [],
             db: DbOption = None, as_of: AsOfOption = None, at: AtOption = None, scope: ScopeOption = [],
             blocked: Annotated[int, typer.Option(help="Show this many blocked decisions with their reason.")] = 10,
             role: RoleOption = "marketer", as_json: JsonOption = False) -> None:
    """What issuing would do now: eligible players, expected cost and margin per rule and segment."""
    ev = _evaluate(db, rule_ids, file, as_of, at, scope, role)
    why = ev.explained(ev.decisions.filter(pl.col("status") != "issued").head(blocked))
    if as_json:
        _print_json({"as_of": ev.as_of, "players": ev.players, "totals": ev.totals.to_dicts(),
                     "by_segment": ev.summary.to_dicts(), "not_issued": why.to_dicts()})
        return
    cols = ["eligible", "issued", "capped", "blocked_profit", "blocked_abuse", "blocked_cap", "lost_conflict",
            "value", "expected_cost", "expected_margin", "expected_net"]
    out.print(f"snapshot {ev.as_of}, {ev.players:,} players in scope")
    out.print(_table(ev.totals, ["rule_id", *cols], "per rule"))
    out.print(_table(ev.summary, ["rule_id", "segment", *cols], "per segment"))
    if why.height:
        out.print(_table(why, ["player_id", "rule_id", "status", "reason"], "examples of rewards not issued as is"))


@rules_app.command("issue")
def issue(rule_ids: Annotated[list[str], typer.Argument(help="Saved, active rules to issue.")],
          reason: Annotated[str, typer.Option(help="Why this run (required).")],
          holdout: Annotated[float, typer.Option(help="Share of players held out as the control group.")] = 0.1,
          window: Annotated[int, typer.Option(help="Measurement window of the ROI, in days.")] = 14,
          db: DbOption = None, as_of: AsOfOption = None, at: AtOption = None, scope: ScopeOption = [],
          actor: ActorOption = None, role: RoleOption = "marketer", as_json: JsonOption = False) -> None:
    """Issue the rules' rewards to the ledger, holding out a random control group (recorded with the run)."""
    from pipelines.rewards_run import issue as run
    from pipelines.store import Store

    with Store(db) as store:
        result = run(_access(store, actor, role, scope), rule_ids, reason=reason, holdout_share=holdout,
                     measurement_days=window, at=at, as_of=as_of.date() if as_of else None)
    if as_json:
        _print_json(result.to_dict())
        return
    out.print(f"run {result.run_id}: {result.treated:,} players rewarded, {result.holdout:,} held out "
              f"(value {result.issued_value:,.2f}, expected cost {result.expected_cost:,.2f}, "
              f"expected margin {result.expected_margin:,.2f}); measure it with `player360 rules roi {result.run_id}`")


@rules_app.command("runs")
def runs(db: DbOption = None, scope: ScopeOption = [], role: RoleOption = "marketer",
         as_json: JsonOption = False) -> None:
    """Issued runs and ingested campaigns that can be measured."""
    from pipelines.rewards_roi import measurable
    from pipelines.store import Store

    with Store(db) as store:
        frame = measurable(_access(store, None, role, scope))
    if as_json:
        _print_json(frame.to_dicts())
    else:
        out.print(_table(frame, ["run_id", "kind", "started", "treated", "holdout", "window_days"]))


@rules_app.command("roi")
def roi(run_id: Annotated[str, typer.Argument(help="A run id (or an ingested campaign id).")],
        window: Annotated[Optional[int], typer.Option(help="Measurement window in days (default: the run's).")] = None,
        db: DbOption = None, scope: ScopeOption = [], role: RoleOption = "marketer",
        as_json: JsonOption = False) -> None:
    """Incremental visits, theo and net revenue of treated vs holdout, minus reward cost, with 95% intervals."""
    from pipelines.rewards_roi import roi as measure
    from pipelines.store import Store

    with Store(db) as store:
        report = measure(_access(store, None, role, scope), run_id, window_days=window)
    if as_json:
        _print_json({"run_id": report.run_id, "kind": report.kind, "evidence": report.evidence,
                     "window_days": report.window_days, "observed_days": report.observed_days,
                     "complete": report.complete, "headline": report.headline, "effects": report.effects.to_dicts()})
        return
    out.print(f"{report.kind} {report.run_id}: {report.n_treated:,} treated vs {report.n_control:,} "
              f"({report.evidence}); window {report.window_days} days"
              + ("" if report.complete else f", only {report.observed_days:.1f} days observed so far"))
    cols = ["segment", "outcome", "n_treated", "n_control", "treated_mean", "control_mean", "difference", "ci_low",
            "ci_high", "p_value"]
    out.print(_table(report.effects, cols, "effects per treated player (95% intervals)"))
    gain = report.headline.get("net_gain_total")
    if gain:
        out.print(f"net gain (incremental theo - reward cost): {gain['difference']:,.2f} "
                  f"[{gain['ci_low']:,.2f}, {gain['ci_high']:,.2f}] on cost {report.headline['cost_total']:,.2f}")


@rules_app.command("policy")
def policy(which: Annotated[str, typer.Argument(help="profit, abuse or caps.")],
           set_: Annotated[list[str], typer.Option("--set", help="name=value (TOML value, e.g. lift={NEW=0.2}).")] = [],
           reason: Annotated[str, typer.Option(help="Why (required with --set).")] = "",
           db: DbOption = None, actor: ActorOption = None, role: RoleOption = "marketer") -> None:
    """Show the profit model, abuse policy or program caps, or save a new version with --set."""
    import tomllib

    from pipelines.rewards_run import POLICIES, policies, set_policy
    from pipelines.store import Store

    if which not in POLICIES:
        raise UserError(f"unknown policy {which!r}: expected one of {', '.join(POLICIES)}")
    changes = {}
    for item in set_:
        name, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--set {item!r}: expected name=value")
        try:
            changes[name.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            raise UserError(f"--set {item!r}: the value is not a TOML value (quote text: name='text')") from None
    with Store(db) as store:
        if changes:
            saved = set_policy(store, which, changes, actor=_actor(actor), role=role, reason=reason)
            out.print(f"{which}: version {saved.version} saved")
        else:
            saved = dict(zip(("profit", "abuse", "caps"), policies(store)))[which]
    print(saved.to_toml())
