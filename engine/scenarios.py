"""Scenario files: a policy, events and what the replay must decide — `kefu test` and the conformance cases.

A scenario file is YAML (read with ruamel.yaml's round-trip loader, so `--update` can write
expectations back keeping comments, order and layout). Its keys (docs/testing.md):

    name: a case             # one case at the top level, or several under `cases:`
    policy: shop.kefu        # a policy file beside the scenario file, or the policy text itself
    platform: douyin         # instead of `policy`: the platform's own rules alone
    date: 2026-11-11         # the local date of the events' `t` (default 2026-11-11)
    seed: 0
    events: [...]            # compact events: `t` is the local time HH:MM:SS (or RFC 3339)
    events_file: day.jsonl   # or a log file beside the scenario file
    generate: [...]          # events from templates
    expect: {decisions, metrics, counts, report, replies}
    cases: [...]             # each case takes the keys above; a key at the top is every case's default

Paths are relative to the scenario file and may not leave its directory (as includes may not
leave a policy's): a scenario file can never make kefu read a file outside its own tree.
Nothing in a scenario file is executed: YAML tags that would build objects are refused.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from datetime import date as Date, datetime, timedelta
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import orjson
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from . import ir
from .diagnostics import Diagnostic, render_text as render_diagnostics
from .loader import Loader
from .names import did_you_mean
from .replay import replay, report_dict
from .runtime import platform_policy
from .runtime.clock import policy_timezone
from .runtime.decisions import RuleFiles

SCENARIO_SUFFIXES = (".yaml", ".yml")
CASE_KEYS = ("name", "policy", "platform", "date", "seed", "events", "events_file", "generate", "expect")
EXPECT_KEYS = ("decisions", "metrics", "counts", "report", "replies")
DECISION_KEYS = ("only", "order", "items")
# what each other `expect` key holds (the compare and --update code relies on it)
EXPECT_SHAPES = (
    ("metrics", "a list of metric rows: [{metric: NAME, date: …, eligible: N, met: N}]",
     lambda v: isinstance(v, list) and all(isinstance(row, dict) for row in v)),
    ("counts", "a mapping of an action to a count: {assign: 3}",
     lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(n, int) and not isinstance(n, bool)
                                           for k, n in v.items())),
    ("report", "a mapping of report fields to their values", lambda v: isinstance(v, dict)),
    ("replies", "a list of automatic replies", lambda v: isinstance(v, list)),
)
MAX_SCENARIO_BYTES = 16 * 1024 * 1024
MAX_GENERATED = 1_000_000
"""Most events the `generate` blocks of one case may make (a typo in `count` must not hang the run)."""
DEFAULT_DATE = "2026-11-11"
PLATFORM_SHOP = "s1"
"""The shop of a case's events that name none, when the case replays a platform alone (else the policy's shop)."""
INLINE_POLICY = "policy.kefu"
"""The file name decisions and diagnostics give a policy written in a scenario file."""
_UNITS = {"s": 1, "m": 60, "h": 3600}


class ScenarioError(Exception):
    """A scenario file that cannot be run as written: where (file, YAML line and column) and why."""

    def __init__(self, file: str, line: int, column: int, message: str, hint: str | None = None):
        super().__init__(message)
        self.file, self.line, self.column, self.message, self.hint = file, line, column, message, hint

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: error: {self.message}"
        return text + (f"\n  = hint: {self.hint}" if self.hint else "")


@dataclass
class Case:
    """One scenario: where it is written, its settings (file defaults merged in) and its YAML node."""

    file: Path
    shown: str                 # the file as the user named it
    line: int                  # YAML line of the case (1-based)
    name: str
    data: dict[str, Any]       # the case's keys, with the file's defaults
    node: CommentedMap         # the case's own mapping (where --update writes `expect`)
    top: CommentedMap          # the file's document


@dataclass
class Failure:
    """One expectation the replay did not meet."""

    what: str                  # "decisions", "metrics", "counts", "report", "replies", "policy"
    line: int                  # YAML line of the expectation
    message: str
    expected: Any = None
    actual: Any = None
    event: str | None = None   # file:line of the event that led to the decision, when one did
    rule: str | None = None    # file:line of the rule that decided
    details: str | None = None  # more to show (the policy's diagnostics)


@dataclass
class CaseResult:
    """The outcome of one case: its failures (none: passed), and what the replay gave."""

    case: Case
    failures: list[Failure] = field(default_factory=list)
    decisions: list[dict] = field(default_factory=list)
    report: dict = field(default_factory=dict)
    policy_key: str | None = None            # the policy the case ran (for coverage)
    rules: set[tuple[str, int]] = field(default_factory=set)   # rules its decisions cite

    @property
    def passed(self) -> bool:
        """Whether every expectation held."""
        return not self.failures


# ---- reading ------------------------------------------------------------------------------------
def yaml_parser() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096   # --update must not re-wrap long lines
    return yaml


def where(node: Any, key: Any = None) -> tuple[int, int]:
    """1-based line and column of a mapping key (or of the node itself)."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return 1, 1
    if key is not None:
        try:
            if isinstance(node, CommentedMap):
                line, col = lc.key(key)
            else:
                line, col = lc.item(key)
            return line + 1, col + 1
        except (KeyError, IndexError, TypeError):
            pass
    return lc.line + 1, lc.col + 1


