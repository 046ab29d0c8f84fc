"""`kefu fmt`: one canonical layout for policy files, comments kept where they were.

The layout (docs/language.md, "Layout"):

- one statement a line; tokens one space apart, but none before `,` and `;`, none around
  `-` in ranges (`08:00-12:00`, `mon-fri`) and `..` (`2026-10-01..2026-10-03`);
- a block (`group`, `agent`, `route`, `queue`, `metric`, `faq`, `menu`) stays on one line,
  items joined by `; `, when it was written on one line, holds no comment and fits in
  WIDTH cells; otherwise its items go one a line, indented two spaces, without `;`;
- a statement longer than WIDTH cells wraps after commas, its later lines indented by the
  width of its first word and a space (`allow a, b,` / `      c`); one that carries comments
  on inner lines keeps those line breaks;
- comments stay where they were: a comment on its own line before the statement or item
  it preceded, at that indent; a comment after code at the end of that code's line, and
  the trailing comments of consecutive lines aligned two cells after the longest code;
- at most one blank line where there was at least one, none at the start or end of a
  block or of the file; the file ends with one newline; CRLF becomes LF.

Formatting changes only layout: the formatter re-reads its output and refuses a result
whose tokens (comments included) or statement IR (spans aside) differ from the input's.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from lark import Token, Tree
from pydantic import BaseModel
from rich.cells import cell_len

from .parser import policy_parser
from .source import SourceFile
from .transform import parse_statements

WIDTH = 100
INDENT = "  "

_TOKEN = re.compile(r"""
 (?P<comment>\#[^\n]*)
|(?P<string>"(?:[^"\\\n]|\\.)*")
|(?P<word>\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}|(?:\d+[dhms])+(?![\w])|\d+(?:\.\d+)?%|\d+
         |[A-Za-z_]+(?:/[A-Za-z0-9_+\-]+)+|[^\W\d]\w*)
