"""Loading policy files: read → parse → IR statements → Shop/Platform → resolved Policy."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from . import ir
from .diagnostics import Diagnostic, error
from .names import by_label, did_you_mean
from .resources import platforms_dir
from .source import MAX_POLICY_BYTES, SourceError, SourceFile, decode_policy, path_kind, read_policy
from .transform import (Allow, Declared, Default, Editor, Fix, Generate, Header, Include, QueueBlock, RepeatedCap, Timezone,
                        parse_statements)

POLICY_SUFFIX = ".kefu"
# What a file read is to the policy loaded (LoadResult.inputs), as messages name it
POLICY, INCLUDED, PLATFORM_FILE = "the policy", "an included snippet", "the platform file"
MAX_INCLUDE_DEPTH = 16
MAX_INCLUDES = 256  # includes read for one policy, counting a file each time it is included
# Bytes of text the includes of one policy may add, counting a file each time it is included: 256 includes of a
# 4 MiB snippet would otherwise be a gigabyte of statements to check.
MAX_INCLUDED_BYTES = 4 * MAX_POLICY_BYTES
# Errors after which the shop's statements are incomplete (a file or snippet that
# could not be read or parsed): checking the rest would only report their absence.
INCOMPLETE_CODES = frozenset({"E001", "E002", "E003", "E004", "E005", "E010", "E011", "E012", "E013", "E015",
                              "E020", "E021", "E022", "E023"})

SETTING_OF: dict[type, str] = {
    ir.Assign: "assign", ir.RepeatEntry: "repeat_entry", ir.SessionEnd: "session_end",
    ir.History: "history", ir.OfflinePool: "offline_pool", ir.Cooldown: "cooldown",
}
SHOP_ONLY = (Include, ir.HoursRule, ir.Holiday, ir.Group, ir.Agent, ir.Routing, ir.OfflineRoute, ir.QuickPhrase,
             ir.WelcomeReply, ir.FirstMessageReply, ir.KeywordReply, ir.ClosingReply, ir.StatusReply,
             ir.ProductReply, ir.OrderCardReply, ir.OfflineReply, ir.MenuReply, Editor)
PLATFORM_ONLY = (ir.Metric, ir.Limit, Default, Allow, Fix, Declared, ir.Restriction, Generate)
# How messages name a setting: the words a policy writes for it.
SETTING_WORDS = {
    "timezone": "timezone", "assign": "assign", "repeat_entry": "return to previous agent", "queue": "queue",
    "session_end": "end session", "history": "history", "offline_pool": "offline pool",
    "cooldown": "auto reply at most once per", "routing": "route", "offline_route": "offline ->",
    "editor": "editor",
}


@dataclass
class Document:
    """One parsed file: its kind (shop, platform or fragment), header and statements."""

    source: SourceFile
    kind: str
    header: Header | None
    statements: list


@dataclass
class LoadResult:
    """What loading a policy produced: IR (if sound), diagnostics and the sources read."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, SourceFile] = field(default_factory=dict)
    kind: str | None = None
    policy: ir.Policy | None = None
    platform: ir.Platform | None = None
    shop: ir.Shop | None = None
    includes: int = 0   # include statements followed so far (bounded by MAX_INCLUDES)
    included_bytes: int = 0   # bytes of text they added (bounded by MAX_INCLUDED_BYTES)
    # every file read, as (its role: "the policy", "an included snippet", "the platform file"; its path), so that
    # a command writing files can refuse to write over one
    inputs: list[tuple[str, Path]] = field(default_factory=list)
    # each included file read (by real path and as shown): its text, size in bytes and parse, read and parsed once
    # however often it is included
    included: dict[tuple[Path, str], tuple[SourceFile, int, tuple[Document | None, list[Diagnostic]]]] = \
        field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """True when no error was found."""
        return not any(d.severity == "error" for d in self.diagnostics)


def _statement_span(stmt) -> ir.Span | None:
    if isinstance(stmt, QueueBlock):
        return stmt.queue.span
    if isinstance(stmt, Timezone):
        return stmt.ref.span
    return getattr(stmt, "span", None)


