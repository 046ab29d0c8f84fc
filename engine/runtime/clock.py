"""Local time for a shop: the calendar day and minute of an epoch timestamp, cached per day."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .. import ir

DEFAULT_TIMEZONE = "Asia/Shanghai"
"""The time zone of a policy that names none (the platforms are Chinese)."""

# "HH:MM:" of every minute of a day and "SS" of every second: iso() joins precomputed text.
_MINUTE_TEXT = tuple(f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60))
_SECOND_TEXT = tuple(f"{s:02d}" for s in range(60))


def policy_timezone(policy: ir.Policy) -> str:
    """The IANA name of the policy's time zone (its `timezone`, else DEFAULT_TIMEZONE)."""
    zone = policy.effective.timezone
    return zone.name if zone else DEFAULT_TIMEZONE


class LocalClock:
    """Maps epoch seconds to local dates and minutes; recomputes only when the day changes."""

    __slots__ = ("tz", "_start", "_end", "_date", "_date_text", "_date_t", "_offset_text", "_uniform")

    def __init__(self, tz_name: str):
        self.tz = ZoneInfo(tz_name)
        self._start = 1.0
        self._end = 0.0
        self._date = date.min   # of the day cached in [_start, _end), empty until the first call
        self._date_text = ""
        self._date_t = ""
        self._offset_text = ""
        self._uniform = True

    def _load(self, ts: float) -> None:
        local = datetime.fromtimestamp(ts, self.tz)
        day = local.date()
        start = datetime.combine(day, time(0), self.tz).timestamp()
        end = datetime.combine(day + timedelta(days=1), time(0), self.tz).timestamp()
        self._date, self._start, self._end = day, start, end
        self._date_text = day.isoformat()
        self._date_t = self._date_text + "T"
        self._offset_text = local.isoformat()[-6:]
        # On a day with a DST change, wall-clock time is not seconds since midnight.
        self._uniform = end - start == 86400

    def day(self, ts: float) -> date:
        """The local calendar date of ts."""
        if not (self._start <= ts < self._end):
            self._load(ts)
        return self._date

    def day_bounds(self, ts: float) -> tuple[float, float]:
        """Epoch seconds of the local midnight starting and ending ts's day."""
        if not (self._start <= ts < self._end):
            self._load(ts)
        return self._start, self._end

    def minute(self, ts: float) -> float:
        """Minutes since local midnight (fractional)."""
        if not (self._start <= ts < self._end):
            self._load(ts)
        return (ts - self._start) / 60.0

    def uniform(self, ts: float) -> bool:
        """True when ts's day has no DST change (wall clock = seconds since midnight)."""
        if not (self._start <= ts < self._end):
            self._load(ts)
        return self._uniform

    def day_text(self, ts: float) -> str:
        """The local date of ts as YYYY-MM-DD."""
        if not (self._start <= ts < self._end):
            self._load(ts)
        return self._date_text

    def iso(self, ts: float) -> str:
        """RFC 3339 local time with offset, to the second (deterministic)."""
        if not (self._start <= ts < self._end):
            self._load(ts)
        if not self._uniform:
            return datetime.fromtimestamp(ts, self.tz).isoformat(timespec="seconds")
        minute, second = divmod(int(ts - self._start), 60)
        return f"{self._date_t}{_MINUTE_TEXT[minute]}{_SECOND_TEXT[second]}{self._offset_text}"
