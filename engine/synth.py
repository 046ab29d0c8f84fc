"""Synthetic event logs for a shop policy: realistic, deterministic input for `kefu replay`.

`generate_log` writes a JSON Lines event log (format: docs/events.md) that looks like a real desk's
export for the policy's shop:

- **Agents** are the policy's agents and group members (agents with ``im off`` never chat). Each
  day they work a shift derived from the shop's hours: when the shop is open 11 hours or more,
  members of a group take turns on shifts of 9.5 hours spread from opening to closing, each
  overlapping the next by an hour or more (two shifts, early and late, up to 18 hours open; three
  round the clock), rotating daily; a shift with nobody takes an agent from the most crowded one.
  Hours over midnight (``07:00-01:00``, or ``07:00-24:00`` with ``00:00-01:00`` the next day)
  are one working day, staffed from the day it starts to its end the next morning.
  They come online a little before or after the shift starts (the first ``online`` of the day
  carries ``max_sessions`` — the agent's cap, else its group's, else 10 — and the group), go
  offline during gaps in the hours and for lunch (or busy), take a few short busy breaks, and
  go offline at the end of the shift at slightly different times. The desk is not left empty
  during working hours when there is an agent for each shift: where everyone would be away,
  an agent on a break leaves later or comes back sooner (by up to 30 minutes) or takes it at
  the desk (busy), or one comes up to 30 minutes early or stays up to 30 minutes late (to the
  close at most).
- **Consumers** arrive on a daily curve with a morning peak (about 10:00), a larger evening
  peak (20:00–22:00) and a few arrivals at night, outside hours. ``consumers`` is the number of
  distinct consumers *per day*; some come back later the same day, and over several days some
  come back on a later day. A consumer opens the chat from one of the platform's pages (page
  is on the first message of a visit), writes 1–5 messages: questions that fit the page
  (pre-sale or after-sale), sometimes a product card (ids from the policy's product replies and
  quick phrases, plus some ids the policy does not name) or an order card, sometimes a keyword
  of the policy's keyword replies or quick phrases, and often ends with a closing phrase
  (the policy's, else 好的 / 谢谢).
- **Replies**: the agent who takes a consumer is an online agent of the pages' routing (or of the
  pre-sale / after-sale group), the least loaded relative to its cap most of the time. Reply
  delays are mostly under 3 minutes, some 3–40 minutes, about 4 % never; a reply due while the
  agent is offline waits until the agent is back. Consumers who write while nobody is online are
  answered by the first agent of the next shift, or never. Some conversations are transferred
  (before or after a first reply), some are ended by hand (often on Douyin, where agents must).
  On the first turn the shop robot (more on Pinduoduo and Taobao), the system auto reply or, on
  Taobao, the 千牛 assistant sometimes writes.

Output is byte-identical for the same policy, arguments and seed: all randomness comes from
one ``random.Random(seed)``, and events are written sorted by ``(ts, creation order)`` with
``ts`` as RFC 3339 in the shop's time zone (``+08:00`` for Asia/Shanghai), whole seconds.
Memory holds about one day of events at a time, so long logs can be generated.
"""

from __future__ import annotations

import gzip
import heapq
import math
import random
import sys
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from . import ir
from .events import standard_stream
from .registry import GENERATE_RATES, GENERATED_SENDERS
from .runtime.clock import DEFAULT_TIMEZONE, policy_timezone
from .runtime.hours import WorkingHours
from .source import overwritten_input, path_kind
from .runtime.state import DEFAULT_CAP

__all__ = ["generate_log", "generate_command", "write_samples", "SAMPLES", "HOURLY_ARRIVALS"]

HOUR = 3600
DAY = 86400
FIRST_DAY, LAST_DAY = date(1970, 1, 2), date(9989, 12, 30)   # the days a log may cover: event times' range

# Relative consumer arrivals per local hour (0–23): quiet night, morning peak ~10:00,
# lunch dip, evening peak 20:00–22:00.
HOURLY_ARRIVALS = (1.0, 0.5, 0.3, 0.15, 0.1, 0.15, 0.4, 1.0, 2.5, 4.5, 6.0, 5.0,
                   3.0, 3.5, 4.0, 4.0, 3.8, 3.5, 3.5, 4.5, 6.0, 6.5, 5.0, 2.5)

PRESALE_PAGES = ("shop_home", "product_detail")
PAGE_WEIGHTS = {"shop_home": 25, "product_detail": 40, "order_detail": 15, "refund_detail": 12,
                "logistics_complaint": 8}

PRESALE_QUESTIONS = ("这个有货吗", "这款还有货吗", "什么时候能发货", "可以便宜点吗", "有优惠券吗", "这两款有什么区别",
                     "质量怎么样", "包邮吗", "下单后多久能到", "有赠品吗", "现在下单有活动吗", "能保价吗")
AFTERSALE_QUESTIONS = ("我的快递怎么还没到", "物流三天没动了", "收到的东西坏了", "我要退款", "怎么退货",
                       "退款什么时候到账", "发错货了", "少发了一件", "能换一个吗", "申请了售后怎么没人处理",
                       "快递显示签收了但我没收到")
