"""`kefu test`: run scenario files, report failures as diffs, JUnit XML, coverage, `--update`."""

from __future__ import annotations

import difflib
import io
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import orjson
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .diagnostics import visible
from .loader import Loader
from .outputs import OutputFailed, write_whole
from .scenarios import (
    SHOWN_DECISION_KEYS, Case, CaseResult, Coverage, Failure, Loaded, ScenarioError, plain, selected_decisions,
    yaml_parser, is_scenario, load_cases, load_policy, matches, read_document, run_case, scenario_files,
)

TEST_FORMAT_VERSION = 1


@dataclass
class Outcome:
    """Everything a `kefu test` run found."""

    results: list[CaseResult] = field(default_factory=list)
    errors: list[ScenarioError] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)     # YAML files under a directory that are no scenario files
    missing: list[str] = field(default_factory=list)     # paths given that do not exist
    unreadable: list[str] = field(default_factory=list)  # directories under them that cannot be read
    coverage: Coverage = field(default_factory=Coverage)
    updated: list[str] = field(default_factory=list)     # files --update rewrote

    @property
    def passed(self) -> int:
        """Cases whose every expectation held."""
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        """Cases with a failed expectation."""
        return len(self.results) - self.passed


def run_paths(paths: list[Path], *, pattern: re.Pattern | None = None, loader: Loader | None = None,
              update: bool = False) -> Outcome:
    """Run every scenario file under paths (cases whose name matches pattern)."""
    loader = loader or Loader()
    outcome = Outcome()
    found, outcome.missing, outcome.unreadable = scenario_files(paths)
    named = {str(p) for p in paths}
    with tempfile.TemporaryDirectory(prefix="kefu-test-") as tmp:
        for path, shown in found:
            try:
                doc = read_document(path, shown)
                if not is_scenario(doc) and str(path) not in named:   # a file named is read as one, to say what is wrong
                    outcome.skipped.append(shown)
                    continue
                cases = [c for c in load_cases(path, shown, doc) if pattern is None or pattern.search(c.name)]
            except ScenarioError as err:
                outcome.errors.append(err)
                continue
            results = _run_file(cases, loader, Path(tmp), outcome)
            if update and any(not r.passed for r in results) and _update(results):
                try:
                    _write_back(path, doc)
                except OutputFailed as err:
                    outcome.errors.append(ScenarioError(shown, 1, 1, f"cannot write the update: {err.reason}"))
                else:
                    outcome.updated.append(shown)
    return outcome


def _run_file(cases: list[Case], loader: Loader, tmp: Path, outcome: Outcome) -> list[CaseResult]:
    policies: dict[str, Loaded] = {}
    results = []
    for n, case in enumerate(cases):
        try:
            key = str(case.data.get("platform") or case.data.get("policy"))
            loaded = policies.get(key)
            if loaded is None:
                loaded = policies[key] = load_policy(case, loader, tmp / str(len(policies)))
            result = run_case(case, loaded)
        except ScenarioError as err:
            outcome.errors.append(err)
            continue
        if loaded.policy is not None and loaded.automation and result.policy_key:
            outcome.coverage.add(result.policy_key, loaded.policy, result.rules)
        results.append(result)
        outcome.results.append(result)
    return results


# ---- --update -----------------------------------------------------------------------------------
def _update(results: list[CaseResult]) -> bool:
    """Rewrite the expectations of failing cases from what the replay gave; True when any changed."""
    changed = False
    for result in results:
        if result.passed or any(f.what in ("policy", "events") for f in result.failures):
            continue
        expect = result.case.data["expect"]
        for what in {f.what for f in result.failures}:
            changed |= _UPDATERS[what](expect, result)
    return changed


def _flow(mapping: dict) -> CommentedMap:
    node = CommentedMap(mapping)
    node.fa.set_flow_style()
    return node


