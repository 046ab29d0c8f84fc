"""Bad input through the real CLI: a located, plain message and the documented exit code, never a traceback."""

from __future__ import annotations

import json
import os
import re
import time
import tracemalloc
from pathlib import Path

import pytest

from cli_helpers import kefu
from engine.source import MAX_POLICY_BYTES, SourceError, decode_policy, read_policy

ROOT = Path(__file__).resolve().parent.parent




@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def diagnostics(result) -> list[tuple]:
    return [(d["code"], d["span"]["line"], d["span"]["column"]) if d["span"] else (d["code"],)
            for d in json.loads(result.stdout)["diagnostics"]]


GOOD = 'shop "s" on douyin\nreply offline -> "客服已下班"\n'

# name, file content, exit code, (code, line, column)
BAD_FILES = [
    ("binary", b"\x7fELF\x02\x01\x01\x00\x00\x00", 1, ("E005", 1, 8)),
    ("nul on line 2", b'shop "s" on douyin\nreply \x00', 1, ("E005", 2, 7)),
    ("garbage without nul", b"\xff\xfe\xfa\xfb garbage", 1, ("E002", 1, 1)),
    # GB18030/GBK text: 客 is 0xBF 0xCD; 0xBF cannot start a UTF-8 character
    ("gbk", GOOD.encode("gb18030"), 1, ("E002", 2, 19)),
    # the column counts characters: two Chinese characters before the bad byte
    ("utf-8 then gbk", 'shop "s" on douyin\nreply offline -> "中文'.encode() + "下班".encode("gbk") + b'"\n',
     1, ("E002", 2, 21)),
    ("empty", b"", 1, ("E004", 1, 1)),
    ("blank", b"  \n\n\t\n", 1, ("E004", 1, 1)),
    ("byte-order mark only", b"\xef\xbb\xbf", 1, ("E004", 1, 1)),
    ("unterminated string", b'shop "s" on douyin\nreply offline -> "abc\n', 1, ("E012", 2, 18)),
    ("unterminated string at end of file", b'shop "s" on douyin\nreply offline -> "abc', 1, ("E012", 2, 18)),
    ("unexpected character", b'shop "s" on douyin\nhours 08:00-09:00 @\n', 1, ("E011", 2, 19)),
    ("unclosed block", b'shop "s" on douyin\ngroup a { agents amy\n', 1, ("E013", 2, 21)),
    ("5,000 open braces", b'shop "s" on douyin\ngroup a ' + b"{" * 5000 + b"\n", 1, ("E010", 2, 10)),
    ("5,000 nested routes", b'shop "s" on douyin\n' + b"route { " * 5000 + b"\n", 1, ("E010", 2, 9)),
    ("5,000 nested blocks closed", b'shop "s" on douyin\n' + b"queue { " * 5000 + b"}" * 5000 + b"\n", 1,
     ("E010", 2, 9)),
    ("5,000 parentheses", b'shop "s" on douyin\n' + b"(" * 5000 + b"\n", 1, ("E011", 2, 1)),
    ("5,000 quotes", b'shop "s" on douyin\n' + b'"' * 5001 + b"\n", 1, ("E010", 2, 1)),
    ("a 5,000-character word", b'shop "s" on douyin\n' + b"x" * 5000 + b"\n", 1, ("E010", 2, 1)),
    ("a 5,000-digit number", b'shop "s" on douyin\nagent amy max_sessions ' + b"9" * 5000 + b"\n", 1, ("E014", 2, 24)),
]


