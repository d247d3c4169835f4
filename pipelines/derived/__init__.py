"""Derived pipelines: pure Polars stages from the canonical events to per-player analytics."""

from pipelines.derived.deltas import player_deltas
from pipelines.derived.metrics import player_metrics

__all__ = ["player_deltas", "player_metrics"]