def read_document(path: Path, shown: str) -> Any:
    """The YAML document of a scenario file; ScenarioError when it cannot be read or parsed."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SCENARIO_BYTES + 1)
    except OSError as err:
        raise ScenarioError(shown, 1, 1, f"cannot read: {err.strerror or err}") from None
    if len(data) > MAX_SCENARIO_BYTES:
        raise ScenarioError(shown, 1, 1, f"file is larger than {MAX_SCENARIO_BYTES:,} bytes",
                            "split it, or keep long logs in an events_file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ScenarioError(shown, 1, 1, f"not valid UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start})",
                            "save the file as UTF-8") from None
    try:
        return yaml_parser().load(text)
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = " ".join(str(part) for part in (err.context, err.problem) if part)
        raise ScenarioError(shown, line, col, f"not valid YAML: {problem or err}") from None
    except (YAMLError, ValueError, RecursionError) as err:   # a tag that would build an object, say
        raise ScenarioError(shown, 1, 1, f"not valid YAML: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None


def is_scenario(doc: Any) -> bool:
    """Whether a YAML document is a scenario file (a mapping with `cases` or `expect`)."""
    return isinstance(doc, dict) and ("cases" in doc or "expect" in doc)


def load_cases(path: Path, shown: str, doc: Any) -> list[Case]:
    """The cases of a scenario file's document, each checked for known keys and types."""
    if not isinstance(doc, CommentedMap):
        raise ScenarioError(shown, 1, 1, "a scenario file is a mapping with `expect` (one case) or `cases`")
    known_keys(doc, shown, CASE_KEYS + ("cases",), "scenario file")
    defaults = {k: v for k, v in doc.items() if k != "cases"}
    if "cases" not in doc:
        return [_case(path, shown, doc, defaults, 0, doc)]
    cases = doc["cases"]
    if not isinstance(cases, CommentedSeq) or not cases:
        line, col = where(doc, "cases")
        raise ScenarioError(shown, line, col, "`cases` must be a list of cases")
    if "expect" in doc:
        line, col = where(doc, "expect")
        raise ScenarioError(shown, line, col, "`expect` belongs to each case when the file has `cases`")
    out = []
    for index, item in enumerate(cases):
        if not isinstance(item, CommentedMap):
            line, col = where(cases, index)
            raise ScenarioError(shown, line, col, "each case is a mapping (name, events, expect …)")
        known_keys(item, shown, CASE_KEYS, "case")
        out.append(_case(path, shown, item, {**defaults, **item}, index, doc))
    return out


def known_keys(node: dict, shown: str, known: tuple[str, ...], what: str | None = None) -> None:
    """A located error, with "did you mean", for the first key of node not in known (what: "in a …")."""
    for key in node:
        if key not in known:
            line, col = where(node, key)
            hint = did_you_mean(str(key), list(known)) or f"known keys: {', '.join(known)}"
            raise ScenarioError(shown, line, col, f"unknown key {str(key)!r}" + (f" in a {what}" if what else ""), hint)


