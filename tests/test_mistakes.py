"""Common mistakes the checker names precisely: Chinese names of built-in names, full-width punctuation,
unclosed blocks, short Chinese names misspelt (the messages and hints, not only the codes)."""

from __future__ import annotations

import pytest

from engine.names import closest


def _diags(load_text, text: str) -> list[tuple[str, int, int, str, str | None]]:
    result = load_text(text)
    assert all(d.span for d in result.diagnostics)   # every diagnostic of a policy line is located
    return [(d.code, d.span.line, d.span.column, d.message, d.hint) for d in result.diagnostics]


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


# ---- W420: a keyword shadowed by an earlier one -----------------------------------------------------------

def _warnings(load_text, text: str) -> list[tuple[str, int, int, str, str | None, list]]:
    result = load_text(text)
    assert all(d.span for d in result.diagnostics)
    return [(d.code, d.span.line, d.span.column, d.message, d.hint, [(m, s.line) for m, s in d.notes])
            for d in result.diagnostics]


def test_a_keyword_containing_an_earlier_replys_keyword_is_w420(load_text):
    text = ('shop "s" on douyin\nreply keyword "退" -> "退货请在订单页申请"\n'
            'reply keyword "发票", "退款" -> "退款三天内到账"\n')
    assert _warnings(load_text, text) == [
        ("W420", 3, 1, "keyword '退款' is shadowed by the earlier keyword '退'",
         "every message containing '退款' contains '退', and the first keyword declared wins: "
         "move this reply above the other one", [("'退' is declared here", 2)])]


def test_the_replay_answers_the_shadowed_keyword_with_the_earlier_reply(load_text):
    # what W420 says, checked against the replay's own reply choice
    from engine.runtime.keywords import keyword_matcher
    result = load_text('shop "s" on douyin\nreply keyword "退" -> "A"\nreply keyword "发票", "退款" -> "B"\n')
    words = [k for r in result.shop.replies for k in r.keywords]
    assert words[keyword_matcher(words).first("我要退款")] == "退"


@pytest.mark.parametrize("replies", [
    'reply keyword "退款" -> "A"\nreply keyword "退" -> "B"\n',          # the longer first: each decides
    'reply keyword "退", "退款" -> "A"\n',                                # one reply: the same answer
    'reply keyword "发票" -> "A"\nreply keyword "退款" -> "B"\n',         # nothing in common
])
def test_no_w420_when_the_later_keyword_can_decide(load_text, replies):
    assert _warnings(load_text, f'shop "s" on douyin\n{replies}') == []


def test_the_same_keyword_in_two_replies_stays_e401_alone(load_text):
    text = 'shop "s" on douyin\nreply keyword "退款" -> "A"\nreply keyword "退款" -> "B"\n'
    assert [w[0] for w in _warnings(load_text, text)] == ["E401"]


def test_w420_on_a_large_keyword_set_finds_what_the_small_set_loop_finds(load_text):
    # 70 replies (past the automaton threshold of 64 keywords): reply n has "词{n}号"; reply 30 also has "词1",
    # which is in "词10号"…"词19号" but declared after them (they decide); reply 69 also has "词30号码", which
    # contains "词30号" of reply 30, declared before it: exactly one W420.
    lines = ['shop "s" on douyin']
    for n in range(70):
        extra = ', "词1"' if n == 30 else (', "词30号码"' if n == 69 else "")
        lines.append(f'reply keyword "词{n}号"{extra} -> "答{n}"')
    diags = _warnings(load_text, "\n".join(lines) + "\n")
    assert [(code, line, message, notes) for code, line, _, message, _, notes in diags] == [
        ("W420", 71, "keyword '词30号码' is shadowed by the earlier keyword '词30号'", [("'词30号' is declared here", 32)])]


def test_w420_naive_and_automaton_paths_agree():
    from engine.check import _first_contained
    words = [f"k{n}" for n in range(100)]   # k1 is in k10..k19, k100…: the first index contained
    small, large = _first_contained(words[:20]), _first_contained(words)
    assert [small(w) for w in words[:20]] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] + [1] * 10
    assert [large(w) for w in words[:20]] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] + [1] * 10
    assert large("k57") == 5


# ---- W504: an agent alone ---------------------------------------------------------------------------------

def test_a_misspelt_group_member_declared_alone_is_w504_with_did_you_mean(load_text):
    text = 'shop "s" on douyin\ngroup presale { agents amei, bob }\nagent amie { max_sessions 5 }\n'
    assert _warnings(load_text, text) == [
        ("W504", 3, 1, "agent 'amie' is in no group and no route names it",
         "did you mean 'amei'? (an `agent` statement for a name that is in no group declares another agent)", [])]


def test_an_agent_alone_with_no_close_name(load_text):
    text = 'shop "s" on douyin\ngroup presale { agents amy }\nagent zhangsan role admin\n'
    assert [(w[0], w[4]) for w in _warnings(load_text, text)] == [
        ("W504", "add it to a group's `agents`, route to it, or remove it")]


