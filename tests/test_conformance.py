"""Conformance cases as data: the scenario files in tests/conformance/, run by `kefu test`'s own runner.

Each file is a scenario file (docs/testing.md): a policy (or `platform: NAME`), compact events
and the decisions, metrics, counts and report entries the replay must give. The cases encode
platform rules worked out by hand; the comments in each file give the working.

Every case is also replayed twice: both runs must give identical decisions (determinism for a seed).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.testrun import render_text, run_paths

CASES = sorted((Path(__file__).parent / "conformance").glob("*.yaml"))


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_conformance_case(path):
    outcome = run_paths([path])
    assert not outcome.errors and outcome.results, render_text(outcome)
    assert all(r.passed for r in outcome.results), render_text(outcome)
    again = run_paths([path])
    assert [r.decisions for r in again.results] == [r.decisions for r in outcome.results], \
        "two replays with the same seed gave different decisions"


def test_the_shipped_example_scenarios_pass():
    examples = Path(__file__).resolve().parent.parent / "rulesets" / "examples"
    outcome = run_paths([examples])
    assert not outcome.errors and not outcome.skipped, render_text(outcome)
    assert outcome.passed == len(outcome.results) >= 15, render_text(outcome)
    names = {r.case.file.name for r in outcome.results}
    assert names == {f"{p.stem}.test.yaml" for p in examples.glob("*.kefu")}   # one scenario file per example
