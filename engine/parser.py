"""Parsing policy text into a Lark syntax tree, with located syntax diagnostics."""

from __future__ import annotations

import bisect
import difflib
import os
import re
from functools import lru_cache
from typing import Any, Callable, Iterator, cast

from lark import Lark, Token, Tree, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.grammar import Terminal
from lark.lexer import Lexer, PatternStr
from lark.parsers.lalr_analysis import Shift

from . import grammar_cache
from .diagnostics import Diagnostic, error
from .ir import Span
from .resources import grammar_path
from .source import SourceFile

MAX_SYNTAX_ERRORS = 20

# Friendly names for the grammar's regular-expression terminals.
TERMINAL_WORDS = {
    "NAME": "a name",
    "STRING": 'a "string"',
    "INT": "a number",
    "DURATION": "a duration (30s, 15m, 2h, 1d)",
    "CLOCK": "a time (08:00)",
    "DATE": "a date (2026-11-11)",
    "PERCENT": "a percentage (50%)",
    "TZNAME": "a time zone (Asia/Shanghai)",
    "CMP": "a comparison (>=, <, …)",
    "$END": "end of file",
}


class _Lexing:
    """How policy text splits into tokens: one regular expression, keywords as whole words.

    Terminals are tried in Lark's order (priority, then width). A keyword is
    lexed as NAME and becomes the keyword where the parser accepts it (or
    accepts no NAME), so a keyword can still be a name (`else same_group,
    queue`) and never matches part of a longer word (`reply products_x` is an
    error, not a product reply for `s_x`, as with Lark's contextual lexer).
    """

    def __init__(self, terminals, ignore):
        terminals = sorted(terminals, key=lambda t: (-t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name))
        self.keywords = {t.pattern.value: t.name for t in terminals
                         if isinstance(t.pattern, PatternStr) and t.pattern.value.isidentifier()}
        ignore = set(ignore)
        skip = "|".join(t.pattern.to_regexp() for t in terminals if t.name in ignore)
        tokens = "|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in terminals
                          if t.name not in ignore and t.pattern.value not in self.keywords)
        # Possessive: whitespace and comments before a token never backtrack.
        self.skip = re.compile(f"(?:{skip})*+")
        self.token = re.compile(f"(?:{skip})*+(?:{tokens})")

    def kind(self, kind: str, value: str, accepts) -> str:
        """The terminal of a NAME-like word where the parser accepts `accepts`."""
        keyword = self.keywords.get(value) if kind == "NAME" else None
        if keyword is not None and (keyword in accepts or "NAME" not in accepts):
            return keyword
        return kind


class PolicyLexer(Lexer):
    """Lark's lexer for the policy language (see _Lexing)."""

    __future_interface__ = 2  # lex(lexer_state, parser_state); Lark < 1.2 only tests truth

    def __init__(self, conf):
        self.lexing = _Lexing(conf.terminals, conf.ignore)

    def lex(self, lexer_state, parser_state) -> Iterator[Token]:
        text = lexer_state.text if isinstance(lexer_state.text, str) else lexer_state.text.text
        states = parser_state.parse_conf.parse_table.states
        match, kind_of = self.lexing.token.match, self.lexing.kind
        pos, line, line_start = 0, 1, 0
        while True:
            m = match(text, pos)
            start = m.start(m.lastgroup) if m else self.lexing.skip.match(text, pos).end()
            if start > pos and (newlines := text.count("\n", pos, start)):
                line += newlines
                line_start = text.rfind("\n", pos, start) + 1
            if m is None:
                if start < len(text):
                    raise UnexpectedCharacters(text, start, line, start - line_start + 1, state=parser_state,
                                               token_history=lexer_state.last_token and [lexer_state.last_token])
                return
            value, end = m.group(m.lastgroup), m.end()
            kind = kind_of(m.lastgroup, value, states[parser_state.position])
            column = start - line_start + 1
            token = Token(kind, value, start, line, column, line, column + end - start, end)
            lexer_state.last_token = token
            yield token
            pos = end


