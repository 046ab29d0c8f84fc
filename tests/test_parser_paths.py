"""The parser's two paths (fast path, Lark alone) agree; the built grammar is cached only where the user alone may write."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from engine import parser
from engine.loader import Loader
from engine.grammar_cache import cache_path
from engine.parser import LARK_OPTIONS, PARSER_ENV, fast_parser, policy_parser

ROOT = Path(__file__).resolve().parent.parent
CASES = YAML(typ="safe").load((ROOT / "tests" / "cases" / "broken_policies.yaml").read_text(encoding="utf-8"))
SHIPPED = sorted((ROOT / "rulesets").rglob("*.kefu"))


def load_both(monkeypatch, path: Path):
    """(diagnostics, IR as JSON) of a file with the fast path, then with Lark alone."""
    results = []
    for setting in ("", "lark"):
        monkeypatch.setenv(PARSER_ENV, setting)
        assert (fast_parser() is None) == (setting == "lark")
        result = Loader().load(path, display=path.name)
        results.append((result.diagnostics, result.policy.model_dump_json() if result.policy else None))
    return results


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_broken_policies_give_the_same_diagnostics_on_both_paths(tmp_path, monkeypatch, case):
    path = tmp_path / "shop.kefu"
    path.write_text(case["policy"], encoding="utf-8")
    fast, lark_only = load_both(monkeypatch, path)
    assert fast == lark_only
    assert sorted([d.code, d.span.line, d.span.column] for d in fast[0]) == sorted(case["expect"])   # not vacuous


@pytest.mark.parametrize("path", SHIPPED, ids=[str(p.relative_to(ROOT)) for p in SHIPPED])
def test_shipped_rulesets_give_the_same_ir_on_both_paths(monkeypatch, path):
    fast, lark_only = load_both(monkeypatch, path)
    assert fast == lark_only
    assert fast[0] == []


def test_the_fast_path_is_on_unless_switched_off(monkeypatch):
    for value, on in (("", True), ("fast", True), ("lark", False), (" LARK ", False)):
        monkeypatch.setenv(PARSER_ENV, value)
        assert (fast_parser() is not None) == on, value
    monkeypatch.delenv(PARSER_ENV)
    assert fast_parser() is not None


def test_lark_alone_does_the_parsing_when_switched_off(monkeypatch, tmp_path):
    # counted: with KEFU_PARSER=lark a well-formed policy and its platform file go through Lark's parse
    # (two parses); on the fast path, none
    calls = []
    lark = policy_parser()
    original = lark.parse
    monkeypatch.setattr(lark, "parse", lambda text, *a, **k: calls.append(1) or original(text, *a, **k))
    path = tmp_path / "s.kefu"
    path.write_text('shop "s" on douyin\nhours 07:00-01:00\n', encoding="utf-8")
    monkeypatch.setenv(PARSER_ENV, "")
    Loader().load(path)
    assert calls == []
    monkeypatch.setenv(PARSER_ENV, "lark")
    Loader().load(path)
    assert calls == [1, 1]


# ---- the grammar cache ---------------------------------------------------------------------------------

CHECK_PROGRAM = ("import sys; from engine import parser; from lark import Lark; loads = []; original = Lark.load; "
                 "Lark.load = classmethod(lambda cls, f: (original.__func__(cls, f), loads.append(1))[0]); "
                 "lark = parser.policy_parser(); assert parser.FastParser(lark).parses('shop \"s\" on douyin\\n'); "
                 "print('loaded' if loads else 'built')")


def start(cache_home: Path) -> str:
    """A fresh process's way to its parser with XDG_CACHE_HOME=cache_home: 'loaded' from the cache, or 'built'."""
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home))
    done = subprocess.run([sys.executable, "-c", CHECK_PROGRAM], env=env, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def cache_file(cache_home: Path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    path = cache_path(parser.grammar_path().read_text(encoding="utf-8"), repr(sorted(LARK_OPTIONS.items())))
    assert path is not None and path.parent == cache_home / "kefu"
    return path


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="the cache needs a user who owns it")
def test_the_grammar_is_built_once_then_loaded_from_a_private_cache(tmp_path, monkeypatch):
    path = cache_file(tmp_path, monkeypatch)
    assert start(tmp_path) == "built"
    assert path.exists() and path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert [p.name for p in path.parent.iterdir()] == [path.name]   # no temporary file left
    assert start(tmp_path) == "loaded"


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="the cache needs a user who owns it")
@pytest.mark.parametrize("spoil", ["file writable by others", "directory writable by others", "symbolic link"])
def test_a_cache_someone_else_could_have_written_is_never_loaded(tmp_path, monkeypatch, spoil):
    path = cache_file(tmp_path, monkeypatch)
    assert start(tmp_path) == "built"
    if spoil == "file writable by others":
        path.chmod(0o666)
    elif spoil == "directory writable by others":
        path.parent.chmod(0o777)
    elif spoil == "symbolic link":
        real = tmp_path / "elsewhere.pickle"
        path.rename(real)
        path.symlink_to(real)
    assert start(tmp_path) == "built"


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="the cache needs a user who owns it")
def test_a_spoilt_cache_is_built_again_and_replaced(tmp_path, monkeypatch):
    path = cache_file(tmp_path, monkeypatch)
    path.parent.mkdir(mode=0o700)
    path.write_bytes(b"not a pickle")
    path.chmod(0o600)
    assert start(tmp_path) == "built"
    assert start(tmp_path) == "loaded"


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="chown to another user needs root")
def test_a_cache_file_owned_by_another_user_is_never_loaded(tmp_path, monkeypatch):
    path = cache_file(tmp_path, monkeypatch)
    assert start(tmp_path) == "built"
    os.chown(path, 65534, 65534)
    assert start(tmp_path) == "built"


def test_an_unwritable_cache_place_falls_back_to_building_silently(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")   # XDG_CACHE_HOME is a file: no directory can be made under it
    assert start(blocker) == "built"
    assert start(blocker) == "built"