@pytest.mark.parametrize("text", [
    'shop "s" on douyin\nagent amie role admin\n',                                               # no groups
    'shop "s" on pinduoduo\ngroup g { agents amy }\nagent zhao role admin\noffline -> zhao\n',    # offline target
    'shop "s" on pinduoduo\ngroup g { agents amy }\nagent zhao { }\nroute { default -> g, zhao }\n',  # routed to
    'shop "s" on pinduoduo\ngroup g { agents amy }\nagent xiaomei role admin\neditor xiaomei\n',  # the editor
    'shop "s" on douyin\ngroup g { agents amy }\nagent amy role admin\n',                          # a member
])
def test_no_w504_for_an_agent_something_names(load_text, text):
    assert _warnings(load_text, text) == []


def test_no_w504_while_a_route_names_an_unknown_target(load_text):
    # the unknown target may be the agent's name misspelt: E100 first
    text = 'shop "s" on pinduoduo\ngroup g { agents amy }\nagent zhao role admin\noffline -> zhoa\n'
    assert [w[0] for w in _warnings(load_text, text)] == ["E100"]


# ---- W505: a group no route names; W500's note; W502's pages -----------------------------------------------

def test_a_group_no_route_names_is_w505_when_every_consumer_has_a_route(load_text):
    text = ('shop "s" on pinduoduo\ngroup presale { agents amy }\ngroup aftersale { agents dan }\n'
            'route { page shop_home -> presale; default -> presale }\n')
    assert _warnings(load_text, text) == [
        ("W505", 3, 1, "group 'aftersale' receives no consumer: no route names it",
         "route pages to it (`page … -> aftersale`), name it in `default ->`, or remove it", [])]


@pytest.mark.parametrize("route", [
    "",                                                            # no routing: every agent is eligible
    "route { page shop_home -> presale }\n",                       # no default: other pages go to any agent (W502)
    "route { default -> presale, dan }\n",                         # one of its agents is routed to
    "route { default -> presale; page refund_detail -> aftersale }\n",
])
def test_no_w505_when_the_group_can_be_reached(load_text, route):
    text = f'shop "s" on pinduoduo\ngroup presale {{ agents amy }}\ngroup aftersale {{ agents dan }}\n{route}'
    assert [w[0] for w in _warnings(load_text, text) if w[0] == "W505"] == []


def test_scope_groups_names_a_group_for_w505(load_text):
    text = ('shop "s" on taobao\ngroup presale { agents amy }\ngroup aftersale { agents dan }\n'
            'group vip { agents eve }\nroute { scope groups presale, aftersale }\n')
    assert [(w[0], w[1]) for w in _warnings(load_text, text)] == [("W505", 4)]


def test_w500_notes_the_route_to_an_empty_group(load_text):
    text = 'shop "s" on pinduoduo\ngroup presale { agents amy }\ngroup vip { }\nroute { page order_detail -> vip; default -> presale }\n'
    assert _warnings(load_text, text) == [
        ("W500", 3, 1, "group 'vip' has no agents", "add `agents …` or remove the group",
         [("a route sends consumers to it here", 4)])]


def test_w502_names_the_pages_no_line_routes(load_text):
    text = 'shop "s" on pinduoduo\ngroup g { agents amy }\nroute { page refund_detail, shop_home -> g; page order_detail -> g }\n'
    [(code, _, _, message, _, _)] = _warnings(load_text, text)
    # the five pages of pinduoduo.kefu, less the three routed, in the platform's order
    assert (code, message) == ("W502", "pages are routed but there is no `default ->` route: "
                                       "product_detail and logistics_complaint are not routed")


# ---- W506: an agent listed twice in one group -------------------------------------------------------------

def test_an_agent_listed_twice_in_one_group_is_w506(load_text):
    text = 'shop "s" on douyin\ngroup presale { agents amy, bob; agents amy }\n'
    assert _warnings(load_text, text) == [
        ("W506", 2, 41, "agent 'amy' is listed twice in group 'presale'", "remove one of the two",
         [("first listed here", 2)])]


# ---- a closing phrase that contains a keyword is no mistake --------------------------------------------

def test_a_closing_phrase_containing_a_keyword_is_not_warned(load_text):
    # the replay sends the closing reply for the whole phrase and holds the keyword reply back
    text = ('shop "s" on douyin\nreply keyword "谢谢", "发票" -> "不客气"\n'
            'reply closing "好的", "好的谢谢" -> "感谢支持"\n')
    assert _warnings(load_text, text) == []


@pytest.mark.parametrize("replies", [
    'reply keyword "发票" -> "A"\nreply closing "好的", "谢谢" -> "B"\n',        # no keyword in a phrase
    'reply closing "好的谢谢" -> "B"\n',                                         # no keyword reply
])
def test_no_diagnostic_when_no_keyword_is_in_a_closing_phrase(load_text, replies):
    assert _warnings(load_text, f'shop "s" on douyin\n{replies}') == []


def test_strict_fails_on_a_misspelt_member(tmp_path, monkeypatch):
    # the case: `agent amie` next to `agents amei` passed even `--strict`
    from cli_helpers import kefu
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shop.kefu").write_text('shop "s" on douyin\ngroup presale { agents amei, bob }\nagent amie { max_sessions 5 }\n',
                                        encoding="utf-8")
    assert kefu("check", "shop.kefu").exit_code == 0
    assert kefu("check", "--strict", "shop.kefu").exit_code == 1
