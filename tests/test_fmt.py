"""`kefu fmt`: one canonical layout, idempotent, comments kept, meaning never changed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from cli_helpers import kefu
from engine import fmt
from engine.fmt import FormatError, format_text

ROOT = Path(__file__).resolve().parent.parent

MESSY = """

# A messy shop.
shop   "s"  on   douyin ;   hours 08:00 - 12:00 ,13:00-24:00   # split
hours sat , sun 09:00-22:00



holiday 2026-10-01 .. 2026-10-03 closed\r
group a "售前" {agents amy,bob ; max_sessions 12}
group b {

  # after-sale
  agents cat


  max_sessions 8   # lower
}
agent amy { role main; max_sessions 20 } # senior
editor amy # main account
assign by idle_rate , ties random
queue { order lifo
}
reply keyword "发票", "开票", "发票抬头", "增值税发票", "专用发票", "普通发票", "电子发票", "纸质发票" -> "支持电子发票,下单时填写抬头即可"
reply menu { "查订单" -> order_lookup ; "看新品" -> new_arrivals }
# the end

"""

CANONICAL = """# A messy shop.
shop "s" on douyin
hours 08:00-12:00, 13:00-24:00  # split
hours sat, sun 09:00-22:00

holiday 2026-10-01..2026-10-03 closed
group a "售前" { agents amy, bob; max_sessions 12 }
group b {
  # after-sale
  agents cat

  max_sessions 8  # lower
}
agent amy { role main; max_sessions 20 }  # senior
editor amy                                # main account
assign by idle_rate, ties random
queue {
  order lifo
}
reply keyword "发票", "开票", "发票抬头", "增值税发票", "专用发票", "普通发票", "电子发票",
      "纸质发票" -> "支持电子发票,下单时填写抬头即可"
