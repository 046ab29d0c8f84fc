"""`kefu test`: scenario files run, fail with diffs, write JUnit and JSON, update in place, measure coverage."""

from __future__ import annotations

import json
from xml.etree import ElementTree

from cli_helpers import kefu

POLICY = """shop "s" on douyin
agent amy { max_sessions 2 }
agent bob { max_sessions 2 }
assign by least_loaded, ties first
reply keyword "发票" -> "支持电子发票"
reply offline -> "下班了"
"""

SCENARIO = """# two cases sharing one policy beside this file
policy: shop.kefu
cases:
  - name: first consumer to amy, second to bob
    events:
      - {t: "09:00:00", type: agent_status, agent: amy, status: online}
      - {t: "09:00:01", type: agent_status, agent: bob, status: online}
      - {t: "09:01:00", type: message, sender: consumer, consumer: c1, text: 在吗}
      - {t: "09:02:00", type: message, sender: consumer, consumer: c2, text: 在吗}
    expect:
      decisions:
        only: [assign]
        items:
          - {consumer: c1, agent: amy}   # both free: the first declared
          - {consumer: c2, agent: bob}   # amy holds c1
  - name: keyword reply
    events:
      - {t: "09:00:00", type: agent_status, agent: amy, status: online}
      - {t: "09:01:00", type: message, sender: consumer, consumer: c1, text: 要发票}
    expect:
      replies: [支持电子发票]
      counts: {assign: 1}
"""


def _write(tmp_path, scenario=SCENARIO, name="shop.test.yaml"):
    (tmp_path / "shop.kefu").write_text(POLICY, encoding="utf-8")
    path = tmp_path / name
    path.write_text(scenario, encoding="utf-8")
    return path


def test_passing_scenarios_exit_0(tmp_path):
    path = _write(tmp_path)
    result = kefu("test", path)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "2 passed, 0 failed"


def test_a_failure_shows_expected_against_actual_with_the_event_and_the_rule(tmp_path):
    path = _write(tmp_path, SCENARIO.replace("{consumer: c2, agent: bob}", "{consumer: c2, agent: amy}"))
    result = kefu("test", path)
    assert result.exit_code == 1
    shown = str(path)
    assert result.stdout.splitlines()[:5] == [
        f"FAIL first consumer to amy, second to bob ({shown}:4)",
        f"  {shown}:15: decision 2 differs (event {shown}:9, rule shop.kefu:4)",   # as decisions name it
        "        consumer: c2",
        "      - agent: amy",
        "      + agent: bob",
    ]
    assert result.stdout.splitlines()[-1] == "1 passed, 1 failed"


def test_missing_and_extra_decisions_are_failures(tmp_path):
    extra = SCENARIO.replace("          - {consumer: c2, agent: bob}   # amy holds c1\n", "")
    result = kefu("test", _write(tmp_path, extra), "--format", "json")
    (case,) = [c for c in json.loads(result.stdout)["cases"] if not c["passed"]]
    assert [(f["message"], f["actual"]) for f in case["failures"]] == [
        ("decision 2 not expected", {"action": "assign", "consumer": "c2", "agent": "bob", "reason": "new"})]


def test_order_any_matches_decisions_as_a_set(tmp_path):
    swapped = SCENARIO.replace("        only: [assign]\n", "        only: [assign]\n        order: any\n").replace(
        "          - {consumer: c1, agent: amy}   # both free: the first declared\n"
        "          - {consumer: c2, agent: bob}   # amy holds c1\n",
        "          - {consumer: c2, agent: bob}\n          - {consumer: c1, agent: amy}\n")
    assert kefu("test", _write(tmp_path, swapped)).exit_code == 0


def test_run_selects_cases_by_name(tmp_path):
    path = _write(tmp_path, SCENARIO.replace("replies: [支持电子发票]", "replies: [不对]"))
    assert kefu("test", path).exit_code == 1
    result = kefu("test", path, "--run", "^first")
    assert result.exit_code == 0 and result.stdout.splitlines()[-1] == "1 passed, 0 failed"
    assert kefu("test", path, "--run", "(").exit_code == 2


def test_json_output(tmp_path):
    path = _write(tmp_path, SCENARIO.replace("replies: [支持电子发票]", "replies: [不对]"))
    report = json.loads(kefu("test", path, "--format", "json").stdout)
    assert (report["passed"], report["failed"]) == (1, 1)
    failed = report["cases"][1]
    assert failed["name"] == "keyword reply" and failed["line"] == 16
    assert failed["failures"] == [{"what": "replies", "line": 21, "message": "automatic reply texts differ",
                                   "expected": ["不对"], "actual": ["支持电子发票"], "event": None, "rule": None,
                                   "details": None}]


def test_junit_xml_for_ci(tmp_path):
    path = _write(tmp_path, SCENARIO.replace("name: keyword reply", "name: keyword <script>&"))
    junit = tmp_path / "out" / "junit.xml"
    junit.parent.mkdir()
    assert kefu("test", path, "--junit", junit).exit_code == 0
    root = ElementTree.parse(junit).getroot()
    suite = root.find("testsuite")
    assert (root.tag, suite.get("tests"), suite.get("failures")) == ("testsuites", "2", "0")
    assert [c.get("name") for c in suite.iter("testcase")] == ["first consumer to amy, second to bob",
                                                               "keyword <script>&"]
    assert b"<script>" not in junit.read_bytes()   # escaped


