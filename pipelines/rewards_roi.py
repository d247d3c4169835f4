"""ROI of finished reward runs and campaigns: treated vs holdout over the measurement window.

Two kinds of measurable things:

* **runs** issued by ``player360 rules issue`` (``reward_runs``): members and arms from
  ``reward_run_members``, the window starts at the run's issue time;
* **campaigns** in the ingested ledger (the loyalty source's ``campaign_contact`` rows with a
  campaign_id and an arm): the window starts at each player's contact.

Per member, over ``[start, start + window)``: visits, visited (0/1), theo and net revenue (the
casino's actual win) of rating slips, and for treated members the cost of their rewards: the
redeemed value, plus the full value of rewards neither redeemed nor expired by the window's end
(they may still be used); expired rewards cost nothing; loyalty points cost their cash value. The
effects and intervals are :func:`metrics.roi.run_roi` (per loyalty segment too). Runs without a
holdout get the difference-in-differences estimate of :func:`metrics.roi.did_effect` against players
of the same segments who were not rewarded, marked as weaker evidence.

Every read goes through the access layer: a principal scoped to some properties measures the
members it may see, on the events at its properties.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from metrics.rewards.holdout import HOLDOUT, TREATMENT, draws
from metrics.rewards.types import POINTS_PER_DOLLAR
from metrics.roi import DID_EVIDENCE, HOLDOUT_EVIDENCE, did_effect, run_roi
from pipelines import schema_rewards as R
from pipelines.access import Access, register_derived
from pipelines.errors import UserError

register_derived(R.REWARD_RUN_MEMBERS)

COMPARISON = "comparison"
MAX_COMPARISON = 20_000  # players drawn (deterministically) for a DiD comparison group
OUTCOMES = ("visits", "theo", "net_revenue")


@dataclass
class RoiReport:
    """The measured effect of one run or campaign."""

    run_id: str
    kind: str  # run | campaign
    evidence: str
    started: datetime
    window_days: int
    observed_days: float
    n_treated: int
    n_control: int
    effects: pl.DataFrame = field(default_factory=pl.DataFrame)
    headline: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Whether the whole measurement window has been observed."""
        return self.observed_days >= self.window_days


def measurable(acc: Access) -> pl.DataFrame:
    """Issued runs and ingested campaigns with holdout arms: id, kind, start, visible members per arm."""
    campaigns = acc.sql(
        """SELECT json_extract_string(attrs, '$.campaign_id') AS run_id, 'campaign' AS kind, min(ts) AS started,
            count(*) FILTER (WHERE json_extract_string(attrs, '$.arm') = 'treatment') AS treated,
            count(*) FILTER (WHERE json_extract_string(attrs, '$.arm') = 'holdout') AS holdout, 14 AS window_days
        FROM s_events() WHERE event_type = 'campaign_contact' GROUP BY 1 HAVING run_id IS NOT NULL""")
    runs = acc.sql(
        f"""SELECT r.run_id, 'run' AS kind, r.issued_at AS started,
            count(DISTINCT m.player_id) FILTER (WHERE m.arm = 'treatment') AS treated,
            count(DISTINCT m.player_id) FILTER (WHERE m.arm = 'holdout') AS holdout, r.measurement_days AS window_days
        FROM {R.REWARD_RUNS} r LEFT JOIN s_derived('{R.REWARD_RUN_MEMBERS}') m ON m.run_id = r.run_id
        GROUP BY ALL""")
    both = pl.concat([runs.cast({"window_days": pl.Int64}), campaigns.cast({"window_days": pl.Int64})],
                     how="vertical_relaxed")
    return both.sort("started", descending=True)


def members(acc: Access, run_id: str) -> tuple[pl.DataFrame, dict[str, Any]]:
    """One row per visible member (player_id, arm, segment, start, reward_ids) and the run's facts."""
    run = acc.sql(f"SELECT * FROM {R.REWARD_RUNS} WHERE run_id = ?", [run_id])
    if run.height:
        info = run.row(0, named=True) | {"kind": "run"}
        rows = acc.sql(
            f"""SELECT player_id, any_value(arm) AS arm, any_value(segment) AS segment,
                list(reward_id) FILTER (WHERE reward_id IS NOT NULL) AS reward_ids
            FROM s_derived('{R.REWARD_RUN_MEMBERS}') WHERE run_id = ? GROUP BY player_id""", [run_id])
        rows = rows.with_columns(pl.lit(info["issued_at"]).alias("start"))
    else:
        rows = acc.sql(
            """SELECT c.player_id, any_value(json_extract_string(c.attrs, '$.arm')) AS arm, min(c.ts) AS start
            FROM s_events() c WHERE c.event_type = 'campaign_contact'
              AND json_extract_string(c.attrs, '$.campaign_id') = ? GROUP BY c.player_id""", [run_id])
        if rows.is_empty():
            raise UserError(f"no run or campaign named {run_id} in your scope (see `player360 rules runs`)")
        rewards = acc.sql(
            """SELECT player_id, list(coalesce(json_extract_string(attrs, '$.reward_id'), event_id)) AS reward_ids
            FROM s_events() WHERE event_type = 'reward_issued'
              AND json_extract_string(attrs, '$.campaign_id') = ? GROUP BY player_id""", [run_id])
        rows = rows.join(rewards, on="player_id", how="left").join(
            _segments_at(acc, rows["start"].min()), on="player_id", how="left")
        info = {"run_id": run_id, "kind": "campaign", "issued_at": rows["start"].min(), "measurement_days": 14,
                "holdout_share": None, "as_of": None, "scope": None}
    return rows.with_columns(pl.col("segment").fill_null("unknown")), info