def _case(path: Path, shown: str, node: CommentedMap, data: dict, index: int,
          top: CommentedMap) -> Case:
    line, _ = where(node)
    if "expect" not in data:
        raise ScenarioError(shown, line, 1, "case has no `expect`", "say what the replay must decide")
    if ("policy" in data) == ("platform" in data):
        raise ScenarioError(shown, line, 1, "a case needs a `policy` or a `platform` (one of them)")
    expect = data["expect"]
    if not isinstance(expect, CommentedMap):
        eline, ecol = where(node, "expect") if "expect" in node else (line, 1)
        raise ScenarioError(shown, eline, ecol, "`expect` must be a mapping (decisions, metrics, counts, report, replies)")
    known_keys(expect, shown, EXPECT_KEYS, "`expect`")
    decisions = expect.get("decisions")
    if decisions is not None:
        if not isinstance(decisions, CommentedMap) or not isinstance(decisions.get("items"), list):
            dline, dcol = where(expect, "decisions")
            raise ScenarioError(shown, dline, dcol, "`decisions` needs `items`: a list of decisions to match")
        known_keys(decisions, shown, DECISION_KEYS, "`decisions`")
        if decisions.get("order", "in_order") not in ("in_order", "any"):
            oline, ocol = where(decisions, "order")
            raise ScenarioError(shown, oline, ocol, "`order` is `in_order` (the default) or `any`")
        if "only" in decisions and not isinstance(decisions["only"], list):
            raise ScenarioError(shown, *where(decisions, "only"), "`only` is a list of actions: [assign, enqueue]")
    for key, shape, ok in EXPECT_SHAPES:
        if key in expect and not ok(expect[key]):
            raise ScenarioError(shown, *where(expect, key), f"`{key}` is {shape}")
    name = str(data.get("name") or f"case {index + 1}")
    return Case(file=path, shown=shown, line=line, name=name, data=data, node=node, top=top)


def scenario_files(paths: list[Path]) -> tuple[list[tuple[Path, str]], list[str], list[str]]:
    """Scenario candidates (a directory: every *.yaml and *.yml under it), paths that do not exist,
    and directories under them that cannot be read (os.walk would skip them without a word)."""
    found: list[tuple[Path, str]] = []
    missing: list[str] = []
    unreadable: list[str] = []

    def refused(err: OSError) -> None:
        unreadable.append(f"{err.filename}: cannot read directory: {err.strerror or err}")

    for path in paths:
        if path.is_dir():
            for folder, dirs, names in os.walk(path, onerror=refused):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    file = Path(folder, name)
                    if name.endswith(SCENARIO_SUFFIXES) and file.is_file():   # not a FIFO (it would hang the read)
                        found.append((file, file.as_posix()))
        elif path.is_file():
            found.append((path, path.as_posix()))
        else:
            missing.append(str(path))
    return found, missing, unreadable


# ---- building the policy and the log --------------------------------------------------------------
def inside(base: Path, relative: str) -> Path | None:
    """base/relative if it stays inside base once resolved (else None: it would leave the tree)."""
    if not relative or os.path.isabs(relative):
        return None
    target = (base / relative).resolve()
    root = base.resolve()
    return target if target == root or root in target.parents else None


def _is_policy_text(value: str) -> bool:
    return "\n" in value or value.lstrip().startswith("shop ")


@dataclass
class Loaded:
    """A case's policy as loaded: the policy (None when it has errors), its key and diagnostics."""

    policy: ir.Policy | None
    automation: bool
    key: str
    diagnostics: list[Diagnostic]
    sources: dict


