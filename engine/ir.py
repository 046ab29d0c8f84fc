"""Typed, immutable IR of kefu policies: every node keeps the source span it came from."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

IR_VERSION = 1


class Frozen(BaseModel):
    """Base of every IR model: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Span(Frozen):
    """A region of a source file; lines and columns count from 1, end is exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int


class Node(Frozen):
    """An IR node that remembers where it was written."""

    span: Span | None = None


class Ref(Node):
    """A use of a name (agent, group, page, strategy …) at a place in the source."""

    name: str


class Labelled(Node):
    """A declared name with an optional display label (often Chinese)."""

    name: str
    label: str | None = None


class ClockRange(Node):
    """A time-of-day range in minutes after midnight; end may be 1440 (24:00).

    In `hours` and `holiday`, a range written over midnight (07:00-01:00) ends the next day:
    its end is past 1440 (1500), and it belongs to the day it starts.
    """

    start: int
    end: int


class HoursRule(Node):
    """Working hours for some weekdays (0 = Monday); no ranges means closed."""

    days: list[int] | None = None
    ranges: list[ClockRange] = []


class Holiday(Node):
    """A date or date range with its own hours; no ranges means closed."""

    start: date
    end: date
    ranges: list[ClockRange] = []


class Agent(Node):
    """A sub-account (子账号) that can receive consumers."""

    name: str
    label: str | None = None
    role: Ref | None = None
    max_sessions: int | None = None
    max_sessions_span: Span | None = None
    im: bool = True


class Group(Node):
    """An agent group (客服组) with a shared reception cap."""

    name: str
    label: str | None = None
    agents: list[Ref] = []
    max_sessions: int | None = None
    max_sessions_span: Span | None = None


class Scope(Node):
    """Where routing or queueing applies: the whole shop or chosen groups."""

    kind: Literal["shop", "groups"]
    groups: list[Ref] = []


class PageRoute(Node):
    """Consumers who open the chat from these pages go to these agents or groups."""

    pages: list[Ref]
    targets: list[Ref]


class Routing(Node):
    """Page and group routing (分流)."""

    pages: list[PageRoute] = []
    default: list[Ref] | None = None
    default_span: Span | None = None   # the `default ->` line: the rule a default-routed decision cites
    scope: Scope | None = None


class Assign(Node):
    """How a new consumer is assigned among eligible agents."""

    strategy: Ref
    ties: Ref | None = None


class RepeatEntry(Node):
    """Repeat-entry (重复入线): a consumer returning within the window goes to the previous agent."""

    within: int
    fallback: list[Ref] = []


class OfflineRoute(Node):
    """Offline routing (离线分流): where consumers go when every agent is offline."""

    targets: list[Ref]


class OfflinePool(Node):
    """Offline message pool (离线消息池): how long messages left offline are kept, in seconds."""

    keep: int


class SessionEnd(Node):
    """Automatic session end after the agent's last message; after=None means by hand only."""

    after: int | None = None
    not_while_waiting: bool = True


class Queue(Node):
    """Queue mode (排队): scope, access order and wait estimate."""

    scope: Scope | None = None
    order: Ref | None = None
    estimate_from: int | None = None


class History(Node):
    """How long an ended session can still be answered, in seconds."""

    keep: int


class Cooldown(Node):
    """Loop guard: the same automatic reply at most once per consumer per period (seconds)."""

    every: int
    per_consumer: bool = True


class FaqItem(Node):
    """One common question of the robot's welcome list and its answer."""

    question: str
    answer: str
    enabled: bool = True


class WelcomeReply(Node):
    """Opening message (开场白) with an optional FAQ list."""

    kind: Literal["welcome"] = "welcome"
    text: str
    once_per_day: bool = False
    faq: list[FaqItem] = []


class FirstMessageReply(Node):
    """Status auto reply on the consumer's first message."""

    kind: Literal["first_message"] = "first_message"
    text: str


class KeywordReply(Node):
    """Reply when a consumer message contains one of the keywords."""

    kind: Literal["keyword"] = "keyword"
    keywords: list[str]
    text: str


class ClosingReply(Node):
    """Reply when the consumer sends a closing phrase (好的, 谢谢 …)."""

    kind: Literal["closing"] = "closing"
    phrases: list[str]
    text: str


class StatusReply(Node):
    """Reply while the assigned agent has this status (busy)."""

    kind: Literal["status"] = "status"
    status: Ref
    text: str


class ProductReply(Node):
    """Product-card auto reply (商品卡片自动回复) for these products."""

    kind: Literal["product"] = "product"
    products: list[Ref]
    text: str


class OrderCardReply(Node):
    """Order-card auto reply (订单卡片自动回复)."""

    kind: Literal["order_card"] = "order_card"
    text: str


