"""The replay runtime: state, routing, queue, replies and metrics behind one Engine API."""

from .decisions import ACTIONS, Decision
from .engine import Engine, TracedEngine, platform_policy
from .metrics import MetricRow

__all__ = ["ACTIONS", "Decision", "Engine", "MetricRow", "TracedEngine", "platform_policy"]
