"""Conformance cases as data: YAML files of policy + events + expected decisions and metrics.

Each file in tests/conformance/ holds one case:

    name: what the case shows
    policy: |            # a shop policy (or `platform: NAME` to replay a platform alone)
      shop "s1" on douyin
    date: 2026-11-11     # optional; event times "HH:MM:SS" are on this local date (+08:00)
    seed: 0              # optional; the replay seed (tie-breaks `ties random`)
    events:              # compact events; `t` is the local time, `shop` defaults to s1,
      - {t: "09:00:00", type: agent_status, agent: amy, status: online}
                         # `day: 2026-11-12` puts one event on another local date
    generate:            # optional: events from templates, for cases with many consumers
      - count: 100       # repetitions; in every string value of the template `{i}` becomes 0..count-1
        every: 1m        # time added per repetition (Ns, Nm or Nh)
        template:
          - {t: "09:00:00", type: message, sender: consumer, consumer: "c{i}", text: 在吗}
                         # with `generate`, listed and generated events are sorted by time
                         # (stable: listed events first, then generated, in the order written)
    expect:
      decisions:         # the decisions whose action is listed in `only` (default: all), in order;
        only: [assign]   # each expected item must match the listed keys of the actual one
        items:
          - {action: assign, consumer: c1, agent: amy}
      metrics:           # every listed row must exist with these values
        - {metric: response_rate_3min, date: 2026-11-11, eligible: 1, met: 1}
      counts: {assign: 1}  # optional: exact decision counts for these actions
      report:            # optional: top-level report entries, compared whole
        suppressed_auto_replies: 1
        auto_replies: {keyword: 2}

Every case is replayed twice; both runs must give identical decisions (determinism for a seed).
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest
from ruamel.yaml import YAML

from engine.loader import Loader
from engine.replay import replay, report_dict
from engine.runtime import platform_policy

CASES = sorted((Path(__file__).parent / "conformance").glob("*.yaml"))


UNITS = {"s": 1, "m": 60, "h": 3600}


def _expand(value, i: int):
    if isinstance(value, str):
        return value.replace("{i}", str(i))
    if isinstance(value, dict):
        return {k: _expand(v, i) for k, v in value.items()}
    return value


def generated(case: dict, day: str) -> list[dict]:
    """The events of the case's `generate` blocks, each with an absolute RFC 3339 `t`."""
    out = []
    for block in case.get("generate", []):
        amount, unit = re.fullmatch(r"(\d+)([smh])", str(block.get("every", "0s"))).groups()
        step = timedelta(seconds=int(amount) * UNITS[unit])
        for i in range(block["count"]):
            for raw in block["template"]:
                event = _expand(dict(raw), i)
                start = datetime.fromisoformat(f"{event.pop('day', day)}T{event['t']}+08:00")
                event["t"] = (start + i * step).isoformat()
                out.append(event)
    return out


def build_log(case: dict) -> bytes:
    """The case's events (listed, then generated) as JSON Lines, with `t` expanded to RFC 3339."""
    day = str(case.get("date", "2026-11-11"))
    events = []
    for raw in list(case.get("events", [])) + generated(case, day):
        event = dict(raw)
        when = event.pop("t")
        event["ts"] = when if "T" in str(when) else f"{event.pop('day', day)}T{when}+08:00"
        event.setdefault("shop", "s1")
        events.append(event)
    if "generate" in case:
        events.sort(key=lambda e: datetime.fromisoformat(e["ts"]))
    return b"\n".join(orjson.dumps(e) for e in events) + b"\n"


def load_case_policy(case: dict, tmp_path: Path):
    if "platform" in case:
        loader = Loader()
        platform = loader.load_platform_file(loader.available_platforms()[case["platform"]]).platform
        return platform_policy(platform), False
    path = tmp_path / "policy.kefu"
    path.write_text(case["policy"], encoding="utf-8")
    result = Loader().load(path, display="policy.kefu")
    assert result.policy is not None, [f"{d.code} {d.message}" for d in result.diagnostics]
    return result.policy, True


def matches(expected: dict, actual: dict) -> bool:
    """Every expected key is in actual with that value (a dict value: the keys it names, recursively)."""
    return all(k in actual and _same(v, actual[k]) for k, v in expected.items())


def _same(want, got) -> bool:
    if isinstance(want, dict):
        return isinstance(got, dict) and matches(want, got)
    if isinstance(want, (int, float, bool, type(None))):
        return got == want
    return str(got) == str(want)


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_conformance_case(path, tmp_path):
    case = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    policy, automation = load_case_policy(case, tmp_path)
    log = build_log(case)
    runs = []
    for _ in range(2):
        out = io.BytesIO()
        result = replay(policy, io.BytesIO(log), seed=case.get("seed", 0), automation=automation,
                        decisions_out=out)
        runs.append(out.getvalue())
    assert runs[0] == runs[1], "two replays with the same seed gave different decisions"
    decisions = [orjson.loads(line) for line in runs[0].splitlines()]
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
    for key, value in expect.get("report", {}).items():
        assert report[key] == value, f"report {key}: expected {value}, got {report[key]}"