def _update_decisions(expect: CommentedMap, result: CaseResult) -> bool:
    """Items become the decisions made: an item that matches stays as written, a wrong one gets the
    replay's values for the keys it names (its comment and flow style kept), missing ones are added."""
    spec = expect["decisions"]
    items: CommentedSeq = spec["items"]
    keys = list(dict.fromkeys(k for item in items if isinstance(item, dict) for k in item))
    actual = selected_decisions(expect, result.decisions)
    for index, got in enumerate(actual):
        item = items[index] if index < len(items) else None
        if isinstance(item, dict):
            if not matches(plain(item), got):
                for key in list(item):
                    item[key] = got.get(str(key))
            continue
        shown = keys or [k for k in SHOWN_DECISION_KEYS if got.get(k) is not None]
        node = _flow({k: got[k] for k in shown if k in got})
        if index < len(items):
            items[index] = node
        else:
            items.append(node)
    del items[len(actual):]
    return True


def _update_metrics(expect: CommentedMap, result: CaseResult) -> bool:
    rows = result.report["metrics"]
    changed = False
    for want in expect["metrics"] or []:
        found = [r for r in rows if r["metric"] == want.get("metric") and str(r["date"]) == str(want.get("date", r["date"]))]
        if found:
            for key in list(want):
                if key not in ("metric", "date", "shop") and key in found[0] and not matches(plain(want[key]), found[0][key]):
                    want[key] = found[0][key]
                    changed = True
    return changed


def _update_counts(expect: CommentedMap, result: CaseResult) -> bool:
    counts = expect["counts"]
    for action in list(counts):
        counts[action] = result.report["decisions"].get(str(action), 0)
    return True


def _update_report(expect: CommentedMap, result: CaseResult) -> bool:
    report = expect["report"]
    for key in list(report):
        report[key] = result.report.get(str(key))
    return True


def _update_replies(expect: CommentedMap, result: CaseResult) -> bool:
    expect["replies"] = [d["text"] for d in result.decisions if d["action"] == "auto_reply"]
    return True


_UPDATERS = {"decisions": _update_decisions, "metrics": _update_metrics, "counts": _update_counts,
             "report": _update_report, "replies": _update_replies}


def _write_back(path: Path, doc: Any) -> None:
    """Write the document over its file, whole (a temporary file beside it, renamed over it)."""
    yaml = yaml_parser()
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump(doc, out)
    write_whole(path, out.getvalue().encode("utf-8"))


