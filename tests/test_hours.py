"""Working hours: the answer for any moment, asked in order (cached) or out of order."""

from datetime import date, datetime, timedelta

import pytest
from zoneinfo import ZoneInfo

from engine.loader import Loader
from engine.runtime.clock import LocalClock
from engine.runtime.hours import WorkingHours

CST = ZoneInfo("Asia/Shanghai")
POLICY = """\
shop "s" on douyin
hours 08:00-12:00, 13:00-24:00
hours sat, sun 09:00-22:00
holiday 2026-11-13 closed
"""


def shop_of(tmp_path):
    path = tmp_path / "s.kefu"
    path.write_text(POLICY, encoding="utf-8")
    return Loader().load(path).policy.shop


def hours_of(shop) -> WorkingHours:
    return WorkingHours(shop, LocalClock("Asia/Shanghai"))


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=CST).timestamp()


def test_edges_by_hand(tmp_path):
    hours = hours_of(shop_of(tmp_path))
    # Wednesday 2026-11-11: 08:00-12:00 and 13:00-24:00 (a range's end is not in it)
    assert [hours.open_at(at(f"2026-11-11T{t}")) for t in
            ("07:59:59", "08:00:00", "11:59:59", "12:00:00", "12:59:59", "13:00:00", "23:59:59")] == [
            False, True, True, False, False, True, True]
    assert hours.open_at(at("2026-11-13T10:00:00")) is False    # Friday, a holiday: closed all day
    assert hours.open_at(at("2026-11-14T08:30:00")) is False    # Saturday opens at 09:00
    assert hours.open_at(at("2026-11-14T21:59:00")) is True
    assert hours.open_at(at("2026-11-14T22:00:00")) is False
    assert hours.open_at(at("2026-11-11T12:30:00")) is False    # back in time: asked afresh


def test_asked_in_order_same_as_asked_afresh(tmp_path):
    shop = shop_of(tmp_path)
    hours = hours_of(shop)
    start = datetime(2026, 11, 11, tzinfo=CST)
    for step in range(0, 5 * 24 * 60, 7):   # every 7 minutes over five days (weekday, holiday, weekend)
        ts = (start + timedelta(minutes=step, seconds=step % 60)).timestamp()
        assert hours.open_at(ts) == hours_of(shop).open_at(ts), datetime.fromtimestamp(ts, CST)


def test_a_shop_with_holidays_but_no_hours_works_every_other_day(tmp_path):
    # docs/language.md: "a shop with no `hours` is always at work"; a holiday closes its own dates.
    path = tmp_path / "h.kefu"
    path.write_text('shop "s" on douyin\nholiday 2026-10-01..2026-10-03 closed\n', encoding="utf-8")
    hours = hours_of(Loader().load(path).policy.shop)
    assert hours.open_at(at("2026-10-02T12:00:00")) is False
    assert hours.open_at(at("2026-10-05T03:00:00")) is True
    assert hours.ranges_on(date(2026, 10, 5)) == ((0, 1440),)


# Overnight shifts: 2026-11-13 is a Friday, 11-14 Saturday, 11-15 Sunday, 11-16 Monday, 11-17 Tuesday.
OVERNIGHT = """\
shop "s" on douyin
hours mon-fri 07:00-01:00
holiday 2026-11-17 closed
holiday 2026-12-31 09:00-02:00
"""


def overnight_shop(tmp_path, text: str = OVERNIGHT):
    path = tmp_path / "night.kefu"
    path.write_text(text, encoding="utf-8")
    result = Loader().load(path)
    assert result.diagnostics == [] and result.policy is not None
    return result.policy.shop


def test_a_shift_over_midnight_belongs_to_the_day_it_starts(tmp_path):
    shop = overnight_shop(tmp_path)
    expected = {
        "2026-11-13T06:59:59": False, "2026-11-13T07:00:00": True, "2026-11-13T23:59:59": True,  # Friday
        "2026-11-14T00:00:00": True, "2026-11-14T00:30:00": True, "2026-11-14T00:59:59": True,   # Friday's tail
        "2026-11-14T01:00:00": False, "2026-11-14T07:00:00": False,                              # Saturday: no shift
        "2026-11-16T00:30:00": False,                          # Monday morning: Sunday had no shift
        "2026-11-16T07:00:00": True,
        "2026-11-17T00:30:00": True,    # Tuesday is a holiday, closed: Monday's shift still runs to 01:00
        "2026-11-17T01:00:00": False, "2026-11-17T12:00:00": False,
        "2026-11-18T00:30:00": False,   # the holiday had no shift, so no tail on Wednesday
        "2026-12-31T08:59:59": False, "2026-12-31T09:00:00": True,    # a holiday's own hours over midnight
        "2027-01-01T00:30:00": True, "2027-01-01T01:59:59": True, "2027-01-01T02:00:00": False,
        "2027-01-01T07:00:00": True,    # Friday 2027-01-01: its own shift
    }
    assert {text: hours_of(shop).open_at(at(text)) for text in expected} == expected   # each asked afresh
    hours = hours_of(shop)
    assert {text: hours.open_at(at(text)) for text in sorted(expected)} == expected    # cached, in time order


