"""Common mistakes the checker names precisely: Chinese names of built-in names, full-width punctuation,
unclosed blocks, short Chinese names misspelt (the messages and hints, not only the codes)."""

from __future__ import annotations

import pytest

from engine.names import closest


def _diags(load_text, text: str) -> list[tuple[str, int, int, str, str | None]]:
    result = load_text(text)
    return [(d.code, d.span.line, d.span.column, d.message, d.hint) for d in result.diagnostics if d.span]


# ---- Chinese names of built-in names: the English name in the hint ----------------------------------------

@pytest.mark.parametrize("text, expected", [
    ('shop "s" on 拼多多\n', ("E040", 1, 13, "unknown platform '拼多多'", "names are written in English: write 'pinduoduo' for 拼多多")),
    ('shop "s" on 千牛\n', ("E040", 1, 13, "unknown platform '千牛'", "names are written in English: write 'taobao' for 千牛")),
    # 抖音 is two of the four characters of 抖音小店: close enough
    ('shop "s" on 抖音\n', ("E040", 1, 13, "unknown platform '抖音'", "did you mean 'douyin' (抖音小店)?")),
    ('shop "s" on douyin\nagent amy role 客服管理员\n',
     ("E104", 2, 16, "unknown role '客服管理员'", "names are written in English: write 'cs_admin' for 客服管理员")),
    # one character of five wrong
    ('shop "s" on douyin\nagent amy role 客服官理员\n',
     ("E104", 2, 16, "unknown role '客服官理员'", "did you mean 'cs_admin' (客服管理员)?")),
    ('shop "s" on pinduoduo\ngroup g { agents amy }\nroute { page 店铺首页 -> g; default -> g }\n',
     ("E102", 3, 14, "unknown page '店铺首页'", "names are written in English: write 'shop_home' for 店铺首页")),
    ('shop "s" on pinduoduo\ngroup g { agents amy }\nroute { page 退款详情 -> g; default -> g }\n',
     ("E102", 3, 14, "unknown page '退款详情'", "did you mean 'refund_detail' (退款详情页)?")),
    ('shop "s" on douyin\nhours 周一 08:00-12:00\n',
     ("E105", 2, 7, "unknown day '周一'", "names are written in English: write 'mon' for 周一")),
    ('shop "s" on douyin\nhours 星期天 08:00-12:00\n',
     ("E105", 2, 7, "unknown day '星期天'", "names are written in English: write 'sun' for 星期天")),
], ids=["拼多多", "千牛", "抖音", "客服管理员", "客服官理员", "店铺首页", "退款详情", "周一", "星期天"])
def test_a_chinese_name_is_answered_with_the_english_one(load_text, text, expected):
    assert _diags(load_text, text) == [expected]


def test_page_labels_come_from_the_platform_file(load_text, tmp_path):
    platform = 'platform acme\npages live_room "直播间"\nallow page_routing\n'
    (tmp_path / "plat").mkdir()
    (tmp_path / "plat" / "acme.kefu").write_text(platform, encoding="utf-8")
    from engine.loader import Loader
    (tmp_path / "shop.kefu").write_text('shop "s" on acme\ngroup g { agents amy }\nroute { page 直播间 -> g; default -> g }\n',
                                        encoding="utf-8")
    result = Loader([tmp_path / "plat"]).load(tmp_path / "shop.kefu", display="shop.kefu")
    assert [(d.code, d.hint) for d in result.diagnostics] == [
        ("E102", "names are written in English: write 'live_room' for 直播间")]


def test_two_character_chinese_names_get_a_suggestion():
    # one of two characters in common: a ratio of 0.5, below the 0.6 asked of longer names
    assert closest("小梅", ["小美", "老王"]) == "小美"
    assert closest("售钱", ["售前", "售后组"]) == "售前"
    # nothing in common: no suggestion
    assert closest("老李", ["小美"]) is None
    # the lower cutoff is for two wide characters only: two ASCII letters with one wrong are not close enough
    assert closest("ax", ["ay"]) is None