# ---- output -------------------------------------------------------------------------------------
def _value(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def diff_lines(expected: Any, actual: Any) -> list[str]:
    """Expected against actual: `- ` what was expected, `+ ` what the replay gave, `  ` the same."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for key in dict.fromkeys([*expected, *actual]):
            want, got = expected.get(key), actual.get(key)
            if key in expected and key in actual and matches(want, got):
                out.append(f"  {key}: {_value(got)}")
            else:
                if key in expected:
                    out.append(f"- {key}: {_value(want)}")
                if key in actual:
                    out.append(f"+ {key}: {_value(got)}")
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        return [line for line in difflib.ndiff([_value(v) for v in expected], [_value(v) for v in actual])
                if not line.startswith("?")]
    out = []
    if expected is not None:
        out.append(f"- {_value(expected)}")
    if actual is not None:
        out.append(f"+ {_value(actual)}")
    return out


def failure_text(result: CaseResult, failure: Failure) -> list[str]:
    """A failure as lines: where, what, the diff, the event and rule behind the decision."""
    head = f"{result.case.shown}:{failure.line}: {failure.message}"
    if failure.event or failure.rule:
        head += " (" + ", ".join(part for part in (f"event {failure.event}" if failure.event else "",
                                                    f"rule {failure.rule}" if failure.rule else "") if part) + ")"
    lines = [head]
    lines += ["    " + line for line in diff_lines(failure.expected, failure.actual)]
    if failure.details:
        lines += ["    " + line for line in failure.details.rstrip("\n").splitlines()]
    return lines


def render_text(outcome: Outcome, *, coverage: bool = False) -> str:
    """The run as a readable report: failures, errors, then one summary line."""
    lines: list[str] = []
    for err in outcome.errors:
        lines += str(err).splitlines() + [""]
    for result in outcome.results:
        if result.passed:
            continue
        lines.append(f"FAIL {result.case.name} ({result.case.shown}:{result.case.line})")
        for failure in result.failures:
            lines += ["  " + line for line in failure_text(result, failure)]
        lines.append("")
    for path in outcome.missing:
        lines.append(f"error: {path}: no such file or directory")
    lines += [f"error: {problem}" for problem in outcome.unreadable]
    for path in outcome.skipped:
        lines.append(f"skipped {path}: not a scenario file (no `cases` or `expect`)")
    for path in outcome.updated:
        lines.append(f"updated {path}")
    if coverage:
        lines.append(f"coverage: {outcome.coverage.percent():g}% of the policies' rules exercised")
        for file, line, label in outcome.coverage.missed():
            lines.append(f"  not exercised: {file}:{line}: {label}")
    errors = len(outcome.errors) + len(outcome.missing) + len(outcome.unreadable)
    summary = f"{outcome.passed} passed, {outcome.failed} failed"
    lines.append(summary + (f", {errors} errors" if errors else ""))
    return "\n".join(map(visible, lines)) + "\n"


def _failure_dict(failure: Failure) -> dict:
    return {"what": failure.what, "line": failure.line, "message": failure.message, "expected": failure.expected,
            "actual": failure.actual, "event": failure.event, "rule": failure.rule, "details": failure.details}


def render_json(outcome: Outcome, *, coverage: bool = False) -> bytes:
    """The run as JSON (format in docs/testing.md)."""
    data: dict[str, Any] = {
        "format": TEST_FORMAT_VERSION,
        "passed": outcome.passed,
        "failed": outcome.failed,
        "cases": [{"file": r.case.shown, "line": r.case.line, "name": r.case.name, "passed": r.passed,
                   "failures": [_failure_dict(f) for f in r.failures]} for r in outcome.results],
        "errors": [{"file": e.file, "line": e.line, "column": e.column, "message": e.message, "hint": e.hint}
                   for e in outcome.errors] + [{"file": p, "line": None, "column": None,
                                                 "message": "no such file or directory", "hint": None}
                                                for p in outcome.missing]
                  + [{"file": None, "line": None, "column": None, "message": problem, "hint": None}
                     for problem in outcome.unreadable],
        "skipped": outcome.skipped,
        "updated": outcome.updated,
    }
    if coverage:
        data["coverage"] = {"percent": outcome.coverage.percent(),
                            "missed": [{"file": f, "line": n, "rule": label} for f, n, label in outcome.coverage.missed()]}
    return orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n"


def render_junit(outcome: Outcome) -> bytes:
    """The run as JUnit XML: a testsuite per scenario file, a testcase per case."""
    suites = ElementTree.Element("testsuites", name="kefu test", tests=str(len(outcome.results)),
                                 failures=str(outcome.failed), errors=str(len(outcome.errors)))
    by_file: dict[str, list[CaseResult]] = {}
    for result in outcome.results:
        by_file.setdefault(result.case.shown, []).append(result)
    errors_by_file: dict[str, list[ScenarioError]] = {}
    for err in outcome.errors:
        errors_by_file.setdefault(err.file, []).append(err)
    for file in sorted(set(by_file) | set(errors_by_file)):
        results, errs = by_file.get(file, []), errors_by_file.get(file, [])
        suite = ElementTree.SubElement(suites, "testsuite", name=file, tests=str(len(results) + len(errs)),
                                       failures=str(sum(not r.passed for r in results)), errors=str(len(errs)))
        for result in results:
            case = ElementTree.SubElement(suite, "testcase", name=_xml(result.case.name), classname=_xml(file),
                                          file=_xml(file), line=str(result.case.line))
            if not result.passed:
                body = "\n".join(line for f in result.failures for line in failure_text(result, f))
                failure = ElementTree.SubElement(case, "failure", message=_xml(result.failures[0].message))
                failure.text = _xml(body)
        for err in errs:
            case = ElementTree.SubElement(suite, "testcase", name=f"{file}:{err.line}", classname=_xml(file),
                                          file=_xml(file), line=str(err.line))
            ElementTree.SubElement(case, "error", message=_xml(err.message)).text = _xml(str(err))
    ElementTree.indent(suites)
    return ElementTree.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml(text: str) -> str:
    """Text XML 1.0 can hold (ElementTree escapes markup, not characters XML forbids)."""
    return _XML_BAD.sub("\ufffd", text)
