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


def _block_after(text: str, intro: str) -> str:
    block = re.search(re.escape(intro) + r".*?```\n(.*?)\n```", text, re.S)
    assert block, f"the example after {intro!r} is gone"
    return block.group(1)


def _text_report(*args: str) -> str:
    return _text_report_of("replay", *args)


def _text_report_of(command: str, *args: str) -> str:
    """What `kefu COMMAND ARGS` prints, run from the repository's root (outputs name files as given)."""
    import os

    from cli_helpers import kefu

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        result = kefu(command, *args)
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_replay_md_text_report_example_is_the_pinduoduo_sample_report():
    shown = _block_after((ROOT / "docs" / "replay.md").read_text(encoding="utf-8"),
                         "From `kefu replay rulesets/examples/pinduoduo-fruit.kefu --events samples/pinduoduo-fruit.jsonl` (first day")
    report = _text_report("rulesets/examples/pinduoduo-fruit.kefu", "--events", "samples/pinduoduo-fruit.jsonl")
    first_day = report.split("\n\n")[:3]   # the title, the event counts, the first day
    assert shown == "\n\n".join(first_day)


def test_replay_md_by_agent_example_is_the_taobao_sample_table():
    shown = _block_after((ROOT / "docs" / "replay.md").read_text(encoding="utf-8"),
                         "From `kefu replay rulesets/examples/taobao-apparel.kefu --events samples/taobao-apparel.jsonl --by agent`")
    report = _text_report("rulesets/examples/taobao-apparel.kefu", "--events", "samples/taobao-apparel.jsonl",
                          "--by", "agent")
    (table,) = [part for part in report.split("\n\n") if part.startswith("== by agent")]
    assert shown == table


def test_explain_md_example_is_real_output():
    shown = _block_after((ROOT / "docs" / "explain.md").read_text(encoding="utf-8"),
                         "From `kefu explain rulesets/examples/pinduoduo-fruit.kefu --events samples/pinduoduo-fruit.jsonl --line 26`")
    real = _text_report_of("explain", "rulesets/examples/pinduoduo-fruit.kefu", "--events",
                           "samples/pinduoduo-fruit.jsonl", "--line", "26")
    assert shown + "\n\n" == real


def test_readme_report_example_is_the_douyin_sample_report():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = _block_after(readme, "Example of the text report (first command above)")
    real = _text_report("rulesets/examples/douyin-flagship.kefu", "--events", "samples/douyin-flagship.jsonl")
    lines = shown.splitlines()
    assert lines[-1] == "  ..."   # the page shows the first day only
    assert real.startswith("\n".join(lines[:-1]) + "\n")