def _segments_at(acc: Access, when: datetime) -> pl.DataFrame:
    """player_id, segment (loyalty) of the newest snapshot on or before `when` (else the oldest one)."""
    tables = set(acc.sql("SELECT table_name FROM information_schema.tables")["table_name"])
    days = [] if "player_segments" not in tables else sorted(
        acc.sql("SELECT DISTINCT as_of FROM s_derived('player_segments')")["as_of"].to_list())
    if not days:
        return pl.DataFrame(schema={"player_id": pl.String, "segment": pl.String})
    before = [d for d in days if d <= when.date()]
    day = before[-1] if before else days[0]
    return acc.sql("SELECT player_id, loyalty AS segment FROM s_derived('player_segments') WHERE as_of = ?", [day])


def outcomes(acc: Access, rows: pl.DataFrame, window_days: int, offset_days: int = 0) -> pl.DataFrame:
    """visits, visited, theo, net_revenue per member over [start - offset, start - offset + window)."""
    return acc.sql(
        f"""WITH m AS (SELECT unnest(?::VARCHAR[]) AS player_id,
                unnest(?::TIMESTAMP[]) - to_days(CAST(? AS INTEGER)) AS t0)
        SELECT m.player_id,
            count(e.event_id) FILTER (WHERE e.event_type = 'visit') AS visits,
            coalesce(sum(e.theo) FILTER (WHERE e.event_type = 'rating_slip'), 0) AS theo,
            coalesce(sum(e.casino_win) FILTER (WHERE e.event_type = 'rating_slip'), 0) AS net_revenue
        FROM m LEFT JOIN s_events() e ON e.player_id = m.player_id AND e.ts >= m.t0
            AND e.ts < m.t0 + to_days(CAST(? AS INTEGER)) AND e.event_type IN ('visit', 'rating_slip')
        GROUP BY m.player_id""",
        [rows["player_id"].to_list(), rows["start"].to_list(), offset_days, window_days],
    ).with_columns((pl.col("visits") > 0).cast(pl.Int64).alias("visited"))


def costs(acc: Access, rows: pl.DataFrame, window_days: int) -> pl.DataFrame:
    """player_id, cost: what each treated member's rewards cost by the end of the window."""
    rewards = rows.select("player_id", "start", "reward_ids").explode("reward_ids").drop_nulls("reward_ids")
    if rewards.is_empty():
        return pl.DataFrame(schema={"player_id": pl.String, "cost": pl.Float64})
    ids = rewards["reward_ids"].unique().to_list()
    facts = acc.sql(
        f"""SELECT coalesce(json_extract_string(attrs, '$.reward_id'), event_id) AS reward_id, event_type, ts,
            coalesce(amount, points / {POINTS_PER_DOLLAR}) AS value
        FROM s_events() WHERE event_type IN ('reward_issued', 'points_adjusted', 'reward_redeemed', 'reward_expired')
          AND coalesce(json_extract_string(attrs, '$.reward_id'), event_id) IN (SELECT unnest(?::VARCHAR[]))""", [ids])
    end = pl.col("start") + timedelta(days=window_days)
    per = rewards.rename({"reward_ids": "reward_id"}).join(facts, on="reward_id", how="left").group_by(
        "player_id", "reward_id").agg(
        pl.col("value").filter(pl.col("event_type").is_in(["reward_issued", "points_adjusted"])).sum().alias("issued"),
        pl.col("value").filter((pl.col("event_type") == "reward_redeemed") & (pl.col("ts") < end)).sum()
        .alias("redeemed"),
        ((pl.col("event_type") == "reward_redeemed") & (pl.col("ts") < end)).any().alias("was_redeemed"),
        ((pl.col("event_type") == "reward_expired") & (pl.col("ts") < end)).any().alias("was_expired"),
        (pl.col("event_type") == "points_adjusted").any().alias("points"))
    cost = (pl.when(pl.col("points")).then(pl.col("issued")).when(pl.col("was_redeemed")).then(pl.col("redeemed"))
            .when(pl.col("was_expired")).then(0.0).otherwise(pl.col("issued")))
    return per.group_by("player_id").agg(cost.sum().alias("cost"))


