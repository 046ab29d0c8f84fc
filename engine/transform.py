"""Lark syntax tree → typed IR statements (one IR node per statement)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable

from lark import Token, Transformer, Tree, v_args

from . import ir
from .diagnostics import Diagnostic, error
from .names import by_label, did_you_mean
from .parser import fast_parser, parse_source
from .source import SourceFile

MAX_DIGITS = 15  # longest number a policy may write (and far below int()'s 4,300-digit limit)
DAY_MINUTES = 1440
MAX_DURATION = 3650 * 86400  # longest duration a policy may write (10 years): timers stay on the calendar
DAY_NAMES = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
# Chinese day names, for the hint of a day written in Chinese (周一 → mon): days are written in English.
DAY_LABELS = {f"{prefix}{digit}": day for prefix in ("周", "星期")
              for digit, day in zip("一二三四五六日天", ("mon", "tue", "wed", "thu", "fri", "sat", "sun", "sun"))}
DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
# How E111 names a setting of a route, queue or metric block: the words a policy writes for it.
BLOCK_SETTING_WORDS = {
    "default": "default ->", "order": "order", "estimate": "estimate wait", "session_end": "end session",
    "natural_day": "natural day", "clock_start": "clock starts at", "clock_restart": "clock restarts on consumer message",
    "counts": "count", "evaluated_on": "evaluated on",
}


@dataclass(frozen=True)
class Header:
    """`shop NAME on PLATFORM` or `platform NAME "label"`."""

    kind: str
    name: str
    platform: ir.Ref | None
    label: str | None
    span: ir.Span
    name_span: ir.Span | None = None


@dataclass(frozen=True)
class Include:
    """`include "path"`."""

    path: str
    span: ir.Span


@dataclass(frozen=True)
class Timezone:
    """`timezone Asia/Shanghai`."""

    ref: ir.Ref


@dataclass(frozen=True)
class Editor:
    """`editor NAME`: the account that applies this policy on the desk."""

    ref: ir.Ref
    span: ir.Span


@dataclass(frozen=True)
class QueueBlock:
    """A `queue { … }` block; its `end session` belongs to the session settings."""

    queue: ir.Queue
    session_end: ir.SessionEnd | None


@dataclass(frozen=True)
class RepeatedCap:
    """A second `max_sessions` in one group or agent block (E111): its value is still checked against the platform."""

    max_sessions: int | None
    max_sessions_span: ir.Span


@dataclass(frozen=True)
class Default:
    """`default <setting>` in a platform file."""

    stmt: object
    span: ir.Span


@dataclass(frozen=True)
class Allow:
    """`allow feature, …`."""

    features: list[ir.Feature]
    span: ir.Span


@dataclass(frozen=True)
class Fix:
    """`fix setting, …`: settings a shop may not change."""

    names: list[ir.Ref]
    span: ir.Span


@dataclass(frozen=True)
class Generate:
    """`generate { robot 18%; … }`: the log generator's rates on this platform."""

    rates: list[ir.Rate]
    span: ir.Span


@dataclass(frozen=True)
class Declared:
    """`pages …` or `senders …`: names the platform declares."""

    kind: str
    items: list[ir.Labelled]
    span: ir.Span


def parse_duration(text: str) -> int:
    """Seconds in a duration literal such as `15m` or `1h30m`."""
    return sum(int(n) * DURATION_UNITS[u] for n, u in re.findall(r"(\d+)([dhms])", text))


