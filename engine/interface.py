"""The replay's fixed interface as models: report JSON and decision records.

Other tools read these files; the JSON Schemas in docs/ are generated from these
models (`kefu schema report`, `kefu schema decision`) and tests validate real
replay output against them.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict

from .runtime.decisions import ACTIONS
from .runtime.replies import SEND_ORDER, SUPPRESSION_REASONS
from .whatif.compare_schema import CompareReport


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileCounts(_Closed):
    """One of several logs read as one: its lines read, accepted and rejected."""

    file: str
    read: int
    accepted: int
    rejected: int


class EventCounts(_Closed):
    """Lines read from the logs; read == accepted + rejected; skipped (of accepted): events no policy replayed
    (other shops' with --shop, shops with no policy with --policies); files: each log, when there are several."""

    read: int
    accepted: int
    rejected: int
    skipped: int
    files: Optional[list[FileCounts]] = None


class SkippedShop(_Closed):
    """A shop of the logs that no policy replayed (--policies without --platform, or --shop): its events."""

    shop: str
    events: int


class Threshold(_Closed):
    """The comparison a metric's rate must satisfy (value is a fraction)."""

    op: Literal[">=", "<=", "==", ">", "<"]
    value: float


class MetricRecord(_Closed):
    """One metric for one shop and local day."""

    metric: str
    label: Optional[str]
    shop: str
    date: str
    unit: Literal["question", "consumer_day"]
    eligible: int
    met: int
    missed: int
    rate: Optional[float]
    threshold: Optional[Threshold]
    passed: Optional[bool]
    penalty: int
    currency: Optional[str]
    evaluated_on: Literal["same_day", "previous_day"]


class PolicyRef(_Closed):
    """The shop policy replayed."""

    shop: str
    file: Optional[str]


class Assignment(_Closed):
    """How often the policy's assignment matched who actually answered in the log."""

    compared: int
    agreed: int
    differs: int
    agreement: Optional[float]


class DaySummary(_Closed):
    """Decision counts and assignment agreement for one shop and day."""

    shop: str
    date: str
    decisions: dict[Literal[ACTIONS], int]  # type: ignore[valid-type]
    compared: int
    agreed: int


class UnitFigures(_Closed):
    """One metric's units in a breakdown row: eligible, met, rate (None when none is eligible)."""

    eligible: int
    met: int
    rate: Optional[float]


class AgentRow(_Closed):
    """`--by agent`: one agent of one shop over the whole log."""

    shop: str
    agent: str
    assigned: int
    transfers_in: int
    peak_load: int
    cap: Optional[int]
    metrics: dict[str, UnitFigures]


class HourRow(_Closed):
    """`--by hour`: one local hour of the day (0-23) of one shop, summed over the log's days."""

    shop: str
    hour: int
    assigned: int
    queued: int
    peak_queue: int
    metrics: dict[str, UnitFigures]
class AutoReplyCounts(_Closed):
    """One reply kind: replies sent, and replies whose trigger held but were not sent, by reason."""

    sent: int
    suppressed: dict[Literal[SUPPRESSION_REASONS], int]  # type: ignore[valid-type]


class ShopMetric(_Closed):
    """One metric of one shop over the whole log."""

    eligible: int
    met: int
    rate: Optional[float]
    threshold: Optional[Threshold]
    days_failed: int
    penalty: int


class ShopSummary(_Closed):
    """One shop over the whole log, in a report of several shops (most at risk first)."""

    shop: str
    days: int
    days_failed: int
    penalty: int
    metrics: dict[str, ShopMetric]


class RunMetric(_Closed):
    """`--runs N`: one metric of one shop and day across the runs: each run's rate, their mean and 95 % interval."""

    shop: str
    date: str
    metric: str
    runs: int
    mean: Optional[float]
    low: Optional[float]
    high: Optional[float]
    rates: list[Optional[float]]


class RunsSummary(_Closed):
    """`--runs N`: the seeds replayed and each metric across them (the rest of the report is the first run's)."""

    count: int
    seeds: list[int]
    metrics: list[RunMetric]


class Report(_Closed):
    """The replay report (`--report FILE --format json`); platform is null when the shops replayed are on
    several platforms (--policies), policies names each shop's policy file then."""

    format: Literal[1]
    platform: Optional[str]
    policy: Optional[PolicyRef]
    policies: Optional[list[PolicyRef]] = None
    seed: int
    events: EventCounts
    metrics: list[MetricRecord]
    decisions: dict[Literal[ACTIONS], int]  # type: ignore[valid-type]
    auto_replies: dict[str, int]
    suppressed_auto_replies: int
    auto_replies_by_kind: dict[Literal[SEND_ORDER], AutoReplyCounts]  # type: ignore[valid-type]
    assignment: Assignment
    days: list[DaySummary]
    by_agent: Optional[list[AgentRow]] = None
    by_hour: Optional[list[HourRow]] = None
    shops: Optional[list[ShopSummary]] = None
    skipped_shops: Optional[list[SkippedShop]] = None
    runs: Optional[RunsSummary] = None


class RuleRef(_Closed):
    """The policy or platform line that made a decision."""

    file: str
    line: int


class DecisionRecord(_Open):
    """One line of `--decisions FILE`; action-specific fields follow the common ones."""

    ts: str
    action: Literal[ACTIONS]  # type: ignore[valid-type]
    shop: str
    consumer: Optional[str]
    agent: Optional[str]
    line: Optional[int]
    rule: Optional[RuleRef]
    file: Optional[str] = None


SCHEMAS: dict[str, type[BaseModel]] = {"report": Report, "decision": DecisionRecord, "compare": CompareReport}