FOLLOW_UPS = ("在吗", "亲?", "还在吗", "嗯我看看", "那要多久", "麻烦帮我备注一下", "麻烦快点", "能帮我查一下吗",
              "行", "嗯嗯", "那我先拍了", "可以再便宜点吗", "具体什么时候")
CARD_TEXTS = ("这个", "这款", "帮我看看这个", "帮我查下这个订单", None, None)
KEYWORD_TEMPLATES = ("{kw}", "问下{kw}", "想咨询一下{kw}", "{kw}的问题", "{kw}?")
DEFAULT_CLOSINGS = ("好的", "谢谢", "好的谢谢")
PRESALE_ANSWERS = ("亲,有货的,现在拍下今天就能发", "亲,这款是现货哦", "亲,店铺首页可以领券哦", "亲,下单后48小时内发货",
                   "亲,质量放心,支持7天无理由", "亲,两款面料不一样,这款更厚实一些", "亲,全国包邮(偏远地区除外)")
AFTERSALE_ANSWERS = ("亲,我帮您查一下物流", "亲,非常抱歉,马上为您处理", "亲,麻烦拍个照片发过来", "亲,退款已经为您加急处理了",
                     "亲,已经给您备注了", "亲,已联系快递催件了,请再耐心等一下", "亲,给您补发一件,单号稍后发您")
GENERIC_ANSWERS = ("亲,在的", "好的亲", "亲,稍等我查一下", "亲,还有什么可以帮您?")
CLOSING_ANSWERS = ("不客气亲,有问题随时找我们", "好的亲,祝您生活愉快", "感谢您的支持~")
TRANSFER_GREETINGS = ("亲,我是售后客服,已经看到您的问题了", "亲,您好,这边为您继续处理", "亲,转接过来了,请稍等")
ROBOT_TEXTS = ("您好,我是智能客服,请问有什么可以帮您?", "亲,常见问题请点击下方菜单哦", "亲,物流信息可以在订单详情查看")
SYSTEM_TEXTS = ("当前咨询人数较多,请耐心等待", "客服已收到您的消息,正在赶来")
ASSISTANT_TEXTS = ("亲,您可以点击下方卡片查看物流信息", "抱歉,这个问题我暂时无法回答,已为您转人工")

MAX_CONSUMERS = 10_000_000
"""Most distinct consumers a day `generate` makes (a busy shop has thousands)."""

# The shipped sample logs: (file under samples/, example policy, first day, consumers a day, seed).
# Regenerate them with `python -m engine.synth` after changing the generator or the examples.
SAMPLES = (
    ("douyin-flagship.jsonl", "douyin-flagship.kefu", date(2026, 11, 11), 400, 1),
    ("pinduoduo-fruit.jsonl", "pinduoduo-fruit.kefu", date(2026, 11, 11), 150, 1),  # > 100 ask 08-23: penalty rule
    ("taobao-apparel.jsonl", "taobao-apparel.kefu", date(2026, 11, 11), 300, 1),
)

FIXED_ZONES = {"Asia/Shanghai": 8, "Asia/Hong_Kong": 8, "Asia/Taipei": 8, "Asia/Macau": 8, "UTC": 0, "Etc/UTC": 0}


def _rate(platform: ir.Platform, name: str) -> float:
    """The platform's generator rate (its `generate` block, else the registry's default); 0 for a sender it lacks."""
    if name in GENERATED_SENDERS and not any(s.name == name for s in platform.senders):
        return 0.0
    return platform.rate(name, GENERATE_RATES.behaviour(name))


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        if name in FIXED_ZONES:  # no tz database on this machine; these zones have no DST today
            return timezone(timedelta(hours=FIXED_ZONES[name]))
        raise ValueError(f"unknown time zone {name!r}") from None


def _no_chatting_agent(shop: ir.Shop) -> tuple[str, str] | None:
    """Why no agent of the shop can take a consumer, as (message, hint); None when one can."""
    names = shop.agent_names()
    if not names:
        return (f"shop {shop.name!r} has no agents, so none can take a consumer",
                "declare an agent: `agent NAME`, or list agents in a group: `group NAME { agents NAME, … }`")
    if names <= {a.name for a in shop.agents if not a.im}:
        return (f"every agent of shop {shop.name!r} has IM off (`im off`), so none can take a consumer",
                "give at least one agent IM permission: remove its `im off` (`im on` is the default)")
    return None


SHIFT_MINUTES = 9 * 60 + 30   # an agent's shift
MAX_STRETCH = 30               # minutes an agent comes early or stays late so that the desk is not left empty
HANDOVER_MINUTES = 60          # shifts that follow each other overlap at least this long
DAY_MINUTES = 1440


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted ranges with the ones that overlap or touch joined."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _continued(day: list[tuple[int, int]], next_first: tuple[int, int]) -> bool:
    """Whether the next day's first range carries on the shift of a day's last range past midnight."""
    if not day:
        return False
    start, end = day[-1]
    return 0 < start and end >= DAY_MINUTES and next_first[0] <= end - DAY_MINUTES and next_first[1] < DAY_MINUTES