@pytest.mark.parametrize("name, content, exit_code, expected", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_file_gives_one_located_diagnostic(here, name, content, exit_code, expected):
    (here / "bad.kefu").write_bytes(content)
    result = kefu("check", "--format", "json", "bad.kefu")
    assert result.exit_code == exit_code
    assert diagnostics(result) == [expected]
    text = kefu("check", "bad.kefu")
    assert text.exit_code == exit_code
    code, line, column = expected
    assert text.stderr.startswith(f"bad.kefu:{line}:{column}: error[{code}]: ")
    assert len(max(text.stderr.splitlines(), key=len)) < 200  # long lines are cut to a window


def test_deep_nesting_is_quick(here):
    (here / "deep.kefu").write_bytes(b'shop "s" on douyin\ngroup a ' + b"{" * 5000 + b"\n" + b"route { " * 5000 + b"\n")
    start = time.perf_counter()
    result = kefu("check", "-f", "json", "deep.kefu")
    assert time.perf_counter() - start < 5  # generous: it takes milliseconds
    assert diagnostics(result) == [("E010", 2, 10), ("E010", 3, 9)]  # one per broken statement


def test_crlf_line_endings_and_byte_order_mark_are_fine(here):
    (here / "shop.kefu").write_bytes(b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode())
    assert kefu("check", "shop.kefu").exit_code == 0
    (here / "bad.kefu").write_bytes(b'shop "s" on douyin\r\nassign by idle_rat\r\n')
    result = kefu("check", "bad.kefu")
    assert result.stderr.splitlines()[:3] == [
        "bad.kefu:2:11: error[E103]: unknown assignment strategy 'idle_rat'",
        "  | assign by idle_rat",
        "  |           ^^^^^^^^",
    ]


# ---- size --------------------------------------------------------------------------------------

def test_50_mb_file_is_refused_without_reading_it_all(here):
    block = b'reply keyword "k" -> "v"\n' * 40_000  # 1 MB
    with open(here / "huge.kefu", "wb") as handle:
        handle.write(b'shop "s" on douyin\n')
        for _ in range(50):
            handle.write(block)
    assert (here / "huge.kefu").stat().st_size > 50_000_000
    tracemalloc.start()
    try:
        with pytest.raises(SourceError) as raised:
            read_policy(here / "huge.kefu")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert raised.value.code == "E003"
    assert peak < 2 * MAX_POLICY_BYTES  # at most MAX_POLICY_BYTES + 1 bytes were read
    result = kefu("check", "huge.kefu")
    assert result.exit_code == 1
    assert result.stderr.startswith("huge.kefu:1:1: error[E003]: file is larger than 4,194,304 bytes")


def test_size_limit_boundary():
    assert decode_policy("max.kefu", b"#" * MAX_POLICY_BYTES).text == "#" * MAX_POLICY_BYTES
    with pytest.raises(SourceError) as raised:
        decode_policy("over.kefu", b"#" * (MAX_POLICY_BYTES + 1))
    assert raised.value.code == "E003"


# ---- paths ------------------------------------------------------------------------------------------

def test_missing_file_exits_2(here):
    result = kefu("check", "missing.kefu")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == "error[E001]: missing.kefu: no such file or directory"


def test_dangling_symlink_is_a_missing_file(here):
    os.symlink(here / "gone.kefu", here / "link.kefu")
    result = kefu("check", "link.kefu")
    assert result.exit_code == 2
    assert "error[E001]: link.kefu: no such file or directory" in result.stderr


def test_directory_without_policies_exits_2(here):
    (here / "docs").mkdir()
    (here / "docs" / "notes.md").write_text("# notes", encoding="utf-8")
    result = kefu("check", "docs")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == "error[E006]: docs: no policy files (*.kefu) in this directory"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_named_pipe_is_refused_without_blocking(here):
    os.mkfifo(here / "pipe.kefu")
    result = kefu("check", "pipe.kefu")
    assert result.exit_code == 2
    assert result.stderr.startswith("pipe.kefu:1:1: error[E001]: not a regular file")


def test_ir_of_a_missing_file_or_a_directory_exits_2(here):
    assert kefu("ir", "missing.kefu").exit_code == 2
    (here / "dir").mkdir()
    result = kefu("ir", "dir")
    assert result.exit_code == 2
    assert "error[E001]: dir: is a directory" in result.stderr


# ---- a policy is data, never code -------------------------------------------------------------------

def test_policy_text_is_never_executed(here):
    policy = (
        'shop "s" on douyin\n'
        "reply keyword \"__import__('os').system('touch pwned1')\" -> \"{{7*7}} ${HOME} $(touch pwned2) `touch pwned3`\"\n"
        'include "/etc/passwd"\n'
    )
    (here / "shop.kefu").write_text(policy, encoding="utf-8")
    result = kefu("check", "-f", "json", "shop.kefu")
    assert diagnostics(result) == [("E021", 3, 1)]  # the absolute include is refused, not read
    (here / "shop.kefu").write_text(policy.replace('include "/etc/passwd"\n', ""), encoding="utf-8")
    ir = json.loads(kefu("ir", "shop.kefu").stdout)
    [reply] = ir["shop"]["replies"]
    assert reply["keywords"] == ["__import__('os').system('touch pwned1')"]
    assert reply["text"] == "{{7*7}} ${HOME} $(touch pwned2) `touch pwned3`"
    assert not any(here.glob("pwned*"))


def test_check_pipeline_has_no_way_to_run_code():
    pipeline = ["source", "parser", "transform", "ir", "loader", "check", "diagnostics", "names", "registry", "resources"]
    runs_code = re.compile(r"(?<![.\w])(eval|exec|compile|__import__)\s*\(|\b(pickle|marshal|subprocess|importlib)\b"
                           r"|os\.(system|popen|exec\w*|spawn\w*)\s*\(|yaml\.load\(|\bYAML\(\s*typ\s*=\s*[\"']unsafe")
    for module in pipeline:
        text = (ROOT / "engine" / f"{module}.py").read_text(encoding="utf-8")
        assert not runs_code.search(text), module


def test_escapes_that_are_not_text_do_not_break_the_ir(here):
    (here / "shop.kefu").write_text('shop "s" on douyin\nreply keyword "\\ud800" -> "\\ud83d\\ude00 \\u4e2d"\n', encoding="utf-8")
    result = kefu("ir", "shop.kefu")
    assert result.exit_code == 0
    [reply] = json.loads(result.stdout)["shop"]["replies"]
    assert reply["keywords"] == ["\ufffd"]  # a lone surrogate is not text
    assert reply["text"] == "😀 中"
