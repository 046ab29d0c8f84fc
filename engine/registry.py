"""The engine's primitives that the language names: one vocabulary for the checker and the runtime.

Every name the language accepts for a primitive (an assignment strategy, a tie-break, a clock
start, a counting rule, ...) is one `Primitive` entry of a `Registry`: its name, its description
(and Chinese label if any), and its behaviour. The checker reads the names and descriptions (for
"unknown …" diagnostics, "did you mean" hints and messages); the runtime reads the behaviour of the
entry the IR names, once, when an Engine (or a metric tracker) is built, and never looks a name up
per event.

Behaviours are plain data or small functions of an agent, defined here, so this module imports
nothing from the runtime (the checker imports it without loading the replay engine, and no import
cycle can form): a strategy is a `Pick` (a rank function, or rotate, or draw), a clock start a
`ClockStart`, a counting rule a function that switches on its flag of `Counting`, and so on. The
runtime interprets these records; adding a name means adding its entry here and, if its behaviour is
new, teaching the runtime the new field -- a name whose entry has no behaviour cannot be written.

Kinds with no runtime behaviour (ROLES, LIMITS, FEATURES, SETTINGS, ...) are checker-side: the
checker acts on them (limits bound values, features allow constructs, roles restrict settings).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Generic, Iterator, Mapping, TypeVar

B = TypeVar("B")


@dataclass(frozen=True)
class Primitive(Generic[B]):
    """One name the language accepts: what it means, and what it does."""

    name: str
    description: str
    label: str | None = None     # the Chinese term consultants use, if any
    behaviour: B | None = None


class Registry(Mapping[str, Primitive[B]]):
    """The primitives of one kind, by name, in declaration order."""

    def __init__(self, kind: str, *entries: Primitive[B]):
        self.kind = kind
        self._entries = {e.name: e for e in entries}

    def __getitem__(self, name: str) -> Primitive[B]:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def text(self, name: str) -> str:
        """The description of a name (the name itself if unknown), for messages."""
        entry = self._entries.get(name)
        return entry.description if entry else name

    def behaviour(self, name: str) -> B:
        """The behaviour of a known name (the runtime calls this once, at construction)."""
        behaviour = self._entries[name].behaviour
        if behaviour is None:
            raise LookupError(f"{self.kind} {name!r} has no behaviour")
        return behaviour


def _plain(kind: str, names: Mapping[str, str]) -> Registry[None]:
    """A checker-side registry: names and descriptions only."""
    return Registry(kind, *(Primitive(name, text) for name, text in names.items()))


def _labelled(kind: str, names: Mapping[str, str]) -> Registry[None]:
    """A checker-side registry whose descriptions are the Chinese terms."""
    return Registry(kind, *(Primitive(name, text, label=text) for name, text in names.items()))


# ---- assignment ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pick:
    """How a strategy or a tie-break picks one agent of several.

    rank: the agents with the lowest rank are chosen (ties go on to the tie-break); rotates: each
    agent in declaration order, after the last one chosen; draws: a seeded random agent. None of
    these: the agent declared first.
    """

    rank: Callable[[Any], float] | None = None
    rotates: bool = False
    draws: bool = False


def idle_rate(agent: Any) -> float:
    """(max − current) / max, Douyin's idle rate."""
    cap = agent.cap
    return (cap - len(agent.sessions)) / cap


def _minus_idle_rate(agent: Any) -> float:
    cap = agent.cap
    return (len(agent.sessions) - cap) / cap   # -idle_rate(agent), exactly (IEEE division is sign-symmetric)


def _load(agent: Any) -> float:
    return len(agent.sessions)


def _idle_since(agent: Any) -> float:
    return agent.idle_since


STRATEGIES: Registry[Pick] = Registry(
    "assignment strategy",
    Primitive("idle_rate", "highest (max − current) / max first (Douyin 飞鸽)", behaviour=Pick(rank=_minus_idle_rate)),
    Primitive("least_loaded", "fewest current consumers first", behaviour=Pick(rank=_load)),
    Primitive("round_robin", "each eligible agent in turn", behaviour=Pick(rotates=True)),
    Primitive("longest_idle", "the agent idle for the longest time first", behaviour=Pick(rank=_idle_since)),
    Primitive("random", "a seeded random eligible agent", behaviour=Pick(draws=True)),
)
TIE_BREAKS: Registry[Pick] = Registry(
    "tie-break",
    Primitive("random", "a seeded random choice among tied agents", behaviour=Pick(draws=True)),
    Primitive("first", "the tied agent declared first in the policy", behaviour=Pick()),
    Primitive("round_robin", "tied agents in turn", behaviour=Pick(rotates=True)),
    Primitive("longest_idle", "the tied agent idle for the longest time", behaviour=Pick(rank=_idle_since)),
)
DEFAULT_STRATEGY = "least_loaded"
DEFAULT_TIES = "first"


