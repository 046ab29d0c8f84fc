"""Automatic replies (自动回复): which reply, if any, answers a consumer message."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import ir
from .keywords import keyword_matcher

_TRIM = re.compile(r"[\s\u3000,.!?~，。！？～、…]+")


def normalise(text: str) -> str:
    """Text with whitespace and punctuation removed, for whole-phrase matches."""
    return _TRIM.sub("", text)


@dataclass(frozen=True, slots=True)
class Chosen:
    """The reply chosen for a message."""

    kind: str
    node: object
    text: str
    trigger: str | None = None
    exempt: bool = False   # an answer the consumer asked for (FAQ or menu click): no loop guard


@dataclass(slots=True)
class Context:
    """What the replier needs to know about the moment of a consumer message."""

    text: str
    card_kind: str | None
    card_id: str | None
    new_session: bool
    welcome_due: bool
    faq_shown_today: bool
    all_offline: bool
    agent_busy: bool


class AutoReplier:
    """Indexes a shop's automatic replies and picks the one for a message."""

    def __init__(self, replies: list):
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

    def choose(self, ctx: Context) -> Chosen | None:
        """The reply for this message, in priority order; None when no reply applies."""
        if not self.any:
            return None
        plain = normalise(ctx.text) if ctx.text and self.needs_plain else ""
        if plain and ctx.faq_shown_today and plain in self.faq:
            item = self.faq[plain]
            return Chosen("faq", item, item.answer, item.question, exempt=True)
        if plain and plain in self.menu:
            item, reply = self.menu[plain]
            return Chosen("menu", reply, f"[{item.action.name}]", item.label, exempt=True)
        if self.welcome and ctx.welcome_due:
            return Chosen("welcome", self.welcome, self.welcome.text)
        if self.offline and ctx.all_offline:
            return Chosen("offline", self.offline, self.offline.text)
        if ctx.card_kind == "product" and ctx.card_id in self.products:
            reply = self.products[ctx.card_id]
            return Chosen("product", reply, reply.text, ctx.card_id)
        if ctx.card_kind == "order" and self.order_card:
            return Chosen("order_card", self.order_card, self.order_card.text)
        if ctx.text:
            index = self.keyword_matcher.first(ctx.text)
            if index is not None:
                keyword, reply = self.keywords[index]
                return Chosen("keyword", reply, reply.text, keyword)
            if plain in self.closing:
                reply = self.closing[plain]
                return Chosen("closing", reply, reply.text, ctx.text)
        if self.busy and ctx.agent_busy:
            return Chosen("status", self.busy, self.busy.text, "busy")
        if self.first and ctx.new_session:
            return Chosen("first_message", self.first, self.first.text)
        return None