LARK_OPTIONS: dict[str, Any] = {"parser": "lalr", "lexer": PolicyLexer, "propagate_positions": True, "maybe_placeholders": False}

PARSER_ENV = "KEFU_PARSER"
"""Environment variable: `lark` parses every policy with Lark alone (no fast path); unset or anything else, the fast path."""


def fast_path_on() -> bool:
    """Whether well-formed policies take the fast path (KEFU_PARSER is not `lark`)."""
    return os.environ.get(PARSER_ENV, "").strip().lower() != "lark"


@lru_cache(maxsize=1)
def policy_parser() -> Lark:
    """The LALR parser for the policy language (built once per process, or loaded from the user's cache)."""
    grammar = grammar_path().read_text(encoding="utf-8")
    path = grammar_cache.cache_path(grammar, repr(sorted(LARK_OPTIONS.items())))
    cached = grammar_cache.load(path) if path is not None else None
    if cached is not None:
        return cached
    lark = Lark(grammar, **LARK_OPTIONS)
    if path is not None:
        grammar_cache.save(lark, path)
    return lark


class _Meta:
    """Positions of a reduced rule, as Lark's propagated `meta` gives them."""

    __slots__ = ("line", "column", "end_line", "end_column", "start_pos", "end_pos", "empty")
    empty: bool
    line: int | None  # Token's types: set from the first and last tokens of the rule
    column: int | None
    start_pos: int | None
    end_line: int | None
    end_column: int | None
    end_pos: int | None