reply menu { "查订单" -> order_lookup; "看新品" -> new_arrivals }
# the end
"""


def test_the_canonical_layout():
    # each rule of the layout (engine/fmt.py) shows here: one statement a line (the `;` split),
    # spacing, a comment following its code, blank lines collapsed and none opening a block,
    # one-line blocks kept, a block written over lines kept over lines, trailing comments of
    # consecutive lines aligned two cells after the longest code (CJK counts two cells), a
    # line over 100 cells wrapped after a comma, CRLF to LF, one newline at the end
    assert format_text(MESSY) == CANONICAL


def test_formatting_is_idempotent_on_every_shipped_file_and_a_large_policy():
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "rulesets").rglob("*.kefu"))]
    spec = importlib.util.spec_from_file_location("bench_check", ROOT / "benchmarks" / "bench_check.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    texts += [bench.shop_policy(500), bench.PLATFORM, MESSY]
    for text in texts:
        once = format_text(text)
        assert format_text(once) == once


def test_a_wide_block_goes_over_lines_and_a_comment_inside_keeps_it_there():
    wide = 'shop "s" on douyin\ngroup g "一个很长的客服组名称用来把这一行撑得很宽很宽很宽很宽" { agents amy, bob, cat, dan, eve; max_sessions 12 }\n'
    assert format_text(wide).splitlines()[1:] == [
        'group g "一个很长的客服组名称用来把这一行撑得很宽很宽很宽很宽" {', "  agents amy, bob, cat, dan, eve",
        "  max_sessions 12", "}"]
    inner = 'shop "s" on douyin\ngroup g { agents amy; max_sessions 12 # cap\n}\n'
    assert format_text(inner).splitlines()[1:] == ["group g {", "  agents amy", "  max_sessions 12  # cap", "}"]


def test_comments_on_inner_lines_keep_a_statement_s_line_breaks():
    text = 'platform p\nallow queue,      # the queue\n  welcome   # and the welcome\n'
    assert format_text(text) == "platform p\nallow queue,   # the queue\n      welcome  # and the welcome\n"


def test_a_file_with_syntax_errors_is_not_formatted():
    with pytest.raises(FormatError, match="syntax errors"):
        format_text('shop "s" on douyin\ngroup g {\n')


def test_a_layout_that_would_change_the_file_is_refused(monkeypatch):
    real = fmt.join
    monkeypatch.setattr(fmt, "join", lambda toks: real([t for t in toks if t.text != "amy"]))   # a broken layout
    with pytest.raises(FormatError, match="would change its tokens"):
        format_text('shop "s" on douyin\nagent amy { max_sessions 3 }\n')


# ---- the command -------------------------------------------------------------------------------
def test_check_diff_and_write(tmp_path):
    path = tmp_path / "s.kefu"
    path.write_bytes(MESSY.encode("utf-8"))
    check = kefu("fmt", "--check", tmp_path)
    assert check.exit_code == 1 and check.stdout == f"would reformat {path.as_posix()}\n"
    diff = kefu("fmt", "--diff", path)
    assert diff.exit_code == 1 and diff.stdout.startswith(f"--- {path.as_posix()}\n+++ {path.as_posix()} (formatted)\n")
    assert "\n-editor amy # main account\n" in diff.stdout
    assert "\n+editor amy                                # main account\n" in diff.stdout
    assert path.read_bytes() == MESSY.encode("utf-8")   # --check and --diff write nothing
    written = kefu("fmt", path)
    assert written.exit_code == 0 and written.stdout == f"formatted {path.as_posix()}\n"
    assert path.read_text(encoding="utf-8") == CANONICAL
    again = kefu("fmt", "--check", path)
    assert again.exit_code == 0 and again.stdout == ""


def test_a_file_that_cannot_be_formatted_is_left_alone(tmp_path):
    path = tmp_path / "bad.kefu"
    path.write_text('shop "s" on douyin\ngroup g {\n', encoding="utf-8")
    result = kefu("fmt", path)
    assert result.exit_code == 1
    shown = path.as_posix()
    # the error, then where the file goes wrong: file:line:col, the line, a caret, the code (as kefu check)
    assert result.stderr.startswith(f"error: {shown}: cannot format: it has syntax errors\n{shown}:2:9: error[E015]")
    assert "group g {" in result.stderr and "^" in result.stderr
    assert path.read_text(encoding="utf-8") == 'shop "s" on douyin\ngroup g {\n'


def test_missing_path_is_a_usage_error(tmp_path):
    assert kefu("fmt", tmp_path / "missing.kefu").exit_code == 2


def test_shipped_rulesets_are_formatted():
    result = kefu("fmt", "--check", ROOT / "rulesets")
    assert result.exit_code == 0, result.stdout


def test_layout_of_mutated_rulesets_keeps_every_token_and_is_idempotent():
    """A seeded fuzzer: comments, `;`, blank lines and line breaks put in odd places of the shipped files.

    For each mutant that parses, fmt must lay it out (never refuse: a refusal is a layout that would
    have lost or moved a token) and laying out the result again must change nothing. Found: comments
    inside a statement or a block's head moved after it; a `{` alone on the line after a comment.
    """
    import random

    from lark.exceptions import LarkError

    from engine.parser import policy_parser

    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "rulesets").rglob("*.kefu"))]
    rng = random.Random(11)
    inserts = [";", "\n", "  ", "# c\n", " # t", "{", "}", ",", "\n\n\n", "\t", "\r\n"]
    laid_out = 0
    for _ in range(600):
        text = rng.choice(texts)
        for _ in range(rng.randint(1, 5)):
            i = rng.randrange(len(text))
            op = rng.randrange(3)
            if op == 0:
                text = text[:i] + rng.choice(inserts) + text[i:]
            elif op == 1 and text[i] in " \n":
                text = text[:i] + text[i + 1:]
            else:
                lines = text.split("\n")
                j = rng.randrange(len(lines))
                lines[j] += rng.choice(["  # x", ";", ""])
                text = "\n".join(lines)
        try:
            policy_parser().parse(text)
        except LarkError:
            continue
        once = format_text(text)   # raises FormatError on a layout that would change the file
        assert format_text(once) == once
        laid_out += 1
    assert laid_out > 250