def test_junit_records_a_failure(tmp_path):
    path = _write(tmp_path, SCENARIO.replace("{consumer: c2, agent: bob}", "{consumer: c2, agent: amy}"))
    junit = tmp_path / "junit.xml"
    assert kefu("test", path, "--junit", junit).exit_code == 1
    (failure,) = ElementTree.parse(junit).getroot().iter("failure")
    assert failure.get("message") == "decision 2 differs"
    assert "- agent: amy" in failure.text and "+ agent: bob" in failure.text


def test_update_rewrites_failing_expectations_keeping_comments_and_layout(tmp_path):
    wrong = SCENARIO.replace("{consumer: c2, agent: bob}   # amy holds c1", "{consumer: c2, agent: amy}   # amy holds c1") \
                    .replace("counts: {assign: 1}", "counts: {assign: 5}")
    path = _write(tmp_path, wrong)
    result = kefu("test", path, "--update")
    assert result.exit_code == 1   # this run failed; the file now holds what the replay gave
    assert f"updated {path}" in result.stdout
    assert path.read_text(encoding="utf-8") == SCENARIO
    assert kefu("test", path).exit_code == 0


def test_update_leaves_passing_files_alone(tmp_path):
    path = _write(tmp_path)
    before = path.stat().st_mtime_ns
    assert kefu("test", path, "--update").exit_code == 0
    assert path.stat().st_mtime_ns == before


def test_coverage_lists_rules_no_case_exercised(tmp_path):
    path = _write(tmp_path)
    result = kefu("test", path, "--coverage")
    # rules: assign (line 4), keyword (5), offline (6); the cases exercise assign and keyword
    assert "coverage: 66.7% of the policies' rules exercised" in result.stdout
    assert f"  not exercised: {tmp_path / 'shop.kefu'}:6: reply offline" in result.stdout
    assert kefu("test", path, "--threshold", "60").exit_code == 0
    failing = kefu("test", path, "--threshold", "70")
    assert failing.exit_code == 1 and "coverage 66.7% is below --threshold 70%" in failing.stderr


def test_a_directory_runs_every_scenario_file_and_names_other_yaml(tmp_path):
    _write(tmp_path)
    (tmp_path / "other.yaml").write_text("key: value\n", encoding="utf-8")
    result = kefu("test", tmp_path)
    assert result.exit_code == 0
    assert f"skipped {(tmp_path / 'other.yaml').as_posix()}: not a scenario file (no `cases` or `expect`)" in result.stdout


def test_no_scenario_or_missing_path_is_a_usage_error(tmp_path):
    assert kefu("test", tmp_path).exit_code == 2
    assert kefu("test", tmp_path / "missing.yaml").exit_code == 2


BROKEN = [
    ("only not a list", "policy: shop.kefu\nevents: []\nexpect: {decisions: {only: 5, items: []}}\n", 3,
     "`only` is a list of actions"),
    ("metrics not rows", "policy: shop.kefu\nevents: []\nexpect: {metrics: [1]}\n", 3, "`metrics` is a list of metric rows"),
    ("counts a list", "policy: shop.kefu\nevents: []\nexpect: {counts: [1]}\n", 3, "`counts` is a mapping of an action"),
    ("counts null", "policy: shop.kefu\nevents: []\nexpect: {counts: null}\n", 3, "`counts` is a mapping of an action"),
    ("report a list", "policy: shop.kefu\nevents: []\nexpect: {report: [1]}\n", 3, "`report` is a mapping"),
    ("replies a number", "policy: shop.kefu\nevents: []\nexpect: {replies: 5}\n", 3, "`replies` is a list"),
    ("syntax", "policy: shop.kefu\nexpect: {counts: {assign: 1}\n", 3, "not valid YAML"),
    ("unknown key", "policy: shop.kefu\nevents: []\nexpct: {}\n", 3, "unknown key 'expct' in a scenario file"),
    # the round-trip loader builds no object from a tag: it stays data, here of the wrong shape
    ("code in a tag", "policy: shop.kefu\nexpect: !!python/object/apply:os.system ['touch pwned']\n", 2,
     "`expect` must be a mapping"),
    ("outside", "policy: ../shop.kefu\nexpect: {counts: {}}\n", 1, "policy '../shop.kefu' is outside the scenario file's directory"),
    ("absolute", "policy: /etc/passwd\nexpect: {counts: {}}\n", 1, "outside the scenario file's directory"),
    ("bad time", "policy: shop.kefu\nevents:\n  - {t: \"9 o'clock\", type: agent_status}\nexpect: {counts: {}}\n", 3,
     "event time \"9 o'clock\" is not HH:MM:SS"),
    ("no policy", "events: []\nexpect: {counts: {}}\n", 1, "a case needs a `policy` or a `platform`"),
    ("bad order", "policy: shop.kefu\nexpect:\n  decisions: {order: sorted, items: []}\n", 3, "`order` is `in_order`"),
    ("huge generate", "policy: shop.kefu\ngenerate:\n  - {count: 100000000, every: 1s, template: [{t: '09:00:00'}]}\n"
     "expect: {counts: {}}\n", 3, "`generate` would make more than 1,000,000 events"),
]