class FastParser:
    """Lexes and parses a well-formed policy straight into the transformer's IR.

    Lark builds a syntax tree with positions and a Transformer walks it again;
    for a large policy that is most of `kefu check`'s time. This drives Lark's
    own LALR table instead: the same lexing as Lark's (see _Lexing), and each
    reduction calls the transformer's method with the children and positions
    Lark would have given it. It only handles input that parses:
    on the first unexpected character or token it gives up (returns None) and
    the caller parses with Lark, which reports and recovers.
    """

    def __init__(self, lark: Lark):
        table = lark.parser.parser._parse_table  # AttributeError → no fast path
        self.states = table.states
        self.start_state = table.start_states["start"]
        self.end_state = table.end_states["start"]
        self.lexing = _Lexing(lark.terminals, lark.lexer_conf.ignore)   # a loaded Lark has no ignore_tokens
        # Top level: before any statement, and after whole statements (`start: (statement | ";")*`).
        self.top_states = frozenset({self.start_state} | {action[1] for symbol, action in self.states[self.start_state].items()
                                                          if symbol.startswith("__start_star")})
        self.rules = {}
        for rule in lark.rules:
            name = str(rule.alias or rule.origin.name)
            keep = tuple((i, not sym.is_term and sym.name.startswith("_")) for i, sym in enumerate(rule.expansion)
                         if not (isinstance(sym, Terminal) and sym.filter_out))
            size = len(rule.expansion)
            plain = [i for i, expand in keep if not expand] == list(range(size))  # children = all values
            self.rules[rule] = (name, size, None if plain else keep, rule.options.expand1, name.startswith("_"))

    def scan(self, text: str, restarts: list[int]) -> bool:
        """Parse text from offset restarts[-1] (nothing is built); True when it does not parse.

        restarts[-1] must be a restart point: an offset where the text before it is whole statements
        (0, or a point this method found). Appends, in order, each further restart point it passes:
        the start of a token the parser took at the top level, after the statements before it. A
        parse from a restart point, with the text before it left out, accepts and rejects the rest
        exactly as a parse from the start does (the states after a statement and before the first
        one accept the same tokens and go to the same states), so recovery (parse_source) parses
        again from the last restart point before a broken statement, not from the start.
        """
        states, keywords, rules, top = self.states, self.lexing.keywords, self.rules, self.top_states
        match, pos = self.lexing.token.match, restarts[-1]
        state_stack = [self.start_state]

        def reduce(rule) -> None:
            name, size = rules[rule][:2]
            if size:
                del state_stack[-size:]
            state_stack.append(states[state_stack[-1]][name][1])

        while True:
            m = match(text, pos)
            if m is None:
                break
            kind = m.lastgroup
            start, end = m.span(kind)
            if kind == "NAME" and m.group(kind) in keywords:
                accepts = states[state_stack[-1]]
                if keywords[m.group(kind)] in accepts or "NAME" not in accepts:
                    kind = keywords[m.group(kind)]
            while True:
                action = states[state_stack[-1]].get(kind)
                if action is None:
                    return True
                if action[0] is Shift:
                    if len(state_stack) <= 2 and state_stack[-1] in top and start > restarts[-1]:
                        restarts.append(start)
                    state_stack.append(action[1])
                    break
                reduce(action[1])
            pos = end
        return not self._ends(text, pos, state_stack, reduce)

    def _ends(self, text: str, pos: int, state_stack: list, reduce: Callable[[Any], None]) -> bool:
        """Whether the text may end at pos: only skipped text after it, and the end of input accepted
        (reducing what is left with reduce)."""
        if self.lexing.skip.match(text, pos).end() < len(text):
            return False
        states = self.states
        while state_stack[-1] != self.end_state:
            action = states[state_stack[-1]].get("$END")
            if action is None or action[0] is Shift:
                return False
            reduce(action[1])
        return True

    def handlers(self, transformer) -> dict:
        """Rule name → (callable, wants_meta) for the transformer's methods."""
        out: dict[str, tuple[Callable[..., Any], bool]] = {}
        for name, *_ in self.rules.values():
            method = getattr(transformer, name, None)
            if method is None:
                out[name] = (lambda meta, children, name=name: transformer.__default__(name, children, meta), True)
            elif getattr(method, "visit_wrapper", None) is not None:
                base = getattr(method, "base_func", None)
                if base is not None and getattr(method.visit_wrapper, "__name__", "") == "_vargs_meta":
                    out[name] = (base, True)  # @v_args(meta=True): f(meta, children), without Lark's wrappers
                else:
                    out[name] = (lambda meta, children, m=method, name=name: m.visit_wrapper(m, name, children, meta), True)
            else:
                out[name] = (method, False)
        return out

    def parses(self, text: str) -> bool:
        """True when the text parses (nothing is built)."""
        return not self.scan(text, [0])

    def parse(self, text: str, transformer):
        """The transformer's result for the whole text, or None when the text does not parse."""
        states, keywords, rules, handlers = self.states, self.lexing.keywords, self.rules, self.handlers(transformer)
        value_stack: list[Any]  # tokens and the transformer's values
        first_stack: list[Token | None]  # the first and last token of each value; None for an empty match
        last_stack: list[Token | None]
        state_stack, value_stack, first_stack, last_stack = [self.start_state], [], [], []

        def reduce(rule) -> None:
            name, size, keep, expand1, inline = rules[rule]
            if expand1 and size == 1 and keep is None:  # `?rule: x` passes x through unchanged
                state_stack[-1] = states[state_stack[-2]][name][1]
                return
            if size:
                values, firsts, lasts = value_stack[-size:], first_stack[-size:], last_stack[-size:]
                del value_stack[-size:], first_stack[-size:], last_stack[-size:], state_stack[-size:]
                first, last = firsts[0], lasts[-1]
                if first is None or last is None:  # a child that matched nothing (an empty `x*`) has no position
                    first = next((f for f in firsts if f is not None), None)
                    last = next((f for f in reversed(lasts) if f is not None), None)
            else:
                values, first, last = [], None, None
            if keep is None:
                children = values
            else:
                children = []
                for i, expand in keep:
                    if not expand:
                        children.append(values[i])
                    elif children:
                        children.extend(values[i])
                    else:
                        children = values[i]  # left recursion (`x*`): grow the list in place, as Lark does
            if inline:
                value = children
            elif expand1 and len(children) == 1:
                value = children[0]
            else:
                call, wants_meta = handlers[name]
                if wants_meta:
                    meta = _Meta()
                    meta.empty = first is None
                    if first is not None:
                        assert last is not None  # a value's first and last token are None together (no tokens)
                        meta.line, meta.column, meta.start_pos = first.line, first.column, first.start_pos
                        meta.end_line, meta.end_column, meta.end_pos = last.end_line, last.end_column, last.end_pos
                    value = call(meta, children)
                else:
                    value = call(children)
            state_stack.append(states[state_stack[-1]][name][1])
            value_stack.append(value)
            first_stack.append(first)
            last_stack.append(last)

        match, pos, line, line_start = self.lexing.token.match, 0, 1, 0
        while True:
            m = match(text, pos)
            if m is None:
                break
            kind = m.lastgroup
            start, end = m.span(kind)
            if start > pos and (newlines := text.count("\n", pos, start)):
                line += newlines
                line_start = text.rfind("\n", pos, start) + 1
            value = m.group(kind)
            if kind == "NAME" and value in keywords:
                accepts = states[state_stack[-1]]
                if keywords[value] in accepts or "NAME" not in accepts:
                    kind = keywords[value]
            column = start - line_start + 1
            token = Token(kind, value, start, line, column, line, column + end - start, end)
            while True:
                action = states[state_stack[-1]].get(kind)
                if action is None:
                    return None
                if action[0] is Shift:
                    state_stack.append(action[1])
                    value_stack.append(token)
                    first_stack.append(token)
                    last_stack.append(token)
                    break
                reduce(action[1])
            pos = end
        return value_stack[-1] if self._ends(text, pos, state_stack, reduce) else None