def _shift_starts(lo: int, hi: int) -> tuple[list[int], int]:
    """Starts of the day's shifts and their length: one shift under 11 hours, else enough shifts of
    SHIFT_MINUTES, spread evenly from lo to hi, that each overlaps the next by HANDOVER_MINUTES or more."""
    span = hi - lo
    if span < 11 * 60:
        return [lo], span
    count = 2
    while count * SHIFT_MINUTES - (count - 1) * HANDOVER_MINUTES < span:
        count += 1
    step = (span - SHIFT_MINUTES) / (count - 1)
    return [lo + round(k * step) for k in range(count)], SHIFT_MINUTES


def _shifts(agents: list[_Agent], index: int, count: int) -> dict[str, int]:
    """The shift of each agent on day `index`: its rank in its group, turning one shift earlier each day;
    then, while a shift has nobody, an agent of the most crowded shift (of two or more) moves to it."""
    shift_of = {a.name: (a.rank - index) % count for a in agents}
    for empty in range(count):
        members = [name for name, shift in shift_of.items() if shift == empty]
        if members:
            continue
        crowded = max(range(count), key=lambda k: (sum(1 for s in shift_of.values() if s == k), -k))
        donors = [name for name, shift in shift_of.items() if shift == crowded]
        if len(donors) < 2:
            break
        shift_of[donors[-1]] = empty
    return shift_of


@dataclass
class _Plan:
    """An agent's status changes for a day, (minute from the day's midnight, status), and the earliest it may start."""

    agent: _Agent
    changes: list[tuple[float, str]]
    earliest: float


def _keep_desk(plans: list[_Plan], ranges: list[tuple[int, int]]) -> None:
    """Change the day's plans (without randomness) so that someone is online or busy throughout the working
    hours: where everyone is away, an agent on a break leaves later or comes back sooner (by up to
    MAX_STRETCH minutes) or takes it at the desk (busy), or one comes up to MAX_STRETCH minutes early to
    the shift or stays that much later. A hole nobody can fill (fewer agents than
    shifts) is left."""
    since = -math.inf
    for _ in range(8 * sum(len(p.changes) for p in plans) + 8):   # each patch fills a hole or a part of one
        hole = _first_hole(plans, ranges, since)
        if hole is None:
            return
        if not _fill(plans, *hole):
            since = hole[1]


def _first_hole(plans: list[_Plan], ranges: list[tuple[int, int]], since: float) -> tuple[float, float] | None:
    """The first stretch (from, to) of the ranges, from `since` on, in which no plan is online or busy."""
    at_desk = sorted((changes[i][0], changes[i + 1][0]) for changes in (p.changes for p in plans)
                     for i in range(len(changes) - 1) if changes[i][1] != "offline")
    for start, end in ranges:
        cursor = max(start, since)
        for desk_start, desk_end in at_desk:
            if cursor >= end:
                break
            if desk_start > cursor:
                return cursor, min(desk_start, end)
            cursor = max(cursor, desk_end)
        if cursor < end:
            return cursor, end
    return None


def _fill(plans: list[_Plan], start: float, end: float) -> bool:
    """Fill (the start of) the hole [start, end) by changing one plan; False when none can."""
    for plan in plans:   # away in the middle of the shift (lunch, a gap in the hours)
        changes = plan.changes
        for i in range(1, len(changes) - 1):
            away, back = changes[i][0], changes[i + 1][0]
            if changes[i][1] == "offline" and away <= start < back:
                if end < back and end - away <= MAX_STRETCH:
                    changes[i] = (end, "offline")          # leaves when someone is back
                elif back - start <= MAX_STRETCH:
                    changes[i + 1] = (start, changes[i + 1][1])   # comes back sooner
                else:
                    changes[i] = (away, "busy")            # takes the break at the desk
                return True
    early = [p for p in plans if start < p.changes[0][0] <= start + MAX_STRETCH and start >= p.earliest]
    if early:
        plan = min(early, key=lambda p: p.changes[0][0])
        plan.changes[0] = (start, plan.changes[0][1])
        return True
    late = [p for p in plans if p.changes[-1][0] <= start and end - p.changes[-1][0] <= MAX_STRETCH]
    if late:
        plan = max(late, key=lambda p: p.changes[-1][0])
        plan.changes[-1] = (end, "offline")
        return True
    return False


@dataclass(eq=False)
class _Agent:
    name: str
    group: str | None
    cap: int
    rank: int                                   # position within its group (shift rotation)
    times: list[int] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    active: list[int] = field(default_factory=list)  # end times of the consumers it serves

    def status_at(self, t: int) -> str:
        i = bisect_right(self.times, t) - 1
        return self.statuses[i] if i >= 0 else "offline"

    def next_online(self, t: int, limit: int) -> int | None:
        """The first time >= t (and <= limit) at which the agent is online."""
        if self.status_at(t) == "online":
            return t
        for i in range(bisect_right(self.times, t), len(self.times)):
            if self.times[i] > limit:
                return None
            if self.statuses[i] == "online":
                return self.times[i]
        return None

    def load(self, t: int) -> float:
        self.active = [end for end in self.active if end > t]
        return len(self.active) / self.cap