|(?P<punct>->|\.\.|>=|<=|==|>|<|[{};,\-])
|(?P<space>\s+)
""", re.X)


class FormatError(Exception):
    """A file the formatter cannot lay out (it does not parse, or layout would change it); diagnostics say
    where a file that does not parse goes wrong."""

    def __init__(self, message: str, diagnostics: list | None = None):
        super().__init__(message)
        self.diagnostics = diagnostics or []


@dataclass(frozen=True)
class Tok:
    """A token of the source: its text, offset and 1-based line."""

    kind: str
    text: str
    pos: int
    line: int


@dataclass
class Line:
    """One output line: indent level, code, a trailing comment, a blank line before it."""

    depth: int
    code: str
    comment: str | None = None
    blank_before: bool = False


def tokens(text: str) -> list[Tok]:
    """Every token of the text, comments included, whitespace left out."""
    out = []
    pos, line = 0, 1
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise FormatError(f"line {line}: unexpected character {text[pos]!r}")
        kind = match.lastgroup or ""
        value = match.group()
        if kind != "space":
            out.append(Tok(kind, value.rstrip() if kind == "comment" else value, pos, line))
        line += value.count("\n")
        pos = match.end()
    return out


def join(toks: list[Tok]) -> str:
    """Tokens of one line, spaced as the layout says."""
    out = ""
    for i, tok in enumerate(toks):
        if i and not (tok.text in (",", ";", "-", "..") or toks[i - 1].text in ("-", "..")):
            out += " "
        out += tok.text
    return out


class _Layout:
    """Lays out one file's tokens along its syntax tree."""

    def __init__(self, text: str, tree: Tree):
        toks = tokens(text)
        self.code = [t for t in toks if t.kind != "comment"]
        self.comments = [t for t in toks if t.kind == "comment"]
        starts = {t.line: t for t in reversed(toks)}   # the first token of each source line
        self.own_line = {c.pos for c in self.comments if starts[c.line] is c}
        self.used: set[int] = set()     # comments placed so far
        self.by_line: dict[int, list[Tok]] = {}
        for tok in self.code:
            self.by_line.setdefault(tok.line, []).append(tok)
        self.lines: list[Line] = []
        self.tree = tree

    # ---- helpers --------------------------------------------------------------------------------
    def _code_in(self, start: int, end: int) -> list[Tok]:
        return [t for t in self.code if start <= t.pos < end]

    def _comments_in(self, start: int, end: int) -> list[Tok]:
        return [c for c in self.comments if start <= c.pos < end and c.pos not in self.used]

    def _emit(self, depth: int, code: str, blank: bool = False, comment: str | None = None) -> None:
        self.lines.append(Line(depth, code, comment, blank and bool(self.lines)))

    def _own_comments_before(self, pos: int, depth: int, prev_line: int | None, opened: int | None = None) -> int | None:
        """Emit the own-line comments not placed yet that come before pos; returns the last line used.

        opened: the line of the block's `{` when prev_line is it (no blank line opens a block).
        """
        for c in self.comments:
            if c.pos >= pos:
                break
            if c.pos in self.used:
                continue
            self.used.add(c.pos)
            self._emit(depth, c.text, blank=prev_line is not None and prev_line != opened and c.line - prev_line > 1)
            prev_line = c.line
        return prev_line

    def _trailing(self, line: int, after: int) -> str | None:
        """The comment after code on a source line (after offset `after`), taken for that line."""
        for c in self.comments:
            if c.line == line and c.pos >= after and c.pos not in self.own_line and c.pos not in self.used:
                if any(after < t.pos < c.pos for t in self._code_on(line)):
                    return None   # more code before the comment on that line: the comment is that code's
                self.used.add(c.pos)
                return c.text
        return None

    def _code_on(self, line: int) -> list[Tok]:
        return self.by_line.get(line, [])

    # ---- layout ---------------------------------------------------------------------------------
    def run(self) -> list[Line]:
        """The file's lines."""
        prev_line: int | None = None
        for node in _statements(self.tree):
            start, end = _span(node)
            prev_line = self._own_comments_before(start, 0, prev_line)
            toks = self._code_in(start, end)
            blank = prev_line is not None and toks[0].line - prev_line > 1
            self._statement(node, toks, 0, blank)
            prev_line = toks[-1].line
        self._own_comments_before(1 << 62, 0, prev_line)   # comments after the last statement
        return self.lines

    def _statement(self, node: Tree, toks: list[Tok], depth: int, blank: bool) -> None:
        opening = next((i for i, t in enumerate(toks) if t.text == "{"), None)
        if opening is None:
            self._simple(toks, depth, blank)
            return
        closing = _matching(toks, opening)
        head, open_tok, close = toks[:opening], toks[opening], toks[closing]
        items = _items(node, open_tok.pos, close.pos)
        inner_comments = self._comments_in(toks[0].pos, close.pos)
        parts = [join(self._code_in(*_span(item))) for item in items]
        one_line = join(head) + (" { " + "; ".join(parts) + " }" if parts else " {}")
        if (head[0].line == close.line and not inner_comments
                and cell_len(INDENT * depth + one_line) <= WIDTH and closing == len(toks) - 1):
            self._emit(depth, one_line, blank, self._trailing(close.line, close.pos))
            return
        self._simple(head, depth, blank, suffix=" {", tail=open_tok)
        opened = open_tok.line
        prev_line: int | None = opened
        for item in items:
            start, end = _span(item)
            prev_line = self._own_comments_before(start, depth + 1, prev_line, opened)
            item_toks = self._code_in(start, end)
            item_blank = prev_line is not None and prev_line != opened and item_toks[0].line - prev_line > 1
            self._simple(item_toks, depth + 1, item_blank)
            prev_line = item_toks[-1].line
        self._own_comments_before(close.pos, depth + 1, prev_line, opened)
        self._emit(depth, "}", comment=self._trailing(close.line, close.pos))
        rest = toks[closing + 1:]
        if rest:   # the grammar puts nothing after a block; kept, should that change
            self._simple(rest, depth, False)

    def _simple(self, toks: list[Tok], depth: int, blank: bool, suffix: str = "", tail: Tok | None = None) -> None:
        """A statement, item or block head: one line, wrapped, or on its source lines.

        suffix is added to the last line (a block head's ` {`); tail is the token it stands for,
        after which that line's comment is looked for.
        """
        last = toks[-1]
        end = tail or last
        inner = self._comments_in(toks[0].pos, end.pos)
        if inner:   # comments inside the statement: keep its line breaks, and the comments where they are
            self._on_source_lines(toks, depth, blank, suffix, end, {c.line: c for c in inner})
            return
        comment = self._trailing(end.line, end.pos)
        wrapped = _wrapped(toks, depth, len(suffix))
        for k, code in enumerate(wrapped):
            final = k == len(wrapped) - 1
            self._emit(depth, code + (suffix if final else ""), blank and k == 0, comment if final else None)

    def _on_source_lines(self, toks: list[Tok], depth: int, blank: bool, suffix: str, end: Tok,
                         comments: dict[int, Tok]) -> None:
        """A statement laid out on its own source lines: later lines hang under its first word, and a
        comment on a line of its own inside it stays there."""
        by_line: dict[int, list[Tok]] = {}
        for tok in toks:
            by_line.setdefault(tok.line, []).append(tok)
        hang = " " * (cell_len(toks[0].text) + 1)
        lines = sorted(set(by_line) | set(comments) | {end.line})
        for k, line in enumerate(lines):
            group = by_line.get(line)
            if group is None and line == end.line and line not in comments:   # a block's `{` on a line of its own
                self._emit(depth, hang + suffix.strip(), comment=self._trailing(line, end.pos))
                continue
            if group is None:   # a comment alone on its line, inside the statement
                comment = comments[line]
                self.used.add(comment.pos)
                self._emit(depth, hang + comment.text)
                continue
            code = join(group) if k == 0 else hang + join(group)
            after = group[-1].pos
            if line == lines[-1] or line == end.line:
                code += suffix if line == end.line else ""
                after = end.pos if line == end.line else after
            self._emit(depth, code, blank and k == 0, self._trailing(line, after))


