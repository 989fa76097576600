"""Metrics, curves, the leaderboard and best-model selection."""

from .leaderboard import Leaderboard, select_best
from .metrics import DEFAULT_METRIC, METRICS, Metric, metrics_for, score_all

__all__ = ["Leaderboard", "select_best", "DEFAULT_METRIC", "METRICS", "Metric", "metrics_for", "score_all"]
