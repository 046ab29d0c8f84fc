"""`kefu compare --format json` as models: docs/compare.schema.json is generated from them (`kefu schema compare`),
and tests validate real output against it. The shape is described in docs/compare.md."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CompareFile(_Closed):
    """A policy compared: its file as shown."""

    file: Optional[str]


class CompareEvents(_Closed):
    """Lines read from the logs (in one run: every run reads the same); skipped: other shops' events (--shop)."""

    read: int
    accepted: int
    rejected: int
    skipped: int
    files: Optional[list[dict]] = None


class Replayed(_Closed):
    """The replayed time: from the first to the last decision of A and B together (null when none)."""

    start: Optional[str]
    end: Optional[str]
    seconds: int


class Threshold(_Closed):
    """The comparison a metric's rate must satisfy (value is a fraction)."""

    op: Literal[">=", "<=", "==", ">", "<"]
    value: float


class Difference(_Closed):
    """B − A of a rate in percentage points: `points` of the first run (seed), the mean over the runs and its 95 %
    t-interval (low, high: null with one run, or when a run has no rate on a side)."""

    points: Optional[float]
    mean: Optional[float]
    low: Optional[float]
    high: Optional[float]


class DayFigures(_Closed):
    """One metric of one day under one policy (the first run)."""

    eligible: int
    met: int
    rate: Optional[float]
    passed: Optional[bool]
    penalty: int


class MetricComparison(_Closed):
    """One metric of one shop and local day under A and B (null: the side has no such row)."""

    shop: str
    date: str
    metric: str
    label: Optional[str]
    threshold: Optional[Threshold]
    currency: Optional[str]
    a: Optional[DayFigures]
    b: Optional[DayFigures]
    difference: Difference


class Units(_Closed):
    """Units of a metric: eligible, met, rate (null when none is eligible)."""

    eligible: int
    met: int
    rate: Optional[float]


class MetricTotal(_Closed):
    """One metric over every day of the log under A and B."""

    metric: str
    a: Units
    b: Units
    difference: Difference


class Sessions(_Closed):
    """Consumer sessions (consumer, first message's line) of A and B matched: served by the same agent first, or another;
    served on one side only; present on one side only."""

    matched: int
    same_agent: int
    other_agent: int
    served_in_a_only: int
    served_in_b_only: int
    only_in_a: int
    only_in_b: int


class QueuedConsumers(_Closed):
    """Distinct consumers queued (`enqueue`) under A and B, and those queued under one only."""

    a: int
    b: int
    a_only: int
    b_only: int


class PooledConsumers(_Closed):
    """Distinct consumers put in the offline pool under A and B."""

    a: int
    b: int


class Waits(_Closed):
    """The `waited` of the assigns out of the queue or the offline pool (`dequeue`, `taken_by_agent`), in seconds:
    how many, their mean and nearest-rank 90th percentile."""

    served: int
    mean: Optional[float]
    p90: Optional[int]


class SideWaits(_Closed):
    a: Waits
    b: Waits


class ReplyCounts(_Closed):
    """One reply kind under one policy: sent, and suppressed by reason."""

    sent: int
    suppressed: dict[str, int]


class ReplyComparison(_Closed):
    a: ReplyCounts
    b: ReplyCounts
    sent_difference: int


class DecisionComparison(_Closed):
    a: int
    b: int
    difference: int


class Changes(_Closed):
    """What the change did, in the first run (seed)."""

    sessions: Sessions
    routed_elsewhere: int
    queued: QueuedConsumers
    pooled: PooledConsumers
    waits: SideWaits
    auto_replies: dict[str, ReplyComparison]
    decisions: dict[str, DecisionComparison]


class AgentSide(_Closed):
    """One agent under one policy: consumers assigned, the peak load and the cap then, and the share of the replayed
    time it held at least one session (null when nothing was replayed)."""

    assigned: int
    peak_load: int
    cap: Optional[int]
    occupancy: Optional[float]


class AgentComparison(_Closed):
    shop: str
    agent: str
    a: AgentSide
    b: AgentSide


class HourMetric(_Closed):
    a: Units
    b: Units
    difference: Difference


class HourComparison(_Closed):
    """One local hour (0-23) of one shop, summed over the log's days: each metric under A and B."""

    shop: str
    hour: int
    metrics: dict[str, HourMetric]


class CompareReport(_Closed):
    """`kefu compare --format json`: one log through policies A and B of one shop (docs/compare.md)."""

    format: Literal[1]
    platform: str
    shop: str
    a: CompareFile
    b: CompareFile
    agents: Literal["model", "log"]
    seed: int
    runs: int
    events: CompareEvents
    replayed: Replayed
    metrics: list[MetricComparison]
    totals: list[MetricTotal]
    changes: Changes
    by_agent: Optional[list[AgentComparison]] = None
    by_hour: Optional[list[HourComparison]] = None
