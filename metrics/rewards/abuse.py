"""The abuse policy: which raw signals count as abuse, and how much each reduces a reward.

Seed 003's detection signals, computed per player by :mod:`metrics.rewards.signals`:

* ``bonus_only``: plays bonus money without depositing since (``bonus_only_play``);
* ``cash_out``: cashes out right after a bonus (``cash_outs_after_bonus`` >= ``cash_outs_at_least``);
* ``min_bets``: bets far below their usual size while a bonus is being wagered
  (``wagering_bet_ratio`` < ``bet_ratio_below`` over at least ``min_wagering_slips`` slips);
* ``shared_address`` / ``shared_device``: other players share the address or a device.

Each raised signal multiplies the reward by its factor (1 keeps it, 0 blocks it); ``block_at``
signals or more block the reward outright. The policy is versioned like a segmentation scheme, so
the version that reduced a reward is recorded with the run.
"""

from __future__ import annotations

from functools import reduce

import param
import polars as pl

from metrics.segments import Versioned

SIGNALS = ("bonus_only", "cash_out", "min_bets", "shared_address", "shared_device")
LABELS = {"bonus_only": "bonus-only play", "cash_out": "cash-out right after a bonus",
          "min_bets": "minimum bets while wagering", "shared_address": "address shared with other players",
          "shared_device": "device shared with other players"}


def _factor(doc: str, default: float) -> param.Number:
    return param.Number(default=default, bounds=(0.0, 1.0), step=0.05, doc=doc)


class AbusePolicy(Versioned):
    """Thresholds of the abuse signals and the share of a reward each one leaves."""

    kind = "reward_abuse"

    name = param.String(default="reward_abuse", constant=True, doc="Name the policy is saved under.")
    cash_out_hours = param.Number(default=24.0, bounds=(0.5, 24 * 14), step=1,
                                  doc="A cash-out this many hours or less after a bonus counts as 'right after'.")
    cash_outs_at_least = param.Integer(default=1, bounds=(1, None), doc="Quick cash-outs that raise the signal.")
    bet_ratio_below = param.Number(default=0.5, bounds=(0.0, 1.0), step=0.05,
                                   doc="Average bet while wagering below this share of the usual bet raises min_bets.")
    min_wagering_slips = param.Integer(default=2, bounds=(1, None),
                                       doc="Slips while wagering needed before min_bets can be raised.")
    shared_players_at_least = param.Integer(default=1, bounds=(1, None),
                                            doc="Other players at the address or on the device that raise sharing.")
    bonus_only = _factor("Share of the reward left for bonus-only play.", 0.5)
    cash_out = _factor("Share of the reward left after a cash-out right after a bonus.", 0.5)
    min_bets = _factor("Share of the reward left for minimum bets while wagering.", 0.5)
    shared_address = _factor("Share of the reward left when the address is shared (households are common).", 0.75)
    shared_device = _factor("Share of the reward left when a device is shared.", 0.25)
    block_at = param.Integer(default=2, bounds=(1, len(SIGNALS)),
                             doc="This many signals or more block the reward.")

    def flags(self) -> list[pl.Expr]:
        """One boolean column per signal: ``abuse_<signal>``."""
        raised = {
            "bonus_only": pl.col("bonus_only_play").fill_null(False),
            "cash_out": pl.col("cash_outs_after_bonus").fill_null(0) >= self.cash_outs_at_least,
            "min_bets": (pl.col("wagering_bet_ratio") < self.bet_ratio_below).fill_null(False)
            & (pl.col("wagering_slips").fill_null(0) >= self.min_wagering_slips),
            "shared_address": pl.col("shared_address_players").fill_null(0) >= self.shared_players_at_least,
            "shared_device": pl.col("shared_device_players").fill_null(0) >= self.shared_players_at_least,
        }
        return [raised[s].alias(f"abuse_{s}") for s in SIGNALS]

    def outcome(self) -> list[pl.Expr]:
        """abuse_signals (count), abuse_factor (share left; 0 = blocked) and abuse_reasons (text),
        from the flag columns."""
        count = pl.sum_horizontal([pl.col(f"abuse_{s}").cast(pl.Int32) for s in SIGNALS])
        factor = reduce(lambda a, b: a * b, [
            pl.when(pl.col(f"abuse_{s}")).then(pl.lit(float(getattr(self, s)))).otherwise(1.0) for s in SIGNALS])
        reasons = pl.concat_str(
            [pl.when(pl.col(f"abuse_{s}")).then(pl.lit(LABELS[s])) for s in SIGNALS], separator=", ",
            ignore_nulls=True)
        return [count.alias("abuse_signals"),
                pl.when(count >= self.block_at).then(0.0).otherwise(factor).alias("abuse_factor"),
                reasons.alias("abuse_reasons")]