def _statement_word(stmt) -> str:
    names = {Include: "include", ir.HoursRule: "hours", ir.Holiday: "holiday", ir.Group: "group",
             ir.Agent: "agent", ir.Routing: "route", ir.OfflineRoute: "offline ->", ir.QuickPhrase: "phrase",
             ir.Metric: "metric", ir.Limit: "limit", Default: "default", Allow: "allow", Fix: "fix",
             ir.Restriction: "restrict", Editor: "editor", Generate: "generate"}
    if isinstance(stmt, Declared):
        return stmt.kind
    return names.get(type(stmt), "reply")


def _empty_file_hint(platform: str | None = None, platforms: tuple[str, ...] = ()) -> str:
    """How to start an empty file: a shop policy on one of platforms (those found), or the platform file of this name."""
    if platform is not None:
        return f"start a platform file with `platform {platform}`"
    return f'start a shop policy with `shop "name" on {"|".join(platforms) or "PLATFORM"}`'


def parse_document(src: SourceFile, platform: str | None = None,
                   platforms: tuple[str, ...] = ()) -> tuple[Document | None, list[Diagnostic]]:
    """Parse one file into a Document; headers must come first and at most once.

    platform: the platform this file is meant to define, when it is read as a platform file;
    platforms: the platforms found, named by the hint for an empty file.
    """
    statements, diags = parse_statements(src)
    if statements is None:
        return None, diags
    diags = list(diags)
    headers = [s for s in statements if isinstance(s, Header)]
    body = [s for s in statements if not isinstance(s, Header)]
    header = headers[0] if headers else None
    for extra in headers[1:]:
        diags.append(error("E031", f"a file may have one header; this one repeats `{extra.kind}`", extra.span,
                           "keep one `shop … on …` or `platform …` line at the top of the file",
                           notes=(("first header here", headers[0].span),)))
    if header and statements and statements[0] is not header:
        diags.append(error("E031", f"the `{header.kind}` header must be the first statement", header.span,
                           "move this line to the top of the file"))
    if not statements:
        diags.append(error("E004", "empty policy file", src.span(1, 1), _empty_file_hint(platform, platforms)))
    kind = header.kind if header else "fragment"
    return Document(src, kind, header, body), diags


def _check_placement(doc: Document) -> list[Diagnostic]:
    diags = []
    for stmt in doc.statements:
        span = _statement_span(stmt)
        if doc.kind == "platform" and isinstance(stmt, SHOP_ONLY):
            diags.append(error("E032", f"`{_statement_word(stmt)}` belongs in a shop policy, not a platform file", span,
                               "platform files say how a platform measures and limits shops; move this to a shop policy"))
        elif doc.kind == "platform" and type(stmt) in SETTING_OF or (doc.kind == "platform" and isinstance(stmt, QueueBlock)):
            diags.append(error("E032", "a platform file sets defaults with `default …`", span,
                               "write `default` before this setting"))
        elif doc.kind != "platform" and isinstance(stmt, PLATFORM_ONLY):
            diags.append(error("E032", f"`{_statement_word(stmt)}` belongs in a platform file, not a shop policy", span,
                               "a shop can only configure what its platform lets it; see docs/language.md"))
    return diags


class _SettingsBuilder:
    """Collects single-valued settings, reporting any set twice."""

    def __init__(self, diags: list[Diagnostic]):
        self.values: dict[str, object] = {}
        self.diags = diags

    def set(self, key: str, value, span: ir.Span | None) -> None:
        if key in self.values:
            first = _statement_span(self.values[key]) or getattr(self.values[key], "span", None)
            notes = (("first set here", first),) if first else ()
            self.diags.append(error("E111", f"`{SETTING_WORDS.get(key, key)}` is set twice", span,
                                    "remove one of the two settings", notes=notes))
            return
        self.values[key] = value

    def add(self, stmt) -> bool:
        """Record stmt if it is a setting; True when it was one."""
        if isinstance(stmt, Timezone):
            self.set("timezone", stmt.ref, stmt.ref.span)
        elif isinstance(stmt, QueueBlock):
            self.set("queue", stmt.queue, stmt.queue.span)
            if stmt.session_end is not None:
                self.set("session_end", stmt.session_end, stmt.session_end.span)
        elif type(stmt) in SETTING_OF:
            self.set(SETTING_OF[type(stmt)], stmt, stmt.span)
        else:
            return False
        return True

    def build(self) -> ir.Settings:
        return ir.Settings(**self.values)