def fast_parser() -> FastParser | None:
    """The fast path for well-formed policies: None when KEFU_PARSER=lark, or when this Lark version does not
    expose its tables (then Lark parses everything)."""
    return _built_fast_parser() if fast_path_on() else None


@lru_cache(maxsize=1)
def _built_fast_parser() -> FastParser | None:
    try:
        return FastParser(policy_parser())
    except (AttributeError, KeyError, TypeError):  # pragma: no cover - another Lark layout
        return None


@lru_cache(maxsize=1)
def _terminal_display() -> dict[str, str]:
    shown = dict(TERMINAL_WORDS)
    for term in policy_parser().terminals:
        if isinstance(term.pattern, PatternStr):
            shown.setdefault(term.name, f"'{term.pattern.value}'")
    return shown


@lru_cache(maxsize=1)
def statement_keywords() -> frozenset[str]:
    """Keywords that can start a top-level statement (used for recovery and hints)."""
    text = grammar_path().read_text(encoding="utf-8")
    return frozenset(re.findall(r'^\w+_(?:stmt|header): "(\w+)"', text, re.M)) | {"offline"}


def _describe_expected(expected: set[str]) -> str:
    shown = _terminal_display()
    starters = {f"'{k}'" for k in statement_keywords()}
    words = sorted({shown.get(name, name) for name in expected})
    if len([w for w in words if w in starters]) >= 3:
        words = [w for w in words if w not in starters] + ["a new statement"]
    if len(words) > 8:
        words = words[:8] + ["…"]
    return ", ".join(words)


def _keyword_suggestion(word: str, expected: set[str]) -> str | None:
    candidates = [
        t.pattern.value
        for t in policy_parser().terminals
        if t.name in expected and isinstance(t.pattern, PatternStr) and t.pattern.value.isidentifier()
    ]
    match = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return match[0] if match else None