@dataclass(frozen=True)
class Fallback:
    """A repeat-entry fallback step: queue the consumer, or assign from a pool."""

    queues: bool = False
    same_group: bool = False     # the pool is the previous agent's group (else the consumer's routing)


FALLBACKS: Registry[Fallback] = Registry(
    "fallback",
    Primitive("same_group", "an online agent of the previous agent's group", behaviour=Fallback(same_group=True)),
    Primitive("any_online", "any online agent of the routing", behaviour=Fallback()),
    Primitive("queue", "the queue", behaviour=Fallback(queues=True)),
)
DEFAULT_FALLBACK = ("same_group", "queue")


@dataclass(frozen=True)
class QueueOrder:
    """Which queued consumer is served first: by queueing order (lifo: the newest), or the highest
    `priority` of the consumer's message first and then the first queued (by_priority)."""

    lifo: bool
    by_priority: bool = False


QUEUE_ORDERS: Registry[QueueOrder] = Registry(
    "queue order",
    Primitive("fifo", "first queued, first served", behaviour=QueueOrder(lifo=False)),
    Primitive("lifo", "last queued, first served", behaviour=QueueOrder(lifo=True)),
    Primitive("priority", "the highest priority first (the consumer message's `priority`, 0-9), then first queued",
              behaviour=QueueOrder(lifo=False, by_priority=True)),
)


# ---- metrics -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Unit:
    """What a metric counts."""

    per_consumer_day: bool


METRIC_UNITS: Registry[Unit] = Registry(
    "metric unit",
    Primitive("question", "each consumer question", behaviour=Unit(per_consumer_day=False)),
    Primitive("consumer_day", "each consumer and day (咨询人数)", label="咨询人数", behaviour=Unit(per_consumer_day=True)),
)
DEFAULT_UNIT = "question"


@dataclass(frozen=True)
class ClockStart:
    """When a question's clock starts.

    at_assignment: at the assignment to a human agent (a session timer); first_only: under a
    consumer_day unit, only the consumer's first question of the day in the window is timed (else
    every question of the day is, and the consumer-day is met only if all are answered in time).
    """

    at_assignment: bool = False
    first_only: bool = False


CLOCK_STARTS: Registry[ClockStart] = Registry(
    "clock start",
    Primitive("question", "the first message of each question", behaviour=ClockStart()),
    Primitive("first_question", "the consumer's first question of the day in the window (unit consumer_day)",
              behaviour=ClockStart(first_only=True)),
    Primitive("assignment", "the assignment of the consumer to a human agent", behaviour=ClockStart(at_assignment=True)),
)
DEFAULT_CLOCK_START = "question"


@dataclass(frozen=True)
class Counting:
    """The counting rules a metric applies (all off by default)."""

    dedup: bool = False
    transfer_ineffective: bool = False
    assistant_account: bool = False
    assistant_ineffective: bool = False


METRIC_COUNTS: Registry[Callable[[Counting], Counting]] = Registry(
    "counting rule",
    Primitive("dedup_per_agent", "several receptions of one consumer by one sub-account count once",
              behaviour=lambda c: replace(c, dedup=True)),
    Primitive("transfer_without_reply_ineffective",
              "a transfer before any effective reply leaves the reception unanswered",
              behaviour=lambda c: replace(c, transfer_ineffective=True)),
    Primitive("assistant_as_account",
              "the desk assistant counts as an account of its own: each consumer it answers on a day is a reception",
              behaviour=lambda c: replace(c, assistant_account=True)),
    Primitive("assistant_unanswered_ineffective",
              "an assistant answer counts as an ineffective reply: the assistant's reception is missed "
              "(needs assistant_as_account)",
              behaviour=lambda c: replace(c, assistant_ineffective=True)),
)


@dataclass(frozen=True)
class Evaluation:
    """Which day a metric's figure is used for: the day measured plus days_after."""

    days_after: int


METRIC_EVALUATION: Registry[Evaluation] = Registry(
    "evaluation day",
    Primitive("same_day", "the day itself", behaviour=Evaluation(days_after=0)),
    Primitive("previous_day", "the day before signing up", behaviour=Evaluation(days_after=1)),
)
DEFAULT_EVALUATION = "same_day"