def build_platform(doc: Document) -> tuple[ir.Platform, list[Diagnostic]]:
    """Fold a platform file's statements into a Platform."""
    diags: list[Diagnostic] = []
    defaults = _SettingsBuilder(diags)
    fields: dict = {"pages": [], "senders": [], "metrics": [], "limits": [], "features": [], "fixed": [],
                    "restrictions": [], "generate": []}
    for stmt in doc.statements:
        if isinstance(stmt, Default):
            defaults.add(stmt.stmt)
        elif isinstance(stmt, Timezone):
            defaults.add(stmt)
        elif isinstance(stmt, ir.Metric):
            fields["metrics"].append(stmt)
        elif isinstance(stmt, ir.Limit):
            fields["limits"].append(stmt)
        elif isinstance(stmt, Allow):
            fields["features"].extend(stmt.features)
        elif isinstance(stmt, Fix):
            fields["fixed"].extend(stmt.names)
        elif isinstance(stmt, ir.Restriction):
            fields["restrictions"].append(stmt)
        elif isinstance(stmt, Declared):
            fields[stmt.kind].extend(stmt.items)
        elif isinstance(stmt, Generate):
            fields["generate"].extend(stmt.rates)
    header = doc.header
    assert header is not None  # a platform document's kind comes from its header (parse_document)
    platform = ir.Platform(name=header.name, label=header.label, span=header.span, defaults=defaults.build(), **fields)
    return platform, diags


def build_shop(header: Header, statements: list) -> tuple[ir.Shop, list[Diagnostic]]:
    """Fold a shop policy's statements (includes already expanded) into a Shop."""
    diags: list[Diagnostic] = []
    settings = _SettingsBuilder(diags)
    fields: dict = {"hours": [], "holidays": [], "agents": [], "groups": [], "replies": [], "phrases": []}
    singles = _SettingsBuilder(diags)
    for stmt in statements:
        if settings.add(stmt):
            continue
        if isinstance(stmt, ir.HoursRule):
            fields["hours"].append(stmt)
        elif isinstance(stmt, ir.Holiday):
            fields["holidays"].append(stmt)
        elif isinstance(stmt, ir.Agent):
            fields["agents"].append(stmt)
        elif isinstance(stmt, ir.Group):
            fields["groups"].append(stmt)
        elif isinstance(stmt, ir.QuickPhrase):
            fields["phrases"].append(stmt)
        elif isinstance(stmt, ir.Routing):
            singles.set("routing", stmt, stmt.span)
        elif isinstance(stmt, ir.OfflineRoute):
            singles.set("offline_route", stmt, stmt.span)
        elif isinstance(stmt, Editor):
            singles.set("editor", stmt.ref, stmt.span)
        elif not isinstance(stmt, (Include, RepeatedCap) + PLATFORM_ONLY):
            fields["replies"].append(stmt)
    shop = ir.Shop(name=header.name, platform=header.platform, span=header.span, settings=settings.build(),
                   **singles.values, **fields)
    return shop, diags


def merge_settings(platform: ir.Platform, shop: ir.Shop) -> ir.Settings:
    """The settings in force: the shop's where it sets them, else the platform's defaults."""
    merged = {}
    for key in ir.Settings.model_fields:
        value = getattr(shop.settings, key) or getattr(platform.defaults, key)
        if value is not None:
            merged[key] = value
    return ir.Settings(**merged)