class _Generator:
    def __init__(self, policy: ir.Policy, rng: random.Random, zone: tzinfo):
        self.policy = policy
        self.rng = rng
        self.zone = zone
        shop = policy.shop
        self.shop = shop.name
        self.platform = policy.platform.name
        self.hours = WorkingHours(shop)
        self.events: list[tuple[int, int, dict]] = []
        self.seq = 0
        self.agents = self._agents()
        self.by_name = {a.name: a for a in self.agents}
        pages = [p.name for p in policy.platform.pages] or list(PAGE_WEIGHTS)
        self.pages = pages
        self.page_weights = [PAGE_WEIGHTS.get(p, 10) for p in pages]
        self.keywords = [kw for r in shop.replies if r.kind == "keyword" for kw in r.keywords]
        self.keywords += [kw for ph in shop.phrases for kw in ph.keywords if kw not in self.keywords]
        closings = [p for r in shop.replies if r.kind == "closing" for p in r.phrases]
        self.closings = closings or list(DEFAULT_CLOSINGS)
        self.products, self.other_products = self._products()
        faq = [item.answer for r in shop.replies if r.kind == "welcome" for item in r.faq if item.enabled]
        self.robot_texts = list(ROBOT_TEXTS) + faq
        self.robot_rate, self.system_rate, self.assistant_rate, self.hand_end_rate = (
            _rate(policy.platform, name) for name in ("robot", "system", "assistant", "hand_end"))
        self.groups = [g for g in shop.groups]
        self.routes = self._routes()
        self.next_consumer = 1
        self.seen_consumers: list[str] = []

    # ---- setup -------------------------------------------------------------------------------
    def _agents(self) -> list[_Agent]:
        shop = self.policy.shop
        limit = self.policy.platform.limit("max_sessions")
        declared = {a.name: a for a in shop.agents}
        order: list[str] = []
        group_of: dict[str, ir.Group] = {}
        for g in shop.groups:
            for ref in g.agents:
                group_of.setdefault(ref.name, g)
                if ref.name not in order:
                    order.append(ref.name)
        for a in shop.agents:
            if a.name not in order:
                order.append(a.name)
        agents: list[_Agent] = []
        ranks: dict[str | None, int] = {}
        for name in order:
            spec = declared.get(name)
            if spec is not None and not spec.im:
                continue
            group = group_of.get(name)
            cap = (spec.max_sessions if spec and spec.max_sessions else None) or (group.max_sessions if group else None) \
                or DEFAULT_CAP
            if limit is not None:
                cap = max(limit.minimum or 1, min(cap, limit.maximum or cap))
            key = group.name if group else None
            rank = ranks.get(key, 0)
            ranks[key] = rank + 1
            agents.append(_Agent(name, group.name if group else None, cap, rank))
        if not agents:
            reason = _no_chatting_agent(shop)
            assert reason is not None  # no agent made it: the shop has none, or every one is `im off`
            raise ValueError(reason[0])
        return agents

    def _products(self) -> tuple[list[str], list[str]]:
        shop = self.policy.shop
        named: list[str] = []
        for r in shop.replies:
            if r.kind == "product":
                named += [p.name for p in r.products if p.name not in named]
        for ph in shop.phrases:
            named += [p.name for p in ph.products if p.name not in named]
        if not named:
            return [f"p{i}" for i in range(1, 21)], []
        last = named[-1]
        digits = len(last) - len(last.rstrip("0123456789"))
        if digits:
            prefix, number = last[: len(last) - digits], int(last[len(last) - digits:])
            others = [f"{prefix}{number + k:0{digits}d}" for k in range(1, 18)]
        else:
            others = [f"p{i}" for i in range(1, 21)]
        return named, [p for p in others if p not in named]

    def _members(self, refs: list[ir.Ref]) -> list[_Agent]:
        groups = {g.name: g for g in self.policy.shop.groups}
        out: list[_Agent] = []
        for ref in refs:
            names = [a.name for a in groups[ref.name].agents] if ref.name in groups else [ref.name]
            out += [self.by_name[n] for n in names if n in self.by_name and self.by_name[n] not in out]
        return out

    def _routes(self) -> dict[str | None, list[_Agent]]:
        """Page → the agents a human desk would hand that consumer to."""
        routing = self.policy.shop.routing
        routes: dict[str | None, list[_Agent]] = {}
        if routing is not None and routing.pages:
            for pr in routing.pages:
                for page in pr.pages:
                    routes.setdefault(page.name, self._members(pr.targets))
            if routing.default:
                routes[None] = self._members(routing.default)
        elif len(self.groups) >= 2:
            pre, post = self._members([ir.Ref(name=self.groups[0].name)]), self._members([ir.Ref(name=self.groups[1].name)])
            for name in self.pages:
                routes[name] = pre if name in PRESALE_PAGES else post
            routes[None] = pre
        return routes

    # ---- events ------------------------------------------------------------------------------
    def emit(self, ts: int, fields: dict) -> None:
        fields["ts"] = ts
        self.events.append((ts, self.seq, fields))
        self.seq += 1

    def message(self, ts: int, sender: str, consumer: str, text: str | None, *, agent: str | None = None,
                page: str | None = None, card: dict | None = None) -> None:
        ev = {"ts": 0, "type": "message", "shop": self.shop, "sender": sender, "consumer": consumer}
        if agent is not None:
            ev["agent"] = agent
        if text is not None:
            ev["text"] = text
        if page is not None:
            ev["page"] = page
        if card is not None:
            ev["card"] = card
        self.emit(ts, ev)

    # ---- agents' day -------------------------------------------------------------------------
    def open_ranges(self, day: date) -> list[tuple[int, int]]:
        """The shop's working hours that day; a shop that names none is staffed 08:00-23:00."""
        if not self.policy.shop.hours and self.hours.holiday(day) is None:
            return [(8 * 60, 23 * 60)]
        return sorted(self.hours.ranges_on(day))

    def staffed_ranges(self, day: date) -> list[tuple[int, int]]:
        """The working hours the day's staff cover, in minutes from the day's midnight (merged).

        A day whose last range reaches midnight (and does not start at 00:00) also covers the next
        day's first range when that range continues it from 00:00 (`07:00-24:00, 00:00-01:00`: one
        shift to 01:00); that range is then the previous day's, not the next day's. A range over
        midnight (07:00-01:00) ends past 1440 and is the day's own.
        """
        ranges = _merged(self.open_ranges(day))
        if ranges and _continued(_merged(self.open_ranges(day - timedelta(days=1))), ranges[0]):
            ranges = ranges[1:]
        following = _merged(self.open_ranges(day + timedelta(days=1)))
        if ranges and following and _continued(ranges, following[0]):
            ranges = _merged(ranges + [(following[0][0] + DAY_MINUTES, following[0][1] + DAY_MINUTES)])
        return ranges

    def plan_day(self, day: date, index: int, midnight: int) -> None:
        """Status changes of every agent for one day (appended to the agents and emitted)."""
        rng = self.rng
        ranges = self.staffed_ranges(day)
        if not ranges:
            return
        lo, hi = ranges[0][0], max(end for _, end in ranges)
        gaps = [(a[1], b[0]) for a, b in zip(ranges, ranges[1:]) if b[0] > a[1]]
        starts, length = _shift_starts(lo, hi)
        shift_of = _shifts(self.agents, index, len(starts))
        plans: list[_Plan] = []
        for agent in self.agents:
            start = starts[shift_of[agent.name]]
            end = start + length
            on = start - rng.uniform(0, 12) if rng.random() < 0.8 else start + rng.uniform(0, 20)
            earliest = (agent.times[-1] - midnight) / 60 + 1 if agent.times else -math.inf
            on = max(on, earliest)   # after yesterday's shift, which may run past midnight
            off = end + rng.uniform(-15, 10)
            fixed: list[tuple[float, float, str]] = []  # gaps in the hours, lunch, dinner
            for g0, g1 in gaps:
                if on < g0 and g1 < off:
                    fixed.append((g0 + rng.uniform(-3, 4), g1 + rng.uniform(-6, 8), "offline"))
            if not fixed and on < 11 * 60 + 30 and off > 13 * 60 + 30:
                l0 = rng.uniform(11 * 60 + 20, 13 * 60)
                fixed.append((l0, l0 + rng.uniform(30, 55), "offline" if rng.random() < 0.6 else "busy"))
            if on < 17 * 60 + 30 and off > 19 * 60 + 30 and rng.random() < 0.5:
                d0 = rng.uniform(17 * 60 + 20, 19 * 60)
                fixed.append((d0, d0 + rng.uniform(20, 40), "busy"))
            breaks = []
            for _ in range(rng.randint(1, 3)):
                b0 = rng.uniform(on + 30, max(on + 31, off - 30))
                breaks.append((b0, b0 + rng.uniform(4, 18), "busy"))
            changes: list[tuple[float, str]] = [(on, "online")]
            prev_end = on
            for p0, p1, status in sorted(fixed + breaks):
                clash = any(p0 < f1 + 5 and f0 < p1 + 5 for f0, f1, _ in fixed if (f0, f1) != (p0, p1))
                if p0 > prev_end + 5 and p1 < off - 5 and not clash:
                    changes += [(p0, status), (p1, "online")]
                    prev_end = p1
            changes.append((off, "offline"))
            plans.append(_Plan(agent, changes, earliest))
        _keep_desk(plans, ranges)
        for plan in plans:
            agent = plan.agent
            for k, (minute, status) in enumerate(plan.changes):
                ts = midnight + int(minute * 60)
                agent.times.append(ts)
                agent.statuses.append(status)
                ev = {"ts": 0, "type": "agent_status", "shop": self.shop, "agent": agent.name, "status": status}
                if k == 0:
                    ev["max_sessions"] = agent.cap
                    if agent.group:
                        ev["group"] = agent.group
                self.emit(ts, ev)

    # ---- consumers ---------------------------------------------------------------------------
    def pick_agent(self, t: int, page: str | None) -> _Agent | None:
        rng = self.rng
        online = [a for a in self.agents if a.status_at(t) == "online"]
        if not online:
            busy = [a for a in self.agents if a.status_at(t) == "busy"]
            if not busy or rng.random() < 0.5:
                return None
            online = busy
        preferred = self.routes.get(page, self.routes.get(None)) if rng.random() < 0.85 else None
        candidates = [a for a in online if a in preferred] if preferred else []
        candidates = candidates or online
        if rng.random() < 0.2:
            return rng.choice(candidates)
        return min(candidates, key=lambda a: (a.load(t), rng.random()))

    def first_online_after(self, t: int, limit: int) -> int | None:
        times = [x for x in (a.next_online(t, limit) for a in self.agents) if x is not None]
        return min(times) if times else None

    def reply_delay(self) -> int | None:
        rng = self.rng
        r = rng.random()
        if r < 0.74:
            return max(3, min(175, int(rng.lognormvariate(3.6, 0.75))))   # median ~37 s
        if r < 0.91:
            return rng.randint(180, 600)
        if r < 0.96:
            return rng.randint(600, 2400)
        return None

    def reply_time(self, agent: _Agent, t: int) -> int | None:
        delay = self.reply_delay()
        if delay is None:
            return None
        rt = t + delay
        status = agent.status_at(rt)
        if status == "offline":
            back = agent.next_online(rt, rt + 16 * HOUR)
            return None if back is None else back + self.rng.randint(20, 300)
        if status == "busy" and self.rng.random() < 0.5:
            back = agent.next_online(rt, rt + 2 * HOUR)
            if back is not None:
                return back + self.rng.randint(5, 90)
        return rt

    def transfer_target(self, current: _Agent, t: int, after_sale: bool) -> _Agent | None:
        others = [a for a in self.agents if a is not current and a.status_at(t) == "online"]
        if not others:
            return None
        page = "refund_detail" if after_sale else "product_detail"
        wanted = [a for a in others if a in (self.routes.get(page) or [])]
        return self.rng.choice(wanted or others)

    def script(self, n: int, page: str | None) -> list[tuple[str | None, dict | None, bool]]:
        """The consumer's messages: (text, card, is_closing)."""
        rng = self.rng
        after_sale = page is not None and page not in PRESALE_PAGES
        question = rng.choice(AFTERSALE_QUESTIONS if after_sale else PRESALE_QUESTIONS)
        if self.keywords and rng.random() < 0.22:
            question = rng.choice(KEYWORD_TEMPLATES).format(kw=rng.choice(self.keywords))
        card = None
        if page == "product_detail" and rng.random() < 0.45:
            pool = self.products if not self.other_products or rng.random() < 0.7 else self.other_products
            card = {"kind": "product", "id": rng.choice(pool)}
        elif (after_sale and rng.random() < 0.45) or rng.random() < 0.03:
            card = {"kind": "order", "id": str(rng.randrange(10 ** 17, 10 ** 18))}
        closing = n >= 2 and rng.random() < 0.6
        body: list[tuple[str | None, dict | None, bool]] = []
        if card is not None:
            if n == 1 or (closing and n == 2):
                body.append((question, card, False))
            else:
                body.append((rng.choice(CARD_TEXTS), card, False))
        if not body or body[0][0] is not question:
            body.append((question, None, False))
        while len(body) < n - closing:
            body.append((rng.choice(FOLLOW_UPS), None, False))
        if closing:
            body.append((rng.choice(self.closings), None, True))
        return body

    def visit(self, consumer: str, t0: int, first: bool) -> int:
        """One conversation starting at t0; returns its last event time."""
        rng = self.rng
        page = rng.choices(self.pages, self.page_weights)[0] if first or rng.random() < 0.5 else None
        after_sale = page is not None and page not in PRESALE_PAGES
        n = rng.choices((1, 2, 3, 4, 5), (26, 30, 22, 13, 9))[0] if first else rng.choice((1, 1, 2))
        msgs = self.script(n, page)
        agent = self.pick_agent(t0, page)
        served: list[_Agent] = []
        t, i, last, transferred, first_turn = t0, 0, t0, False, True
        last_from_consumer = False
        while i < len(msgs):
            text, card, closing = msgs[i]
            self.message(t, "consumer", consumer, text, page=page if i == 0 else None, card=card)
            last, i = t, i + 1
            last_from_consumer = True
            while i < len(msgs) and not msgs[i][2] and rng.random() < 0.3:
                t += rng.randint(3, 40)
                text, card, closing = msgs[i]
                self.message(t, "consumer", consumer, text, card=card)
                last, i = t, i + 1
            if first_turn:
                first_turn = False
                r = rng.random()
                if r < self.robot_rate:
                    self.message(t + rng.randint(1, 4), "robot", consumer, rng.choice(self.robot_texts))
                elif r < self.robot_rate + self.system_rate:
                    self.message(t + rng.randint(0, 2), "system", consumer, rng.choice(SYSTEM_TEXTS))
                elif r < self.robot_rate + self.system_rate + self.assistant_rate:
                    self.message(t + rng.randint(1, 5), "assistant", consumer, rng.choice(ASSISTANT_TEXTS))
            if closing and rng.random() < 0.55:
                break
            if agent is None:  # nobody online: the offline pool is handled when the next shift starts
                back = self.first_online_after(t, t + 16 * HOUR)
                if back is None or rng.random() < 0.4:
                    break
                agent = self.pick_agent(back + 1, page)
                if agent is None:
                    break
                reply_at: int | None = back + rng.randint(60, 1500)
            else:
                reply_at = self.reply_time(agent, t)
            if reply_at is None:  # never answered: the consumer writes what is left and gives up
                while i < len(msgs) and not msgs[i][2]:
                    t += rng.randint(60, 400)
                    self.message(t, "consumer", consumer, msgs[i][0], card=msgs[i][1])
                    last, i = t, i + 1
                break
            if not transferred and len(self.agents) > 1 and rng.random() < 0.04:  # transfer without a reply
                moved = t + rng.randint(15, 90)
                target = self.transfer_target(agent, moved, after_sale)
                if target is not None:
                    self.emit(moved, {"ts": 0, "type": "transfer", "shop": self.shop, "consumer": consumer,
                                      "agent": agent.name, "to_agent": target.name})
                    served.append(agent)
                    agent, transferred = target, True
                    reply_at = max(reply_at, moved + rng.randint(10, 120))
            if agent not in served:
                served.append(agent)
            answer = (rng.choice(CLOSING_ANSWERS) if closing else
                      rng.choice(TRANSFER_GREETINGS) if transferred and len(served) > 1 and rng.random() < 0.5 else
                      rng.choice(AFTERSALE_ANSWERS if after_sale else PRESALE_ANSWERS) if rng.random() < 0.8 else
                      rng.choice(GENERIC_ANSWERS))
            self.message(reply_at, "agent", consumer, answer, agent=agent.name)
            last = t = reply_at
            last_from_consumer = False
            if not transferred and len(self.agents) > 1 and i < len(msgs) and rng.random() < 0.03:
                moved = t + rng.randint(10, 60)
                target = self.transfer_target(agent, moved, after_sale)
                if target is not None:
                    self.emit(moved, {"ts": 0, "type": "transfer", "shop": self.shop, "consumer": consumer,
                                      "agent": agent.name, "to_agent": target.name})
                    agent, transferred = target, True
                    if agent not in served:
                        served.append(agent)
                    last = t = moved
            t += rng.randint(8, 200)
        # The consumer wrote last (a closing phrase nobody answered, say): the session would hold a
        # cap slot for ever (Douyin never auto-ends it), so agents end such sessions by hand.
        if served and (last_from_consumer or rng.random() < self.hand_end_rate):
            assert agent is not None  # served holds the agents who took the consumer; agent never goes back to None
            last += rng.randint(20, 360)
            self.emit(last, {"ts": 0, "type": "session_end", "shop": self.shop, "consumer": consumer, "agent": agent.name})
        elif not served and rng.random() < 0.9:
            # Agents clear conversations nobody answered: an unended session holds a cap slot.
            last += rng.randint(600, 3600)
            self.emit(last, {"ts": 0, "type": "session_end", "shop": self.shop, "consumer": consumer})
        for a in served:
            a.active.append(last)
        return last

    def new_consumer(self) -> str:
        if self.seen_consumers and self.rng.random() < 0.1:
            return self.rng.choice(self.seen_consumers)
        cid = f"c{self.next_consumer:05d}"
        self.next_consumer += 1
        return cid

    def run_day(self, midnight: int, consumers: int) -> None:
        rng = self.rng
        hours = rng.choices(range(24), HOURLY_ARRIVALS, k=consumers)
        arrivals = sorted(midnight + h * HOUR + rng.randrange(HOUR) for h in hours)
        queue = [(t, k, self.new_consumer(), True) for k, t in enumerate(arrivals)]  # sorted: a heap
        seen_today: list[str] = []
        k = len(queue)
        while queue:
            t, _, consumer, first = heapq.heappop(queue)
            end = self.visit(consumer, t, first)
            if first:
                seen_today.append(consumer)
                if rng.random() < 0.08:  # comes back later today (repeat entry)
                    back = end + rng.randint(5 * 60, 90 * 60)
                    if back < midnight + DAY:
                        heapq.heappush(queue, (back, k, consumer, False))
                        k += 1
        self.seen_consumers += seen_today

    # ---- output ------------------------------------------------------------------------------
    def flush(self, out: BinaryIO, before: float) -> int:
        """Write the events earlier than `before` (sorted) and keep the rest."""
        self.events.sort(key=lambda e: (e[0], e[1]))
        cut = bisect_right([e[0] for e in self.events], before - 1) if before != float("inf") else len(self.events)
        zone, dumps = self.zone, orjson.dumps
        lines = []
        for ts, _, ev in self.events[:cut]:
            ev["ts"] = datetime.fromtimestamp(ts, zone).isoformat()
            lines.append(dumps(ev))
        if lines:
            out.write(b"\n".join(lines) + b"\n")
        del self.events[:cut]
        return cut