def _acceptable(exc: UnexpectedInput) -> set[str]:
    """Terminals truly acceptable at the error (LALR tables over-approximate)."""
    interactive = getattr(exc, "interactive_parser", None)
    if interactive is not None:
        try:
            return set(interactive.accepts()) - {"$END"} or {"$END"}
        except Exception:  # pragma: no cover - fall back to the table's view
            pass
    return set(getattr(exc, "expected", None) or ())


# Full-width (Chinese) punctuation a policy may type by mistake, outside strings: its name and the ASCII fix.
_QUOTE_FIX = 'write strings in ASCII double quotes "…"; Chinese quotation marks may only appear inside a string'
FULL_WIDTH = {
    "，": ("full-width comma", "write the ASCII ',' instead"),
    "、": ("ideographic comma", "write the ASCII ',' instead"),
    "；": ("full-width semicolon", "write the ASCII ';' instead"),
    "：": ("full-width colon", "write the ASCII ':' instead (08:00)"),
    "“": ("Chinese opening quotation mark", _QUOTE_FIX),
    "”": ("Chinese closing quotation mark", _QUOTE_FIX),
    "‘": ("Chinese opening single quotation mark", _QUOTE_FIX),
    "’": ("Chinese closing single quotation mark", _QUOTE_FIX),
    "｛": ("full-width opening brace", "write the ASCII '{' instead"),
    "｝": ("full-width closing brace", "write the ASCII '}' instead"),
    "（": ("full-width opening parenthesis", "parentheses are not part of the language: put the text in a string"),
    "）": ("full-width closing parenthesis", "parentheses are not part of the language: put the text in a string"),
    "－": ("full-width hyphen-minus", "write the ASCII '-' instead (08:00-12:00, mon-fri, ->)"),
    "—": ("em dash", "write the ASCII '-' instead (08:00-12:00, mon-fri, ->)"),
    "＞": ("full-width greater-than sign", "write the ASCII '>' instead (->, >=)"),
    "→": ("arrow", "write the ASCII '->' instead"),
    "＃": ("full-width number sign", "write the ASCII '#' to start a comment"),
    "＂": ("full-width quotation mark", _QUOTE_FIX),
    "＝": ("full-width equals sign", "write the ASCII '=' instead (>=, ==)"),
    "＜": ("full-width less-than sign", "write the ASCII '<' instead (<=)"),
    "。": ("ideographic full stop", "statements end without a full stop; separate them with a new line or ';'"),
}


def _full_width(char: str) -> tuple[str, str] | None:
    """The name and the ASCII fix of a full-width punctuation character, or None for another character."""
    return FULL_WIDTH.get(char)


def _full_width_after(src: SourceFile, token: Token, shift: int) -> Diagnostic | None:
    """E011 for full-width punctuation right after an unexpected token (`08：00` lexes as `08`, then fails)."""
    end = cast(int, token.end_pos) + shift
    char = src.text[end] if end < len(src.text) else ""
    if _full_width(char) is None or token.end_line is None or token.end_column is None:
        return None
    name, hint = FULL_WIDTH[char]
    return error("E011", f"unexpected character {char!r} ({name})",
                 src.span(token.end_line, token.end_column), hint)


_BRACES = re.compile(r'"(?:[^"\\\n]|\\.)*"?|#[^\n]*|[{}]')


def _open_brace(text: str, begin: int, end: int) -> int | None:
    """The offset of the last '{' in text[begin:end] still open at end (braces in strings and comments skipped)."""
    opened: list[int] = []
    for m in _BRACES.finditer(text, begin, end):
        if m.group() == "{":
            opened.append(m.start())
        elif m.group() == "}" and opened:
            opened.pop()
    return opened[-1] if opened else None


def _next_brace(text: str, start: int) -> str | None:
    """The first '{' or '}' at or after start (in strings and comments skipped), or None."""
    for m in _BRACES.finditer(text, start):
        if m.group() in "{}":
            return m.group()
    return None


