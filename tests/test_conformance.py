"""Conformance cases as data: YAML files of policy + events + expected decisions and metrics.

Each file in tests/conformance/ holds one case:

    name: what the case shows
    policy: |            # a shop policy (or `platform: NAME` to replay a platform alone)
      shop "s1" on douyin
    date: 2026-11-11     # optional; event times "HH:MM:SS" are on this local date (+08:00)
    events:              # compact events; `t` is the local time, `shop` defaults to s1
      - {t: "09:00:00", type: agent_status, agent: amy, status: online}
    expect:
      decisions:         # the decisions whose action is listed in `only` (default: all), in order;
        only: [assign]   # each expected item must match the listed keys of the actual one
        items:
          - {action: assign, consumer: c1, agent: amy}
      metrics:           # every listed row must exist with these values
        - {metric: response_rate_3min, date: 2026-11-11, eligible: 1, met: 1}
      counts: {assign: 1}  # optional: exact decision counts for these actions
"""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest
from ruamel.yaml import YAML

from engine.loader import Loader
from engine.replay import for_platform, replay, report_dict

CASES = sorted((Path(__file__).parent / "conformance").glob("*.yaml"))


def build_log(case: dict) -> bytes:
    """The case's events as JSON Lines, with `t` expanded to RFC 3339."""
    day = str(case.get("date", "2026-11-11"))
    lines = []
    for raw in case["events"]:
        event = dict(raw)
        when = event.pop("t")
        event["ts"] = when if "T" in str(when) else f"{event.pop('day', day)}T{when}+08:00"
        event.setdefault("shop", "s1")
        lines.append(orjson.dumps(event))
    return b"\n".join(lines) + b"\n"


def load_case_policy(case: dict, tmp_path: Path):
    if "platform" in case:
        loader = Loader()
        platform = loader.load_platform_file(loader.available_platforms()[case["platform"]]).platform
        return for_platform(platform), False
    path = tmp_path / "policy.kefu"
    path.write_text(case["policy"], encoding="utf-8")
    result = Loader().load(path, display="policy.kefu")
    assert result.policy is not None, [f"{d.code} {d.message}" for d in result.diagnostics]
    return result.policy, True


def matches(expected: dict, actual: dict) -> bool:
    return all(str(actual.get(k)) == str(v) if not isinstance(v, (int, float, bool, type(None))) else actual.get(k) == v
               for k, v in expected.items())


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_conformance_case(path, tmp_path):
    case = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    policy, automation = load_case_policy(case, tmp_path)
    out = io.BytesIO()
    result = replay(policy, io.BytesIO(build_log(case)), seed=case.get("seed", 0), automation=automation,
                    decisions_out=out)
    decisions = [orjson.loads(line) for line in out.getvalue().splitlines()]
    report = report_dict(result)
    assert report["events"]["rejected"] == 0
    expect = case["expect"]
    if "decisions" in expect:
        only = set(expect["decisions"].get("only") or [d["action"] for d in decisions])
        actual = [d for d in decisions if d["action"] in only]
        wanted = expect["decisions"]["items"]
        assert len(actual) == len(wanted), f"decisions {[(d['action'], d['consumer'], d['agent']) for d in actual]}"
        for want, got in zip(wanted, actual):
            assert matches(want, got), f"expected {want}, got {got}"
    for want in expect.get("metrics", []):
        rows = [r for r in report["metrics"] if r["metric"] == want["metric"] and
                (str(r["date"]) == str(want.get("date", r["date"]))) and r["shop"] == want.get("shop", "s1")]
        assert rows, f"no metric row for {want} in {report['metrics']}"
        assert matches(want, rows[0]), f"expected {want}, got {rows[0]}"
    for action, count in expect.get("counts", {}).items():
        assert report["decisions"].get(action, 0) == count, f"{action}: {report['decisions']}"