def load_policy(case: Case, loader: Loader, tmp: Path) -> Loaded:
    """The case's policy, loaded (an inline policy is written to tmp first)."""
    data = case.data
    if "platform" in data:
        name = str(data["platform"])
        found, hint = loader.find_platform(name)
        if found is None:
            line, col = where(case.node, "platform") if "platform" in case.node else (case.line, 1)
            raise ScenarioError(case.shown, line, col, f"unknown platform {name!r}", hint)
        result = loader.load_platform_file(found, name)
        if result.platform is None or not result.ok:   # a platform file with errors (a --platform-dir copy, say)
            return Loaded(None, False, f"platform:{name}", result.diagnostics, result.sources)
        return Loaded(platform_policy(result.platform), False, f"platform:{name}", result.diagnostics, result.sources)
    value = str(data["policy"])
    if _is_policy_text(value):
        tmp.mkdir(parents=True, exist_ok=True)
        written = tmp / "policy.kefu"
        written.write_text(value, encoding="utf-8")
        owner = case.node if "policy" in case.node else case.top
        key = f"{case.shown}:{where(owner, 'policy')[0]}#policy"   # the line of its `policy:` key
        result = loader.load(written, display=INLINE_POLICY)
        return Loaded(result.policy, True, key, result.diagnostics, result.sources)
    path = inside(case.file.parent, value)
    if path is None:
        line, col = where(case.node, "policy") if "policy" in case.node else (case.line, 1)
        raise ScenarioError(case.shown, line, col, f"policy {value!r} is outside the scenario file's directory",
                            "keep the policy beside the scenario file, or in a directory under it")
    shown = os.path.normpath(os.path.join(os.path.dirname(case.shown), value))
    result = loader.load(path, display=shown)
    return Loaded(result.policy, True, shown, result.diagnostics, result.sources)


@dataclass
class Log:
    """A case's events as JSON Lines, and for each log line where the event is written."""

    data: bytes
    origin: list[str]           # origin[i]: "file:line" of log line i + 1


def build_log(case: Case, tz: str, shop: str = PLATFORM_SHOP) -> Log:
    """The case's events (listed, then generated; or its events_file) as a JSON Lines log."""
    data = case.data
    if "events_file" in data:
        if "events" in data or "generate" in data:
            line, col = where(case.node, "events_file") if "events_file" in case.node else (case.line, 1)
            raise ScenarioError(case.shown, line, col, "give `events_file` or `events`/`generate`, not both")
        return _events_file(case)
    zone = ZoneInfo(tz)
    day = str(data.get("date", DEFAULT_DATE))
    try:
        Date.fromisoformat(day)
    except ValueError:
        line, col = where(case.node, "date") if "date" in case.node else (case.line, 1)
        raise ScenarioError(case.shown, line, col, f"date {day!r} is not YYYY-MM-DD") from None
    events: list[tuple[datetime, int, dict, str]] = []
    listed = data.get("events") or []
    if not isinstance(listed, list):
        line, col = where(case.node, "events") if "events" in case.node else (case.line, 1)
        raise ScenarioError(case.shown, line, col, "`events` must be a list")
    for index, raw in enumerate(listed):
        line, col = where(listed, index)
        when, event = _event(raw, day, zone, case.shown, line, col, shop)
        events.append((when, len(events), event, f"{case.shown}:{line}"))
    for raw, line, col, offset in _generated(case):
        when, event = _event(raw, day, zone, case.shown, line, col, shop)
        events.append((when + offset, len(events), event, f"{case.shown}:{line}"))
    if "generate" in data:
        events.sort(key=lambda e: (e[0], e[1]))
    lines, origin = [], []
    for when, _, event, written_at in events:
        event["ts"] = when.isoformat()
        lines.append(orjson.dumps(event))
        origin.append(written_at)
    return Log(b"\n".join(lines) + b"\n" if lines else b"", origin)


def _event(raw: Any, day: str, zone: ZoneInfo, shown: str, line: int, col: int, shop: str) -> tuple[datetime, dict]:
    """One compact event: its time and its fields (`t` and `day` taken out, `shop` defaulted)."""
    if not isinstance(raw, dict) or "t" not in raw:
        raise ScenarioError(shown, line, col, "an event is a mapping with a time `t` (HH:MM:SS, or RFC 3339)")
    event = {str(k): plain(v) for k, v in raw.items()}
    when = str(event.pop("t"))
    on = str(event.pop("day", day))
    try:
        if "T" in when:
            moment = datetime.fromisoformat(when)
            if moment.tzinfo is None:
                raise ValueError
        else:
            moment = datetime.fromisoformat(f"{on}T{when}").replace(tzinfo=zone)
    except ValueError:
        raise ScenarioError(shown, line, col, f"event time {when!r} is not HH:MM:SS (or RFC 3339 with an offset)") from None
    event.setdefault("shop", shop)
    return moment, event


