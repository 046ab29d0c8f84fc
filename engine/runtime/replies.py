"""Automatic replies (自动回复): which replies answer a consumer message.

Each kind acts on its own trigger, so one message may get several replies; they are
returned in SEND_ORDER. docs/replay.md (Automatic replies) lists the triggers, the pairs
that exclude each other and the platform wording behind each choice.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from .. import ir, registry
from ..events import Event
from .decisions import RuleRef, rule_ref
from .hours import WorkingHours
from .keywords import keyword_matcher
from .state import ConsumerState, ShopState

_TRIM = re.compile(r"[\s\u3000,.!?~，。！？～、…]+")
_PLAIN_CACHE_MAX = 4096

# The kinds, in the order the replies to one message are sent (and reported).
SEND_ORDER = ("welcome", "offline", "product", "order_card", "faq", "menu", "closing", "keyword", "status",
              "first_message")
# Why a reply whose trigger held was not sent (docs/replay.md).
COOLDOWN = "cooldown"   # the loop guard: this reply went to this consumer within the cooldown
CLICK = "click"         # the text is a click on a FAQ question (or menu label), which the click's answer answers
CLOSING = "closing"     # the whole text is a closing phrase: the closing reply answers it, not a keyword reply
OFFLINE = "offline"     # the offline notice's trigger holds: nobody is at work to be busy
SUPPRESSION_REASONS = (COOLDOWN, CLICK, CLOSING, OFFLINE)


def normalise(text: str) -> str:
    """Text with whitespace and punctuation removed, for whole-phrase matches."""
    return _TRIM.sub("", text)


class Chosen(msgspec.Struct, frozen=True, gc=False):
    """A reply for a message (a msgspec Struct: built in C; it refers to IR nodes only)."""

    kind: str
    node: Any                # the reply's IR node
    text: str
    trigger: str | None = None
    exempt: bool = False     # an answer the consumer asked for (FAQ or menu click): no loop guard
    rule: RuleRef | None = None             # the node's line, for the decision (set from node)
    faq: tuple[str, ...] | None = None      # a welcome's enabled FAQ questions (set from node)
    guard: int = 0           # the loop guard's key: the reply statement (its IR node, alive with the policy)
    welcome: bool = False    # the welcome (开场白): sending it marks the consumer's day (set from node)

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "rule", rule_ref(self.node.span))
        msgspec.structs.force_setattr(self, "guard", id(self.node))
        if isinstance(self.node, ir.WelcomeReply):
            msgspec.structs.force_setattr(self, "welcome", True)
        if self.welcome and self.node.faq:
            msgspec.structs.force_setattr(self, "faq", tuple(i.question for i in self.node.faq if i.enabled))


# A reply whose trigger holds, and why it is not sent (None: it is sent, unless the loop guard holds it).
Pick = tuple[Chosen, str | None]
_NONE: list[Pick] = []   # returned (never changed) when no reply applies


class AutoReplier:
    """Indexes a shop's automatic replies and picks those for a message.

    Every answer that does not depend on the message's own text is built once here
    (replies are immutable), so choosing costs a few lookups.
    """

    def __init__(self, replies: list, hours: WorkingHours | None = None):
        self.hours = hours
        self.welcome = next((r for r in replies if isinstance(r, ir.WelcomeReply)), None)
        self.first = next((r for r in replies if isinstance(r, ir.FirstMessageReply)), None)
        self.order_card = next((r for r in replies if isinstance(r, ir.OrderCardReply)), None)
        self.offline = next((r for r in replies if isinstance(r, ir.OfflineReply)), None)
        # status replies by the agent status that sends them (registry.REPLY_STATUSES)
        self.status_replies = {registry.REPLY_STATUSES.behaviour(r.status.name): r
                               for r in replies if isinstance(r, ir.StatusReply)}
        self.products = {p.name: r for r in replies if isinstance(r, ir.ProductReply) for p in r.products}
        self.keywords = [(k, r) for r in replies if isinstance(r, ir.KeywordReply) for k in r.keywords if k]
        self.keyword_matcher = keyword_matcher([k for k, _ in self.keywords])
        self.closing = {normalise(p): r for r in replies if isinstance(r, ir.ClosingReply) for p in r.phrases}
        self.faq = {}
        if self.welcome:
            self.faq = {normalise(i.question): i for i in self.welcome.faq if i.enabled}
        self.menu = {normalise(i.label): (i, r) for r in replies if isinstance(r, ir.MenuReply) for i in r.items}
        self.any = bool(replies)
        self.needs_plain = bool(self.faq or self.menu or self.closing)
        # normalised texts that are answered as a whole (a click or a closing phrase)
        self._whole_texts = (set(self.faq) | set(self.menu) | set(self.closing)) - {""}
        self._reads_text = bool(self._whole_texts or self.keywords)   # whether any reply looks at the text
        self._plain: dict[str, str] = {}   # normalise() of recent texts (consumers repeat themselves)
        self._closings: dict[str, Chosen] = {}   # closing answers by text (the trigger is the text)
        # the answers, built once
        self._faq_answers = {plain: Chosen("faq", item, item.answer, item.question, exempt=True)
                             for plain, item in self.faq.items()}
        self._menu_answers = {plain: Chosen("menu", reply, f"[{item.action.name}]", item.label, exempt=True)
                              for plain, (item, reply) in self.menu.items()}
        self._product_answers = {name: Chosen("product", reply, reply.text, name) for name, reply in self.products.items()}
        self._keyword_answers = [Chosen("keyword", reply, reply.text, keyword) for keyword, reply in self.keywords]
        self._welcome = Chosen("welcome", self.welcome, self.welcome.text) if self.welcome else None
        self._daily_welcome = bool(self.welcome and self.welcome.once_per_day)
        self._offline = Chosen("offline", self.offline, self.offline.text) if self.offline else None
        self._order_card = Chosen("order_card", self.order_card, self.order_card.text) if self.order_card else None
        self._status_answers = {status: Chosen("status", reply, reply.text, reply.status.name)
                                for status, reply in self.status_replies.items()}
        self._first = Chosen("first_message", self.first, self.first.text) if self.first else None
        present = {"welcome": self.welcome, "offline": self.offline, "faq": self.faq, "menu": self.menu,
                   "product": self.products, "order_card": self.order_card, "closing": self.closing,
                   "keyword": self.keywords, "status": self.status_replies, "first_message": self.first}
        self.kinds = tuple(kind for kind in SEND_ORDER if present[kind])
        """The kinds this shop can send, in SEND_ORDER."""

    def plain(self, text: str) -> str:
        """normalise(text), remembered for the texts seen lately."""
        plain = self._plain.get(text)
        if plain is None:
            if len(self._plain) >= _PLAIN_CACHE_MAX:
                self._plain.clear()
            plain = self._plain[text] = normalise(text)
        return plain

    def choose(self, ev: Event, consumer: ConsumerState, shop: ShopState, new_session: bool) -> list[Pick]:
        """Every reply whose trigger holds for a consumer message, in SEND_ORDER (an empty list: none).

        ev is the message; consumer and shop are the state after the message was routed
        (new_session: it opened a session). A reply another one excludes comes with the reason
        (CLICK, CLOSING, OFFLINE); the loop guard is the engine's.
        """
        if not self.any:
            return _NONE
        picks: list[Pick] = []
        welcome = self._welcome
        # once per day: the consumer's first message of each local day, even in a session left
        # open since yesterday; otherwise every new session (entering the chat).
        if welcome is not None and (consumer.welcome_day != shop.today if self._daily_welcome else new_session):
            picks.append((welcome, None))
        off_work = self._offline is not None and (
            not shop.present or (self.hours is not None and not self.hours.open_at(ev.ts)))
        if off_work:   # every agent offline, or outside working hours (下班)
            picks.append((self._offline, None))  # type: ignore[arg-type]
        card_kind = ev.card_kind
        if card_kind is not None:
            card = (self._product_answers.get(ev.card_id) if card_kind == "product"  # type: ignore[arg-type]
                    else self._order_card if card_kind == "order" else None)
            if card is not None:
                picks.append((card, None))
        text = ev.text
        if text and self._reads_text:
            plain = (self._plain.get(text) or self.plain(text)) if self.needs_plain else ""
            if not (plain in self._whole_texts and self._whole_text(plain, text, consumer, shop, picks)):
                index = self.keyword_matcher.first(text)
                if index is not None:
                    picks.append((self._keyword_answers[index], None))
        if self._status_answers:
            status = self._agent_status(consumer, shop)
            answer = self._status_answers.get(status) if status is not None else None
            if answer is not None:
                picks.append((answer, OFFLINE if off_work else None))
        if self._first is not None and new_session:
            picks.append((self._first, None))
        return picks

    def _whole_text(self, plain: str, text: str, consumer: ConsumerState, shop: ShopState, picks: list[Pick]) -> bool:
        """The replies to a text that is a click (FAQ question sent today, menu label) or a closing
        phrase as a whole, and the keyword reply it keeps from sending; False when it is neither."""
        faq = self._faq_answers.get(plain) if consumer.faq_day == shop.today else None
        menu = self._menu_answers.get(plain)
        if faq is not None or menu is not None:   # a click: its answer alone
            picks.append((faq, None) if faq is not None else (menu, None))  # type: ignore[arg-type]
            if faq is not None and menu is not None:
                picks.append((menu, CLICK))
            excluded = CLICK
            if plain in self.closing:
                picks.append((self._closing_answer(plain, text), CLICK))
        elif plain in self.closing:
            picks.append((self._closing_answer(plain, text), None))
            excluded = CLOSING
        else:
            return False
        index = self.keyword_matcher.first(text)
        if index is not None:
            picks.append((self._keyword_answers[index], excluded))
        return True

    def _closing_answer(self, plain: str, text: str) -> Chosen:
        """The closing reply to text (its trigger), remembered for the texts seen lately."""
        chosen = self._closings.get(text)
        if chosen is None:
            if len(self._closings) >= _PLAIN_CACHE_MAX:
                self._closings.clear()
            reply = self.closing[plain]
            chosen = self._closings[text] = Chosen("closing", reply, reply.text, text)
        return chosen

    @staticmethod
    def _agent_status(consumer: ConsumerState, shop: ShopState) -> str | None:
        """The status of the consumer's agent (None: no session)."""
        session = consumer.session
        if session is None:
            return None
        agent = shop.agents.get(session.agent)
        return agent.status if agent is not None else None