def _wrapped(toks: list[Tok], depth: int, extra: int = 0) -> list[str]:
    """The statement on one line, or wrapped after commas when it is wider than WIDTH (less extra cells)."""
    line = join(toks)
    width = WIDTH - extra
    if cell_len(INDENT * depth + line) <= width or not any(t.text == "," for t in toks):
        return [line]
    hang = " " * (cell_len(toks[0].text) + 1)
    segments: list[list[Tok]] = [[]]
    for tok in toks:
        segments[-1].append(tok)
        if tok.text == ",":
            segments.append([])
    out = [join(segments[0])]
    for segment in segments[1:]:
        if not segment:
            continue
        candidate = out[-1] + " " + join(segment)
        if cell_len(INDENT * depth + candidate) <= width:
            out[-1] = candidate
        else:
            out.append(hang + join(segment))
    return out


def _statements(tree: Tree) -> list[Tree]:
    return [child for child in tree.children if isinstance(child, Tree)]


def _span(node: Tree | Token) -> tuple[int, int]:
    if isinstance(node, Token):
        assert node.start_pos is not None and node.end_pos is not None
        return node.start_pos, node.end_pos
    return node.meta.start_pos, node.meta.end_pos


def _matching(toks: list[Tok], opening: int) -> int:
    depth = 0
    for i in range(opening, len(toks)):
        depth += {"{": 1, "}": -1}.get(toks[i].text, 0)
        if depth == 0:
            return i
    raise FormatError(f"line {toks[opening].line}: '{{' is never closed")


def _items(node: Tree, open_pos: int, close_pos: int) -> list[Tree | Token]:
    """The outermost syntax nodes between a block's braces, in order."""
    found: list[Tree | Token] = []

    def visit(current: Tree | Token) -> None:
        start, end = _span(current)
        if start > open_pos and end <= close_pos:
            found.append(current)
            return
        if isinstance(current, Tree) and start <= open_pos and end >= close_pos:
            for child in current.children:
                visit(child)

    for child in node.children:
        visit(child)
    return sorted(found, key=lambda n: _span(n)[0])


def render(lines: list[Line]) -> str:
    """Lines as text, trailing comments of consecutive lines aligned."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        run = [lines[i]]
        while (lines[i].comment is not None and i + 1 < len(lines) and lines[i + 1].comment is not None
               and not lines[i + 1].blank_before):
            i += 1
            run.append(lines[i])
        column = max(cell_len(INDENT * l.depth + l.code) for l in run) + 2
        for line in run:
            code = INDENT * line.depth + line.code
            if line.blank_before:
                out.append("")
            if line.comment is not None:
                code += " " * (column - cell_len(code)) + line.comment
            out.append(code)
        i += 1
    return "\n".join(out) + "\n" if out else ""


def format_text(text: str, path: str = "policy.kefu") -> str:
    """The canonical layout of a policy's text; FormatError when it does not parse or would change."""
    from lark.exceptions import LarkError

    try:
        tree = policy_parser().parse(text)
    except LarkError:
        _, diagnostics = parse_statements(SourceFile(path, text))
        raise FormatError("it has syntax errors", diagnostics) from None
    result = render(_Layout(text, tree).run())
    _same_meaning(text, result, path)
    return result


def _same_meaning(before: str, after: str, path: str) -> None:
    """Refuse a layout whose tokens or statement IR differ from the input's."""
    if _significant(before) != _significant(after):
        raise FormatError("the layout would change its tokens (a bug in kefu fmt: the file is left as it was)")
    old, _ = parse_statements(SourceFile(path, before))
    new, _ = parse_statements(SourceFile(path, after))
    if new is None or list(map(_shape, old or [])) != list(map(_shape, new)):
        raise FormatError("the layout would change its meaning (a bug in kefu fmt: the file is left as it was)")


def _significant(text: str) -> list[tuple[str, str]]:
    """The tokens layout must keep: all but `;`, which the layout puts or leaves out between items."""
    return [(t.kind, t.text) for t in tokens(text) if t.text != ";"]


def _shape(value: Any) -> Any:
    """A statement's IR with every span left out, for comparison."""
    if isinstance(value, BaseModel):
        return (type(value).__name__, {k: _shape(v) for k, v in value if not _is_span(k)})
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, {f.name: _shape(getattr(value, f.name))
                                       for f in dataclasses.fields(value) if not _is_span(f.name)})
    if isinstance(value, (list, tuple)):
        return [_shape(v) for v in value]
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items() if not _is_span(str(k))}
    return value


def _is_span(name: str) -> bool:
    return name == "span" or name.endswith("_span") or name == "spans"
