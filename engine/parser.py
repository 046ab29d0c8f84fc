"""Parsing policy text into a Lark syntax tree, with located syntax diagnostics."""

from __future__ import annotations

import difflib
import re
from functools import lru_cache
from types import SimpleNamespace

from lark import Lark, Token, Tree, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr
from lark.parsers.lalr_interactive_parser import InteractiveParser
from lark.parsers.lalr_parser_state import ParserState

from .diagnostics import Diagnostic, error
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


@lru_cache(maxsize=1)
def policy_parser() -> Lark:
    """The LALR parser for the policy language (built once per process)."""
    return Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=False,
    )


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
    state = getattr(exc, "state", None)
    if interactive is None and isinstance(exc, UnexpectedCharacters) and isinstance(state, ParserState):
        interactive = InteractiveParser(None, state, SimpleNamespace(_Token=Token))
    if interactive is not None:
        try:
            return set(interactive.accepts()) - {"$END"} or {"$END"}
        except Exception:  # pragma: no cover - fall back to the table's view
            pass
    return set(getattr(exc, "expected", None) or ())


def syntax_diagnostic(src: SourceFile, exc: UnexpectedInput) -> Diagnostic:
    """Turn a Lark parse exception into a located diagnostic with a hint."""
    line, column = exc.line, exc.column
    if isinstance(exc, UnexpectedCharacters):
        char = src.text[exc.pos_in_stream] if exc.pos_in_stream < len(src.text) else ""
        span = src.span(line, column)
        if char == '"':
            end = len(src.line_text(line)) + 1
            return error("E012", "unterminated string", src.span(line, column, line, max(end, column + 1)),
                         'close the string with " on the same line; write \\" for a quote inside it')
        allowed = _acceptable(exc)
        return error("E011", f"unexpected character {char!r}", span,
                     f"expected {_describe_expected(allowed)}" if allowed else None)
    if isinstance(exc, (UnexpectedToken, UnexpectedEOF)):
        token = getattr(exc, "token", None)
        expected = _acceptable(exc)
        if token is None or token.type == "$END":
            last = src.text.rstrip().count("\n") + 1
            col = len(src.line_text(last)) + 1
            hint = "a block opened with '{' is not closed" if "RBRACE" in expected else None
            return error("E013", "unexpected end of file", src.span(last, max(col, 1)), hint or f"expected {_describe_expected(expected)}")
        span = src.span(token.line, token.column, token.end_line, token.end_column)
        value = str(token)
        suggestion = _keyword_suggestion(value, expected) if token.type == "NAME" else None
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


def parse_source(src: SourceFile) -> tuple[Tree | None, list[Diagnostic]]:
    """Parse a source file; on syntax errors, report each broken statement once."""
    parser = policy_parser()
    text = src.text
    diags: list[Diagnostic] = []
    while True:
        try:
            tree = parser.parse(text)
            return (tree if not diags else None), diags
        except UnexpectedInput as exc:
            diag = syntax_diagnostic(src, exc)
            diags.append(diag)
            if len(diags) >= MAX_SYNTAX_ERRORS or diag.code == "E013":
                return None, diags
            blanked = _blank_statement(text, diag.span.line, diag.span.column) if diag.span else text
            if blanked == text:
                return None, diags
            text = blanked
