"""Diagnostics: located messages with a code, a caret under the span and a hint."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Literal

from .ir import Span

Severity = Literal["error", "warning"]
JSON_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a policy file."""

    code: str
    message: str
    span: Span | None
    hint: str | None = None
    severity: Severity = "error"
    notes: tuple[tuple[str, Span], ...] = field(default=())

    def sort_key(self) -> tuple:
        """Order diagnostics by file, then position, then code."""
        s = self.span
        return (s.file, s.line, s.column, self.code) if s else ("", 0, 0, self.code)


def error(code: str, message: str, span: Span | None, hint: str | None = None, **kw) -> Diagnostic:
    """An error diagnostic."""
    return Diagnostic(code, message, span, hint, "error", **kw)


def warning(code: str, message: str, span: Span | None, hint: str | None = None, **kw) -> Diagnostic:
    """A warning diagnostic (fails a check only with --strict)."""
    return Diagnostic(code, message, span, hint, "warning", **kw)


MAX_SHOWN_CHARS = 120  # a longer source line is shown as a window around the span

# Characters a terminal would act on rather than show, each shown as a visible stand-in of one cell, so that
# a policy can neither garble its diagnostics (a CR mid-line, backspaces, bidi overrides) nor send escape
# sequences to the terminal: C0 controls but tab as ␀…␟, DEL as ␡; C1 controls, the line and paragraph
# separators and the bidi controls as �.
_VISIBLE = str.maketrans({**{c: 0x2400 + c for c in range(0x20) if c != 0x09}, 0x7F: 0x2421,
                          **{c: 0xFFFD for c in [*range(0x80, 0xA0), 0x2028, 0x2029, 0x200E, 0x200F, 0x061C,
                                                 *range(0x202A, 0x202F), *range(0x2066, 0x206A)]}})


def visible(text: str) -> str:
    """text with the characters a terminal would act on replaced by visible stand-ins (same length)."""
    return text.translate(_VISIBLE)


def caret_lines(span: Span, line_text: str) -> list[str]:
    """The source line and a caret line under the span (one line's worth)."""
    width = (span.end_column - span.column) if span.end_line == span.line else len(line_text) - span.column + 1
    width = max(1, width)
    start, lo, hi = span.column - 1, 0, len(line_text)
    if hi > MAX_SHOWN_CHARS:
        lo = max(0, min(start - 20, hi - MAX_SHOWN_CHARS))
        hi = lo + MAX_SHOWN_CHARS
    head = "…" if lo > 0 else ""
    tail = "…" if hi < len(line_text) else ""
    shown = visible(line_text[lo:hi])
    # CJK characters take two terminal cells; pad so the caret stays under them.
    prefix = _pad(head + shown[:start - lo])
    marked = shown[start - lo : min(start + width, hi) - lo]
    return [f"  | {head}{shown}{tail}", f"  | {prefix}{'^' * max(1, _cells(marked) or 1)}"]


def _is_wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def _cells(text: str) -> int:
    return sum(2 if _is_wide(ch) else 1 for ch in text)


def _pad(text: str) -> str:
    return "".join("\t" if ch == "\t" else (" " * (2 if _is_wide(ch) else 1)) for ch in text)


def render_text(diags: Iterable[Diagnostic], line_of) -> str:
    """Render diagnostics for a terminal; line_of(file, line) gives a source line."""
    out: list[str] = []
    for d in diags:
        where = f"{d.span.file}:{d.span.line}:{d.span.column}: " if d.span else ""
        out.append(visible(f"{where}{d.severity}[{d.code}]: {d.message}"))
        if d.span:
            text = line_of(d.span.file, d.span.line)
            if text is not None:
                out.extend(caret_lines(d.span, text))
        for note, span in d.notes:
            out.append(visible(f"  = note: {note} ({span.file}:{span.line}:{span.column})"))
        if d.hint:
            out.append(visible(f"  = hint: {d.hint}"))
    return "\n".join(out) + ("\n" if out else "")


def diagnostic_dict(d: Diagnostic) -> dict:
    """A diagnostic as a JSON-ready dict (the stable `--format json` shape)."""
    return {
        "severity": d.severity,
        "code": d.code,
        "message": d.message,
        "span": d.span.model_dump() if d.span else None,
        "hint": d.hint,
        "notes": [{"message": m, "span": s.model_dump()} for m, s in d.notes],
    }


def render_json(diags: list[Diagnostic], files: list[str]) -> str:
    """A versioned JSON envelope of all diagnostics."""
    errors = sum(1 for d in diags if d.severity == "error")
    envelope = {
        "version": JSON_FORMAT_VERSION,
        "tool": "kefu check",
        "files": files,
        "summary": {"files": len(files), "errors": errors, "warnings": len(diags) - errors},
        "diagnostics": [diagnostic_dict(d) for d in diags],
    }
    return json.dumps(envelope, ensure_ascii=False, indent=2) + "\n"


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(diags: Iterable[Diagnostic]) -> str:
    """GitHub Actions workflow annotations, one per line."""
    out = []
    for d in diags:
        props = []
        if d.span:
            props += [
                f"file={_gh_escape(d.span.file, True)}",
                f"line={d.span.line}",
                f"col={d.span.column}",
                f"endLine={d.span.end_line}",
                f"endColumn={d.span.end_column}",
            ]
        props.append(f"title={_gh_escape(d.code, True)}")
        msg = d.message + (f" (hint: {d.hint})" if d.hint else "")
        out.append(visible(f"::{d.severity} {','.join(props)}::{_gh_escape(msg)}"))
    return "\n".join(out) + ("\n" if out else "")
