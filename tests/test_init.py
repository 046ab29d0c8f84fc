"""`kefu init`: a starter policy that checks clean and a scenario file it passes, for every platform."""

from __future__ import annotations

import pytest

from cli_helpers import kefu
from engine.loader import Loader

PLATFORMS = sorted(Loader().available_platforms())

# A made-up platform with little: no routing, no automatic replies but the keyword reply, caps 1..3,
# and an admin-only keyword reply.
SPARSE = """platform sparse "稀疏"
timezone Asia/Shanghai
pages home "首页"
senders agent "人工"
metric rate_1m "1分钟回复率" {
  unit question
  deadline 1m
  clock starts at question
  effective agent
}
allow keyword_reply
limit max_sessions 1..3
restrict keyword_reply to roles cs_admin
"""


@pytest.mark.parametrize("platform", PLATFORMS)
def test_starter_checks_clean_and_its_scenario_passes(tmp_path, platform):
    result = kefu("init", "--platform", platform, "--shop", "demo", "--dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "demo.kefu").read_text(encoding="utf-8").count(f'shop "demo" on {platform}') == 1
    check = kefu("check", tmp_path / "demo.kefu", "--strict")
    assert check.exit_code == 0, check.output
    test = kefu("test", tmp_path / "demo.test.yaml")
    assert test.exit_code == 0 and test.stdout.endswith("1 passed, 0 failed\n"), test.output
    assert kefu("fmt", "--check", tmp_path).exit_code == 0   # written in the canonical layout


def test_starter_uses_only_what_the_platform_allows(tmp_path):
    platforms = tmp_path / "platforms"
    platforms.mkdir()
    (platforms / "sparse.kefu").write_text(SPARSE, encoding="utf-8")
    out = tmp_path / "shop"
    assert kefu("init", "--platform", "sparse", "--dir", out, "--platform-dir", platforms).exit_code == 0
    policy = (out / "my-shop.kefu").read_text(encoding="utf-8")
    assert "max_sessions 3" in policy                       # 10 is over the platform's limit
    assert "agent agent1 { role cs_admin }" in policy        # the keyword reply is cs_admin's to edit
    statements = [line.split()[0] for line in policy.splitlines() if line and not line.startswith("#")]
    assert statements == ["shop", "hours", "group", "group", "agent", "editor", "reply"]   # the keyword reply
    assert kefu("check", out / "my-shop.kefu", "--strict", "--platform-dir", platforms).exit_code == 0
    assert kefu("test", out / "my-shop.test.yaml", "--platform-dir", platforms).exit_code == 0


def test_init_never_overwrites(tmp_path):
    (tmp_path / "demo.test.yaml").write_text("mine\n", encoding="utf-8")
    result = kefu("init", "--platform", "douyin", "--shop", "demo", "--dir", tmp_path)
    assert result.exit_code == 2 and "exists already" in result.stderr
    assert not (tmp_path / "demo.kefu").exists()
    assert (tmp_path / "demo.test.yaml").read_text(encoding="utf-8") == "mine\n"


@pytest.mark.parametrize("shop", ["../escape", "a/b", "", "-x", "店铺"])
def test_a_shop_id_that_cannot_name_a_file_is_refused(tmp_path, shop):
    result = kefu("init", "--platform", "douyin", "--shop", shop, "--dir", tmp_path)
    assert result.exit_code == 2 and "shop id" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_unknown_platform_gets_a_suggestion(tmp_path):
    result = kefu("init", "--platform", "douyn", "--dir", tmp_path)
    assert result.exit_code == 2 and "did you mean 'douyin'?" in result.stderr


def test_a_second_file_that_cannot_be_written_leaves_no_first_behind(tmp_path, monkeypatch):
    from engine import outputs

    real_open = outputs.PendingOutputs.open

    def open_once(self, path, what="output"):
        if path.name.endswith(".test.yaml"):
            raise OSError(28, "No space left on device", str(path))
        return real_open(self, path, what)

    monkeypatch.setattr(outputs.PendingOutputs, "open", open_once)
    result = kefu("init", "--platform", "taobao", "--shop", "s", "--dir", tmp_path)
    assert result.exit_code == 2 and "No space left on device" in result.stderr
    assert list(tmp_path.iterdir()) == []   # neither s.kefu nor its temporary file