def test_two_ranges_meeting_at_midnight_are_one_shift(tmp_path):
    # 07:00-24:00 plus 00:00-01:00 every day: open from 07:00 to 01:00 the next day, closed 01:00-07:00
    hours = hours_of(overnight_shop(tmp_path, 'shop "s" on douyin\nhours 07:00-24:00, 00:00-01:00\n'))
    assert [hours.open_at(at(f"2026-11-11T{t}")) for t in ("00:59:59", "01:00:00", "06:59:59", "07:00:00", "23:59:59")] \
        == [True, False, False, True, True]
    assert hours.open_at(at("2026-11-12T00:00:00")) is True


def test_overnight_answers_in_order_same_as_asked_afresh(tmp_path):
    shop = overnight_shop(tmp_path)
    hours = hours_of(shop)
    start = datetime(2026, 11, 12, tzinfo=CST)
    for step in range(0, 7 * 24 * 60, 11):   # every 11 minutes over a week (weekdays, weekend, holiday)
        ts = (start + timedelta(minutes=step, seconds=step % 60)).timestamp()
        assert hours.open_at(ts) == hours_of(shop).open_at(ts), datetime.fromtimestamp(ts, CST)


# ---- the checker: overlapping shifts over midnight, holidays that disagree ----------------------------

def diagnostics_of(tmp_path, text: str) -> list[tuple[str, int, int, list[tuple[int, int]]]]:
    """(code, line, column, [(line, column) of each note]) of each diagnostic of a policy."""
    path = tmp_path / "d.kefu"
    path.write_text(text, encoding="utf-8")
    diagnostics = Loader().load(path).diagnostics
    assert all(d.span is not None for d in diagnostics)
    return [(d.code, d.span.line, d.span.column, [(s.line, s.column) for _, s in d.notes]) for d in diagnostics]


@pytest.mark.parametrize("hours, expected", [
    # every day 07:00-01:00 and 00:00-02:00: each morning 00:00-01:00 is in both (yesterday's tail, today's range)
    ("hours 07:00-01:00, 00:00-02:00", [("W402", 2, 20, [(2, 7)])]),
    # Friday's shift runs to 01:00 on Saturday, whose own range starts at 00:30
    ("hours fri 07:00-01:00\nhours sat 00:30-02:00", [("W402", 3, 11, [(2, 11)])]),
    # the tail lands on Saturday, not on Sunday
    ("hours fri 07:00-01:00\nhours sun 00:30-02:00", []),
    # Monday's tail lands on Tuesday, which has no rule of its own: the every-day ranges apply
    ("hours mon 20:00-02:00\nhours 00:00-03:00", [("W402", 3, 7, [(2, 11)])]),
    # ... but not on Wednesday, which has its own
    ("hours tue 20:00-02:00\nhours 00:00-03:00\nhours wed 03:00-04:00", []),
    # a tail that ends where the next range starts does not overlap it
    ("hours 07:00-01:00\nhours sat 01:00-02:00", []),
    # every day has a rule of its own: the every-day range applies on no day, its tail on none
    ("hours 07:00-01:00\nhours mon-sun 00:00-02:00", []),
])
def test_overlap_warning_sees_the_tail_of_a_shift_over_midnight(tmp_path, hours, expected):
    assert diagnostics_of(tmp_path, f'shop "s" on douyin\n{hours}\n') == expected


def test_holidays_that_disagree_about_a_date_are_an_error_and_repeats_a_warning(tmp_path):
    text = ('shop "s" on douyin\n'
            "holiday 2026-10-01..2026-10-07 closed\n"        # 2
            "holiday 2026-10-05 09:00-17:00\n"               # 3: 10-05 is closed by line 2
            "holiday 2026-10-07..2026-10-08 closed\n"        # 4: 10-07 again, closed again
            "holiday 2026-10-10 9:00-17:00\n"                # 5
            "holiday 2026-10-10 09:00-17:00\n"               # 6: the same hours, written the same way or not
            "holiday 2026-10-11 09:00-17:00\n"               # 7: a date of its own
            "holiday 2026-10-09 22:00-02:00\n")              # 8: its tail on 10-10 belongs to 10-09: no clash
    assert diagnostics_of(tmp_path, text) == [
        ("E408", 3, 1, [(2, 1)]), ("W407", 4, 1, [(2, 1)]), ("W407", 6, 1, [(5, 1)])]


def test_a_holiday_starting_before_another_is_the_other_holiday(tmp_path):
    # reported at the holiday that starts later, whatever the order in the file
    text = 'shop "s" on douyin\nholiday 2026-10-05 closed\nholiday 2026-10-01..2026-10-07 10:00-16:00\n'
    assert diagnostics_of(tmp_path, text) == [("E408", 2, 1, [(3, 1)])]
