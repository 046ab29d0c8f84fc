"""`kefu check` end to end: output formats, exit codes, every error of a file, no cascades, suggestions."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from cli_helpers import EMITTED_CODE, kefu
from engine.loader import Loader

ROOT = Path(__file__).resolve().parent.parent
CASES = YAML(typ="safe").load((ROOT / "tests" / "cases" / "broken_policies.yaml").read_text(encoding="utf-8"))




@pytest.fixture
def write(tmp_path, monkeypatch):
    """Write files under a temporary directory that is also the working directory."""
    monkeypatch.chdir(tmp_path)

    def write_file(text: str, name: str = "shop.kefu") -> str:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return name

    return write_file


def located(result) -> list[list]:
    """[code, line, column] of every diagnostic in a `--format json` run."""
    return [[d["code"], d["span"]["line"], d["span"]["column"]] for d in json.loads(result.stdout)["diagnostics"]]


# ---- shipped rulesets ------------------------------------------------------------

def test_shipped_rulesets_check_clean_through_the_cli():
    count = len(list((ROOT / "rulesets").rglob("*.kefu")))
    result = kefu("check", ROOT / "rulesets")
    assert result.exit_code == 0
    assert result.stderr.splitlines()[-1] == f"checked {count} files: 0 errors, 0 warnings — ok"
    strict = kefu("check", "--strict", "--format", "json", ROOT / "rulesets")
    assert strict.exit_code == 0
    assert json.loads(strict.stdout)["summary"] == {"files": count, "errors": 0, "warnings": 0}


# ---- text ----------------------------------------------------------------------------

def test_text_diagnostic_has_location_source_line_caret_and_hint(write):
    write('shop "s" on douyin\nassign by idle_rat\n')
    result = kefu("check", "shop.kefu")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "shop.kefu:2:11: error[E103]: unknown assignment strategy 'idle_rat'\n"
        "  | assign by idle_rat\n"
        "  |           ^^^^^^^^\n"
        "  = hint: did you mean 'idle_rate'?\n"
        "checked 1 file: 1 error, 0 warnings — failed\n"
    )


def test_caret_sits_under_wide_characters(write):
    # 忙碌 is two characters but four terminal cells; the caret is four wide and
    # starts under column 14 (13 narrow characters before it).
    write('shop "s" on douyin\nreply status 忙碌 -> "稍等"\n')
    lines = kefu("check", "shop.kefu").stderr.splitlines()
    assert lines[0] == "shop.kefu:2:14: error[E105]: unknown agent status '忙碌'"
    assert lines[1] == '  | reply status 忙碌 -> "稍等"'
    assert lines[2] == "  | " + " " * 13 + "^^^^"


def test_notes_point_at_the_related_place(write):
    write('shop "s" on douyin\ngroup a { agents amy }\ngroup b { agents amy }\n')
    lines = kefu("check", "shop.kefu").stderr.splitlines()
    assert lines[0] == "shop.kefu:3:18: error[E112]: agent 'amy' is in two groups ('a' and 'b')"
    assert "  = note: first listed here (shop.kefu:2:18)" in lines


# ---- json and github -----------------------------------------------------------------

WARN_AND_ERROR = 'shop "s" on douyin\ngroup b { }\nassign by idle_rat\n'


def test_json_envelope_is_versioned_and_complete(write):
    write(WARN_AND_ERROR)
    result = kefu("check", "--format", "json", "shop.kefu")
    assert result.exit_code == 1
    assert result.stderr == ""  # no summary line in JSON mode
    data = json.loads(result.stdout)
    assert list(data) == ["version", "tool", "files", "summary", "diagnostics"]
    assert data["version"] == 1 and data["tool"] == "kefu check"
    assert data["files"] == ["shop.kefu"]
    assert data["summary"] == {"files": 1, "errors": 1, "warnings": 1}
    assert data["diagnostics"] == [
        {"severity": "warning", "code": "W500", "message": "group 'b' has no agents",
         "span": {"file": "shop.kefu", "line": 2, "column": 1, "end_line": 2, "end_column": 12},
         "hint": "add `agents …` or remove the group", "notes": []},
        {"severity": "error", "code": "E103", "message": "unknown assignment strategy 'idle_rat'",
         "span": {"file": "shop.kefu", "line": 3, "column": 11, "end_line": 3, "end_column": 19},
         "hint": "did you mean 'idle_rate'?", "notes": []},
    ]


def test_json_keeps_the_envelope_for_a_missing_path(write):
    write('shop "s" on douyin\n')
    result = kefu("check", "-f", "json", "shop.kefu", "nope.kefu")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["files"] == ["shop.kefu"]
    [diag] = data["diagnostics"]
    assert diag["code"] == "E001" and diag["span"] is None and "nope.kefu" in diag["message"]


def test_github_annotations(write):
    write(WARN_AND_ERROR)
    result = kefu("check", "--format", "github", "shop.kefu")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "::warning file=shop.kefu,line=2,col=1,endLine=2,endColumn=12,title=W500::"
        "group 'b' has no agents (hint: add `agents …` or remove the group)",
        "::error file=shop.kefu,line=3,col=11,endLine=3,endColumn=19,title=E103::"
        "unknown assignment strategy 'idle_rat' (hint: did you mean 'idle_rate'?)",
    ]


def test_github_escapes_properties_and_message(write):
    write('shop "s" on pinduoduo\nagent amy role admin\noffline -> "a%b"\n', name="a,b:c.kefu")
    result = kefu("check", "--format", "github", "a,b:c.kefu")
    [line] = result.stdout.splitlines()
    assert line.startswith("::error file=a%2Cb%3Ac.kefu,line=3,col=12,endLine=3,endColumn=17,title=E100::")
    assert "unknown agent 'a%25b'" in line


# ---- exit codes and --strict -----------------------------------------------------------

def test_warnings_fail_only_with_strict(write):
    write('shop "s" on douyin\ngroup b { }\n')
    plain = kefu("check", "shop.kefu")
    assert plain.exit_code == 0
    assert plain.stderr.splitlines()[-1] == "checked 1 file: 0 errors, 1 warning — ok"
    strict = kefu("check", "--strict", "shop.kefu")
    assert strict.exit_code == 1
    assert strict.stderr.splitlines()[-1] == "checked 1 file: 0 errors, 1 warning — failed"


def test_missing_path_exits_2_even_next_to_a_good_file(write):
    write('shop "s" on douyin\n')
    result = kefu("check", "shop.kefu", "missing.kefu")
    assert result.exit_code == 2
    assert "error[E001]: missing.kefu: no such file or directory" in result.stderr


def test_directory_without_policies_exits_2(write):
    write("not a policy", name="empty/readme.txt")
    result = kefu("check", "empty")
    assert result.exit_code == 2
    assert "error[E006]: empty: no policy files (*.kefu) in this directory" in result.stderr


def test_directory_is_walked_for_policies(write):
    write('shop "s" on douyin\n', name="shops/a.kefu")
    write('shop "t" on douyin\nassign by idle_rat\n', name="shops/deeper/b.kefu")
    write("ignored", name="shops/notes.txt")
    result = kefu("check", "--format", "json", "shops")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["files"] == ["shops/a.kefu", "shops/deeper/b.kefu"]
    assert located(result) == [["E103", 2, 11]]


def refuse(monkeypatch, what: str, name: str) -> None:
    """Make the OS refuse to list (what="dir") or open (what="file") the path `name`, even for root.

    Tests run as root in CI, where chmod 000 does not keep anything out.
    """
    denied = PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)
    if what == "dir":
        real_scandir = os.scandir

        def scandir(path="."):
            if Path(path) == Path(name):
                raise denied
            return real_scandir(path)
        monkeypatch.setattr(os, "scandir", scandir)
    else:
        real_open = Path.open

        def open_(self, *args, **kwargs):
            if self == Path(name):
                raise denied
            return real_open(self, *args, **kwargs)
        monkeypatch.setattr(Path, "open", open_)


def test_unreadable_subdirectory_is_an_error_and_the_rest_is_checked(write, monkeypatch):
    write('shop "s" on douyin\n', name="shops/a.kefu")
    write('shop "t" on douyin\nassign by idle_rat\n', name="shops/open/b.kefu")
    write('shop "u" on douyin\nassign by idle_rat\n', name="shops/locked/c.kefu")
    refuse(monkeypatch, "dir", "shops/locked")
    result = kefu("check", "shops")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error[E001]: shops/locked: cannot read directory: Permission denied",
        "  = hint: check its permissions; the policies in it were not checked",
        "shops/open/b.kefu:2:11: error[E103]: unknown assignment strategy 'idle_rat'",
        "  | assign by idle_rat",
        "  |           ^^^^^^^^",
        "  = hint: did you mean 'idle_rate'?",
        "checked 2 files: 2 errors, 0 warnings — failed",
    ]
    data = json.loads(kefu("check", "-f", "json", "shops").stdout)
    assert data["files"] == ["shops/a.kefu", "shops/open/b.kefu"]
    assert data["summary"] == {"files": 2, "errors": 2, "warnings": 0}


def test_unreadable_directory_given_is_an_error_not_an_empty_one(write, monkeypatch):
    write('shop "s" on douyin\n', name="shops/a.kefu")
    refuse(monkeypatch, "dir", "shops")
    result = kefu("check", "shops")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error[E001]: shops: cannot read directory: Permission denied",
        "  = hint: check its permissions; the policies in it were not checked",
        "checked 0 files: 1 error, 0 warnings — failed",   # no E006: the directory may well hold policies
    ]


def test_unreadable_policy_file_in_a_directory_is_an_error_and_the_rest_is_checked(write, monkeypatch):
    write('shop "s" on douyin\nassign by idle_rat\n', name="shops/a.kefu")
    write('shop "t" on douyin\n', name="shops/secret.kefu")
    refuse(monkeypatch, "file", "shops/secret.kefu")
    result = kefu("check", "shops")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "shops/a.kefu:2:11: error[E103]: unknown assignment strategy 'idle_rat'",
        "  | assign by idle_rat",
        "  |           ^^^^^^^^",
        "  = hint: did you mean 'idle_rate'?",
        "shops/secret.kefu:1:1: error[E001]: cannot read file: Permission denied",
        "  = hint: check the path and its permissions",
        "checked 2 files: 2 errors, 0 warnings — failed",
    ]

@pytest.mark.parametrize("args", [
    ["check", "--bogus", "shop.kefu"],
    ["check", "--format", "xml", "shop.kefu"],
    ["check"],
    ["nonsense-command"],
])
def test_usage_errors_exit_2(write, args):
    write('shop "s" on douyin\n')
    assert kefu(*args).exit_code == 2


# ---- all errors of a file, no cascades ----------------------------------------------------

def test_every_semantic_error_of_a_file_is_reported(write):
    write(
        'shop "s" on pinduoduo\n'
        "group presale { agents amy }\n"
        "group aftersale { agents bob; max_sessions 2000 }\n"
        "route { page refnd_detail -> aftersal; default -> presale }\n"
        "agent amy role admn\n"
        "assign by least_loded\n"
        'reply status bussy -> "x"\n'
        'reply menu { "a" -> order_lookp }\n'
    )
    result = kefu("check", "--format", "json", "shop.kefu")
    assert result.exit_code == 1
    assert located(result) == [
        ["E200", 3, 31], ["E102", 4, 14], ["E100", 4, 30], ["E104", 5, 16],
        ["E103", 6, 11], ["E105", 7, 14], ["E105", 8, 21],
    ]


def test_each_broken_statement_is_reported_once(write):
    write(
        'shop "s" on pinduoduo\n'
        "grop presale { agents amy }\n"      # misspelt keyword
        'reply keyword "a" ->\n'             # unfinished: the error is at the next statement
        'reply offline -> "bye"\n'
        "route { page a -> b; default -> }\n"
        "assign by least_loded\n"            # semantic: not reported while syntax errors remain
    )
    result = kefu("check", "--format", "json", "shop.kefu")
    assert located(result) == [["E010", 2, 1], ["E010", 4, 1], ["E010", 5, 33]]


def test_block_words_inside_an_unclosed_block_do_not_restart_parsing(write):
    # `default` starts a line inside the route block; recovery skips the whole block.
    write('shop "s" on pinduoduo\ngroup a { agents amy }\nroute {\npage refund_detail => a\ndefault -> a\n}\nassign by x y\n')
    result = kefu("check", "--format", "json", "shop.kefu")
    assert located(result) == [["E011", 4, 20], ["E010", 7, 13]]


@pytest.mark.parametrize("policy, expected", [
    # unknown offline target: no role error about it
    ('shop "s" on pinduoduo\nagent amy role admin\noffline -> amx\n', [["E100", 3, 12]]),
    # unknown role: no offline-role error about it
    ('shop "s" on pinduoduo\nagent amy role admn\noffline -> amy\n', [["E104", 2, 16]]),
    # a second declaration does not hide the first one's role
    ('shop "s" on pinduoduo\nagent amy role admin\nagent amy max_sessions 3\noffline -> amy\n', [["E110", 3, 1]]),
    # an impossible time is not also an inverted or overlapping range
    ('shop "s" on douyin\nhours 25:00-09:00\nhours 08:00-10:00\n', [["E014", 2, 7]]),
    # an impossible date is not also an inverted range
    ('shop "s" on douyin\nholiday 2026-10-03..2026-13-45 closed\n', [["E014", 2, 21]]),
    # an unknown platform stops there
    ('shop "s" on douyn\nroute { page refund_detail -> a }\nreply offline -> "x"\n', [["E040", 1, 13]]),
])
def test_no_cascades(write, policy, expected):
    write(policy)
    assert located(kefu("check", "-f", "json", "shop.kefu")) == expected


# ---- did you mean ---------------------------------------------------------------------------

@pytest.mark.parametrize("what, policy, code, suggestion", [
    ("agent", 'shop "s" on pinduoduo\nagent amy role admin\noffline -> amx\n', "E100", "amy"),
    ("group in a route", 'shop "s" on pinduoduo\ngroup presale { agents amy }\nroute { default -> presal }\n', "E100", "presale"),
    ("group in a scope", 'shop "s" on douyin\ngroup presale { agents amy }\nqueue { scope groups presal }\n', "E101", "presale"),
    ("page", 'shop "s" on pinduoduo\ngroup a { agents amy }\nroute { page refnd_detail -> a; default -> a }\n', "E102", "refund_detail"),
    ("platform", 'shop "s" on taobo\n', "E040", "taobao"),
    ("strategy", 'shop "s" on douyin\nassign by idle_rat\n', "E103", "idle_rate"),
    ("tie-break", 'shop "s" on douyin\nassign by idle_rate ties randm\n', "E103", "random"),
    ("role", 'shop "s" on douyin\nagent amy role admn\n', "E104", "admin"),
    ("day", 'shop "s" on douyin\nhours mon-fry 08:00-09:00\n', "E105", "fri"),
    ("status", 'shop "s" on douyin\nreply status bussy -> "x"\n', "E105", "busy"),
    ("time zone", 'shop "s" on douyin\ntimezone Asia/Shangha\n', "E041", "Asia/Shanghai"),
    ("metric unit", "platform p\nmetric m { unit questoin; deadline 3m; effective welcome }\n", "E105", "question"),
    ("metric clock", "platform p\nmetric m { unit question; deadline 3m; effective welcome; clock starts at assignmnt }\n",
     "E105", "assignment"),
    ("metric figure", "platform p\nmetric m { unit question; deadline 3m; effective welcome\n"
     "  penalty 1 yuan when eligble >= 1 }\n", "E105", "eligible"),
    ("statement keyword", 'shop "s" on douyin\ngrop presale { agents amy }\n', "E010", "group"),
    ("reply keyword", 'shop "s" on douyin\nreply keywrd "a" -> "b"\n', "E010", "keyword"),
    ("keyword inside a block", 'shop "s" on douyin\ngroup a { agent amy }\n', "E010", "agents"),
])
def test_did_you_mean(write, what, policy, code, suggestion):
    write(policy)
    diags = json.loads(kefu("check", "-f", "json", "shop.kefu").stdout)["diagnostics"]
    assert [(d["code"], d["hint"]) for d in diags] == [(code, f"did you mean '{suggestion}'?")], what


# ---- warnings ----------------------------------------------------------------------------------

@pytest.mark.parametrize("policy, expected", [
    ('shop "s" on douyin\nhours 08:00-12:00\nhours 11:00-13:00\n', ["W402", 3, 7]),
    ('shop "s" on taobao\nreturn to previous agent within 0s else same_group\n', ["W406", 2, 1]),
    ('shop "s" on douyin\ngroup a { }\n', ["W500", 2, 1]),
    ('shop "s" on pinduoduo\ngroup a { agents amy }\nroute { page refund_detail -> a }\n', ["W502", 3, 1]),
    ('shop "s" on douyin\ngroup a { agents amy }\nagent amy im off\n', ["W503", 2, 18]),
], ids=["W402", "W406", "W500", "W502", "W503"])
def test_warnings(write, policy, expected):
    write(policy)
    result = kefu("check", "-f", "json", "shop.kefu")
    assert result.exit_code == 0
    assert located(result) == [expected]
    assert json.loads(result.stdout)["diagnostics"][0]["severity"] == "warning"
    assert kefu("check", "--strict", "shop.kefu").exit_code == 1


def test_overlap_warning_notes_the_first_overlapping_range(write):
    write('shop "s" on douyin\nhours mon 08:00-12:00, 13:00-18:00\nhours mon 11:00-14:00\n')
    [diag] = json.loads(kefu("check", "-f", "json", "shop.kefu").stdout)["diagnostics"]
    assert (diag["code"], diag["span"]["line"], diag["span"]["column"]) == ("W402", 3, 11)
    assert [(n["span"]["line"], n["span"]["column"]) for n in diag["notes"]] == [(2, 11)]


# ---- codes that need a platform directory ------------------------------------------------------------

ACME = 'platform acme "test platform"\nallow keyword_reply\nlimit reply_chars <= 10\n'


def test_reply_longer_than_the_platform_allows(write):
    write(ACME, name="plats/acme.kefu")
    write('shop "s" on acme\nreply keyword "a" -> "12345678901"\nreply keyword "b" -> "1234567890"\n')
    result = kefu("check", "-f", "json", "--platform-dir", "plats", "shop.kefu")
    assert result.exit_code == 1
    [diag] = json.loads(result.stdout)["diagnostics"]
    assert (diag["code"], diag["span"]["line"], diag["span"]["column"]) == ("E209", 2, 1)
    assert diag["message"] == "reply has 11 characters; acme allows at most 10"


def test_platform_dir_file_that_is_not_a_platform(write):
    write('shop "x" on douyin\n', name="plats/acme.kefu")
    write('shop "s" on acme\nreply keyword "a" -> "b"\n')
    result = kefu("check", "--platform-dir", "plats", "shop.kefu")
    assert result.exit_code == 1
    assert result.stderr.startswith("plats/acme.kefu:1:1: error[E030]: not a platform file")
    assert "error[E" not in result.stderr.split("\n", 1)[1]  # nothing else
    assert "  = hint: start the file with `platform acme`" in result.stderr.splitlines()


EMPTY_PLATFORM = [
    "plats/acme.kefu:1:1: error[E004]: empty policy file",
    "  | ",
    "  | ^",
    "  = hint: start a platform file with `platform acme`",
]


def test_empty_platform_file_found_for_a_shop_has_a_platform_hint(write):
    write("", name="plats/acme.kefu")
    write('shop "s" on acme\n')
    result = kefu("check", "--platform-dir", "plats", "shop.kefu")
    assert result.exit_code == 1
    # Not E030 as well: it would say the same again.
    assert result.stderr.splitlines() == EMPTY_PLATFORM + ["checked 1 file: 1 error, 0 warnings — failed"]
    replay = kefu("replay", "--platform-dir", "plats", "--platform", "acme", "--events", "none.jsonl")
    assert replay.exit_code == 1
    assert replay.stderr.splitlines() == EMPTY_PLATFORM


@pytest.mark.parametrize("args, file", [
    (["--platform-dir", "plats"], "plats/acme.kefu"),   # a file in a --platform-dir
    ([], "rulesets/platforms/acme.kefu"),              # in a directory named platforms, as the shipped ones
])
def test_empty_file_checked_in_a_platform_directory_has_a_platform_hint(write, args, file):
    write("# nothing here yet\n", name=file)
    result = kefu("check", *args, file)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{file}:1:1: error[E004]: empty policy file",
        "  | # nothing here yet",
        "  | ^",
        "  = hint: start a platform file with `platform acme`",
        "checked 1 file: 1 error, 0 warnings — failed",
    ]


def test_empty_file_elsewhere_has_the_shop_hint(write):
    write("", name="plats/acme.kefu")
    result = kefu("check", "plats/acme.kefu")   # nothing says plats/ holds platforms
    assert result.exit_code == 1
    assert '  = hint: start a shop policy with `shop "name" on douyin|pinduoduo|taobao`' in result.stderr.splitlines()

def test_platform_file_whose_header_names_another_platform(write):
    write('platform foo "Foo"\nallow keyword_reply\n', name="plats/acme.kefu")
    write('shop "s" on acme\nreply keyword "a" -> "b"\nreply offline -> "c"\n')
    result = kefu("check", "--platform-dir", "plats", "shop.kefu")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "plats/acme.kefu:1:10: error[E033]: platform file 'acme.kefu' declares platform 'foo'",
        '  | platform foo "Foo"',
        "  |          ^^^",
        "  = hint: a platform is found by its file name: write `platform acme`, or rename the file to foo.kefu",
        "checked 1 file: 1 error, 0 warnings — failed",  # the platform's error stops the shop's checks
    ]
    # Found by name for a replay too; checked on its own, a platform file may have any file name.
    replay = kefu("replay", "--platform-dir", "plats", "--platform", "acme", "--events", "none.jsonl")
    assert replay.exit_code == 1 and "error[E033]" in replay.stderr
    assert kefu("check", "plats/acme.kefu").exit_code == 0


@pytest.mark.parametrize("command", [
    ["check", "shop.kefu"],
    ["check", "-f", "json", "shop.kefu"],
    ["ir", "shop.kefu"],
    ["replay", "shop.kefu", "--events", "none.jsonl"],
    ["replay", "--platform", "douyin", "--events", "none.jsonl"],
])
@pytest.mark.parametrize("directory, problem", [("nope", "no such directory"), ("shop.kefu", "not a directory")])
def test_platform_dir_that_does_not_exist_is_a_usage_error(write, command, directory, problem):
    write('shop "s" on douyin\n')
    result = kefu(command[0], "--platform-dir", directory, *command[1:])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"error: --platform-dir {directory}: {problem}\n"


def test_session_end_needs_the_feature(write):
    write("platform acme\nallow queue\n", name="plats/acme.kefu")
    write('shop "s" on acme\nend session after 10m\n')
    write('shop "t" on acme\nqueue { end session by hand }\n', name="queued.kefu")
    result = kefu("check", "-f", "json", "--platform-dir", "plats", "shop.kefu", "queued.kefu")
    diags = diagnostic_list(result)
    assert [(d["code"], d["span"]["file"], d["span"]["line"], d["span"]["column"], d["message"]) for d in diags] == [
        ("E300", "shop.kefu", 2, 1, "acme does not offer session_end (会话自动结束)"),
        ("E300", "queued.kefu", 2, 9, "acme does not offer session_end (会话自动结束)"),
    ]


def test_broken_platform_file_is_reported_with_its_path(write):
    write("platform acme\nallow keyword_reply, queu\n", name="plats/acme.kefu")
    write('shop "s" on acme\nreply keyword "a" -> "b"\n')
    result = kefu("check", "-f", "json", "--platform-dir", "plats", "shop.kefu")
    assert result.exit_code == 1
    [diag] = json.loads(result.stdout)["diagnostics"]
    assert diag["code"] == "E105" and diag["hint"] == "did you mean 'queue'?"
    assert diag["span"]["file"] == "plats/acme.kefu" and (diag["span"]["line"], diag["span"]["column"]) == (2, 22)


# ---- attributes set twice, settings named by their keywords ------------------------------------------

def diagnostic_list(result) -> list[dict]:
    return json.loads(result.stdout)["diagnostics"]


def test_attribute_set_twice_in_a_block_keeps_no_value_hidden(write):
    # The first value is kept and checked; the second is E111 and still checked against the range.
    write('shop "s" on douyin\ngroup g { agents amy; max_sessions 60; max_sessions 5; agents bob }\n'
          'agent bob { max_sessions 5; max_sessions 70 }\n')
    diags = diagnostic_list(kefu("check", "-f", "json", "shop.kefu"))
    assert [(d["code"], d["message"], d["span"]["line"], d["span"]["column"],
             [(n["message"], n["span"]["line"], n["span"]["column"]) for n in d["notes"]]) for d in diags] == [
        ("E200", "max_sessions 60 is outside douyin's range 1..50", 2, 23, []),
        ("E111", "`max_sessions` is set twice in group 'g'", 2, 40, [("first set here", 2, 23)]),
        ("E111", "`max_sessions` is set twice in agent 'bob'", 3, 29, [("first set here", 3, 13)]),
        ("E200", "max_sessions 70 is outside douyin's range 1..50", 3, 29, []),
    ]


def test_role_set_twice_keeps_the_first(write):
    write('shop "s" on pinduoduo\nagent zhao role agent role admin\noffline -> zhao\n')
    diags = diagnostic_list(kefu("check", "-f", "json", "shop.kefu"))
    assert [(d["code"], d["message"]) for d in diags] == [  # the first role is the one checked
        ("E111", "`role` is set twice in agent 'zhao'"),
        ("E208", "offline target 'zhao' has role 'agent'; it must be admin or cs_admin")]
    assert Loader().load(Path("shop.kefu")).shop.agents[0].role.name == "agent"


def test_agents_may_be_listed_twice_in_a_group(write):
    write('shop "s" on douyin\ngroup g { agents amy; agents bob; max_sessions 5 }\n')
    assert kefu("check", "--strict", "shop.kefu").exit_code == 0
    assert [r.name for r in Loader().load(Path("shop.kefu")).shop.groups[0].agents] == ["amy", "bob"]


@pytest.mark.parametrize("policy, message", [
    ('shop "s" on douyin\ngroup a { agents amy }\nroute { default -> a }\nroute { default -> a }\n', "`route` is set twice"),
    ('shop "s" on pinduoduo\nagent amy role admin\noffline -> amy\noffline -> amy\n', "`offline ->` is set twice"),
    ('shop "s" on taobao\nend session after 10m\nqueue { end session after 5m }\n', "`end session` is set twice"),
    ('shop "s" on taobao\noffline pool keep 1d\noffline pool keep 2d\n', "`offline pool` is set twice"),
    ('shop "s" on taobao\nreturn to previous agent within 1m\nreturn to previous agent within 2m\n',
     "`return to previous agent` is set twice"),
    ('shop "s" on taobao\nauto reply at most once per 1m\nauto reply at most once per 2m\n',
     "`auto reply at most once per` is set twice"),
])
def test_setting_set_twice_is_named_by_its_keyword(write, policy, message):
    write(policy)
    diags = diagnostic_list(kefu("check", "-f", "json", "shop.kefu"))
    assert [(d["code"], d["message"]) for d in diags] == [("E111", message)]


# ---- hints: plurals, status replies, escapes, ranges, metrics ---------------------------------------

def test_plural():
    from engine.names import plural
    assert [plural(w) for w in ["agent status", "assignment strategy", "tie-break", "evaluation day", "match",
                                "agent or group", "box"]] == [
        "agent statuses", "assignment strategies", "tie-breaks", "evaluation days", "matches",
        "agents and groups", "boxes"]


@pytest.mark.parametrize("policy, hint", [
    ('shop "s" on douyin\nassign by zzzz\n',
     "known assignment strategies: idle_rate, least_loaded, longest_idle, random, round_robin"),
    ('shop "s" on douyin\ngroup g { agents amy }\nroute { default -> zzzz }\n', "known agents and groups: amy, g"),
    ("platform p\nmetric m { unit question; deadline 3m; effective welcome; evaluated on zzzz }\n",
     "known evaluation days: previous_day, same_day"),
])
def test_known_names_are_listed_in_the_plural(write, policy, hint):
    write(policy)
    [diag] = diagnostic_list(kefu("check", "-f", "json", "shop.kefu"))
    assert diag["hint"] == hint


STATUS_HINT = "only `busy` has a status auto reply (`reply status busy -> …`); for the offline case write `reply offline -> …`"


@pytest.mark.parametrize("status, message, hint", [
    ("online", "agent status 'online' has no status auto reply", STATUS_HINT),
    ("offline", "agent status 'offline' has no status auto reply", STATUS_HINT),
    ("zzz", "unknown agent status 'zzz'", STATUS_HINT),
    ("bussy", "unknown agent status 'bussy'", "did you mean 'busy'?"),
])
def test_only_busy_has_a_status_reply(write, status, message, hint):
    write(f'shop "s" on douyin\nreply status {status} -> "x"\n')
    [diag] = diagnostic_list(kefu("check", "-f", "json", "shop.kefu"))
    assert (diag["code"], diag["message"], diag["hint"]) == ("E105", message, hint)


def test_unknown_escape_is_located_at_the_backslash(write):
    write('shop "s" on douyin\nreply offline -> "明早\\q回复 \\" \\\\ \\n \\t \\u4F60"\n')
    result = kefu("check", "shop.kefu")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:4] == [
        "shop.kefu:2:21: error[E014]: unknown escape \\q in string",
        '  | reply offline -> "明早\\q回复 \\" \\\\ \\n \\t \\u4F60"',
        "  | " + " " * 22 + "^^",  # 18 characters before the backslash; 明早 take two cells each
        '  = hint: the escapes are \\" \\\\ \\n \\t \\uXXXX; write \\\\ for a backslash',
    ]
    assert "error[" not in "\n".join(result.stderr.splitlines()[4:])  # the known escapes are fine


@pytest.mark.parametrize("policy, message, hint", [
    ('shop "s" on douyin\nholiday 2026-10-07..2026-10-01 closed\n',
     "date range 2026-10-07..2026-10-01 ends before it starts",
     "write the earlier date first: 2026-10-01..2026-10-07 (both days are included)"),
    ("platform p\nlimit max_sessions 50..1\n", "limit range 50..1 is empty",
     "write the smaller bound first: 1..50 (both bounds are included)"),
])
def test_inverted_ranges_have_a_hint(write, policy, message, hint):
    write(policy)
    [diag] = diagnostic_list(kefu("check", "-f", "json", "shop.kefu"))
    assert (diag["code"], diag["message"], diag["hint"]) == ("E403", message, hint)


@pytest.mark.parametrize("senders, hint", [
    ('senders agent "人工", robot, agent\n', "add `effective agent, robot` (or those of the platform's senders that count)"),
    ("", "declare the senders first (`senders agent, robot`), then add `effective …` with those that count "
         "(automatic-reply kinds such as `welcome` need no declaration)"),
])
def test_metric_without_effective_senders_hint_names_the_declared_senders(write, senders, hint):
    write(f"platform p\n{senders}metric m {{ unit question; deadline 3m }}\n")
    diags = diagnostic_list(kefu("check", "-f", "json", "shop.kefu"))
    assert [(d["code"], d["hint"]) for d in diags if d["code"] == "E120"] == [("E120", hint)]


# ---- the table of broken policies ----------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_broken_policy_reports_exactly_the_expected_diagnostics(case, load_text):
    """Every case lists all its diagnostics: no cascades, nothing missing."""
    result = load_text(case["policy"])
    got = sorted([d.code, d.span.line, d.span.column] for d in result.diagnostics)
    assert got == sorted(case["expect"])


def test_every_code_the_engine_emits_is_tested():
    emitted = set()
    for source in (ROOT / "engine").rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        emitted |= set(EMITTED_CODE.findall(text))
    in_table = {code for case in CASES for code, *_ in case["expect"]}
    tests = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").glob("test_*.py"))
    in_tests = {code for code in emitted if f'"{code}"' in tests or f"[{code}]" in tests}
    assert len(emitted) > 50
    assert emitted - in_table - in_tests == set()


def test_yaml_table_agrees_with_a_fresh_loader(tmp_path):
    # The same cases through the public Loader with the file's own name as display.
    case = next(c for c in CASES if c["name"] == "misspelled strategy")
    (tmp_path / "p.kefu").write_text(case["policy"], encoding="utf-8")
    result = Loader().load(tmp_path / "p.kefu", display="p.kefu")
    assert [(d.span.file, d.code) for d in result.diagnostics] == [("p.kefu", "E103")]


def test_version_names_kefu_python_and_the_actor_this_tree_runs():
    import platform
    from engine import __version__
    result = kefu("--version")
    assert result.exit_code == 0
    # the tests import engine from the source tree: its actor is actor.py, pure Python
    assert result.stdout == f"kefu {__version__} (Python {platform.python_version()}; what-if actor: pure Python)\n"