def _frame(acc: Access, rows: pl.DataFrame, window: int, pre: bool = False) -> pl.DataFrame:
    post = outcomes(acc, rows, window)
    out = rows.join(post, on="player_id", how="left").join(costs(acc, rows, window), on="player_id", how="left")
    out = out.with_columns(pl.when(pl.col("arm") == TREATMENT).then(pl.col("cost").fill_null(0.0))
                           .otherwise(0.0).alias("cost"))
    if pre:
        before = outcomes(acc, rows, window, offset_days=window).rename(
            {c: f"{c}_pre" for c in (*OUTCOMES, "visited")})
        out = out.join(before, on="player_id", how="left")
    return out


def _headline(effects: pl.DataFrame, n_treated: int, cost_total: float) -> dict[str, Any]:
    overall = effects.filter(pl.col("segment") == "ALL") if "segment" in effects.columns else effects
    pick = {r["outcome"]: r for r in overall.iter_rows(named=True)}
    head: dict[str, Any] = {"n_treated": n_treated, "cost_total": cost_total}
    for name in ("visited", "visits", "theo", "net_revenue", "theo_net", "revenue_net"):
        if name in pick:
            r = pick[name]
            head[name] = {k: r[k] for k in ("difference", "ci_low", "ci_high", "control_mean", "treated_mean")}
    if "theo_net" in pick:
        r = pick["theo_net"]
        head["net_gain_total"] = {k: r[k] * n_treated for k in ("difference", "ci_low", "ci_high")}
        if cost_total > 0:
            head["roi"] = {k: r[k] * n_treated / cost_total for k in ("difference", "ci_low", "ci_high")}
    return head


def roi(acc: Access, run_id: str, *, window_days: int | None = None, now: datetime | None = None) -> RoiReport:
    """The measured effect of a run or campaign (holdout comparison, else difference-in-differences)."""
    rows, info = members(acc, run_id)
    window = int(window_days or info.get("measurement_days") or 14)
    start = info["issued_at"]
    clock = now or acc.sql("SELECT max(ts) AS t FROM s_events() WHERE source <> 'app'")["t"][0] or start
    observed = max(0.0, min(window, (clock - start).total_seconds() / 86400))
    treated = rows.filter(pl.col("arm") == TREATMENT)
    if rows.filter(pl.col("arm") == HOLDOUT).height >= 2 and treated.height >= 2:
        frame = _frame(acc, rows, window)
        effects = run_roi(frame, by=["segment"])
        report = RoiReport(run_id, info["kind"], HOLDOUT_EVIDENCE, start, window, observed, treated.height,
                           rows.height - treated.height, effects)
        report.headline = _headline(effects, treated.height, float(frame.filter(pl.col("arm") == TREATMENT)["cost"].sum()))
        return report
    if treated.height < 2:
        raise UserError(f"{run_id}: fewer than 2 treated players in scope: nothing to measure")
    comparison = _comparison(acc, rows, info)
    frame = _frame(acc, pl.concat([rows, comparison], how="diagonal_relaxed"), window, pre=True)
    frame = frame.with_columns((pl.col("theo") - pl.col("cost")).alias("theo_net"),
                               (pl.col("net_revenue") - pl.col("cost")).alias("revenue_net"))
    names = ["visits", "theo", "net_revenue", "theo_net", "revenue_net"]
    effects = did_effect(frame, control=COMPARISON, pre=["visits_pre", "theo_pre", "net_revenue_pre", "theo_pre",
                                                          "net_revenue_pre"], post=names, names=names)
    report = RoiReport(run_id, info["kind"], DID_EVIDENCE, start, window, observed, treated.height,
                       comparison.height, effects.with_columns(pl.lit("ALL").alias("segment")))
    report.headline = _headline(effects, treated.height, float(frame.filter(pl.col("arm") == TREATMENT)["cost"].sum()))
    return report


def _comparison(acc: Access, rows: pl.DataFrame, info: dict[str, Any]) -> pl.DataFrame:
    """Visible players of the treated members' segments who were not in the run (at most MAX_COMPARISON)."""
    seg = _segments_at(acc, info["issued_at"])
    wanted = set(rows["segment"].to_list())
    pool = seg.filter(pl.col("segment").is_in(sorted(wanted)) & ~pl.col("player_id").is_in(rows["player_id"].to_list()))
    if pool.height > MAX_COMPARISON:
        pool = pool.with_columns(pl.Series("d", draws(pool["player_id"].to_list(), f"{info['run_id']}:comparison")))
        pool = pool.sort("d").head(MAX_COMPARISON).drop("d")
    if pool.height < 2:
        raise UserError(f"{info['run_id']}: no holdout and too few comparable players for difference-in-differences")
    return pool.with_columns(pl.lit(COMPARISON).alias("arm"), pl.lit(info["issued_at"]).alias("start"),
                             pl.lit(None, dtype=pl.List(pl.String)).alias("reward_ids"))


def policy_of(acc: Access, run_id: str) -> dict[str, Any]:
    """The profit model, abuse policy and caps a run was issued under."""
    row = acc.sql(f"SELECT policy FROM {R.REWARD_RUNS} WHERE run_id = ?", [run_id])
    return json.loads(row["policy"][0]) if row.height else {}
