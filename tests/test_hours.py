"""Working hours: the answer for any moment, asked in order (cached) or out of order."""

from datetime import date, datetime, timedelta
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