def plain(value: Any) -> Any:
    """A YAML value as plain JSON data (dates as text)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, (Date, datetime)):
        return value.isoformat()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)       # ruamel's ScalarInt and friends as plain numbers
    if isinstance(value, float):
        return float(value)
    return str(value)


def _generated(case: Case) -> Iterator[tuple[dict, int, int, timedelta]]:
    """The events of `generate` blocks: (template with {i} filled, YAML line, column, time offset)."""
    blocks = case.data.get("generate") or []
    total = 0
    for index, block in enumerate(blocks if isinstance(blocks, list) else [None]):
        line, col = where(blocks, index) if isinstance(blocks, list) else where(case.node, "generate")
        if not isinstance(block, dict) or not isinstance(block.get("template"), list):
            raise ScenarioError(case.shown, line, col, "a `generate` block has `count`, `every` and a `template` list")
        count = block.get("count")
        every = re.fullmatch(r"(\d+)([smh])", str(block.get("every", "0s")))
        if not isinstance(count, int) or isinstance(count, bool) or count < 0 or every is None:
            raise ScenarioError(case.shown, line, col, "`count` is a whole number and `every` a duration such as 30s, 1m, 2h")
        total += count * len(block["template"])
        if total > MAX_GENERATED:
            raise ScenarioError(case.shown, line, col, f"`generate` would make more than {MAX_GENERATED:,} events")
        step = timedelta(seconds=int(every.group(1)) * _UNITS[every.group(2)])
        template = block["template"]
        for i in range(count):
            for k, raw in enumerate(template):
                tline, tcol = where(template, k)
                yield _fill(raw, i), tline, tcol, i * step


def _fill(value: Any, i: int) -> Any:
    if isinstance(value, str):
        return value.replace("{i}", str(i))
    if isinstance(value, dict):
        return {k: _fill(v, i) for k, v in value.items()}
    return value


def _events_file(case: Case) -> Log:
    value = str(case.data["events_file"])
    path = inside(case.file.parent, value)
    line, col = where(case.node, "events_file") if "events_file" in case.node else (case.line, 1)
    if path is None:
        raise ScenarioError(case.shown, line, col, f"events_file {value!r} is outside the scenario file's directory",
                            "keep the log beside the scenario file, or in a directory under it")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ScenarioError(case.shown, line, col, f"cannot read events_file {value!r}: {err.strerror or err}") from None
    shown = os.path.normpath(os.path.join(os.path.dirname(case.shown), value))
    return Log(data, [f"{shown}:{n}" for n in range(1, data.count(b"\n") + 2)])


# ---- running and comparing ----------------------------------------------------------------------
def run_case(case: Case, loaded: Loaded) -> CaseResult:
    """Replay one case through its loaded policy and compare the outcome with its expectations."""
    result = CaseResult(case)
    policy = loaded.policy
    result.policy_key = loaded.key
    if policy is None:
        line, _ = where(case.node, "policy") if "policy" in case.node else (case.line, 1)
        details = render_diagnostics(loaded.diagnostics,
                                     lambda file, n: loaded.sources[file].line_text(n) if file in loaded.sources else None)
        result.failures.append(Failure("policy", line, "the policy has errors", details=details))
        return result
    automation = loaded.automation
    shop = policy.shop.name or PLATFORM_SHOP
    log = build_log(case, policy_timezone(policy), shop)
    seed = case.data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        line, col = where(case.node, "seed") if "seed" in case.node else (case.line, 1)
        raise ScenarioError(case.shown, line, col, "`seed` is a whole number")
    rejected: list[str] = []
    out = io.BytesIO()
    replayed = replay(policy, io.BytesIO(log.data), seed=seed, automation=automation, decisions_out=out,
                      on_reject=lambda r: rejected.append(f"{_origin(log, r.line)}: {r.reason}"))
    result.decisions = [orjson.loads(line) for line in out.getvalue().splitlines()]
    result.report = report_dict(replayed)
    result.rules = {(d["rule"]["file"], d["rule"]["line"]) for d in result.decisions if d.get("rule")}
    assign = policy.effective.assign
    if assign is not None and any(d["action"] == "assign" and d.get("reason") in PICKED for d in result.decisions):
        ref = RuleFiles(policy)(assign.span)   # the strategy chose the agent, whatever rule routed the consumer
        if ref is not None:
            result.rules.add((ref.file, ref.line))
    for reason in rejected:
        result.failures.append(Failure("events", case.line, f"event rejected: {reason}"))
    expect = case.data["expect"]
    compare = {"decisions": _decisions, "metrics": _metrics, "counts": _counts, "report": _report,
               "replies": _replies}
    for what in EXPECT_KEYS:
        if what in expect:
            result.failures.extend(compare[what](expect, result, log))
    return result


def _origin(log: Log, line: int | None) -> str | None:
    if line is None:
        return None
    return log.origin[line - 1] if 0 < line <= len(log.origin) else f"line {line}"


def _rule_text(decision: dict) -> str | None:
    rule = decision.get("rule")
    return f"{rule['file']}:{rule['line']}" if rule else None


def matches(expected: Any, actual: Any) -> bool:
    """Every expected key is in actual with that value (a dict value: the keys it names, recursively)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and matches(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(map(matches, expected, actual))
    if isinstance(expected, bool) or expected is None or isinstance(actual, bool):
        return actual is expected or actual == expected and type(actual) is type(expected)
    if isinstance(expected, (int, float)):
        return isinstance(actual, (int, float)) and actual == expected
    return str(actual) == str(expected)


def selected_decisions(expect: dict, decisions: list[dict]) -> list[dict]:
    only = expect["decisions"].get("only")
    if not only:
        return decisions
    wanted = {str(a) for a in only}
    return [d for d in decisions if d["action"] in wanted]


def _decisions(expect: CommentedMap, result: CaseResult, log: Log) -> list[Failure]:
    spec = expect["decisions"]
    items = spec["items"]
    actual = selected_decisions(expect, result.decisions)
    failures = []
    if spec.get("order", "in_order") == "any":
        left = list(actual)
        for index, want in enumerate(items):
            hit = next((d for d in left if matches(plain(want), d)), None)
            if hit is None:
                line, _ = where(items, index)
                failures.append(Failure("decisions", line, f"no decision matches item {index + 1}",
                                        plain(want), None))
            else:
                left.remove(hit)
        for extra in left if not failures else []:
            failures.append(Failure("decisions", where(expect, "decisions")[0], "a decision no item expects",
                                    None, _shown_keys(extra, None), _origin(log, extra.get("line")), _rule_text(extra)))
        return failures
    for index, want in enumerate(items):
        line, _ = where(items, index)
        want = plain(want)
        if index >= len(actual):
            failures.append(Failure("decisions", line, f"decision {index + 1} expected, but only {len(actual)} made", want, None))
            continue
        got = actual[index]
        if not matches(want, got):
            failures.append(Failure("decisions", line, f"decision {index + 1} differs", want, _shown_keys(got, want),
                                    _origin(log, got.get("line")), _rule_text(got)))
    for index, got in enumerate(actual[len(items):], start=len(items)):
        failures.append(Failure("decisions", where(expect, "decisions")[0],
                                f"decision {index + 1} not expected", None, _shown_keys(got, None),
                                _origin(log, got.get("line")), _rule_text(got)))
    return failures


# assignment reasons whose agent the assignment strategy chose (docs/replay.md, decisions)
PICKED = ("new", "routed", "dequeue", "repeat_entry_same_group", "repeat_entry_any_online")
SHOWN_DECISION_KEYS = ("action", "consumer", "agent", "reason", "kind", "text", "trigger")


def _shown_keys(decision: dict, like: dict | None) -> dict:
    """The decision's fields an expected item names (else the usual ones)."""
    keys = list(like) if like else [k for k in SHOWN_DECISION_KEYS if decision.get(k) is not None]
    return {k: decision.get(k) for k in keys}


def _metrics(expect: CommentedMap, result: CaseResult, log: Log) -> list[Failure]:
    failures = []
    rows = result.report["metrics"]
    for index, want in enumerate(expect["metrics"] or []):
        line, _ = where(expect["metrics"], index)
        want = plain(want)
        found = [r for r in rows if r["metric"] == want.get("metric") and str(r["date"]) == str(want.get("date", r["date"]))
                 and r["shop"] == str(want.get("shop", r["shop"]))]
        if not found:
            failures.append(Failure("metrics", line, f"no metric row {want.get('metric')!r} on {want.get('date', 'any date')}",
                                    want, None))
        elif not matches(want, found[0]):
            failures.append(Failure("metrics", line, f"metric {want.get('metric')} differs", want,
                                    {k: found[0].get(k) for k in want}))
    return failures


def _counts(expect: CommentedMap, result: CaseResult, log: Log) -> list[Failure]:
    want = plain(expect["counts"])
    got = {action: result.report["decisions"].get(action, 0) for action in want}
    if got == want:
        return []
    return [Failure("counts", where(expect, "counts")[0], "decision counts differ", want, got)]


def _report(expect: CommentedMap, result: CaseResult, log: Log) -> list[Failure]:
    failures = []
    for key, value in plain(expect["report"]).items():
        got = result.report.get(key)
        if not matches(value, got) or (isinstance(value, dict) and isinstance(got, dict) and set(value) != set(got)):
            failures.append(Failure("report", where(expect["report"], key)[0], f"report {key} differs", value, got))
    return failures


def _replies(expect: CommentedMap, result: CaseResult, log: Log) -> list[Failure]:
    want = [str(t) for t in expect["replies"] or []]
    got = [d["text"] for d in result.decisions if d["action"] == "auto_reply"]
    if want == got:
        return []
    return [Failure("replies", where(expect, "replies")[0], "automatic reply texts differ", want, got)]


# ---- coverage -----------------------------------------------------------------------------------
def policy_rules(policy: ir.Policy) -> dict[tuple[str, int], str]:
    """The shop policy's rules that can decide, by (file, line): routes, settings, offline routing, replies."""
    shop = policy.shop
    nodes: list[tuple[ir.Node | None, str]] = []
    if shop.routing is not None:
        nodes += [(route, "route " + ", ".join(p.name for p in route.pages)) for route in shop.routing.pages]
        if shop.routing.default is not None or shop.routing.scope is not None:
            nodes.append((shop.routing, "route default"))
    nodes.append((shop.offline_route, "offline route"))
    settings = shop.settings
    # the loop guard (cooldown) decides nothing itself: what it suppresses is counted in the report
    for name in ("assign", "repeat_entry", "queue", "session_end", "offline_pool"):
        nodes.append((getattr(settings, name), name.replace("_", " ")))
    for reply in shop.replies:
        nodes.append((reply, f"reply {_reply_kind(reply)}"))
        if isinstance(reply, ir.WelcomeReply):
            nodes += [(item, f"faq {item.question}") for item in reply.faq if item.enabled]
    rules: dict[tuple[str, int], str] = {}
    named = RuleFiles(policy)   # as decisions name a rule's file
    for node, label in nodes:
        ref = named(node.span) if node is not None else None
        if ref is not None:
            rules.setdefault((ref.file, ref.line), label)
    return rules


def _reply_kind(reply: Any) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(reply).__name__.removesuffix("Reply")).lower()


