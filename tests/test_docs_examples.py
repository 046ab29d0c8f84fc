"""Examples in the docs that claim to be real output are the output of the code as it is."""

from __future__ import annotations

import json
import re
from pathlib import Path

from engine.loader import Loader
from engine.replay import replay, report_dict

ROOT = Path(__file__).resolve().parent.parent


def test_replay_md_report_example_is_the_pinduoduo_sample_report():
    text = (ROOT / "docs" / "replay.md").read_text(encoding="utf-8")
    intro = "From `kefu replay rulesets/examples/pinduoduo-fruit.kefu --events samples/pinduoduo-fruit.jsonl"
    block = re.search(re.escape(intro) + r".*?```json\n(.*?)\n```", text, re.S)
    assert block, "the report example is gone from docs/replay.md"
    shown = json.loads(block.group(1))

    policy_file = "rulesets/examples/pinduoduo-fruit.kefu"
    policy = Loader().load(ROOT / policy_file).policy
    with open(ROOT / "samples" / "pinduoduo-fruit.jsonl", "rb") as log:
        report = report_dict(replay(policy, log, policy_file=policy_file))
    report["metrics"], report["days"] = report["metrics"][:1], report["days"][:1]   # "first metric row and day shown"
    assert shown == report
