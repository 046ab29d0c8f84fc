"""`--staff plan.yaml`: who is present in a what-if replay, by shift, instead of (or besides) the log's agents.

A plan (docs/whatif.md, "Staffing plans"):

    version: 1
    presence: plan            # plan: the log's agent_status events are dropped; log+plan: kept, the plan added
    shifts:
      - agents: [lin, chen]   # named agents
        hours: "09:00-18:00"
      - group: presale        # a head count: agents presale+1 … presale+3 of the group
        count: 3
        hours: "20:00-23:00"
        days: [2026-11-11]    # only these local days of the log (default: every day)
        max_sessions: 20      # their cap (default: the policy's)

Each shift puts its agents online at its start and offline at its end, on each local day of the log
(from its first event's day to its last's); `hours` may run over midnight ("22:00-02:00": the end is the
next day's), and "24:00" is the day's end. An agent in two shifts of a day is present over their union.
The agents a head count adds are named `GROUP+1`, `GROUP+2`, … (the same names in every shift and day),
and join the group; they answer with the shop's pooled delays (they are not in the model).
"""

from __future__ import annotations

import math
from collections import deque
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Iterable, Iterator, Literal, Optional
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..events import Event
from ..runtime.clock import LocalClock
from .model import read_mapping, validated

MODEL_LINE = 0
"""The line of an event the model or a plan made (it names no log line)."""


class StaffError(Exception):
    """A plan that cannot be used: what is wrong, where."""


class Shift(BaseModel):
    """Agents present over some hours of some days."""

    model_config = ConfigDict(extra="forbid")

    agents: Optional[list[str]] = None
    group: Optional[str] = None
    count: Optional[int] = Field(None, ge=1, le=10_000)
    hours: str
    days: Optional[list[date]] = None
    max_sessions: Optional[int] = Field(None, ge=1)

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        start, dash, end = value.partition("-")
        begins, ends = _minutes(start), _minutes(end)
        if not dash or begins is None or ends is None or begins in (ends, ends + 24 * 60):
            raise ValueError(f"hours must be HH:MM-HH:MM (two different times, 24:00 at most), not {value!r}")
        return value

    @model_validator(mode="after")
    def _who(self) -> "Shift":
        if (self.agents is None) == (self.count is None):
            raise ValueError("a shift names its agents (agents: [...]) or a head count (group: NAME, count: N), one of them")
        if self.count is not None and self.group is None:
            raise ValueError("a head count needs the group its agents join (group: NAME)")
        if self.agents is not None and not self.agents:
            raise ValueError("agents: the list is empty")
        return self

    def names(self) -> list[str]:
        """The agents of the shift."""
        return list(self.agents) if self.agents is not None else [f"{self.group}+{i}" for i in range(1, (self.count or 0) + 1)]

    def span(self, day: date, zone: ZoneInfo) -> tuple[float, float]:
        """The shift's start and end on a local day, as epoch seconds (an end before the start is the next day's)."""
        start_text, _, end_text = self.hours.partition("-")
        start, end = _minutes(start_text), _minutes(end_text)
        assert start is not None and end is not None   # checked when the plan was read
        if end <= start:
            end += 24 * 60
        midnight = datetime.combine(day, time(0), zone)
        return _epoch(midnight, start, zone), _epoch(midnight, end, zone)


