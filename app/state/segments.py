"""Segmentation dashboard state: the schemes' very Param objects, and what they make of the players.

No Panel here: a notebook tunes the same objects the app's sliders are bound to, e.g.

    >>> from app.data import DataStore
    >>> from app.state.segments import SegmentsState
    >>> seg = SegmentsState(data=DataStore("data/player360.duckdb"), scheme="spending",
    ...                     session=Session(user="ana", role="analyst", all_properties=True))
    >>> seg.current.vip_above = 5_000       # the same parameter the app's slider moves
    >>> seg.summary()                        # counts and value shares, recomputed
    >>> seg.save("VIP line at 5k after the Q3 review")   # the next build uses it

Every read is the session's (its property scope and masking, through the access layer). The
metrics frame of a snapshot is read once (see `app.data_segments`); moving a threshold only
relabels that frame in memory, one scheme at a time, and each scheme's labels are cached by its
thresholds, so moving one scheme's threshold never recomputes another's.
"""

from __future__ import annotations

import time
from typing import Any

import param
import polars as pl

from app.data import DataStore, DataUnavailable
from app.data_segments import SegmentData
from app.state.session import Session
from metrics import segment_stats as S
from metrics.catalog import CATALOG
from metrics.churn import ChurnRisk
from metrics.segments import Scheme, Versioned, default_schemes, segment_all
from pipelines.access import Principal

VALUE_COLUMNS = ("theo_total", "cash_in_total", "lifetime_value")
PROFILE_DEFAULT = ("visits_total", "visits_90d", "recency_days", "tenure_days", "theo_total", "cash_in_total",
                   "adt_90d", "lifetime_value", "health_score", "points_balance", "redemption_rate")
FILTER_COLUMNS = ("favourite_game", "preferred_property")


def fresh_schemes(saved: dict[str, Versioned] | None = None) -> dict[str, Scheme]:
    """Every scheme the build runs, at its newest saved version (else its defaults), by name."""
    saved = saved or {}
    out = {}
    for scheme in [*default_schemes(), ChurnRisk()]:
        kept = saved.get(scheme.name)
        out[scheme.name] = kept if isinstance(kept, Scheme) and kept.kind == scheme.kind else scheme
    return out


def scheme_inputs(scheme: Scheme) -> list[str]:
    """Metric columns a scheme may read, whatever its basis selectors are set to."""
    columns = list(scheme.inputs())
    for name, p in scheme.param.objects("existing").items():
        if isinstance(p, param.Selector) and name != "name":
            for option in p.objects:
                columns += list(type(scheme)(**{name: option}).inputs())  # never move the live object
    return [c for c in dict.fromkeys(columns) if c in CATALOG or c == "as_of"]


def thresholds_key(scheme: Versioned) -> tuple:
    """A hashable form of a scheme's thresholds (cache key of its labels)."""
    return tuple(sorted((k, repr(v)) for k, v in scheme.thresholds().items()))


def metric_label(column: str) -> str:
    """The catalog's label of a metric column (the column name when it has none)."""
    metric = CATALOG.get(column)
    return metric.label if metric else column.replace("_", " ")


SCHEME_NAMES = list(fresh_schemes())
# every column a scheme (at any basis), the value shares, the profiles and the member filters read
FRAME_COLUMNS = list(dict.fromkeys(["as_of", *[c for s in fresh_schemes().values() for c in scheme_inputs(s)],
                                    *VALUE_COLUMNS, *PROFILE_DEFAULT, *FILTER_COLUMNS]))
NUMERIC_COLUMNS = [c for c in FRAME_COLUMNS if c in CATALOG and CATALOG[c].unit not in ("text", "date", "bool")]