def generate_log(policy: ir.Policy, *, day: date, days: int = 1, consumers: int, seed: int, out: BinaryIO,
                 tz: str = DEFAULT_TIMEZONE) -> int:
    """Write a synthetic event log for `policy` to `out` (binary); returns the number of events.

    `day` is the first local day, `days` how many days, `consumers` the distinct consumers per
    day, `tz` the zone of the shop's clock (hours, shifts, the ts offset). Same arguments, same bytes.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    if consumers < 0:
        raise ValueError("consumers must be >= 0")
    zone = _zone(tz)
    gen = _Generator(policy, random.Random(seed), zone)
    midnights = [int(datetime.combine(day + timedelta(days=i), time(), zone).timestamp()) for i in range(days + 1)]
    for i in range(days):
        gen.plan_day(day + timedelta(days=i), i, midnights[i])
    written = 0
    for i in range(days):
        gen.run_day(midnights[i], consumers)
        written += gen.flush(out, midnights[i + 1] if i + 1 < days else float("inf"))
    return written


def _refuse_overwriting(out: str | Path, inputs: list[tuple[str, Path]]) -> bool:
    """Whether --out names one of these files read (said on stderr): writing it would replace it."""
    from .diagnostics import visible

    clash = None if str(out) == "-" else overwritten_input({"--out": Path(out)}, inputs)
    if clash is not None:
        sys.stderr.write(visible(f"error: --out {out} is {clash[2]}: writing it would erase {clash[2]}") + "\n")
    return clash is not None


def generate_command(policy_path: str | Path, out: str | Path, day: date | str, days: int = 1, consumers: int = 300,
                     seed: int = 1, platform_dirs: list[Path] | None = None) -> int:
    """Body of `kefu generate POLICY --out FILE`: returns the exit code (0 ok, 1 policy errors or no agent who
    can chat, 2 usage/I/O).

    `out` "-" writes to stdout; a name ending in .gz is gzip-compressed (with a fixed header, so the
    bytes stay reproducible). A summary goes to stderr.
    """
    from .diagnostics import render_text, visible
    from .loader import POLICY, Loader
    from .outputs import PendingOutputs

    try:
        first = day if isinstance(day, date) else date.fromisoformat(str(day))
    except ValueError:
        sys.stderr.write(visible(f"error: --day {day!r} is not a date (YYYY-MM-DD)") + "\n")
        return 2
    if days < 1 or not 0 <= consumers <= MAX_CONSUMERS:
        sys.stderr.write(f"error: --days must be >= 1 and --consumers from 0 to {MAX_CONSUMERS:,}\n")
        return 2
    if first < FIRST_DAY or days > (LAST_DAY - first).days + 1:
        sys.stderr.write(f"error: --day {first} and --days {days}: a log covers {FIRST_DAY} to {LAST_DAY} at most "
                         "(event times are from 1970 to 9990-01-01)\n")
        return 2
    path = Path(policy_path)
    if _refuse_overwriting(out, [(POLICY, path)]):   # the policy first, even one that does not load
        return 2
    kind = path_kind(path)
    if kind != "other":
        sys.stderr.write(visible(f"error: {path}: {'is a directory' if kind == 'dir' else 'no such file'}") + "\n")
        return 2
    result = Loader(platform_dirs).load(path)
    if result.policy is None:
        diags = result.diagnostics
        if diags:
            sys.stderr.write(render_text(diags, lambda f, n: result.sources[f].line_text(n) if f in result.sources else None))
        else:
            sys.stderr.write(visible(f"error: {path}: not a shop policy") + "\n")
        return 2 if any(d.code == "E001" for d in diags) else 1
    if _refuse_overwriting(out, result.inputs):   # its snippets and platform file too
        return 2
    unstaffed = _no_chatting_agent(result.policy.shop)
    if unstaffed is not None:   # before --out is opened: an existing log there stays as it was
        sys.stderr.write(visible(f"error: {path}: {unstaffed[0]}") + "\n" + visible(f"  = hint: {unstaffed[1]}") + "\n")
        return 1
    policy, tz = result.policy, policy_timezone(result.policy)

    def write(out: BinaryIO) -> int:
        return generate_log(policy, day=first, days=days, consumers=consumers, seed=seed, out=out, tz=tz)

    try:
        if str(out) == "-":
            n = write(standard_stream("stdout"))
        else:
            with PendingOutputs() as outputs:   # written beside --out, renamed over it only once it is whole
                raw = outputs.open(Path(out), "--out")
                if str(out).endswith(".gz"):
                    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed:
                        n = write(packed)  # type: ignore[arg-type]
                else:
                    n = write(raw)
                outputs.commit()
    except OSError as err:   # OutputFailed too: its strerror is the reason
        sys.stderr.write(visible(f"error: {out}: {err.strerror or err}") + "\n")
        return 2
    except ValueError as err:
        sys.stderr.write(visible(f"error: {err}") + "\n")
        return 2
    sys.stderr.write(visible(f"wrote {n} events ({consumers} consumers a day, {days} day{'s' if days != 1 else ''}) "
                             f"to {'stdout' if str(out) == '-' else out}") + "\n")
    return 0


def write_samples(samples_dir: str | Path, examples_dir: str | Path | None = None) -> list[Path]:
    """(Re)write the SAMPLES logs into samples_dir from the example policies; returns their paths."""
    from .loader import Loader
    from .resources import resource_dir

    examples = Path(examples_dir) if examples_dir else resource_dir("rulesets") / "examples"
    target = Path(samples_dir)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for file, policy_file, first, consumers, seed in SAMPLES:
        result = Loader().load(examples / policy_file)
        if result.policy is None:
            raise ValueError(f"{policy_file}: the example policy does not load")
        with open(target / file, "wb") as out:
            generate_log(result.policy, day=first, consumers=consumers, seed=seed, out=out)
        written.append(target / file)
    return written


if __name__ == "__main__":  # python -m engine.synth [SAMPLES_DIR]: regenerate the shipped samples
    for path in write_samples(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "samples"):
        print(f"{path}: {path.stat().st_size:,} bytes")
