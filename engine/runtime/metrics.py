"""Response metrics as platform files define them, counted per shop and local day.

Each metric is a tracker fed with the replay's observations (consumer messages,
replies by sender kind, assignments, transfers). A question's outcome is final
when an effective reply arrives, when the day changes after its deadline, or at
the end of the log (an unanswered question is missed). A question belongs to the
local day it started and takes in the consumer's later messages until that day
ends (the natural-day rule): a message on a later day starts a new question.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Callable

import msgspec

from .. import ir, registry
from .clock import LocalClock

ASSISTANT_ACCOUNT = "@assistant"
# A consumer measured once per assignment is forgotten this long after (without a new assignment).
FORGET_AFTER = 7 * 86400
_OPS = {
    ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "==": lambda a, b: a == b,
    ">": lambda a, b: a > b, "<": lambda a, b: a < b,
}


class Pending(msgspec.Struct, gc=False):
    """A question (or consumer-day) waiting for an effective reply.

    A msgspec Struct, built in C (one per question); it holds no reference that could
    form a cycle, so the garbage collector leaves it out (gc=False).
    """

    start: float
    day: date
    counted: bool
    clock: float | None
    deadline: float | None
    agent: str | None
    # the consumer-day [counted, met] a question belongs to when every question of the day is timed
    unit: list | None = None


@dataclass
class MetricRow:
    """One metric for one shop and local day."""

    metric: str
    label: str | None
    shop: str
    date: str
    unit: str
    eligible: int
    met: int
    rate: float | None
    threshold: dict | None
    passed: bool | None
    penalty: int
    currency: str | None
    evaluated_on: str

    def to_dict(self) -> dict:
        """The stable JSON shape of a metric row."""
        return {
            "metric": self.metric, "label": self.label, "shop": self.shop, "date": self.date,
            "unit": self.unit, "eligible": self.eligible, "met": self.met, "missed": self.eligible - self.met,
            "rate": self.rate, "threshold": self.threshold, "passed": self.passed,
            "penalty": self.penalty, "currency": self.currency, "evaluated_on": self.evaluated_on,
        }


class MetricTracker:
    """Counts one metric for every shop of a replay."""

    def __init__(self, metric: ir.Metric, clock: LocalClock):
        self.metric = metric
        self.clock = clock
        # the behaviours of the names the metric gives, read once (registry.py)
        self.unit = metric.unit.name if metric.unit else registry.DEFAULT_UNIT
        self.per_consumer_day = registry.METRIC_UNITS.behaviour(self.unit).per_consumer_day
        start = registry.CLOCK_STARTS.behaviour(metric.clock_start.name if metric.clock_start
                                                else registry.DEFAULT_CLOCK_START)
        # consumer_day without `first_question`: every question of the day in the window is timed, and
        # the consumer-day is met only if all of them are answered in time
        self.every_question = self.per_consumer_day and not start.first_only
        self.deadline = float(metric.deadline or 0)
        self.natural_day = bool(metric.natural_day)
        self.effective = {ref.name for ref in metric.effective}
        self.any_auto = registry.ANY_AUTO_REPLY in self.effective
        self.clock_at_assignment = start.at_assignment
        # A session timer without `clock restarts on consumer message` measures only the first
        # question after each assignment; these consumers had theirs (consumer → when).
        self.once_per_assignment = self.clock_at_assignment and not metric.clock_restart
        self.measured: dict[tuple[str, str], float] = {}
        counting = registry.Counting()
        for ref in metric.counts:
            counting = registry.METRIC_COUNTS.behaviour(ref.name)(counting)
        self.dedup = counting.dedup
        self.transfer_rule = counting.transfer_ineffective
        # assistant_as_account: each consumer the assistant answers on a day is a reception of its own,
        # met unless assistant_unanswered_ineffective makes its answer an ineffective reply
        self.assistant_rule = counting.assistant_account
        self.assistant_met = int(not counting.assistant_ineffective)
        self._plain = not self.dedup and not self.every_question   # a settled question is a unit of its own
        self.evaluated_on = metric.evaluated_on.name if metric.evaluated_on else registry.DEFAULT_EVALUATION
        self._penalty_when = tuple((registry.CONDITION_VARIABLES.behaviour(c.variable.name), _OPS[c.op], c.value)
                                   for c in (metric.penalty.when if metric.penalty else ()))
        # Today's questions waiting for an effective reply; nothing else refers to a question, so an
        # answered one is freed at once (each new day closes the day before's, see _roll_day).
        self.pending: dict[tuple[str, str], Pending] = {}
        # Questions of an earlier day still inside their deadline (one asked at 23:58 with 3 minutes
        # and no natural-day cut): they take no more messages but a reply may still meet them.
        self.carried: dict[tuple[str, str], Pending] = {}
        self.totals: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0])
        self.receptions: dict[tuple[str, date], set] = defaultdict(set)
        # consumers with a consumer-day, by shop and day (→ its [counted, met] when every question is timed)
        self.consumer_days: dict[tuple[str, date], dict[str, list | None]] = defaultdict(dict)
        self._today = date.min          # the local day of [_day_start, _day_end), none yet
        self._day_start = math.inf
        self._day_end = -math.inf
        self._day_uniform = True        # the day [_day_start, _day_end) has no DST change
        self._whole_day = False         # every moment of the day [_day_start, _day_end) is in the window
        self._window = tuple((r.start, r.end) for r in metric.window)
        # a window covering the whole day (00:00-24:00) holds every minute of a day without DST change
        self._all_day = any(start <= 0 and end >= 1440 for start, end in self._window)
        # told every unit counted: (shop, agent, start, met), met None when a unit counted met turns
        # missed (a consumer-day whose every question is timed); set by a report breakdown, else None
        self.on_outcome: Callable[[str, str | None, float, bool | None], None] | None = None

    # ---- observations --------------------------------------------------------
    def is_effective(self, kind: str, automatic: bool) -> bool:
        """Whether a reply of this sender kind answers a question for this metric."""
        return kind in self.effective or (automatic and self.any_auto)

    def cares_about(self, kind: str, automatic: bool) -> bool:
        """Whether a reply of this kind can change this metric (else `reply` does nothing)."""
        return self.is_effective(kind, automatic) or (kind == registry.ASSISTANT_SENDER and self.assistant_rule)

    def consumer_message(self, shop: str, consumer: str, ts: float, agent: str | None) -> None:
        """A consumer wrote, in a session with agent (None: not assigned); may start a question (or a consumer-day)."""
        if not (self._day_start <= ts < self._day_end):
            self._roll_day(ts)
        key = (shop, consumer)
        if key in self.pending:
            return
        day = self._today
        in_window = self._whole_day or self._in_window(ts)   # ts is in today, after the roll above
        unit = None
        if self.per_consumer_day:
            if not in_window:
                return
            seen = self.consumer_days[(shop, day)]
            if consumer in seen:
                if not self.every_question:
                    return
                unit = seen[consumer]
            else:
                unit = seen[consumer] = [False, False, None, 0.0] if self.every_question else None
        if self.once_per_assignment and key in self.measured:
            in_window = False
        if agent is not None or not self.clock_at_assignment:
            deadline = self._deadline(ts) if self.natural_day else ts + self.deadline
            self.pending[key] = Pending(ts, day, in_window, ts, deadline, agent, unit)
        else:  # the session timer starts at the assignment: forgotten in time unless assigned
            self.pending[key] = Pending(ts, day, in_window, None, None, agent, unit)

    def assigned(self, shop: str, consumer: str, ts: float, agent: str) -> None:
        """A consumer was assigned to a human agent; starts a clock that waits for it."""
        if not (self._day_start <= ts < self._day_end):
            self._roll_day(ts)
        key = (shop, consumer)
        if self.once_per_assignment:
            self.measured.pop(key, None)
        item = self.pending.get(key)
        if item is None:
            return
        if item.clock is None:
            item.clock = ts
            item.deadline = self._deadline(ts) if self.natural_day else ts + self.deadline
        if item.agent is None:
            item.agent = agent

    def reply(self, shop: str, consumer: str, ts: float, kind: str, automatic: bool = False) -> None:
        """A reply reached the consumer."""
        if self.assistant_rule and kind == registry.ASSISTANT_SENDER:
            self._assistant_reception(shop, consumer, ts)
        if not (kind in self.effective or (automatic and self.any_auto)):  # is_effective, inlined
            return
        # No day roll here: a reply after midnight to a question of the day before settles it as the
        # roll would (missed past its deadline, met inside it), and starts nothing.
        key = (shop, consumer)
        if self.carried:
            self._answer_carried(key, ts)
        item = self.pending.get(key)
        if item is None or ts < item.start:
            return
        del self.pending[key]
        deadline = item.deadline   # set with the clock
        if item.clock is None or deadline is None:
            return  # never assigned: not measured
        if self.once_per_assignment:
            self.measured[key] = ts
        if item.counted and self._plain:  # _settle, inlined for the common case
            total = self.totals[(shop, item.day)]
            total[0] += 1
            total[1] += ts <= deadline
            if self.on_outcome is not None:
                self.on_outcome(shop, item.agent, item.start, ts <= deadline)
        else:
            self._settle(shop, consumer, item, ts <= deadline)

    def transferred(self, shop: str, consumer: str, ts: float, from_agent: str | None, to_agent: str) -> None:
        """A transfer: without an effective reply first, the first reception is not effective."""
        if not self.transfer_rule:
            return
        if not (self._day_start <= ts < self._day_end):
            self._roll_day(ts)
        item = self.pending.get((shop, consumer))
        if item is None or item.clock is None:
            return
        item.agent = item.agent or from_agent
        self._settle(shop, consumer, item, False)
        self.pending[(shop, consumer)] = Pending(ts, item.day, item.counted, ts, self._deadline(ts), to_agent,
                                                 item.unit)

    # ---- outcomes ------------------------------------------------------------
    def _deadline(self, clock: float) -> float:
        due = clock + self.deadline
        if self.natural_day:
            _, midnight = self.clock.day_bounds(clock)
            due = min(due, midnight)
        return due

    def _settle(self, shop: str, consumer: str, item: Pending, met: bool) -> None:
        if not item.counted:
            return
        if item.unit is not None:
            self._settle_unit(shop, item, met)
            return
        if self.dedup:
            reception = (consumer, item.agent)
            seen = self.receptions[(shop, item.day)]
            if reception in seen:
                return
            seen.add(reception)
        total = self.totals[(shop, item.day)]
        total[0] += 1
        total[1] += int(met)
        if self.on_outcome is not None:
            self.on_outcome(shop, item.agent, item.start, met)

    def _settle_unit(self, shop: str, item: Pending, met: bool) -> None:
        """A question of a consumer-day settled: the day counts once, met while all its questions are.

        unit is [counted, met, agent, start] of the day's first settled question (a breakdown's unit).
        """
        unit = item.unit
        assert unit is not None
        total = self.totals[(shop, item.day)]
        if not unit[0]:
            unit[0], unit[1], unit[2], unit[3] = True, met, item.agent, item.start
            total[0] += 1
            total[1] += int(met)
            if self.on_outcome is not None:
                self.on_outcome(shop, item.agent, item.start, met)
        elif unit[1] and not met:
            unit[1] = False
            total[1] -= 1
            if self.on_outcome is not None:   # the unit counted met turns missed
                self.on_outcome(shop, unit[2], unit[3], None)

    def _in_window(self, ts: float) -> bool:
        """Whether ts falls in the metric's window (no window: always)."""
        if not self._window:
            return True
        if self._day_uniform and self._day_start <= ts < self._day_end:
            if self._all_day:
                return True
            minute = (ts - self._day_start) / 60.0
        else:
            minute = self.clock.minute(ts)
        for start, end in self._window:
            if start <= minute < end:
                return True
        return False

    def _assistant_reception(self, shop: str, consumer: str, ts: float) -> None:
        if not self._in_window(ts):
            return
        day = self.clock.day(ts)
        seen = self.receptions[(shop, day)]
        if (consumer, ASSISTANT_ACCOUNT) not in seen:
            seen.add((consumer, ASSISTANT_ACCOUNT))
            total = self.totals[(shop, day)]
            total[0] += 1
            total[1] += self.assistant_met
            if self.on_outcome is not None:
                self.on_outcome(shop, ASSISTANT_ACCOUNT, ts, bool(self.assistant_met))

    def _answer_carried(self, key: tuple[str, str], ts: float) -> None:
        """An effective reply to a consumer with a question of an earlier day still inside its deadline."""
        item = self.carried.pop(key, None)
        if item is not None and item.deadline is not None and ts >= item.start:
            self._settle(key[0], key[1], item, ts <= item.deadline)

    def _roll_day(self, ts: float) -> None:
        """On a new local day: close every question of an earlier day, forget old state.

        A question takes the consumer's messages until the end of its local day, so the
        next day starts with no question open and a message then starts a new one (a new
        consumer-day). An unanswered question past its deadline is counted missed; one
        still inside it (asked just before midnight, no natural-day cut) is carried until
        its reply or the next day; one never clocked (never assigned) is not measured.
        """
        day = self.clock.day(ts)
        self._day_start, self._day_end = self.clock.day_bounds(ts)
        self._day_uniform = self.clock.uniform(ts)
        self._whole_day = not self._window or (self._all_day and self._day_uniform)
        if day == self._today:
            return
        self._today = day
        # The order of settling does not matter: a consumer has one question at a time, so each adds
        # one missed unit (or none if its reception was counted already).
        carried = {}
        for key, item in self.carried.items():
            if item.deadline is not None and item.deadline >= ts:
                carried[key] = item
            else:
                self._settle(key[0], key[1], item, False)
        kept = {}
        for key, item in self.pending.items():
            deadline = item.deadline
            if item.day >= day:   # events fed out of time order through the API
                kept[key] = item
            elif deadline is None or not item.counted:
                continue   # never clocked, or outside the window: nothing to count
            elif deadline < ts:
                self._settle(key[0], key[1], item, False)
            else:
                carried[key] = item
        self.pending, self.carried = kept, carried
        horizon = ts - FORGET_AFTER
        for key in [k for k, when in self.measured.items() if when < horizon]:
            del self.measured[key]
        # a carried question is still counted on its own day, once per reception
        oldest = min((item.day for item in carried.values()), default=day)
        for old in [k for k in self.receptions if k[1] < oldest]:
            del self.receptions[old]
        for old in [k for k in self.consumer_days if k[1] < day]:
            del self.consumer_days[old]

    def finish(self) -> None:
        """End of the log: every question still waiting is missed."""
        for (shop, consumer), item in sorted(self.carried.items(), key=lambda kv: kv[1].start):
            self._settle(shop, consumer, item, False)
        for (shop, consumer), item in sorted(self.pending.items(), key=lambda kv: kv[1].start):
            if item.clock is not None:
                self._settle(shop, consumer, item, False)
        self.carried.clear()
        self.pending.clear()

    def mark_day(self, shop: str, day: date) -> None:
        """Make sure a day the shop was active appears in the report, even with nothing counted."""
        self.totals[(shop, day)]

    def rows(self) -> list[MetricRow]:
        """The metric per shop and day, with pass/fail and penalty."""
        out = []
        m = self.metric
        for (shop, day), (eligible, met) in sorted(self.totals.items()):
            rate = round(met / eligible, 6) if eligible else None
            threshold = passed = None
            if m.threshold:
                threshold = {"op": m.threshold.op, "value": m.threshold.value}
                passed = _OPS[m.threshold.op](rate, m.threshold.value) if rate is not None else None
            penalty = 0
            if m.penalty and all(_holds(figure(eligible, met), op, bound) for figure, op, bound in self._penalty_when):
                penalty = m.penalty.amount
            out.append(MetricRow(
                metric=m.name, label=m.label, shop=shop, date=day.isoformat(), unit=self.unit,
                eligible=eligible, met=met, rate=rate, threshold=threshold, passed=passed, penalty=penalty,
                currency=m.penalty.currency if m.penalty else None,
                evaluated_on=self.evaluated_on,
            ))
        return out


def _holds(value: float | int | None, op: Callable[[float, float], bool], bound: float) -> bool:
    return value is not None and op(value, bound)