class OfflineReply(Node):
    """Offline auto reply: sent when no agent is online."""

    kind: Literal["offline"] = "offline"
    text: str


class MenuItem(Node):
    """One entry of the self-service menu and the action it runs."""

    label: str
    action: Ref


class MenuReply(Node):
    """Self-service menu (聊天自助菜单)."""

    kind: Literal["menu"] = "menu"
    items: list[MenuItem]


Reply = Annotated[
    Union[
        WelcomeReply,
        FirstMessageReply,
        KeywordReply,
        ClosingReply,
        StatusReply,
        ProductReply,
        OrderCardReply,
        OfflineReply,
        MenuReply,
    ],
    Field(discriminator="kind"),
]


class QuickPhrase(Node):
    """An agent shortcut (快捷短语) linked to keywords and products."""

    trigger: str
    text: str
    keywords: list[str] = []
    products: list[Ref] = []


class Condition(Node):
    """A comparison on a metric figure: eligible, met or rate."""

    variable: Ref
    op: Literal[">=", "<=", "==", ">", "<"]
    value: float


class Threshold(Node):
    """The rate a metric must reach to pass (value is a fraction)."""

    op: Literal[">=", "<=", "==", ">", "<"]
    value: float


class Penalty(Node):
    """A penalty (违约金) charged when all conditions hold for a day."""

    amount: int
    currency: str
    when: list[Condition]


class Metric(Node):
    """How a platform measures a shop's responsiveness."""

    name: str
    label: str | None = None
    unit: Ref | None = None
    window: list[ClockRange] = []
    deadline: int | None = None
    effective: list[Ref] = []
    natural_day: bool = False
    clock_start: Ref | None = None
    clock_restart: bool = False
    threshold: Threshold | None = None
    penalty: Penalty | None = None
    feeds: list[str] = []
    counts: list[Ref] = []
    evaluated_on: Ref | None = None


class Limit(Node):
    """A bound the platform puts on what a shop may configure."""

    name: Ref
    minimum: int | None = None
    maximum: int | None = None
    values: list[Ref] = []


class Feature(Node):
    """Something the platform lets shops use, with an optional time window."""

    name: Ref
    within: int | None = None


class Restriction(Node):
    """Settings only accounts with these roles may edit (admin-only settings)."""

    features: list[Ref]
    roles: list[Ref]


class Settings(Frozen):
    """Settings a shop may configure and a platform may default."""

    timezone: Ref | None = None
    assign: Assign | None = None
    repeat_entry: RepeatEntry | None = None
    queue: Queue | None = None
    session_end: SessionEnd | None = None
    history: History | None = None
    offline_pool: OfflinePool | None = None
    cooldown: Cooldown | None = None


class Rate(Node):
    """`robot 18%` in a platform's `generate { … }` block: how often `kefu generate` makes something happen."""

    name: Ref
    value: float   # a fraction: 18% is 0.18


class Platform(Node):
    """A platform file: how the platform measures and limits a shop."""

    name: str
    label: str | None = None
    pages: list[Labelled] = []
    senders: list[Labelled] = []
    metrics: list[Metric] = []
    limits: list[Limit] = []
    features: list[Feature] = []
    fixed: list[Ref] = []
    restrictions: list[Restriction] = []
    defaults: Settings = Settings()
    generate: list[Rate] = []   # the rates of the log generator (`kefu generate`), not of the replay

    def rate(self, name: str, default: float) -> float:
        """The generator's rate of this name (docs/language.md, `generate`), else default."""
        return next((r.value for r in self.generate if r.name.name == name), default)

    def limit(self, name: str) -> Limit | None:
        """The platform's limit with this name, if it sets one."""
        return next((lim for lim in self.limits if lim.name.name == name), None)

    def feature(self, name: str) -> Feature | None:
        """The feature with this name, if the platform offers it."""
        return next((f for f in self.features if f.name.name == name), None)


class Shop(Node):
    """A shop policy as written (before the platform is merged in)."""

    name: str
    platform: Ref
    includes: list[str] = []
    editor: Ref | None = None
    hours: list[HoursRule] = []
    holidays: list[Holiday] = []
    agents: list[Agent] = []
    groups: list[Group] = []
    routing: Routing | None = None
    offline_route: OfflineRoute | None = None
    settings: Settings = Settings()
    replies: list[Reply] = []
    phrases: list[QuickPhrase] = []

    def agent_names(self) -> set[str]:
        """Every agent the shop names: declared with `agent`, or listed in a group."""
        return {a.name for a in self.agents} | {r.name for g in self.groups for r in g.agents}


class Policy(Frozen):
    """A resolved shop policy: the shop, its platform, and the settings in force."""

    ir_version: int = IR_VERSION
    shop: Shop
    platform: Platform
    effective: Settings
