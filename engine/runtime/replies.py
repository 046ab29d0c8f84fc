"""Automatic replies (自动回复): which reply, if any, answers a consumer message."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from .. import ir
from ..events import Event
from .decisions import RuleRef, rule_ref
from .hours import WorkingHours
from .keywords import keyword_matcher
from .state import ConsumerState, ShopState

_TRIM = re.compile(r"[\s\u3000,.!?~，。！？～、…]+")
_PLAIN_CACHE_MAX = 4096


def normalise(text: str) -> str:
    """Text with whitespace and punctuation removed, for whole-phrase matches."""
    return _TRIM.sub("", text)


class Chosen(msgspec.Struct, frozen=True, gc=False):
    """The reply chosen for a message (a msgspec Struct: built in C; it refers to IR nodes only)."""

    kind: str
    node: Any                # the reply's IR node
    text: str
    trigger: str | None = None
    exempt: bool = False     # an answer the consumer asked for (FAQ or menu click): no loop guard
    rule: RuleRef | None = None             # the node's line, for the decision (set from node)
    faq: tuple[str, ...] | None = None      # a welcome's enabled FAQ questions (set from node)

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "rule", rule_ref(self.node.span))
        if self.kind == "welcome" and self.node.faq:
            msgspec.structs.force_setattr(self, "faq", tuple(i.question for i in self.node.faq if i.enabled))


class AutoReplier:
    """Indexes a shop's automatic replies and picks the one for a message.

    Every answer that does not depend on the message's own text is built once here
    (replies are immutable), so choosing one costs a few lookups.
    """

    def __init__(self, replies: list, hours: WorkingHours | None = None):
        self.hours = hours
        self.welcome = next((r for r in replies if isinstance(r, ir.WelcomeReply)), None)
        self.first = next((r for r in replies if isinstance(r, ir.FirstMessageReply)), None)
        self.order_card = next((r for r in replies if isinstance(r, ir.OrderCardReply)), None)
        self.offline = next((r for r in replies if isinstance(r, ir.OfflineReply)), None)
        self.busy = next((r for r in replies if isinstance(r, ir.StatusReply) and r.status.name == "busy"), None)
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
        self._offline = Chosen("offline", self.offline, self.offline.text) if self.offline else None
        self._order_card = Chosen("order_card", self.order_card, self.order_card.text) if self.order_card else None
        self._busy = Chosen("status", self.busy, self.busy.text, "busy") if self.busy else None
        self._first = Chosen("first_message", self.first, self.first.text) if self.first else None

    def plain(self, text: str) -> str:
        """normalise(text), remembered for the texts seen lately."""
        plain = self._plain.get(text)
        if plain is None:
            if len(self._plain) >= _PLAIN_CACHE_MAX:
                self._plain.clear()
            plain = self._plain[text] = normalise(text)
        return plain

    def choose(self, ev: Event, consumer: ConsumerState, shop: ShopState, new_session: bool) -> Chosen | None:
        """The reply to a consumer message, in priority order; None when no reply applies.

        ev is the message; consumer and shop are the state after the message was routed
        (new_session: it opened a session). Each condition is looked at only when its turn comes.
        """
        if not self.any:
            return None
        text = ev.text or ""
        plain = ""
        if text and self.needs_plain:
            plain = self._plain.get(text) or self.plain(text)
        if plain:
            if plain in self._faq_answers and consumer.faq_day == shop.today:  # clicked a question sent today
                return self._faq_answers[plain]
            if plain in self._menu_answers:
                return self._menu_answers[plain]
        welcome = self.welcome
        # once per day: the consumer's first message of each local day, even in a session left
        # open since yesterday; otherwise every new session (entering the chat).
        if welcome is not None and (consumer.welcome_day != shop.today if welcome.once_per_day else new_session):
            return self._welcome
        if self._offline is not None and (not shop.present or (self.hours is not None and not self.hours.open_at(ev.ts))):
            return self._offline  # every agent offline, or outside working hours (下班)
        card_kind = ev.card_kind
        if card_kind == "product" and ev.card_id in self._product_answers:
            return self._product_answers[ev.card_id]
        if card_kind == "order" and self._order_card is not None:
            return self._order_card
        if text:
            index = self.keyword_matcher.first(text)
            if index is not None:
                return self._keyword_answers[index]
            if plain in self.closing:
                return self._closing_answer(plain, text)
        if self._busy is not None and self._agent_busy(consumer, shop):
            return self._busy
        if self._first is not None and new_session:
            return self._first
        return None

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
    def _agent_busy(consumer: ConsumerState, shop: ShopState) -> bool:
        """Whether the consumer's agent is busy (忙碌)."""
        session = consumer.session
        if session is None:
            return False
        agent = shop.agents.get(session.agent)
        return agent is not None and agent.status == "busy"