class StaffPlan(BaseModel):
    """A staffing plan: its shifts, and whether the log's own presence is kept."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    presence: Literal["plan", "log+plan"] = "plan"
    shifts: list[Shift]


def _minutes(text: str) -> int | None:
    hours, sep, minutes = text.strip().partition(":")
    if not sep or not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        return None
    value = int(hours) * 60 + int(minutes)
    return value if int(minutes) < 60 and value <= 24 * 60 else None


def _epoch(midnight: datetime, minutes: int, zone: ZoneInfo) -> float:
    """The epoch of a wall-clock time `minutes` after a local midnight (past 24:00: the next day's)."""
    day = midnight.date() + timedelta(days=minutes // (24 * 60))
    minutes %= 24 * 60
    return datetime.combine(day, time(minutes // 60, minutes % 60), zone).timestamp()


def load_plan(path: Path) -> StaffPlan:
    """Read a plan; StaffError says what is wrong (with the YAML's line where it has one)."""
    try:
        data = read_mapping(path, StaffError, "a staffing plan is a mapping with `shifts:` (docs/whatif.md)")
    except OSError as err:
        raise StaffError(f"{path}: cannot read: {err.strerror or err}") from None
    return validated(StaffPlan, data, path, StaffError)


def presence_events(plan: StaffPlan, shop: str | None, first: float, last: float, zone: ZoneInfo) -> list[Event]:
    """The agent_status events of the plan over the local days from first to last, in time order."""
    days = _days(first, last, zone)
    spans: dict[str, list[tuple[float, float, Shift]]] = {}
    for shift in plan.shifts:
        for day in days:
            if shift.days is not None and day not in shift.days:
                continue
            start, end = shift.span(day, zone)
            for name in shift.names():
                spans.setdefault(name, []).append((start, end, shift))
    events: list[tuple[float, int, str, Event]] = []
    for name, intervals in spans.items():
        for start, end, shift in _union(intervals):
            online = Event(MODEL_LINE, start, "agent_status", shop=shop, agent=name, status="online",
                           group=shift.group, max_sessions=shift.max_sessions)
            events.append((start, 1, name, online))
            events.append((end, 0, name, Event(MODEL_LINE, end, "agent_status", shop=shop, agent=name, status="offline")))
    events.sort(key=lambda e: e[:3])   # at one instant, those leaving before those arriving
    return [e[3] for e in events]


def with_plan(plan: StaffPlan, events: Iterable[Event], zone: ZoneInfo) -> Iterator[Event]:
    """The log's events with the plan's presence merged in, in time order (at one instant, the log's first);
    the log's own agent_status events dropped unless the plan's presence is log+plan. The plan's days are the
    log's, from its first event's to its last's (presence_events), worked out as the log is read: a shift
    starts on its own day, so the plan's events before a day's end are final once the days up to it are known,
    and nothing of the log is held."""
    keep_status = plan.presence == "log+plan"
    pending: deque[Event] = deque()   # the plan's events worked out, not yet merged in
    first = last = None
    horizon = -math.inf               # the plan's events before it are worked out
    clock = LocalClock(zone.key)
    for event in events:
        if first is None:
            first = event.ts
        last = event.ts
        if event.ts >= horizon:
            day_end = clock.day_bounds(event.ts)[1]   # the next local midnight
            pending.extend(e for e in presence_events(plan, None, max(first, horizon - RECENT), event.ts, zone)
                           if horizon <= e.ts < day_end)
            horizon = day_end
        while pending and pending[0].ts < event.ts:
            yield pending.popleft()
        if keep_status or event.type != "agent_status":
            yield event
    if first is not None and last is not None:
        yield from pending
        yield from (e for e in presence_events(plan, None, max(first, horizon - RECENT), last, zone) if e.ts >= horizon)


RECENT = 2 * 86400
"""How far back of the plan's next events to work the plan out again: a shift ends before the midnight after
the day it starts, so earlier days give none of them (and the work per day stays constant, not the whole log's)."""


def _days(first: float, last: float, zone: ZoneInfo) -> list[date]:
    day, end = datetime.fromtimestamp(first, zone).date(), datetime.fromtimestamp(last, zone).date()
    out = []
    while day <= end:
        out.append(day)
        day += timedelta(days=1)
    return out


def _union(intervals: list[tuple[float, float, Shift]]) -> list[tuple[float, float, Shift]]:
    """Overlapping or touching intervals of one agent as one (the first shift's group and cap)."""
    out: list[tuple[float, float, Shift]] = []
    for start, end, shift in sorted(intervals, key=lambda i: (i[0], i[1])):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end), out[-1][2])
        else:
            out.append((start, end, shift))
    return out


def unknown_agents(plan: StaffPlan, agents: set[str]) -> list[str]:
    """The agents the plan names that no policy replayed declares (they are present and take consumers all
    the same, as an agent of the log the policy does not name does; a typo is worth a word)."""
    return sorted({name for shift in plan.shifts for name in shift.agents or () if name not in agents})


def unknown_groups(plan: StaffPlan, groups: set[str]) -> list[str]:
    """The groups the plan's head counts join that no policy replayed has (their agents would take no consumer)."""
    return sorted({shift.group for shift in plan.shifts
                   if shift.count is not None and shift.group is not None and shift.group not in groups})
