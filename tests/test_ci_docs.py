"""The CI recipes in docs/ci.md and the pre-commit hooks run the commands they say, and those pass on a clean shop."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from ruamel.yaml import YAML

from cli_helpers import kefu

ROOT = Path(__file__).resolve().parent.parent


def _workflow_runs() -> list[list[str]]:
    text = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    workflow = YAML(typ="safe").load(re.search(r"```yaml\n(name: policies.*?)```", text, re.S).group(1))
    steps = workflow["jobs"]["kefu"]["steps"]
    return [shlex.split(step["run"]) for step in steps if step.get("run", "").startswith("kefu ")]


def test_the_documented_workflow_passes_on_a_starter_shop(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert kefu("init", "--platform", "pinduoduo", "--shop", "fruit", "--dir", "shops").exit_code == 0
    runs = _workflow_runs()
    assert [r[:2] for r in runs] == [["kefu", "check"], ["kefu", "fmt"], ["kefu", "test"]]
    for command in runs:
        result = kefu(*command[1:])
        assert result.exit_code == 0, (command, result.output)
    assert (tmp_path / "junit.xml").read_text(encoding="utf-8").count("<testcase ") == 1


def test_the_documented_workflow_fails_on_a_broken_shop(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert kefu("init", "--platform", "douyin", "--shop", "mi", "--dir", "shops").exit_code == 0
    policy = tmp_path / "shops" / "mi.kefu"
    policy.write_text(policy.read_text(encoding="utf-8").replace("hours 08:00-23:00", "hours  08:00-23:00\nassign by idle_rat"),
                      encoding="utf-8")
    check, fmt, test = (kefu(*command[1:]) for command in _workflow_runs())
    assert check.exit_code == 1 and "::error file=shops/mi.kefu,line=8" in check.stdout
    assert fmt.exit_code == 1 and fmt.stdout == "would reformat shops/mi.kefu\n"
    assert test.exit_code == 1


def test_pre_commit_hooks_name_kefu_commands():
    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert [h["id"] for h in hooks] == ["kefu-check", "kefu-fmt", "kefu-test"]
    for hook in hooks:
        program, command = hook["entry"].split()
        assert program == "kefu" and hook["language"] == "python"
        assert kefu(command, "--help").exit_code == 0