def test_broken_scenario_files_get_located_messages(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, text, line, message in BROKEN:
        sub = tmp_path / name.replace(" ", "_")
        sub.mkdir()
        path = _write(sub, text)
        result = kefu("test", path)
        assert result.exit_code == 1, (name, result.output)
        assert f"{path}:{line}:" in result.stdout and message in result.stdout, (name, result.stdout)
    assert not (tmp_path / "pwned").exists()


def test_a_policy_with_errors_is_shown_with_its_diagnostics(tmp_path):
    path = _write(tmp_path)
    (tmp_path / "shop.kefu").write_text(POLICY.replace("least_loaded", "least_loadd"), encoding="utf-8")
    result = kefu("test", path)
    assert result.exit_code == 1
    assert "the policy has errors" in result.stdout
    assert "error[E103]: unknown assignment strategy 'least_loadd'" in result.stdout


def test_an_inline_policy_and_a_platform(tmp_path):
    scenario = """cases:
  - name: inline
    policy: |
      shop "s1" on douyin
      agent amy { max_sessions 3 }
      assign by least_loaded
    events:
      - {t: "09:00:00", type: agent_status, agent: amy, status: online}
      - {t: "09:01:00", type: message, sender: consumer, consumer: c1, text: 在吗}
    expect:
      decisions:
        only: [assign]
        items: [{consumer: c1, agent: amy, cap: 3, rule: {file: policy.kefu, line: 3}}]
  - name: platform alone
    platform: douyin
    events:
      - {t: "09:00:00", type: agent_status, agent: amy, status: online, max_sessions: 5}
      - {t: "09:01:00", type: message, sender: consumer, consumer: c1, text: 在吗}
      - {t: "09:02:00", type: message, sender: agent, agent: amy, consumer: c1, text: 在的}
    expect:
      metrics:
        - {metric: response_rate_3min, shop: s1, eligible: 1, met: 1}
"""
    path = tmp_path / "inline.yaml"
    path.write_text(scenario, encoding="utf-8")
    result = kefu("test", path)
    assert result.exit_code == 0, result.stdout


def test_events_file_beside_the_scenario(tmp_path):
    log = tmp_path / "day.jsonl"
    log.write_text('{"ts": "2026-11-11T09:00:00+08:00", "type": "agent_status", "agent": "amy", "status": "online"}\n'
                   '{"ts": "2026-11-11T09:01:00+08:00", "type": "message", "sender": "consumer", "consumer": "c1"}\n',
                   encoding="utf-8")
    path = _write(tmp_path, "policy: shop.kefu\nevents_file: day.jsonl\nexpect:\n  counts: {assign: 1}\n")
    assert kefu("test", path).exit_code == 0
    bad = _write(tmp_path, "policy: shop.kefu\nevents_file: day.jsonl\nexpect:\n  counts: {assign: 2}\n")
    failing = kefu("test", bad)
    assert failing.exit_code == 1 and "      - assign: 2\n      + assign: 1\n" in failing.stdout


def test_an_unreadable_directory_is_an_io_error_not_skipped(tmp_path, monkeypatch):
    import os

    _write(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()

    real_walk = os.walk

    def walk(top, onerror=None, **kw):   # as os.walk reports a directory it may not list (we run as root)
        for entry in real_walk(top, onerror=onerror, **kw):
            if entry[0] == str(locked):
                onerror(PermissionError(13, "Permission denied", str(locked)))
                continue
            yield entry

    monkeypatch.setattr(os, "walk", walk)
    result = kefu("test", tmp_path)
    assert result.exit_code == 2
    assert f"error: {locked}: cannot read directory: Permission denied" in result.stdout


def test_a_platform_file_with_errors_fails_the_case_with_its_diagnostics(tmp_path):
    (tmp_path / "plat").mkdir()
    (tmp_path / "plat" / "douyin.kefu").write_text('platform douyin "抖音"\nmetric m "m" { unit questio }\n', encoding="utf-8")
    path = tmp_path / "p.test.yaml"
    path.write_text("platform: douyin\nevents: []\nexpect: {counts: {}}\n", encoding="utf-8")
    result = kefu("test", path, "--platform-dir", tmp_path / "plat")
    assert result.exit_code == 1, result.output
    assert "the policy has errors" in result.stdout and "douyin.kefu:2:" in result.stdout


def test_a_fifo_named_like_a_scenario_is_not_read(tmp_path):
    import os

    _write(tmp_path)
    os.mkfifo(tmp_path / "pipe.test.yaml")
    result = kefu("test", tmp_path)   # would block forever opening the FIFO
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "2 passed, 0 failed"
