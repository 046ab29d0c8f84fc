"""The IR: `kefu ir` output validates and round-trips, `kefu schema` matches docs/ir.schema.json,
and the fast parse path builds exactly the IR that Lark's tree gives."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from engine import ir
from cli_helpers import kefu
from engine.loader import Loader
from engine.parser import fast_parser, parse_source
from engine.source import SourceFile
from engine.transform import parse_statements, to_statements

ROOT = Path(__file__).resolve().parent.parent
SHOPS = sorted((ROOT / "rulesets" / "examples").glob("*.kefu"))
PLATFORMS = sorted((ROOT / "rulesets" / "platforms").glob("*.kefu"))




def _bench():
    spec = importlib.util.spec_from_file_location("bench_check", ROOT / "benchmarks" / "bench_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- kefu schema ------------------------------------------------------------------------------

def test_exported_ir_schema_is_current():
    result = kefu("schema")
    assert result.exit_code == 0
    shipped = (ROOT / "docs" / "ir.schema.json").read_text(encoding="utf-8")
    assert json.loads(shipped) == json.loads(result.stdout)
    assert json.loads(result.stdout) == ir.Policy.model_json_schema()


def test_ir_schema_describes_the_policy():
    schema = json.loads(kefu("schema", "ir").stdout)
    assert schema["title"] == "Policy" and schema["type"] == "object"
    assert set(schema["properties"]) == {"ir_version", "shop", "platform", "effective"}
    assert set(schema["required"]) == {"shop", "platform", "effective"}
    assert schema["additionalProperties"] is False
    assert {"Shop", "Platform", "Settings", "Span", "Ref", "KeywordReply"} <= set(schema["$defs"])


# ---- kefu ir ----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", SHOPS, ids=lambda p: p.name)
def test_ir_output_validates_and_round_trips(path):
    result = kefu("ir", path)
    assert result.exit_code == 0
    policy = ir.Policy.model_validate_json(result.stdout)
    assert policy.ir_version == ir.IR_VERSION == 1
    assert policy.model_dump_json(indent=2) + "\n" == result.stdout
    assert policy == Loader().load(path).policy


@pytest.mark.parametrize("path", PLATFORMS, ids=lambda p: p.name)
def test_ir_of_a_platform_file(path):
    result = kefu("ir", path)
    assert result.exit_code == 0
    platform = ir.Platform.model_validate_json(result.stdout)
    assert platform.name == path.stem
    assert ir.Platform.model_validate_json(platform.model_dump_json()) == platform


def test_ir_keeps_what_the_policy_says():
    policy = ir.Policy.model_validate_json(kefu("ir", ROOT / "rulesets" / "examples" / "douyin-flagship.kefu").stdout)
    assert policy.shop.name == "mi-flagship" and policy.platform.name == "douyin"
    assert [(g.name, [a.name for a in g.agents], g.max_sessions) for g in policy.shop.groups] == [
        ("presale", ["amy", "bob", "cat"], 12), ("aftersale", ["dan", "eve"], 8)]
    assert policy.effective.assign.strategy.name == "idle_rate"        # the shop's own setting
    assert policy.effective.session_end.after == 15 * 60                # Douyin's fixed default
    assert policy.effective.cooldown.every == 5 * 60                    # the shop's 5m beats Douyin's 10m
    welcome = policy.shop.replies[1]
    assert welcome.kind == "welcome" and (welcome.span.line, welcome.span.column) == (24, 1)


def test_ir_of_a_broken_policy_exits_1_with_sorted_diagnostics(tmp_path):
    bad = tmp_path / "bad.kefu"
    bad.write_text('shop "s" on douyin\nagent amy role admn\nhours 08:00-25:00\n', encoding="utf-8")
    result = kefu("ir", bad)
    assert result.exit_code == 1
    assert result.stdout == ""
    codes = [line.split(": ")[1] for line in result.stderr.splitlines() if ": error[" in line]
    assert codes == ["error[E104]", "error[E014]"]  # line 2 before line 3


def test_ir_of_a_fragment_exits_1():
    result = kefu("ir", ROOT / "rulesets" / "examples" / "common" / "courtesy.kefu")
    assert result.exit_code == 1
    assert "error[E030]" in result.stderr and "a fragment has no IR of its own" in result.stderr


def test_ir_output_validates_against_the_exported_schema():
    import jsonschema
    schema = json.loads((ROOT / "docs" / "ir.schema.json").read_text(encoding="utf-8"))
    for path in SHOPS:
        jsonschema.validate(json.loads(kefu("ir", path).stdout), schema)


# ---- the fast parse path ----------------------------------------------------------------------

def _both_paths(text: str, name: str = "x.kefu"):
    src = SourceFile(name, text)
    fast, fast_diags = parse_statements(src)
    tree, syntax = parse_source(src)
    assert tree is not None, syntax
    slow, slow_diags = to_statements(src, tree)
    return fast, fast_diags, slow, slow_diags


def _policies() -> list[tuple[str, str]]:
    bench = _bench()
    out = [(p.relative_to(ROOT).as_posix(), p.read_text(encoding="utf-8")) for p in sorted((ROOT / "rulesets").rglob("*.kefu"))]
    out.append(("bench platform", bench.PLATFORM))
    out.append(("bench shop", bench.shop_policy(400)))
    out.append(("literal errors", 'shop "s" on douyin\nhours mon-fry 25:00-09:00, 18:00-08:00\n'
                                  "holiday 2026-13-01..2026-01-01 closed\nagent a max_sessions 1234567890123456\n"))
    out.append(("keywords as names", 'shop "s" on taobao\nreturn to previous agent within 1m else same_group, queue\n'
                                     'group "on" { agents shop, "off" }\nagent reply { im off }\n'))
    out.append(("empty", ""))
    return out


@pytest.mark.parametrize("name, text", _policies(), ids=lambda v: v if len(v) < 40 else None)
def test_fast_path_builds_the_same_ir_as_lark(name, text):
    assert fast_parser() is not None
    fast, fast_diags, slow, slow_diags = _both_paths(text)
    assert fast == slow
    assert [(d.code, d.message, d.span) for d in fast_diags] == [(d.code, d.message, d.span) for d in slow_diags]


def test_fast_path_declines_what_does_not_parse():
    assert fast_parser().parses('shop "s" on douyin\n')
    for text in ['shop "s" on douyin\ngrop a { }\n', 'reply keyword "a ->', "shop @", 'reply products_x -> "a"\n']:
        assert not fast_parser().parses(text)
        assert parse_statements(SourceFile("x", text))[0] is None


def test_benchmark_policy_checks_clean(tmp_path):
    bench = _bench()
    (tmp_path / "platforms").mkdir()
    (tmp_path / "platforms" / "bench.kefu").write_text(bench.PLATFORM, encoding="utf-8")
    (tmp_path / "shop.kefu").write_text(bench.shop_policy(1000), encoding="utf-8")
    result = Loader([tmp_path / "platforms"]).load(tmp_path / "shop.kefu")
    assert result.diagnostics == []
    statements = result.policy.shop
    rules = (len(statements.agents) + len(statements.groups) + len(statements.hours) + len(statements.holidays)
             + len(statements.replies) + len(statements.phrases))
    assert 980 <= rules <= 1000  # the rest are the single settings (assign, queue, route, …)