@dataclass
class Coverage:
    """Per policy: its rules, and those some case's decisions cited."""

    rules: dict[str, dict[tuple[str, int], str]] = field(default_factory=dict)
    hit: dict[str, set[tuple[str, int]]] = field(default_factory=dict)

    def add(self, key: str, policy: ir.Policy, cited: set[tuple[str, int]]) -> None:
        """Count one case's cited rules against its policy's."""
        rules = self.rules.setdefault(key, policy_rules(policy))
        self.hit.setdefault(key, set()).update(cited & set(rules))

    def percent(self) -> float:
        """Rules cited over all rules, in percent (100 when no policy has a rule)."""
        total = sum(len(r) for r in self.rules.values())
        hit = sum(len(h) for h in self.hit.values())
        return 100.0 if total == 0 else round(100.0 * hit / total, 1)

    def missed(self) -> list[tuple[str, int, str]]:
        """The rules no case exercised: (file, line, what)."""
        out = []
        for key, rules in self.rules.items():
            for (file, line), label in sorted(rules.items()):
                if (file, line) not in self.hit.get(key, set()):
                    # decisions name a shop rule's file relative to the policy's directory; shown from here
                    shown = key if file == INLINE_POLICY else os.path.normpath(os.path.join(os.path.dirname(key), file))
                    out.append((shown, line, label))
        return sorted(out)
