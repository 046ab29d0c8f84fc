"""Includes: relative paths, the policy's directory tree, cycles, depth, missing snippets, headers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_helpers import runner

from engine.cli import app
from engine.loader import MAX_INCLUDE_DEPTH, Loader



@pytest.fixture
def tree(tmp_path, monkeypatch):
    """Write files (name → text) under a temporary working directory."""
    monkeypatch.chdir(tmp_path)

    def write(**files: str) -> Path:
        for name, text in files.items():
            path = tmp_path / name.replace("__", "/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return tmp_path

    return write


def check(*args) -> tuple[int, list[tuple]]:
    """Exit code and (code, file, line, column) of each diagnostic of `kefu check --format json`."""
    result = runner.invoke(app, ["check", "--format", "json", *map(str, args)])
    assert "Traceback" not in result.output
    diags = json.loads(result.stdout)["diagnostics"]
    return result.exit_code, [(d["code"], d["span"]["file"], d["span"]["line"], d["span"]["column"]) for d in diags]


SHOP = 'shop "s" on douyin\n'


def test_relative_paths_resolve_from_the_including_file(tree):
    tree(**{
        "shop.kefu": SHOP + 'include "snippets/a.kefu"\n',
        "snippets__a.kefu": 'include "b.kefu"\nreply keyword "a" -> "A"\n',
        "snippets__b.kefu": 'reply keyword "b" -> "B"\n',
    })
    assert check("shop.kefu") == (0, [])
    policy = Loader().load(Path("shop.kefu")).policy
    assert [(r.keywords, r.span.file, r.span.line) for r in policy.shop.replies] == [
        (["b"], "snippets/b.kefu", 1), (["a"], "snippets/a.kefu", 2)]


def test_diagnostics_in_a_snippet_point_into_the_snippet(tree):
    tree(**{
        "shop.kefu": SHOP + 'include "snippets/a.kefu"\n',
        "snippets__a.kefu": '# shared replies\nreply status bussy -> "稍等"\n',
    })
    result = runner.invoke(app, ["check", "shop.kefu"])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:4] == [
        "snippets/a.kefu:2:14: error[E105]: unknown agent status 'bussy'",
        '  | reply status bussy -> "稍等"',
        "  |              ^^^^^",
        "  = hint: did you mean 'busy'?",
    ]


def test_syntax_error_in_a_snippet_is_located_there_and_stops_the_checks(tree):
    tree(**{
        "shop.kefu": SHOP + 'include "a.kefu"\nassign by idle_rat\n',
        "a.kefu": 'reply keyword "a" "A"\n',
    })
    assert check("shop.kefu") == (1, [("E010", "a.kefu", 1, 19)])


def test_missing_snippet(tree):
    # The group it would have declared is not reported as unknown on top.
    tree(**{"shop.kefu": SHOP + 'include "groups.kefu"\nqueue { scope groups presale }\n'})
    assert check("shop.kefu") == (1, [("E020", "shop.kefu", 2, 1)])


def test_including_a_directory_is_a_missing_snippet(tree):
    tree(**{"shop.kefu": SHOP + 'include "sub"\n', "sub__x.kefu": 'reply keyword "x" -> "X"\n'})
    assert check("shop.kefu") == (1, [("E020", "shop.kefu", 2, 1)])


@pytest.mark.parametrize("path", ["../outside.kefu", "sub/../../outside.kefu", "ABSOLUTE"])
def test_snippet_outside_the_policy_directory(tree, path):
    root = tree(**{"outside.kefu": 'reply keyword "x" -> "X"\n'})
    path = str(root / "outside.kefu") if path == "ABSOLUTE" else path
    tree(**{"p__shop.kefu": SHOP + f'include "{path}"\n', "p__sub__keep.kefu": ""})
    assert check("p/shop.kefu") == (1, [("E021", "p/shop.kefu", 2, 1)])


def test_absolute_path_inside_the_directory_is_refused_too(tree):
    root = tree(**{"p__snippet.kefu": 'reply keyword "x" -> "X"\n'})
    tree(**{"p__shop.kefu": SHOP + f'include "{root / "p" / "snippet.kefu"}"\n'})
    assert check("p/shop.kefu") == (1, [("E021", "p/shop.kefu", 2, 1)])


def test_symlinks_that_leave_the_directory_are_outside(tree):
    root = tree(**{"outside__x.kefu": 'reply keyword "x" -> "X"\n', "p__inside.kefu": 'reply keyword "i" -> "I"\n'})
    os.symlink(root / "outside" / "x.kefu", root / "p" / "file-link.kefu")
    os.symlink(root / "outside", root / "p" / "dir-link")
    os.symlink(root / "p" / "inside.kefu", root / "p" / "inside-link.kefu")
    tree(**{"p__shop.kefu": SHOP + 'include "file-link.kefu"\ninclude "dir-link/x.kefu"\ninclude "inside-link.kefu"\n'})
    assert check("p/shop.kefu") == (1, [("E021", "p/shop.kefu", 2, 1), ("E021", "p/shop.kefu", 3, 1)])


def test_the_root_is_the_policys_directory_however_it_is_checked(tree):
    # `kefu check DIR` gives the same result as checking each file: the root is
    # always the directory of the top-level policy, never the directory walked.
    tree(**{
        "shops__mall__shop.kefu": SHOP + 'include "../common/c.kefu"\n',
        "shops__common__c.kefu": 'reply keyword "c" -> "C"\n',
        "shops__ok__shop.kefu": SHOP + 'include "sub/c.kefu"\n',
        "shops__ok__sub__c.kefu": 'reply keyword "c" -> "C"\n',
    })
    expected = [("E021", "shops/mall/shop.kefu", 2, 1)]
    assert check("shops") == (1, expected)
    assert check("shops/mall/shop.kefu") == (1, expected)
    assert check("shops/ok/shop.kefu", "shops/common/c.kefu") == (0, [])


def test_the_outside_include_hint_shows_the_directory_as_given(tree, monkeypatch):
    root = tree(**{"shops__mall__shop.kefu": SHOP + 'include "../c.kefu"\n', "shops__c.kefu": ""})
    result = runner.invoke(app, ["check", "shops/mall/shop.kefu"])
    assert "  = hint: includes must stay under the policy's directory (shops/mall); copy the snippet there" in \
        result.stderr.splitlines()
    assert str(root) not in result.stderr  # never an absolute path the user did not write
    monkeypatch.chdir("shops/mall")
    result = runner.invoke(app, ["check", "shop.kefu"])
    assert "  = hint: includes must stay under the policy's directory (.); copy the snippet there" in \
        result.stderr.splitlines()
    assert str(root) not in result.stderr


def test_cycle(tree):
    tree(**{
        "shop.kefu": SHOP + 'include "a.kefu"\n',
        "a.kefu": 'include "b.kefu"\n',
        "b.kefu": 'reply keyword "b" -> "B"\ninclude "a.kefu"\n',
    })
    assert check("shop.kefu") == (1, [("E022", "b.kefu", 2, 1)])


def test_a_policy_including_itself(tree):
    tree(**{"shop.kefu": SHOP + 'include "shop.kefu"\n'})
    assert check("shop.kefu") == (1, [("E022", "shop.kefu", 2, 1)])


def test_the_same_snippet_twice_is_not_a_cycle(tree):
    tree(**{"shop.kefu": SHOP + 'include "a.kefu"\ninclude "b.kefu"\n', "a.kefu": 'include "c.kefu"\n',
            "b.kefu": 'include "c.kefu"\n', "c.kefu": "hours 08:00-20:00\n"})
    exit_code, diags = check("shop.kefu")
    assert [d[0] for d in diags] == ["W402"]  # c's hours twice overlap; no E022


def chain(length: int) -> dict[str, str]:
    """shop.kefu → d1.kefu → … → d{length}.kefu."""
    files = {"shop.kefu": SHOP + 'include "d1.kefu"\n'}
    for i in range(1, length):
        files[f"d{i}.kefu"] = f'include "d{i + 1}.kefu"\n'
    files[f"d{length}.kefu"] = 'reply keyword "deep" -> "D"\n'
    return files


def test_includes_may_nest_16_deep(tree):
    assert MAX_INCLUDE_DEPTH == 16
    tree(**chain(16))
    assert check("shop.kefu") == (0, [])


def test_the_17th_nested_include_is_too_deep(tree):
    tree(**chain(17))
    assert check("shop.kefu") == (1, [("E023", "d16.kefu", 1, 1)])


def test_header_in_a_snippet(tree):
    # The snippet's statements still count: its group is known, so only E024.
    tree(**{
        "shop.kefu": SHOP + 'include "groups.kefu"\nqueue { scope groups presale }\n',
        "groups.kefu": 'shop "other" on douyin\ngroup presale { agents amy }\n',
    })
    assert check("shop.kefu") == (1, [("E024", "groups.kefu", 1, 1)])


def test_platform_statement_in_a_snippet(tree):
    tree(**{"shop.kefu": SHOP + 'include "a.kefu"\n', "a.kefu": "limit max_sessions 1..10\n"})
    assert check("shop.kefu") == (1, [("E032", "a.kefu", 1, 1)])


def test_snippet_that_is_not_utf8(tree):
    root = tree(**{"shop.kefu": SHOP + 'include "a.kefu"\n'})
    (root / "a.kefu").write_bytes('reply keyword "发票" -> "x"\n'.encode("gbk"))
    assert check("shop.kefu") == (1, [("E002", "a.kefu", 1, 16)])


def test_an_empty_snippet_is_fine(tree):
    tree(**{"shop.kefu": SHOP + 'include "a.kefu"\n', "a.kefu": "# nothing yet\n"})
    assert check("shop.kefu") == (0, [])


def test_an_include_path_the_os_refuses_is_located_at_the_include(tree):
    # a name too long for the file system (it cannot be read: E001, exit 2) and an escaped NUL (no
    # such file can exist: E020): neither may end in a traceback
    tree(**{"shop.kefu": SHOP + f'include "{"x" * 300}.kefu"\n'})
    assert check("shop.kefu") == (2, [("E001", "shop.kefu", 2, 1)])
    tree(**{"shop.kefu": SHOP + 'include "a\\u0000b.kefu"\n'})
    assert check("shop.kefu") == (1, [("E020", "shop.kefu", 2, 1)])


def test_an_included_fifo_is_reported_at_the_include(tree, tmp_path):
    tree(**{"shop.kefu": SHOP + 'include "pipe.kefu"\n'})
    os.mkfifo(tmp_path / "pipe.kefu")
    assert check("shop.kefu") == (2, [("E001", "shop.kefu", 2, 1)])


def test_includes_that_double_at_each_level_stop_at_256(tree):
    # f0 includes f1 twice, f1 includes f2 twice, ...: 2 + 4 + ... includes; the 257th is reported
    files = {"shop.kefu": SHOP + 'include "f0.kefu"\n'}
    for i in range(12):
        files[f"f{i}.kefu"] = f'include "f{i + 1}.kefu"\ninclude "f{i + 1}.kefu"\n'
    files["f12.kefu"] = "hours 08:00-20:00\n"
    tree(**files)
    code, found = check("shop.kefu")
    assert code == 1 and [d[0] for d in found].count("E023") == 1
