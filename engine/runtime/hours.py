"""A shop's working hours (hours, split shifts, weekdays, holidays) at a moment."""

from __future__ import annotations

import math
from datetime import date, timedelta

from .. import ir
from .clock import LocalClock

DAY_MINUTES = 1440
ONE_DAY = timedelta(days=1)


class WorkingHours:
    """Answers "is the shop at work at ts?" from its `hours` and `holiday` rules.

    A holiday's own hours replace everything on its dates (none: closed); rules
    naming weekdays replace the every-day rules on those weekdays; a shop with no
    `hours` at all is always at work. A range over midnight (07:00-01:00, end past
    1440) belongs to the day it starts: its tail is open the next morning whatever
    that day's rules are, a holiday included. Each local day's ranges are worked out once.
    """

    def __init__(self, shop: ir.Shop, clock: LocalClock | None = None):
        """clock: the shop's local time, which open_at needs (ranges_on does not)."""
        self.clock = clock
        self.every_day = [r for rule in shop.hours if rule.days is None for r in rule.ranges]
        self.by_weekday: dict[int, list[ir.ClockRange]] = {}
        for rule in shop.hours:
            for day in rule.days or ():
                self.by_weekday.setdefault(day, []).extend(rule.ranges)
        self.holidays = list(shop.holidays)
        self.any_hours = bool(shop.hours)
        self.always = not shop.hours and not shop.holidays
        self._day: date | None = None
        self._ranges: tuple[tuple[int, int], ...] = ()
        # the last answer and the epoch span [_since, _until) it holds for (a log goes forward in time)
        self._since = math.inf
        self._until = -math.inf
        self._open = True

    def holiday(self, day: date) -> ir.Holiday | None:
        """The holiday rule covering a local date, if any."""
        return next((h for h in self.holidays if h.start <= day <= h.end), None)

    def ranges_on(self, day: date) -> tuple[tuple[int, int], ...]:
        """The (start, end) minutes the shop works on a local date."""
        holiday = self.holiday(day)
        if holiday is not None:
            return tuple((r.start, r.end) for r in holiday.ranges)
        if not self.any_hours:   # no `hours` at all: at work all day, but for its holidays
            return ((0, 1440),)
        ranges = self.by_weekday.get(day.weekday(), self.every_day)
        return tuple((r.start, r.end) for r in ranges)

    def ranges_in_day(self, day: date) -> tuple[tuple[int, int], ...]:
        """The (start, end) minutes of day's own ranges and of the previous day's tails past midnight
        (as negative starts: (-60, 60) is the tail of 23:00-01:00), in the minutes of day."""
        if day == date.min:
            return self.ranges_on(day)
        tails = tuple((start - DAY_MINUTES, end - DAY_MINUTES) for start, end in self.ranges_on(day - ONE_DAY)
                      if end > DAY_MINUTES)
        return self.ranges_on(day) + tails

    def open_at(self, ts: float) -> bool:
        """Whether ts falls inside the shop's working hours."""
        if self._since <= ts < self._until:
            return self._open
        if self.always:
            return True
        assert self.clock is not None, "open_at needs the shop's clock"
        day = self.clock.day(ts)
        if day != self._day:
            self._day, self._ranges = day, self.ranges_in_day(day)
        minute = self.clock.minute(ts)
        is_open = any(start <= minute < end for start, end in self._ranges)
        # the answer holds until the next range starts or ends, or the day ends
        start_of_day, end_of_day = self.clock.day_bounds(ts)
        edges = [edge for start, end in self._ranges for edge in (start, end) if edge > minute]
        until = min(start_of_day + min(edges) * 60, end_of_day) if edges else end_of_day
        self._since, self._until, self._open = ts, until, is_open
        return is_open