def _unclosed_block(src: SourceFile, text: str, begin: int, end: int, before: Token | None) -> Diagnostic | None:
    """E015 at the '{' still open where the parser wanted its '}': at the end of the file, or before the
    statement `before` that starts a line when the next brace after it opens a block (a '}' next would close
    this one: `before` is then a stray line inside the block). None otherwise (the caller reports as usual)."""
    brace = _open_brace(text, begin, end)
    if brace is None or (before is not None and _next_brace(text, end) == "}"):
        return None
    line = text.count("\n", 0, brace) + 1
    column = brace - (text.rfind("\n", 0, brace) + 1) + 1
    where = (f"close it with '}}' before `{before}` on line {before.line}" if before is not None
             else "close it with '}' at the end of the block")
    return error("E015", "block is not closed", src.span(line, column), f"this '{{' is never closed: {where}")


def _unclosed_at(src: SourceFile, token: Token | None, shift: int, text: str, begin: int) -> Diagnostic | None:
    """E015 when the parser, in a block, met the end of the file or a statement keyword starting a line."""
    if token is None or token.type == "$END":
        return _unclosed_block(src, text, begin, len(text), None)
    if token.column == 1 and str(token) in statement_keywords():
        return _unclosed_block(src, text, begin, cast(int, token.start_pos) + shift, token)
    return None


def syntax_diagnostic(src: SourceFile, exc: UnexpectedInput, shift: int = 0, text: str | None = None,
                      begin: int = 0) -> Diagnostic:
    """Turn a Lark parse exception into a located diagnostic with a hint.

    shift: what to add to an offset in the text parsed to get the offset in src (the text parsed
    may leave out whole statements before the error, keeping every line and column). text: the text
    parsed, at src's offsets (src.text with broken statements blanked; src.text when None); begin: the
    offset where the parse started in it.
    """
    parsed = src.text if text is None else text
    line, column = exc.line, exc.column
    if isinstance(exc, UnexpectedCharacters):
        pos = cast(int, exc.pos_in_stream) + shift  # always set here, to the lexer's position (Lark's base class declares None)
        char = src.text[pos] if pos < len(src.text) else ""
        span = src.span(line, column)
        if char == '"':
            end = len(src.line_text(line)) + 1
            return error("E012", "unterminated string", src.span(line, column, line, max(end, column + 1)),
                         'close the string with " on the same line; write \\" for a quote inside it')
        full_width = _full_width(char)
        if full_width is not None:
            name, fix = full_width
            return error("E011", f"unexpected character {char!r} ({name})", span, fix)
        allowed = _acceptable(exc)
        return error("E011", f"unexpected character {char!r}", span,
                     f"expected {_describe_expected(allowed)}" if allowed else None)
    if isinstance(exc, (UnexpectedToken, UnexpectedEOF)):
        token = getattr(exc, "token", None)
        expected = _acceptable(exc)
        if "RBRACE" in expected:
            unclosed = _unclosed_at(src, token, shift, parsed, begin)
            if unclosed is not None:
                return unclosed
        if token is None or token.type == "$END":
            last = src.text.rstrip().count("\n") + 1
            col = len(src.line_text(last)) + 1
            hint = "a block opened with '{' is not closed" if "RBRACE" in expected else None
            return error("E013", "unexpected end of file", src.span(last, max(col, 1)), hint or f"expected {_describe_expected(expected)}")
        after = _full_width_after(src, token, shift)
        if after is not None:
            return after
        span = src.span(token.line, token.column, token.end_line, token.end_column)
        value = str(token) if len(token) <= 40 else f"{token[:40]}…"
        suggestion = _keyword_suggestion(value, expected) if str(token).isidentifier() else None
        if suggestion:
            return error("E010", f"unexpected {value!r}", span, f"did you mean '{suggestion}'?")
        return error("E010", f"unexpected {value!r}", span, f"expected {_describe_expected(expected)}")
    return error("E010", str(exc).splitlines()[0], src.span(line or 1, column or 1))