class SegmentsState(param.Parameterized):
    """One scheme picked, its thresholds tuned live, and the players' segments it yields."""

    data = param.ClassSelector(class_=DataStore, doc="The cached data store.")
    session = param.ClassSelector(class_=Session, doc="Who is working: scope of every read, actor of saves and tags.")
    as_of = param.Selector(default=None, objects=[], allow_None=True, check_on_set=False,
                           doc="The snapshot (as-of day) segmented.")
    scheme = param.Selector(default="spending", objects=SCHEME_NAMES, doc="The scheme shown and tuned.")
    compare = param.Selector(default="lifecycle", objects=SCHEME_NAMES, doc="The scheme crossed with it in the crosstab.")
    distribution = param.Selector(default=None, objects=NUMERIC_COLUMNS, allow_None=True,
                                  doc="Metric whose distribution is shown, stacked by segment.")
    profile_metrics = param.ListSelector(default=list(PROFILE_DEFAULT), objects=NUMERIC_COLUMNS,
                                         doc="Metrics averaged per segment in the profiles.")
    schemes = param.Dict(default={}, doc="Scheme name -> the Param object whose thresholds are tuned.")
    revision = param.Integer(default=0, doc="Bumped whenever a threshold moves (what the views watch).")
    seconds = param.Number(default=0.0, doc="Time the last relabel and summary took.")
    message = param.String(default="", doc="The outcome of the last action, or why nothing shows.")

    def __init__(self, **params: Any):
        params.setdefault("session", Session())
        super().__init__(**params)
        self._labels: dict[tuple, tuple[pl.DataFrame, pl.DataFrame]] = {}  # key -> (frame, labels)
        self._labelled: tuple[pl.DataFrame, tuple, pl.DataFrame] | None = None
        self._results: dict[tuple, tuple[pl.DataFrame, pl.DataFrame]] = {}
        self._segments = SegmentData.of(self.data)
        try:
            saved = self._segments.saved_schemes(self.who)
            dates = self._segments.dates(self.who)
        except DataUnavailable as exc:
            saved, dates, self.message = {}, [], str(exc)
        if not self.schemes:
            self.schemes = fresh_schemes(saved)
        self.param.as_of.objects = dates
        if self.as_of not in dates:
            self.as_of = dates[0] if dates else None
        self.columns = FRAME_COLUMNS
        if self.distribution is None:
            self._follow_scheme()
        for scheme in self.schemes.values():
            scheme.param.watch(self._moved, [k for k in scheme.thresholds()])
        if not dates and not self.message:
            self.message = "No segment snapshot yet: run `player360 build` first."

    # -- reactions ---------------------------------------------------------------------------------
    def _moved(self, *_events: param.parameterized.Event) -> None:
        """A threshold moved: everything shown is recomputed (a side effect)."""
        self.revision += 1

    @param.depends("scheme", watch=True)
    def _follow_scheme(self) -> None:
        """The distribution follows the scheme's own basis (a side effect of picking a scheme)."""
        inputs = [c for c in self.current.inputs() if c in self.param.distribution.objects]
        self.distribution = inputs[0] if inputs else (self.distribution or "theo_total")

    @property
    def who(self) -> Principal:
        """The session's principal: whose scope every read is in."""
        return self.session.principal

    @property
    def current(self) -> Scheme:
        """The Param object of the scheme shown."""
        return self.schemes[self.scheme]

    @property
    def ready(self) -> bool:
        """Whether there is a snapshot to segment."""
        return self.as_of is not None

    # -- computation -------------------------------------------------------------------------------
    def _memo(self, what: str, extra: tuple, fn: Any) -> pl.DataFrame:
        """`fn()` computed once per labelled frame and `extra` (the views and `refresh` share it)."""
        labelled = self.labelled()
        key = (what, extra)
        hit = self._results.get(key)
        if hit is not None and hit[0] is labelled:
            return hit[1]
        out = fn(labelled)
        self._results[key] = (labelled, out)
        return out

    def frame(self) -> pl.DataFrame:
        """The metrics frame of the snapshot (players in scope), read once per snapshot."""
        if not self.ready:
            return pl.DataFrame()
        return self._segments.frame(self.who, self.as_of, self.columns)

    def labels(self, name: str) -> pl.DataFrame:
        """player_id and the label of one scheme at its current thresholds (cached by them)."""
        scheme = self.schemes[name]
        frame = self.frame()
        key = (name, thresholds_key(scheme))
        hit = self._labels.get(key)
        if hit is None or hit[0] is not frame:  # another snapshot or scope: relabel
            summaries = self._segments.summaries(frame, list(scheme.quantile_columns()))
            out = segment_all(frame, [scheme], summaries).select("player_id", scheme.label_column())
            # keep one labelling per scheme and thresholds, and at most a few per scheme
            mine = [k for k in self._labels if k[0] == name]
            for old in mine[:-3]:
                del self._labels[old]
            hit = self._labels[key] = (frame, out.rename({scheme.label_column(): name}))
        return hit[1]

    @param.depends("as_of", "scheme", "compare", "revision")
    def labelled(self) -> pl.DataFrame:
        """The frame with `segment` (the scheme shown), `lifecycle` and `compare` label columns."""
        frame = self.frame()
        if frame.is_empty():
            return frame
        names = (self.scheme, "lifecycle", self.compare)
        key = tuple((n, thresholds_key(self.schemes[n])) for n in names)
        if self._labelled is not None and self._labelled[0] is frame and self._labelled[1] == key:
            return self._labelled[2]
        out = frame.with_columns(self.labels(self.scheme)[self.scheme].alias("segment"),
                                 self.labels("lifecycle")["lifecycle"].alias("lifecycle_live"),
                                 self.labels(self.compare)[self.compare].alias("compare"))
        self._labelled = (frame, key, out)
        return out

    @param.depends("as_of", "scheme", "revision")
    def summary(self) -> pl.DataFrame:
        """Per segment: players, share of players, and each value metric's sum and share."""
        return self._memo("summary", (), lambda f: pl.DataFrame() if f.is_empty() else
                          S.segment_summary(f, "segment", self.current.labels, VALUE_COLUMNS))

    @param.depends("as_of", "scheme", "compare", "revision")
    def crosstab(self) -> pl.DataFrame:
        """Players per (segment of the scheme shown, segment of the compared scheme), long form."""
        return self._memo("crosstab", (), lambda f: pl.DataFrame() if f.is_empty() else
                          S.crosstab(f, "segment", "compare", self.current.labels, self.schemes[self.compare].labels))

    @param.depends("as_of", "scheme", "revision", "profile_metrics")
    def profiles(self) -> pl.DataFrame:
        """Per segment: players and the mean of each profile metric."""
        metrics = tuple(m for m in self.profile_metrics if m in self.columns)
        return self._memo("profiles", metrics, lambda f: pl.DataFrame() if f.is_empty() else
                          S.profiles(f, "segment", self.current.labels, list(metrics)))

    @param.depends("as_of", "scheme", "revision", "distribution")
    def histogram(self) -> pl.DataFrame:
        """Players per (bin of the distribution metric, segment): a stacked histogram."""
        column = self.distribution
        return self._memo("histogram", (column,), lambda f: pl.DataFrame() if f.is_empty() or column not in f.columns
                          else S.binned(f, column, "segment", self.current.labels))

    def refresh(self) -> pl.DataFrame:
        """Relabel and compute everything the dashboard shows, timing it (what a threshold move costs)."""
        t = time.perf_counter()
        out = self.summary()
        self.crosstab()
        self.profiles()
        self.histogram()
        self.seconds = time.perf_counter() - t
        return out

    # -- thresholds --------------------------------------------------------------------------------
    def saved(self, name: str | None = None) -> Versioned | None:
        """The newest saved version of a scheme (None when only its defaults exist)."""
        return self._segments.saved_schemes(self.who).get(name or self.scheme)

    def dirty(self) -> bool:
        """Whether the scheme's thresholds differ from what the next build would use."""
        base = self.saved() or type(self.current)()
        return thresholds_key(base) != thresholds_key(self.current)

    def revert(self) -> None:
        """Thresholds back to the newest saved version (or the defaults)."""
        base = self.saved() or type(self.current)()
        self.current.param.update(**base.thresholds(), version=base.version)
        self.message = f"Back to version {base.version} of {self.scheme}."

    def defaults(self) -> None:
        """Thresholds back to the scheme's defaults (not saved until you save)."""
        self.current.param.update(**type(self.current)().thresholds())
        self.message = f"{self.scheme}: default thresholds (not saved)."

    def can_save(self) -> bool:
        """Whether the session's role may save thresholds."""
        return self.session.can("edit_schemes")

    def history(self) -> pl.DataFrame:
        """Saved versions of the scheme shown (who, when, why), newest first."""
        return self._segments.history(self.who, self.scheme)

    def save(self, reason: str) -> bool:
        """Save the thresholds as the scheme's next version, used by the next build."""
        if not self.can_save():
            self.message = f"Your role ({self.session.role}) may not save thresholds: analysts and admins may."
            return False
        if not (reason or "").strip():
            self.message = "Say why these thresholds (the reason is kept with the version)."
            return False
        try:
            version = self._segments.save_scheme(self.who, self.current, reason)
        except Exception as exc:  # noqa: BLE001 - the page says what failed; it never crashes
            self.message = f"Not saved: {exc}"
            return False
        self.message = f"Saved {self.scheme} version {version}: the next build uses it."
        return True