CONDITION_VARIABLES: Registry[Callable[[int, int], float | int | None]] = Registry(
    "metric figure",
    Primitive("eligible", "questions or consumers counted", behaviour=lambda eligible, met: eligible),
    Primitive("met", "answered in time", behaviour=lambda eligible, met: met),
    Primitive("missed", "not answered in time", behaviour=lambda eligible, met: eligible - met),
    Primitive("rate", "met / eligible", behaviour=lambda eligible, met: round(met / eligible, 6) if eligible else None),
)

# The sender whose replies the assistant counting rules concern (千牛服务助手).
ASSISTANT_SENDER = "assistant"
# The effective-sender name that stands for every kind of automatic reply.
ANY_AUTO_REPLY = "auto_reply"

# ---- checker-side names --------------------------------------------------------------------------

ROLES = _labelled("role", {"main": "主账号", "admin": "管理员", "cs_admin": "客服管理员", "agent": "客服"})
STATUSES = _labelled("agent status", {"online": "在线", "busy": "忙碌", "offline": "离线"})
# Statuses a `reply status` may name: the replay sends a status auto reply only while the agent is busy.
# `reply status NAME`: the behaviour is the agent status (of the consumer's agent) that sends the reply
REPLY_STATUSES: Registry[str] = Registry("reply status", Primitive("busy", "忙碌", label="忙碌", behaviour="busy"))
MENU_ACTIONS = _labelled("menu action", {"order_lookup": "订单查询", "new_arrivals": "新品上架", "shop_picks": "店铺推荐"})
# Auto-reply kinds, usable as effective senders in metrics.
AUTO_REPLY_KINDS = _labelled("automatic-reply kind", {
    "welcome": "开场白", "faq": "常见问题", "first_message": "首次消息自动回复",
    "keyword": "关键词回复", "closing": "结束语回复", "status": "客服状态自动回复",
    "product": "商品卡片自动回复", "order_card": "订单卡片自动回复", "offline": "离线自动回复",
    "menu": "聊天自助菜单",
})
# A platform's `generate { … }` block: how often `kefu generate` writes each kind of message. The
# behaviour is the rate when the block does not set it; robot, system and assistant are also the
# senders of those messages, so the platform must declare them.
GENERATE_RATES: Registry[float] = Registry(
    "generate rate",
    Primitive("robot", "consumers whose first message the shop robot answers", behaviour=0.08),
    Primitive("system", "consumers whose first message gets a system message", behaviour=0.04),
    Primitive("assistant", "consumers whose first message the desk assistant answers", behaviour=0.01),
    Primitive("hand_end", "conversations an agent ends by hand", behaviour=0.2),
)
GENERATED_SENDERS = ("robot", "system", "assistant")
LIMITS = _plain("limit", {
    "max_sessions": "reception cap (接待上限) per agent or group",
    "faq_items": "FAQ questions that may be created",
    "faq_enabled": "FAQ questions that may be enabled",
    "faq_question_chars": "characters in one FAQ question",
    "faq_answer_chars": "characters in one FAQ answer",
    "product_replies": "product-card auto replies per shop",
    "products_per_reply": "products in one product-card auto reply",
    "offline_targets": "accounts that may receive offline routing",
    "offline_target_roles": "roles an offline-routing account must have",
    "reply_chars": "characters in one automatic reply",
})
FEATURES = _labelled("feature", {
    "page_routing": "页面分流", "group_routing": "客服组分流", "offline_routing": "离线分流",
    "offline_pool": "离线消息池", "repeat_entry": "重复入线", "queue": "排队",
    "queue_order": "排队接入顺序", "estimate_wait": "预估接待时间", "session_end": "会话自动结束",
    "welcome": "开场白", "faq": "常见问题", "first_message_reply": "首次消息自动回复",
    "keyword_reply": "关键词回复", "closing_reply": "结束语回复", "status_reply": "客服状态自动回复",
    "product_reply": "商品卡片自动回复", "order_card_reply": "订单卡片自动回复",
    "offline_reply": "离线自动回复", "menu": "聊天自助菜单", "quick_phrases": "快捷短语",
    "proactive_session": "主动会话", "transfer": "转接",
})
# Reply kind → the feature a platform must allow for it.
REPLY_FEATURES = {
    "welcome": "welcome", "first_message": "first_message_reply", "keyword": "keyword_reply",
    "closing": "closing_reply", "status": "status_reply", "product": "product_reply",
    "order_card": "order_card_reply", "offline": "offline_reply", "menu": "menu",
}
# Settings a platform may default and fix (names of ir.Settings fields).
SETTINGS = _plain("setting", {
    "timezone": "time zone", "assign": "assignment strategy", "repeat_entry": "repeat-entry window",
    "queue": "queue mode", "session_end": "automatic session end", "history": "history window",
    "offline_pool": "offline message pool", "cooldown": "auto-reply loop guard",
})