def _clock_text(minutes: int) -> str:
    """`HH:MM` of minutes after midnight."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)")
ESCAPES_HINT = 'the escapes are \\" \\\\ \\n \\t \\uXXXX; write \\\\ for a backslash'


def bad_escapes(token: str) -> list[tuple[int, str]]:
    """(offset in the token, escape) of each escape a string literal may not use (`\\q`, `\\u12`)."""
    return [(m.start(), m.group()) for m in _ESCAPE.finditer(token, 1, len(token) - 1)
            if m.group(1) not in _ESCAPES and len(m.group(1)) != 5]


def unquote(token: str) -> str:
    """The value of a string literal, with escapes resolved (an unknown `\\q` stands for `q`; see bad_escapes)."""
    body = token[1:-1]
    if "\\" not in body:
        return body
    text = _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1)) or (chr(int(m.group(1)[1:], 16)) if m.group(1)[0] == "u" and len(m.group(1)) == 5 else m.group(1)), body)
    # \ud83d\ude00 pairs become one character; a lone surrogate (not text) becomes U+FFFD.
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class ToIR(Transformer):
    """Transforms a syntax tree into IR statements; bad literals become diagnostics."""

    def __init__(self, src: SourceFile):
        super().__init__(visit_tokens=False)
        self.src = src
        self.path = src.path
        self.diagnostics: list[Diagnostic] = []
        self.repeated_caps: list[RepeatedCap] = []

    # ---- helpers -----------------------------------------------------------
    def _span(self, meta) -> ir.Span:
        return ir.Span(file=self.path, line=meta.line, column=meta.column,
                       end_line=meta.end_line, end_column=meta.end_column)

    def _tspan(self, tok: Token) -> ir.Span:
        return ir.Span(file=self.path, line=tok.line, column=tok.column,
                       end_line=tok.end_line, end_column=tok.end_column)

    def _bad(self, code: str, message: str, tok_or_span, hint: str | None = None) -> None:
        span = tok_or_span if isinstance(tok_or_span, ir.Span) else self._tspan(tok_or_span)
        self.diagnostics.append(error(code, message, span, hint))

    def _string(self, tok: Token) -> str:
        text = str(tok)
        if "\\" in text:
            assert tok.column is not None  # the parser's tokens carry their positions
            for offset, escape in bad_escapes(text):  # strings are one line: the column is the token's plus the offset
                column = tok.column + offset
                self._bad("E014", f"unknown escape {escape} in string",
                          ir.Span(file=self.path, line=tok.line, column=column, end_line=tok.line, end_column=column + len(escape)),
                          ESCAPES_HINT)
        return unquote(text)

    def _too_long(self, tok: Token) -> bool:
        if any(len(digits) > MAX_DIGITS for digits in re.findall(r"\d+", str(tok))):
            self._bad("E014", f"number {str(tok)[:MAX_DIGITS]}… is too large", tok,
                      f"numbers have at most {MAX_DIGITS} digits")
            return True
        return False

    def _duration(self, tok: Token) -> int:
        if self._too_long(tok):
            return MAX_DURATION  # already reported; a long, valid placeholder
        seconds = parse_duration(str(tok))
        if seconds > MAX_DURATION:
            self._bad("E014", f"{tok} is longer than 10 years", tok, "durations go up to 3650d")
            return MAX_DURATION
        return seconds

    def _once(self, where: str, settings, joined: frozenset[str] = frozenset(),
              on_repeat: Callable[[str, Any, ir.Span], None] | None = None) -> tuple[dict, dict[str, ir.Span]]:
        """The (key, value, span) settings of a block by key, and where each was first set.

        Each may be written once: a repeat is E111 (its note points at the first), the first value
        is kept and on_repeat sees the repeat. The lists of `joined` keys are joined instead.
        """
        values: dict = {}
        first: dict[str, ir.Span] = {}
        for key, value, span in settings:
            if key in joined:
                values.setdefault(key, []).extend(value)   # in place: a block may repeat it many times
                continue
            if key in first:
                self.diagnostics.append(error("E111", f"`{BLOCK_SETTING_WORDS.get(key, key)}` is set twice in {where}",
                                              span, "remove one of the two settings",
                                              notes=(("first set here", first[key]),)))
                if on_repeat is not None:
                    on_repeat(key, value, span)
                continue
            first[key] = span
            values[key] = value
        return values, first

    def _int(self, tok: Token) -> int | None:
        """The value of an INT token; None (reported) when it is too large."""
        return None if self._too_long(tok) else int(str(tok))

    # ---- common ------------------------------------------------------------
    @v_args(meta=True)
    def name(self, meta, children):
        tok = children[0]
        value = self._string(tok) if tok.type == "STRING" else str(tok)
        return ir.Ref(name=value, span=self._tspan(tok))

    item = name

    def name_list(self, children):
        return list(children)

    item_list = name_list

    def string_list(self, children):
        return [(self._string(t), self._tspan(t)) for t in children]

    def label(self, children):
        return self._string(children[0])

    @v_args(meta=True)
    def labelled(self, meta, children):
        label = children[1] if len(children) > 1 else None
        return ir.Labelled(name=children[0].name, label=label, span=self._span(meta))

    # ---- headers -----------------------------------------------------------
    @v_args(meta=True)
    def shop_header(self, meta, children):
        return Header("shop", children[0].name, children[1], None, self._span(meta), children[0].span)

    @v_args(meta=True)
    def platform_header(self, meta, children):
        label = children[1] if len(children) > 1 else None
        return Header("platform", children[0].name, None, label, self._span(meta), children[0].span)

    @v_args(meta=True)
    def include_stmt(self, meta, children):
        return Include(self._string(children[0]), self._span(meta))

    # ---- time --------------------------------------------------------------
    @v_args(meta=True)
    def editor_stmt(self, meta, children):
        return Editor(children[0], self._span(meta))

    @v_args(meta=True)
    def restrict_stmt(self, meta, children):
        return ir.Restriction(features=children[0], roles=children[1], span=self._span(meta))

    @v_args(meta=True)
    def timezone_stmt(self, meta, children):
        tok = children[0]
        value = self._string(tok) if tok.type == "STRING" else str(tok)
        return Timezone(ir.Ref(name=value, span=self._span(meta)))

    @v_args(meta=True)
    def clock_range(self, meta, children):
        start, end = (self._clock(t) for t in children)
        span = self._span(meta)
        if start is None or end is None:
            start = end = 0  # already reported; an empty range overlaps nothing
        elif start == end or start == DAY_MINUTES:
            self._bad("E403", f"time range {children[0]}-{children[1]} is empty" if start == end else
                      f"time range {children[0]}-{children[1]} starts at the end of the day", span,
                      "write 00:00-24:00 for the whole day" if start == end else
                      f"a range starts at 00:00 to 23:59; write 00:00-{children[1]}")
            start = end = 0
        elif end < start:
            end += DAY_MINUTES   # over midnight: the range runs into the next day (E403 in a metric window)
        return ir.ClockRange(start=start, end=end, span=span)

    def _clock(self, tok: Token) -> int | None:
        hours, minutes = (int(x) for x in str(tok).split(":"))
        if minutes > 59 or hours > 24 or (hours == 24 and minutes):
            self._bad("E014", f"{tok} is not a time of day", tok, "use 00:00 to 24:00")
            return None
        return hours * 60 + minutes

    def clock_ranges(self, children):
        return list(children)

    def closed(self, children):
        return []

    @v_args(meta=True)
    def day_item(self, meta, children):
        days = []
        for tok in children:
            word = str(tok).lower()
            if word not in DAY_NAMES:
                self._bad("E105", f"unknown day {str(tok)!r}", tok, did_you_mean(word, DAY_NAMES) or by_label(word, DAY_LABELS) or "days are mon tue wed thu fri sat sun")
                return []
            days.append(DAY_NAMES[word])
        if len(days) == 2:
            a, b = days
            return list(range(a, b + 1)) if a <= b else list(range(a, 7)) + list(range(0, b + 1))
        return days

    def day_list(self, children):
        return sorted({d for item in children for d in item})

    @v_args(meta=True)
    def hours_stmt(self, meta, children):
        days = children[0] if len(children) == 2 else None
        return ir.HoursRule(days=days, ranges=children[-1], span=self._span(meta))

    @v_args(meta=True)
    def date_span(self, meta, children):
        dates, bad = [], False
        for tok in children:
            try:
                dates.append(date.fromisoformat(str(tok)))
            except ValueError:
                self._bad("E014", f"{tok} is not a date", tok, "write dates as YYYY-MM-DD")
                dates.append(date(2000, 1, 1))
                bad = True
        if not bad and len(dates) == 2 and dates[1] < dates[0]:
            self._bad("E403", f"date range {children[0]}..{children[1]} ends before it starts", self._span(meta),
                      f"write the earlier date first: {children[1]}..{children[0]} (both days are included)")
        return (dates[0], dates[-1])

    @v_args(meta=True)
    def holiday_stmt(self, meta, children):
        (start, end), ranges = children
        return ir.Holiday(start=start, end=end, ranges=ranges, span=self._span(meta))

    # ---- agents and groups -------------------------------------------------
    @v_args(meta=True)
    def agents_attr(self, meta, children):
        return ("agents", children[0], self._span(meta))

    @v_args(meta=True)
    def max_sessions_attr(self, meta, children):
        return ("max_sessions", self._int(children[0]), self._span(meta))

    @v_args(meta=True)
    def role_attr(self, meta, children):
        return ("role", children[0], self._span(meta))

    @v_args(meta=True)
    def im_attr(self, meta, children):
        return ("im", str(children[0]) == "on", self._span(meta))

    def _attrs(self, what: str, children) -> tuple[ir.Ref, str | None, dict]:
        """Name, label and attribute fields of a group or agent block.

        `agents` lists are joined; any other attribute set twice is E111 and the
        first value is kept. A repeated `max_sessions` is still checked against
        the platform's range (as a RepeatedCap statement).
        """
        name = next(c for c in children if isinstance(c, ir.Ref))
        label = next((c for c in children if isinstance(c, str)), None)

        def repeated(key: str, value, span: ir.Span) -> None:
            if key == "max_sessions":
                self.repeated_caps.append(RepeatedCap(value, span))

        fields, first = self._once(f"{what} {name.name!r}", (c for c in children if isinstance(c, tuple)),
                                   joined=frozenset({"agents"}), on_repeat=repeated)
        if "max_sessions" in first:
            fields["max_sessions_span"] = first["max_sessions"]
        return name, label, fields

    @v_args(meta=True)
    def group_stmt(self, meta, children):
        name, label, fields = self._attrs("group", children)
        return ir.Group(name=name.name, label=label, span=self._span(meta), **fields)

    @v_args(meta=True)
    def agent_stmt(self, meta, children):
        name, label, fields = self._attrs("agent", children)
        return ir.Agent(name=name.name, label=label, span=self._span(meta), **fields)

    # ---- routing -----------------------------------------------------------
    @v_args(meta=True)
    def route_page(self, meta, children):
        return ir.PageRoute(pages=children[0], targets=children[1], span=self._span(meta))

    @v_args(meta=True)
    def route_default(self, meta, children):
        return ("default", children[0], self._span(meta))

    @v_args(meta=True)
    def scope_attr(self, meta, children):
        if children and isinstance(children[0], list):
            return ir.Scope(kind="groups", groups=children[0], span=self._span(meta))
        return ir.Scope(kind="shop", span=self._span(meta))

    @v_args(meta=True)
    def route_stmt(self, meta, children):
        pages = [c for c in children if isinstance(c, ir.PageRoute)]
        fields, where = self._once("the route block", [("scope", c, c.span) if isinstance(c, ir.Scope) else c
                                                    for c in children if isinstance(c, (tuple, ir.Scope))])
        return ir.Routing(pages=pages, span=self._span(meta), default_span=where.get("default"), **fields)

    @v_args(meta=True)
    def assign_stmt(self, meta, children):
        return ir.Assign(strategy=children[0], ties=children[1] if len(children) > 1 else None, span=self._span(meta))

    def fallback(self, children):
        return children[0]

    @v_args(meta=True)
    def return_stmt(self, meta, children):
        fallback = children[1] if len(children) > 1 else []
        return ir.RepeatEntry(within=self._duration(children[0]), fallback=fallback, span=self._span(meta))

    @v_args(meta=True)
    def offline_route_stmt(self, meta, children):
        return ir.OfflineRoute(targets=children[0], span=self._span(meta))

    @v_args(meta=True)
    def offline_pool_stmt(self, meta, children):
        return ir.OfflinePool(keep=self._duration(children[0]), span=self._span(meta))

    # ---- queue and sessions ------------------------------------------------
    @v_args(meta=True)
    def order_attr(self, meta, children):
        return ("order", children[0], self._span(meta))

    @v_args(meta=True)
    def estimate_attr(self, meta, children):
        return ("estimate", self._int(children[0]), self._span(meta))

    @v_args(meta=True)
    def queue_stmt(self, meta, children):
        fields, _ = self._once("the queue block", [
            c if isinstance(c, tuple) else ("scope" if isinstance(c, ir.Scope) else "session_end", c, c.span)
            for c in children if isinstance(c, (tuple, ir.Scope, ir.SessionEnd))])
        queue = ir.Queue(scope=fields.get("scope"), order=fields.get("order"), estimate_from=fields.get("estimate"),
                         span=self._span(meta))
        return QueueBlock(queue, fields.get("session_end"))

    def end_after(self, children):
        seconds = self._duration(children[0])
        if seconds == 0:
            self._bad("E014", "a session cannot end after 0 minutes", children[0], "use a positive duration, or `end session by hand`")
        return ("after", seconds)

    def end_by_hand(self, children):
        return ("by_hand", None)

    @v_args(meta=True)
    def session_end_stmt(self, meta, children):
        kind, seconds = children[0]
        return ir.SessionEnd(after=seconds, span=self._span(meta))

    @v_args(meta=True)
    def history_stmt(self, meta, children):
        return ir.History(keep=self._duration(children[0]), span=self._span(meta))

    # ---- replies -----------------------------------------------------------
    @v_args(meta=True)
    def reply_stmt(self, meta, children):
        # The reply's span is the whole statement, `reply` included, like every other statement's.
        return children[0].model_copy(update={"span": self._span(meta)})

    def once_per_day(self, children):
        return True

    @v_args(meta=True)
    def faq_item(self, meta, children):
        return ir.FaqItem(question=self._string(children[0]), answer=self._string(children[1]),
                          enabled=len(children) < 3, span=self._span(meta))

    def faq_block(self, children):
        return list(children)

    @v_args(meta=True)
    def reply_welcome(self, meta, children):
        once = any(c is True for c in children)
        text = next(self._string(c) for c in children if isinstance(c, Token))
        faq = next((c for c in children if isinstance(c, list)), [])
        return ir.WelcomeReply(text=text, once_per_day=once, faq=faq, span=self._span(meta))

    @v_args(meta=True)
    def reply_first(self, meta, children):
        return ir.FirstMessageReply(text=self._string(children[0]), span=self._span(meta))

    @v_args(meta=True)
    def reply_keyword(self, meta, children):
        return ir.KeywordReply(keywords=[s for s, _ in children[0]], text=self._string(children[1]), span=self._span(meta))

    @v_args(meta=True)
    def reply_closing(self, meta, children):
        return ir.ClosingReply(phrases=[s for s, _ in children[0]], text=self._string(children[1]), span=self._span(meta))

    @v_args(meta=True)
    def reply_status(self, meta, children):
        return ir.StatusReply(status=children[0], text=self._string(children[1]), span=self._span(meta))

    @v_args(meta=True)
    def reply_product(self, meta, children):
        return ir.ProductReply(products=children[0], text=self._string(children[1]), span=self._span(meta))

    @v_args(meta=True)
    def reply_order(self, meta, children):
        return ir.OrderCardReply(text=self._string(children[0]), span=self._span(meta))

    @v_args(meta=True)
    def reply_offline(self, meta, children):
        return ir.OfflineReply(text=self._string(children[0]), span=self._span(meta))

    @v_args(meta=True)
    def menu_item(self, meta, children):
        return ir.MenuItem(label=self._string(children[0]), action=children[1], span=self._span(meta))

    @v_args(meta=True)
    def reply_menu(self, meta, children):
        return ir.MenuReply(items=list(children), span=self._span(meta))

    @v_args(meta=True)
    def cooldown_stmt(self, meta, children):
        return ir.Cooldown(every=self._duration(children[0]), per_consumer=True, span=self._span(meta))

    def phrase_keywords(self, children):
        return ("keywords", [s for s, _ in children[0]])

    def phrase_products(self, children):
        return ("products", children[0])

    @v_args(meta=True)
    def phrase_stmt(self, meta, children):
        links: dict = {"keywords": [], "products": []}
        for key, values in children[2:]:
            links[key].extend(values)   # in place: a phrase may have many links
        return ir.QuickPhrase(trigger=self._string(children[0]), text=self._string(children[1]), span=self._span(meta), **links)

    # ---- platform files ----------------------------------------------------
    # Each metric item is (field, value, span); metric_stmt reports an item written twice (E111).
    @v_args(meta=True)
    def m_unit(self, meta, c): return ("unit", c[0], self._span(meta))
    @v_args(meta=True)
    def m_window(self, meta, c):
        for rng in c[0]:
            if rng.end > DAY_MINUTES:   # a window is times of one day: it may not run into the next
                start, end = rng.start, rng.end - DAY_MINUTES
                self._bad("E403", f"metric window {_clock_text(start)}-{_clock_text(end)} crosses midnight", rng.span,
                          f"a metric window stays within one day; write two ranges: "
                          f"{_clock_text(start)}-24:00, 00:00-{_clock_text(end)}")
        return ("window", [r if r.end <= DAY_MINUTES else r.model_copy(update={"start": 0, "end": 0}) for r in c[0]],
                self._span(meta))
    @v_args(meta=True)
    def m_effective(self, meta, c): return ("effective", c[0], self._span(meta))
    @v_args(meta=True)
    def m_natural_day(self, meta, c): return ("natural_day", True, self._span(meta))
    @v_args(meta=True)
    def m_clock_start(self, meta, c): return ("clock_start", c[0], self._span(meta))
    @v_args(meta=True)
    def m_clock_restart(self, meta, c): return ("clock_restart", True, self._span(meta))
    @v_args(meta=True)
    def m_feeds(self, meta, c): return ("feeds", [s for s, _ in c[0]], self._span(meta))
    @v_args(meta=True)
    def m_count(self, meta, c): return ("counts", c[0], self._span(meta))
    @v_args(meta=True)
    def m_evaluated(self, meta, c): return ("evaluated_on", c[0], self._span(meta))

    @v_args(meta=True)
    def m_deadline(self, meta, c):
        seconds = self._duration(c[0])
        if seconds == 0:
            self._bad("E014", "a metric's deadline cannot be 0", c[0],
                      "use a positive duration, such as `deadline 3m`: with 0, no reply is ever in time")
        return ("deadline", seconds, self._span(meta))

    def _percent(self, tok: Token) -> float:
        return 0.0 if self._too_long(tok) else float(str(tok).rstrip("%")) / 100

    def _number(self, tok: Token) -> float:
        if tok.type == "PERCENT":
            return self._percent(tok)
        return 0.0 if self._too_long(tok) else float(str(tok))

    @v_args(meta=True)
    def m_threshold(self, meta, c):
        span = self._span(meta)
        return ("threshold", ir.Threshold(op=str(c[0]), value=self._percent(c[1]), span=span), span)

    @v_args(meta=True)
    def condition(self, meta, c):
        return ir.Condition(variable=c[0], op=str(c[1]), value=self._number(c[2]), span=self._span(meta))

    @v_args(meta=True)
    def m_penalty(self, meta, c):
        span = self._span(meta)
        return ("penalty", ir.Penalty(amount=self._int(c[0]) or 0, currency=c[1].name, when=list(c[2:]), span=span), span)

    @v_args(meta=True)
    def metric_stmt(self, meta, children):
        name = children[0]
        label = children[1] if len(children) > 1 and isinstance(children[1], str) else None
        fields, _ = self._once(f"metric {name.name!r}", [c for c in children if isinstance(c, tuple)])
        return ir.Metric(name=name.name, label=label, span=self._span(meta), **fields)

    @v_args(meta=True)
    def int_range(self, meta, c):
        return ("range", self._int(c[0]), self._int(c[1]), self._span(meta))

    def _no_maximum(self, name: ir.Ref, maximum: int | None, at: ir.Span) -> None:
        """E014 for a limit whose maximum is below 1: every limit bounds a count, so it would allow nothing."""
        if maximum is not None and maximum < 1:
            self._bad("E014", f"limit {name.name!r} allows at most {maximum}; a maximum must be at least 1", at,
                      "a limit bounds a count: write a maximum of 1 or more (`<= 1`, `1..50`)")

    @v_args(meta=True)
    def limit_stmt(self, meta, children):
        name, value = children[0], children[1:]
        span = self._span(meta)
        if value and isinstance(value[0], tuple):
            _, lo, hi, at = value[0]
            if lo is not None and hi is not None and lo > hi:
                self._bad("E403", f"limit range {lo}..{hi} is empty", span,
                          f"write the smaller bound first: {hi}..{lo} (both bounds are included)")
            else:
                self._no_maximum(name, hi, at)
            return ir.Limit(name=name, minimum=lo, maximum=hi, span=span)
        if value and isinstance(value[0], list):
            return ir.Limit(name=name, values=value[0], span=span)
        op, number = str(value[0]), self._int(value[1])
        if number is None:
            return ir.Limit(name=name, span=span)
        bounds = {"<=": {"maximum": number}, "<": {"maximum": number - 1}, ">=": {"minimum": number},
                  ">": {"minimum": number + 1}, "==": {"minimum": number, "maximum": number}}[op]
        at = ir.Span(file=self.path, line=value[0].line, column=value[0].column,
                     end_line=value[1].end_line, end_column=value[1].end_column)   # `< 0`: the comparison and its number
        self._no_maximum(name, bounds.get("maximum"), at)
        return ir.Limit(name=name, span=span, **bounds)

    @v_args(meta=True)
    def default_stmt(self, meta, children):
        return Default(children[0], self._span(meta))

    @v_args(meta=True)
    def feature(self, meta, c):
        return ir.Feature(name=c[0], within=self._duration(c[1]) if len(c) > 1 else None, span=self._span(meta))

    @v_args(meta=True)
    def allow_stmt(self, meta, children):
        return Allow(list(children), self._span(meta))

    @v_args(meta=True)
    def fix_stmt(self, meta, children):
        return Fix(children[0], self._span(meta))

    @v_args(meta=True)
    def pages_stmt(self, meta, children):
        return Declared("pages", list(children), self._span(meta))

    @v_args(meta=True)
    def senders_stmt(self, meta, children):
        return Declared("senders", list(children), self._span(meta))

    @v_args(meta=True)
    def generate_rate(self, meta, c):
        return ir.Rate(name=c[0], value=self._percent(c[1]), span=self._span(meta))

    @v_args(meta=True)
    def generate_stmt(self, meta, children):
        return Generate(list(children), self._span(meta))

    def start(self, children):
        return list(children) + self.repeated_caps


def to_statements(src: SourceFile, tree: Tree) -> tuple[list, list[Diagnostic]]:
    """The IR statements of a parsed file and any bad-literal diagnostics."""
    transformer = ToIR(src)
    statements = transformer.transform(tree)
    return statements, transformer.diagnostics


def parse_statements(src: SourceFile) -> tuple[list | None, list[Diagnostic]]:
    """Parse and transform a file: its IR statements (None after syntax errors) and diagnostics.

    A well-formed file takes the fast path straight to IR; a file that does not
    parse goes through Lark, which reports each broken statement.
    """
    fast = fast_parser()
    if fast is not None:
        transformer = ToIR(src)
        statements = fast.parse(src.text, transformer)
        if statements is not None:
            return statements, transformer.diagnostics
    tree, diags = parse_source(src)
    if tree is None:
        return None, diags
    return to_statements(src, tree)