# Statement keywords that may also begin a line inside a block (`default ->` in a
# route, `end session` in a queue); inside an open block they start no statement.
_BLOCK_WORDS = frozenset({"default", "end"})
_LEADING_WORD = re.compile(r"[^\W\d]\w*")
_NOT_BRACES = re.compile(r'"(?:[^"\\\n]|\\.)*"?|#.*')


def _statement_starts(text: str) -> list[int]:
    """Line numbers (1-based) where a top-level statement starts at column 1."""
    keywords = statement_keywords()
    starts = []
    depth = 0
    for number, line in enumerate(text.split("\n"), start=1):
        match = _LEADING_WORD.match(line)
        word = match.group() if match else ""
        if word in keywords and (depth == 0 or word not in _BLOCK_WORDS):
            starts.append(number)
            depth = 0  # a block still open here was broken; the new statement starts afresh
        if "{" in line or "}" in line:
            bare = _NOT_BRACES.sub("", line)
            depth = max(0, depth + bare.count("{") - bare.count("}"))
    return starts


def _blank_statement(text: str, error_line: int, error_column: int) -> str:
    """Replace the broken statement around the error with spaces, keeping every position.

    An error on the first word of a statement (at column 1) means the statement
    before it is unfinished, so that one is blanked.
    """
    starts = _statement_starts(text)
    if error_column == 1 and error_line in starts and starts[0] < error_line:
        first = max(n for n in starts if n < error_line)
        last = error_line - 1
    else:
        first = max((n for n in starts if n <= error_line), default=1)
        after = min((n for n in starts if n > error_line), default=None)
        last = (after - 1) if after else text.count("\n") + 1
    lines = text.split("\n")
    for i in range(first - 1, last):
        lines[i] = " " * len(lines[i])
    return "\n".join(lines)


class _Recovery:
    """Where top-level statements start (as _statement_starts says), kept up to date as broken statements are
    blanked (as _blank_statement blanks them) without going over the whole text again for each error."""

    def __init__(self, text: str):
        self.lines = text.split("\n")
        self.offsets = [0] * len(self.lines)   # of each line's first character in the text
        offset = 0
        for i, line in enumerate(self.lines):
            self.offsets[i] = offset
            offset += len(line) + 1
        self.keywords = statement_keywords()
        self.depth_in = [0] * (len(self.lines) + 1)   # brace depth before each line
        self.is_start = [False] * len(self.lines)
        self._update(0, len(self.lines) - 1)
        self.starts = [i + 1 for i, start in enumerate(self.is_start) if start]

    def _update(self, first: int, last: int) -> int:
        """Work out lines from index first on, after lines first..last changed; the index where it stopped."""
        depth, i = self.depth_in[first], first
        keywords, lines, depth_in, is_start = self.keywords, self.lines, self.depth_in, self.is_start
        while i < len(lines):
            if i > last and depth == depth_in[i]:
                return i   # from here on, every line is what it was
            depth_in[i] = depth
            line = lines[i]
            match = _LEADING_WORD.match(line)
            word = match.group() if match else ""
            is_start[i] = word in keywords and (depth == 0 or word not in _BLOCK_WORDS)
            if is_start[i]:
                depth = 0
            if "{" in line or "}" in line:
                bare = _NOT_BRACES.sub("", line)
                depth = max(0, depth + bare.count("{") - bare.count("}"))
            i += 1
        depth_in[i] = depth
        return i

    def blank(self, error_line: int, error_column: int) -> tuple[int, str, int] | None:
        """Blank the broken statement around an error (see _blank_statement): (start, spaces, end) to put in the
        text in place of text[start:end], or None when it is blank already."""
        starts = self.starts
        at = bisect.bisect_right(starts, error_line)
        if error_column == 1 and 0 < error_line <= len(self.lines) and self.is_start[error_line - 1] and starts[0] < error_line:
            first, last = starts[at - 2], error_line - 1
        else:
            first = starts[at - 1] if at else 1
            last = starts[at] - 1 if at < len(starts) else len(self.lines)
        lines = self.lines[first - 1:last]
        if not any(line.strip(" ") for line in lines):
            return None
        blank = [" " * len(line) for line in lines]
        self.lines[first - 1:last] = blank
        stop = self._update(first - 1, last - 1)
        lo, hi = bisect.bisect_left(starts, first), bisect.bisect_left(starts, stop + 1)
        starts[lo:hi] = [i + 1 for i in range(first - 1, stop) if self.is_start[i]]
        start = self.offsets[first - 1]
        return start, "\n".join(blank), start + sum(map(len, blank)) + len(blank) - 1


