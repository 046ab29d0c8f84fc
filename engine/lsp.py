"""`kefu lsp`: a language server (pygls) for policy files.

It publishes the checker's diagnostics as a file is edited (the unsaved text, with its
includes and platform read as `kefu check` reads them), completes the names a position
takes (agents and groups, pages, reply kinds, strategies …) and shows what a name means on
hover: the registry's description, a page's or metric's label, an agent's group and cap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from . import __version__, ir, registry
from .diagnostics import Diagnostic
from .loader import Loader

SERVER_NAME = "kefu"
REPLY_KINDS = ("welcome", "first message", "keyword", "closing", "status busy", "product", "order card",
               "offline", "menu")
_WORD = re.compile(r"[^\W\d][\w]*")


@dataclass
class Names:
    """What completion and hover know of a file: its names, from the last version that loaded."""

    agents: dict[str, str] = field(default_factory=dict)    # name → what to show on hover
    groups: dict[str, str] = field(default_factory=dict)
    pages: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, str] = field(default_factory=dict)


def _description(entry: Any) -> str:
    """A registry entry's description (a plain string, or an entry with a `description`)."""
    return entry if isinstance(entry, str) else str(getattr(entry, "description", entry))


def glossary() -> dict[str, str]:
    """Every built-in name with what it means, from the registry."""
    kinds = [
        ("assignment strategy", "STRATEGIES"), ("tie-break", "TIE_BREAKS"), ("role", "ROLES"),
        ("agent status", "STATUSES"), ("queue order", "QUEUE_ORDERS"), ("repeat-entry fallback", "FALLBACKS"),
        ("menu action", "MENU_ACTIONS"), ("metric unit", "METRIC_UNITS"), ("clock start", "CLOCK_STARTS"),
        ("automatic reply kind", "AUTO_REPLY_KINDS"), ("counting rule", "METRIC_COUNTS"),
        ("evaluation day", "METRIC_EVALUATION"), ("limit", "LIMITS"), ("feature", "FEATURES"),
        ("setting", "SETTINGS"),
    ]
    out: dict[str, str] = {}
    for kind, table in kinds:
        for name, entry in getattr(registry, table, {}).items():
            line = f"**{name}** — {kind}: {_description(entry)}"
            out[name] = f"{out[name]}\n\n{line}" if name in out else line
    return out


def _names(policy: ir.Policy | None) -> Names:
    names = Names()
    if policy is None:
        return names
    shop = policy.shop
    declared = {a.name: a for a in shop.agents}
    for group in shop.groups:
        members = ", ".join(r.name for r in group.agents) or "no agents"
        cap = f", cap {group.max_sessions}" if group.max_sessions is not None else ""
        names.groups[group.name] = f"**{group.name}** — group{f' {group.label}' if group.label else ''}: {members}{cap}"
        for ref in group.agents:
            names.agents.setdefault(ref.name, f"**{ref.name}** — agent of group {group.name}{cap}")
    for name, agent in declared.items():
        role = f", role {agent.role.name}" if agent.role else ""
        cap = f", cap {agent.max_sessions}" if agent.max_sessions is not None else ""
        base = names.agents.get(name, f"**{name}** — agent")
        names.agents[name] = base + role + cap
    for page in policy.platform.pages:
        names.pages[page.name] = f"**{page.name}** — page {page.label or ''} of {policy.platform.name}".rstrip()
    for metric in policy.platform.metrics:
        names.metrics[metric.name] = f"**{metric.name}** — metric {metric.label or ''} of {policy.platform.name}"
    return names


class KefuServer(LanguageServer):
    """The server, with the names of each open file's last version that loaded, and one Loader for every check:
    its platform files are read and parsed once, again only when one changes (Loader.refresh)."""

    def __init__(self, platform_dirs: list[Path] | None = None):
        super().__init__(SERVER_NAME, __version__, text_document_sync_kind=types.TextDocumentSyncKind.Full)
        self.platform_dirs = platform_dirs or []
        self.names: dict[str, Names] = {}
        self.glossary = glossary()
        self.loader = Loader(self.platform_dirs)

    def is_platform_file(self, path: Path) -> bool:
        """Whether a file is one of the platform files a policy may name (found in a platform directory)."""
        try:
            real = path.resolve()
            return any(real == found.resolve() for found in self.loader.available_platforms().values())
        except (OSError, ValueError, RuntimeError):
            return False


def uri_path(uri: str) -> Path | None:
    """The file a `file:` URI names (None for other schemes)."""
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


def check_text(server: KefuServer, uri: str, text: str) -> list[types.Diagnostic]:
    """The checker's diagnostics for the file's current text, as LSP diagnostics of that file."""
    path = uri_path(uri) or Path("untitled.kefu")
    loader = server.loader
    loader.refresh({path: text})
    display = path.name
    result = loader.load(path, display=display)
    if result.policy is not None:
        server.names[uri] = _names(result.policy)
    lines = text.split("\n")
    return [_lsp_diagnostic(d, lines, server) for d in result.diagnostics if d.span is None or d.span.file == display]


def _position(lines: list[str], line: int, column: int, server: KefuServer) -> types.Position:
    """A kefu line and column (1-based, in characters) as an LSP position (in the client's units)."""
    row = max(line - 1, 0)
    text = lines[row] if row < len(lines) else ""
    units = server.workspace.position_codec.client_num_units(text[:max(column - 1, 0)])
    return types.Position(line=row, character=units)