class Loader:
    """Loads policy files, resolving includes and platforms; caches platform files."""

    def __init__(self, platform_dirs: list[Path] | None = None, unsaved: dict[Path, str] | None = None):
        """unsaved: the text of files being edited (by resolved path), read instead of the disk's."""
        self.platform_dirs = [Path(p) for p in (platform_dirs or [])] + [platforms_dir()]
        self._platforms: dict[str, tuple[ir.Platform | None, list[Diagnostic], dict[str, SourceFile]]] = {}
        self.unsaved = {path.resolve(): text for path, text in (unsaved or {}).items()}
        self._platform_inputs: dict[str, list[tuple[str, Path]]] = {}
        # each cached platform's file (None: unknown) and its state when read, to see it change (refresh)
        self._platform_files: dict[str, tuple[Path | None, object]] = {}

    def refresh(self, unsaved: dict[Path, str]) -> None:
        """Reuse this loader for another check (a language server's next keystroke): read these texts instead of
        the disk's from now on, and forget each cached platform whose file changed since it was read (its content,
        or removed, or another file now found by its name) and each unknown one (its diagnostic is located in
        the policy that named it)."""
        self.unsaved = {path.resolve(): text for path, text in unsaved.items()}
        files = self.available_platforms()
        stale = [name for name, (path, state) in self._platform_files.items()
                 if path is None or files.get(name) != path or self._file_state(path) != state]
        for name in stale:
            self.forget_platform(name)

    def forget_platform(self, name: str) -> None:
        """Drop a platform from the cache: the next policy on it reads and parses its file again."""
        self._platforms.pop(name, None)
        self._platform_inputs.pop(name, None)
        self._platform_files.pop(name, None)

    def forget_platforms(self) -> None:
        """Drop every cached platform."""
        for name in list(self._platforms):
            self.forget_platform(name)

    def _file_state(self, path: Path) -> object:
        """What the file holds, to tell when it changed: the editor's unsaved text, else its bytes (None when it
        cannot be read). Its bytes, not its modification time: two writes within one clock tick of the file
        system have the same time, and reading a platform file costs little next to parsing it."""
        text = self.unsaved.get(path.resolve()) if self.unsaved else None
        if text is not None:
            return text
        try:
            return path.read_bytes()
        except OSError:
            return None

    # ---- files -------------------------------------------------------------
    def read(self, path: Path, display: str, result: LoadResult, at: ir.Span | None = None,
             role: str = INCLUDED) -> SourceFile | None:
        """The decoded file, or None with its diagnostic; at: where a file that cannot be read at all
        (E001) is reported, such as the include that names it (other problems are located in the file);
        role: what the file is to the policy, recorded in result.inputs."""
        result.inputs.append((role, path))
        try:
            text = self.unsaved.get(path.resolve()) if self.unsaved else None
            src = read_policy(path, display) if text is None else decode_policy(display, text.encode("utf-8", "surrogatepass"))
        except SourceError as err:
            if at is not None and err.code == "E001":
                result.diagnostics.append(error(err.code, f"{display}: {err.message}", at, err.hint))
                return None
            span = ir.Span(file=display, line=err.line, column=err.column, end_line=err.line, end_column=err.column + 1)
            result.diagnostics.append(error(err.code, err.message, span, err.hint))
            return None
        result.sources[display] = src
        return src

    def available_platforms(self) -> dict[str, Path]:
        """Platform name → platform file, the first directory winning."""
        found: dict[str, Path] = {}
        for directory in reversed(self.platform_dirs):
            if directory.is_dir():
                for file in sorted(directory.glob(f"*{POLICY_SUFFIX}")):
                    found[file.stem] = file
        return found

    def _in_platform_dir(self, path: Path) -> bool:
        """Whether a file sits in a platform directory: a --platform-dir, the shipped one, or one named `platforms`
        (as rulesets/platforms/ in a checkout, checked with an installed kefu)."""
        try:
            parent = path.resolve().parent
            return parent.name == "platforms" or any(parent == directory.resolve() for directory in self.platform_dirs)
        except (OSError, ValueError, RuntimeError):   # a path the OS refuses: reading it says why
            return False

    @staticmethod
    def display_of(path: Path) -> str:
        """How a path is shown in diagnostics: as the user gave it, in POSIX form."""
        return Path(path).as_posix()

    def _platform_display(self, path: Path) -> str:
        builtin = platforms_dir().resolve()
        resolved = path.resolve()
        if resolved.is_relative_to(builtin):
            return f"rulesets/platforms/{resolved.relative_to(builtin).as_posix()}"
        return self.display_of(path)

    def _read_document(self, path: Path, display: str, result: LoadResult, platform: str | None = None,
                       role: str = POLICY) -> Document | None:
        """Read and parse one file, adding its diagnostics to result; None if it cannot be used.

        platform: the platform the file is meant to define, if it is read as a platform file.
        """
        src = self.read(path, display, result, role=role)
        if src is None:
            return None
        doc, diags = parse_document(src, platform, tuple(sorted(self.available_platforms())) if platform is None else ())
        result.diagnostics.extend(diags)
        return doc

    # ---- platforms ---------------------------------------------------------
    def load_platform_file(self, path: Path, name: str | None = None) -> LoadResult:
        """Load a platform file by path; name: the platform it was found for (its file name, `NAME.kefu`)."""
        result = LoadResult(kind="platform")
        doc = self._read_document(path, self._platform_display(path), result, name or path.stem, PLATFORM_FILE)
        if doc is None:
            return result
        src = doc.source
        if doc.kind != "platform":
            if doc.header is not None or doc.statements:   # an empty file is E004, with the same hint
                result.diagnostics.append(error("E030", "not a platform file: it must start with `platform NAME`",
                                                src.span(1, 1), f"start the file with `platform {name or path.stem}`"))
            return result
        assert doc.header is not None  # the kind "platform" comes from the header (parse_document)
        if name is not None and doc.header.name != name:
            result.diagnostics.append(error(
                "E033", f"platform file {path.name!r} declares platform {doc.header.name!r}", doc.header.name_span,
                f"a platform is found by its file name: write `platform {name}`, or rename the file to "
                f"{doc.header.name}{POLICY_SUFFIX}"))
        return self._finish_platform(doc, result)

    def _finish_platform(self, doc: Document, result: LoadResult) -> LoadResult:
        result.diagnostics.extend(_check_placement(doc))
        platform, diags = build_platform(doc)
        result.diagnostics.extend(diags)
        from .check import check_platform
        result.diagnostics.extend(check_platform(platform))
        result.platform = platform
        return result

    def find_platform(self, name: str) -> tuple[Path | None, str]:
        """A platform's file by name, or None and the hint for an unknown one (the closest name, a platform
        whose label it is, or the known platforms)."""
        files = self.available_platforms()
        if name in files:
            return files[name], ""
        return None, (did_you_mean(name, files) or by_label(name, self._platform_labels(files))
                      or f"known platforms: {', '.join(sorted(files))}")

    def platform(self, ref: ir.Ref) -> tuple[ir.Platform | None, list[Diagnostic], dict[str, SourceFile]]:
        """The platform a shop names, with the diagnostics of its file."""
        if ref.name in self._platforms:
            return self._platforms[ref.name]
        found, hint = self.find_platform(ref.name)
        state: object = None
        if found is None:
            diag = error("E040", f"unknown platform {ref.name!r}", ref.span, hint)
            entry: tuple[ir.Platform | None, list[Diagnostic], dict[str, SourceFile]] = (None, [diag], {})
        else:
            state = self._file_state(found)   # before reading: a change while it is read is seen next time
            loaded = self.load_platform_file(found, ref.name)
            entry = (loaded.platform if loaded.ok else None, loaded.diagnostics, loaded.sources)
            self._platform_inputs[ref.name] = loaded.inputs
        self._platforms[ref.name] = entry
        self._platform_files[ref.name] = (found, state)
        return entry

    def _platform_labels(self, files: dict[str, Path]) -> dict[str, str]:
        """Each part of each platform's label (淘宝 · 千牛 → 淘宝, 千牛) → the platform's name."""
        labels: dict[str, str] = {}
        for name in sorted(files):
            platform = self.platform(ir.Ref(name=name))[0]
            for part in (platform.label or "").split("·") if platform else ():
                labels.setdefault(part.strip(), name)
        labels.pop("", None)
        return labels

    # ---- shop policies -----------------------------------------------------
    def _expand(self, doc: Document, root: tuple[Path, str], result: LoadResult, stack: list[Path], depth: int) -> list:
        statements = []
        here = Path(doc.source.path)
        for stmt in doc.statements:
            if not isinstance(stmt, Include):
                statements.append(stmt)
                continue
            statements.extend(self._include(stmt, here, root, result, stack, depth))
        return statements

    def _include(self, inc: Include, here: Path, root: tuple[Path, str], result: LoadResult, stack: list[Path],
                 depth: int) -> list:
        """The statements of an included file; root is the policy's directory (resolved, and as shown)."""
        real_here = stack[-1]
        display = os.path.normpath(os.path.join(os.path.dirname(here), inc.path))
        try:
            target = (real_here.parent / inc.path).resolve()
        except (OSError, ValueError, RuntimeError) as err:   # a NUL in the path, a symlink loop, ...
            result.diagnostics.append(error("E020", f"included file {inc.path!r} cannot be opened: "
                                            f"{getattr(err, 'strerror', None) or err}", inc.span,
                                            "paths are relative to the including file"))
            return []
        if os.path.isabs(inc.path) or not target.is_relative_to(root[0]):
            result.diagnostics.append(error("E021", f"include {inc.path!r} is outside the policy's directory", inc.span,
                                            f"includes must stay under the policy's directory ({root[1]}); "
                                            "copy the snippet there"))
            return []
        if target in stack:
            result.diagnostics.append(error("E022", f"include {inc.path!r} includes itself (cycle)", inc.span,
                                            "remove one of the includes in the cycle"))
            return []
        if depth >= MAX_INCLUDE_DEPTH:
            result.diagnostics.append(error("E023", f"includes nest deeper than {MAX_INCLUDE_DEPTH}", inc.span,
                                            "flatten the chain of includes"))
            return []
        result.includes += 1
        if result.includes > MAX_INCLUDES:   # files including the next one twice grow as 2^depth
            if result.includes == MAX_INCLUDES + 1:
                result.diagnostics.append(error("E023", f"more than {MAX_INCLUDES} includes in one policy", inc.span,
                                                "include each snippet once"))
            return []
        if path_kind(target) != "other":
            result.diagnostics.append(error("E020", f"included file {inc.path!r} not found", inc.span,
                                            "paths are relative to the including file"))
            return []
        known = result.included.get((target, display))
        if known is None:
            src = self.read(target, display, result, at=inc.span)
            if src is None:
                return []
            known = result.included[(target, display)] = (src, len(src.text.encode("utf-8")), parse_document(src))
        src, size, (doc, diags) = known
        result.included_bytes += size
        if result.included_bytes > MAX_INCLUDED_BYTES:
            if result.included_bytes - size <= MAX_INCLUDED_BYTES:   # the first include over the limit
                result.diagnostics.append(error(
                    "E023", f"includes add more than {MAX_INCLUDED_BYTES:,} bytes to one policy", inc.span,
                    f"include each snippet once; the includes of a policy may add at most {MAX_INCLUDED_BYTES >> 20} MiB"))
            return []
        result.diagnostics.extend(d for d in diags if d.code != "E004")
        if doc is None:
            return []
        if doc.header is not None:
            result.diagnostics.append(error("E024", f"an included file may not have a `{doc.header.kind}` header",
                                            doc.header.span, "remove the header from the snippet"))
        result.diagnostics.extend(_check_placement(Document(src, "shop", None, doc.statements)))
        return self._expand(doc, root, result, stack + [target], depth + 1)

    def load(self, path: Path, display: str | None = None) -> LoadResult:
        """Load any policy file (shop, platform or fragment) and check it.

        Includes must stay in the policy's own directory tree: the directory of
        this file, however the file was found (E021).
        """
        result = LoadResult()
        display = display or self.display_of(path)
        doc = self._read_document(path, display, result, path.stem if self._in_platform_dir(path) else None)
        if doc is None:
            return result
        result.kind = doc.kind
        if doc.kind == "platform":
            return self._finish_platform(doc, result)
        result.diagnostics.extend(_check_placement(doc))
        real = path.resolve()
        root = (real.parent, os.path.dirname(display) or ".")
        statements = self._expand(doc, root, result, [real], 0)
        if doc.kind == "fragment":
            return result
        assert doc.header is not None  # the kind "shop" comes from the header (parse_document)
        shop, diags = build_shop(doc.header, statements)
        result.diagnostics.extend(diags)
        result.shop = shop
        platform, pdiags, psources = self.platform(shop.platform)
        result.sources.update(psources)
        result.inputs.extend(self._platform_inputs.get(shop.platform.name, []))
        result.diagnostics.extend(d for d in pdiags if d.severity == "error")
        if platform is None or any(d.code in INCOMPLETE_CODES for d in result.diagnostics):
            return result
        policy = ir.Policy(shop=shop, platform=platform, effective=merge_settings(platform, shop))
        from .check import check_policy, check_repeated_caps
        result.diagnostics.extend(check_policy(policy))
        result.diagnostics.extend(check_repeated_caps(policy, [s for s in statements if isinstance(s, RepeatedCap)]))
        if result.ok:
            result.policy = policy
        return result