def _at_end(exc: UnexpectedInput) -> bool:
    """Whether the parse failed at the end of the input (E013, or E015 at the end): parsing stops there."""
    if isinstance(exc, UnexpectedCharacters):
        return False
    token = getattr(exc, "token", None)
    return token is None or token.type == "$END"


def _error_place(exc: UnexpectedInput, span: Span) -> tuple[int, int]:
    """Where the parser failed (line, column), which recovery blanks around: the diagnostic may point
    elsewhere (E015 at the '{' not closed, E011 at a full-width character after the token)."""
    return (exc.line, exc.column) if exc.line and exc.column else (span.line, span.column)


def parse_source(src: SourceFile) -> tuple[Tree | None, list[Diagnostic]]:
    """Parse a source file; on syntax errors, report each broken statement once.

    After an error, the broken statement is blanked (_blank_statement) and the text parsed again
    for the next error. Each parse starts at the last restart point (FastParser.scan) before the
    error, with the statements before it left out: recovering from N errors costs N parses of a
    statement or so, not N parses of the whole file, and reports what parsing the whole file
    would.
    """
    fast = fast_parser()
    if fast is None:  # pragma: no cover - another Lark layout
        return _parse_source_whole(src)
    text = src.text
    restarts = [0]
    if not fast.scan(text, restarts):
        return policy_parser().parse(text), []
    diags: list[Diagnostic] = []
    recovery = _Recovery(text)
    while True:
        start = restarts[-1]
        line_start = text.rfind("\n", 0, start) + 1
        head = "\n" * text.count("\n", 0, start) + " " * (start - line_start)   # the same lines and columns
        try:
            policy_parser().parse(head + text[start:])
        except UnexpectedInput as exc:
            diag = syntax_diagnostic(src, exc, start - len(head), text, start)
            failure = exc
        else:  # pragma: no cover - Lark takes what the fast parser does not: let Lark alone decide
            return _parse_source_whole(src)
        diags.append(diag)
        if len(diags) >= MAX_SYNTAX_ERRORS or _at_end(failure) or diag.span is None:
            return None, diags
        blanked = recovery.blank(*_error_place(failure, diag.span))
        if blanked is None:
            return None, diags
        begin, spaces, end = blanked
        text = text[:begin] + spaces + text[end:]
        del restarts[max(1, bisect.bisect_left(restarts, begin)):]   # 0 always holds
        if not fast.scan(text, restarts):   # the rest is sound
            return None, diags


def _parse_source_whole(src: SourceFile) -> tuple[Tree | None, list[Diagnostic]]:
    """parse_source without the fast parser: each parse from the start of the file."""
    parser = policy_parser()
    text = src.text
    diags: list[Diagnostic] = []
    while True:
        try:
            tree = parser.parse(text)
            return (tree if not diags else None), diags
        except UnexpectedInput as exc:
            diag = syntax_diagnostic(src, exc, 0, text)
            diags.append(diag)
            if len(diags) >= MAX_SYNTAX_ERRORS or _at_end(exc):
                return None, diags
            blanked = _blank_statement(text, *_error_place(exc, diag.span)) if diag.span else text
            if blanked == text:
                return None, diags
            text = blanked
            fast = fast_parser()
            if fast is not None and fast.parses(text):  # the rest is sound: no need for Lark again
                return None, diags