def _lsp_diagnostic(d: Diagnostic, lines: list[str], server: KefuServer) -> types.Diagnostic:
    span = d.span
    if span is None:
        start = end = types.Position(line=0, character=0)
    else:
        start = _position(lines, span.line, span.column, server)
        end = _position(lines, span.end_line, span.end_column, server)
    message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
    severity = types.DiagnosticSeverity.Error if d.severity == "error" else types.DiagnosticSeverity.Warning
    return types.Diagnostic(range=types.Range(start=start, end=end), message=message, severity=severity,
                            code=d.code, source=SERVER_NAME)


def _publish(server: KefuServer, uri: str) -> None:
    document = server.workspace.get_text_document(uri)
    diagnostics = check_text(server, uri, document.source)
    server.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(uri=uri, version=document.version, diagnostics=diagnostics))


# ---- completion ---------------------------------------------------------------------------------
def completion_context(before: str) -> str:
    """What a position takes, from the text before it on its line."""
    text = before.rstrip()
    if re.search(r"\breply\s+\w*$", before):
        return "reply"
    if re.search(r"\b(assign\s+by)\s+\w*$", before):
        return "strategy"
    if re.search(r"\bties\s+\w*$", before):
        return "tie"
    if re.search(r"\brole\s+\w*$", before):
        return "role"
    if re.search(r"\border\s+\w*$", before):
        return "order"
    if re.search(r"^\s*page\s+[\w,\s]*$", before) and "->" not in before:
        return "page"
    if re.search(r"(->|\bagents|\beditor|\bgroups|\belse)\s*[\w,\s]*$", before) or text.endswith(","):
        return "target"
    return "any"


def completions(server: KefuServer, uri: str, before: str) -> list[types.CompletionItem]:
    """The names that fit where the cursor is."""
    names = server.names.get(uri, Names())
    kind = completion_context(before)
    item = types.CompletionItemKind

    def items(values: Iterable[str], what: Any, detail: str, docs: dict[str, str] | None = None) -> list[types.CompletionItem]:
        return [types.CompletionItem(label=v, kind=what, detail=detail,
                                     documentation=types.MarkupContent(kind=types.MarkupKind.Markdown, value=docs[v])
                                     if docs and v in docs else None) for v in values]

    glossary = server.glossary
    agents = items(sorted(names.agents), item.Variable, "agent", names.agents)
    groups = items(sorted(names.groups), item.Module, "group", names.groups)
    by_kind = {
        "reply": items(REPLY_KINDS, item.Keyword, "automatic reply kind"),
        "strategy": items(sorted(registry.STRATEGIES), item.EnumMember, "assignment strategy", glossary),
        "tie": items(sorted(registry.TIE_BREAKS), item.EnumMember, "tie-break", glossary),
        "role": items(sorted(registry.ROLES), item.EnumMember, "role", glossary),
        "order": items(sorted(registry.QUEUE_ORDERS), item.EnumMember, "queue order", glossary),
        "page": items(sorted(names.pages), item.Constant, "page", names.pages),
        "target": agents + groups,
    }
    if kind in by_kind:
        return by_kind[kind]
    return agents + groups + by_kind["page"] + by_kind["reply"]


def hover_text(server: KefuServer, uri: str, word: str) -> str | None:
    """What a name means: a name of the file's policy first, then the registry's."""
    names = server.names.get(uri, Names())
    for table in (names.agents, names.groups, names.pages, names.metrics, server.glossary):
        if word in table:
            return table[word]
    return None


def saved_platform(server: KefuServer, uri: str) -> None:
    """After a platform file is saved, every cached platform is forgotten and the other open files are checked
    again: their diagnostics follow the platform as it now is (without waiting for their next edit)."""
    path = uri_path(uri)
    if path is None or not server.is_platform_file(path):
        return
    server.loader.forget_platforms()
    for other in list(server.workspace.text_documents):
        if other != uri:
            _publish(server, other)


def _word_at(text: str, character: int) -> str | None:
    for match in _WORD.finditer(text):
        if match.start() <= character <= match.end():
            return match.group()
    return None


def make_server(platform_dirs: list[Path] | None = None) -> KefuServer:
    """The language server with its features registered."""
    server = KefuServer(platform_dirs)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: KefuServer, params: types.DidOpenTextDocumentParams) -> None:
        _publish(ls, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: KefuServer, params: types.DidChangeTextDocumentParams) -> None:
        _publish(ls, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: KefuServer, params: types.DidSaveTextDocumentParams) -> None:
        saved_platform(ls, params.text_document.uri)
        _publish(ls, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: KefuServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.names.pop(params.text_document.uri, None)
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[" ", ","]))
    def completion(ls: KefuServer, params: types.CompletionParams) -> types.CompletionList:
        document = ls.workspace.get_text_document(params.text_document.uri)
        position = document.position_codec.position_from_client_units(document.lines, params.position)
        line = document.lines[position.line] if position.line < len(document.lines) else ""
        found = completions(ls, params.text_document.uri, line[:position.character])
        return types.CompletionList(is_incomplete=False, items=found)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: KefuServer, params: types.HoverParams) -> types.Hover | None:
        document = ls.workspace.get_text_document(params.text_document.uri)
        position = document.position_codec.position_from_client_units(document.lines, params.position)
        line = document.lines[position.line] if position.line < len(document.lines) else ""
        word = _word_at(line, position.character)
        text = hover_text(ls, params.text_document.uri, word) if word else None
        if text is None:
            return None
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text))

    return server