def test_a_misspelt_two_character_agent_gets_did_you_mean(load_text):
    diags = _diags(load_text, 'shop "s" on douyin\ngroup g { agents 小美 }\noffline -> 小梅\n')
    assert [(code, hint) for code, *_, hint in diags if code == "E100"] == [("E100", "did you mean '小美'?")]


# ---- full-width punctuation ------------------------------------------------------------------------------

@pytest.mark.parametrize("line, column, message, hint", [
    ("group g { agents 小美，小丽 }", 20, "unexpected character '，' (full-width comma)", "write the ASCII ',' instead"),
    ("group g { agents 小美、小丽 }", 20, "unexpected character '、' (ideographic comma)", "write the ASCII ',' instead"),
    ("group g { agents amy；max_sessions 3 }", 21, "unexpected character '；' (full-width semicolon)",
     "write the ASCII ';' instead"),
    ("hours 08：00-12:00", 9, "unexpected character '：' (full-width colon)", "write the ASCII ':' instead (08:00)"),
    ('reply offline -> “下班了”', 18, "unexpected character '“' (Chinese opening quotation mark)",
     'write strings in ASCII double quotes "…"; Chinese quotation marks may only appear inside a string'),
    ("group g ｛ agents amy }", 9, "unexpected character '｛' (full-width opening brace)", "write the ASCII '{' instead"),
    ("offline → amy", 9, "unexpected character '→' (arrow)", "write the ASCII '->' instead"),
])
def test_full_width_punctuation_is_named_with_its_ascii_fix(load_text, line, column, message, hint):
    assert _diags(load_text, f'shop "s" on douyin\n{line}\n') == [("E011", 2, column, message, hint)]


def test_full_width_punctuation_inside_a_string_is_text(load_text):
    assert _diags(load_text, 'shop "s" on douyin\nreply offline -> "客服已下班，明早“8点”回复：谢谢；"\n') == []


def test_another_unexpected_character_still_lists_what_may_come(load_text):
    [(code, *_, message, hint)] = _diags(load_text, 'shop "s" on douyin\nhours 08:00-09:00 @\n')
    assert (code, message, hint) == ("E011", "unexpected character '@'", "expected ',', ';', a new statement")


# ---- unclosed blocks -------------------------------------------------------------------------------------

def test_an_unclosed_block_is_reported_at_its_brace_before_the_next_statement(load_text):
    text = 'shop "s" on douyin\ngroup presale { agents amy\nagent amy role admin\ngroup b { agents c }\n'
    assert _diags(load_text, text) == [
        ("E015", 2, 15, "block is not closed", "this '{' is never closed: close it with '}' before `agent` on line 3")]


def test_an_unclosed_block_at_the_end_of_the_file(load_text):
    text = 'shop "s" on douyin\nreply menu {\n  "{" -> order_lookup  # }\n  "x" -> shop_picks\n'
    # the braces in the string and in the comment are not the block's
    assert _diags(load_text, text) == [
        ("E015", 2, 12, "block is not closed", "this '{' is never closed: close it with '}' at the end of the block")]


def test_recovery_goes_on_after_an_unclosed_block(load_text):
    text = 'shop "s" on douyin\ngroup a { agents amy\ngroup b { agents bob\nagent bob role admin\ngrop c { agents x }\n'
    assert [d[:3] for d in _diags(load_text, text)] == [("E015", 2, 9), ("E015", 3, 9), ("E010", 5, 1)]


def test_a_stray_statement_in_a_block_closed_later_stays_e010(load_text):
    text = 'shop "s" on douyin\ngroup a { agents amy\nagent amy role admin\n}\n'
    assert [d[:4] for d in _diags(load_text, text)][0] == ("E010", 3, 1, "unexpected 'agent'")
