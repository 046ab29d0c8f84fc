"""A seeded mutation fuzzer: broken policy text never breaks the checker.

Every shipped policy (examples, platforms, the common snippet) and every policy of
tests/cases/broken_policies.yaml is mutated with fixed seeds — lines deleted, duplicated and
swapped; characters deleted; keywords, braces, quotes, odd numbers, durations, CJK text, invalid
UTF-8 bytes, NUL, very long lines and deep nesting inserted; text cut short; two files combined
— and each mutant is checked. Whatever the text, the standard holds:

- no exception escapes the loader, the checker or the CLI, and `kefu check` exits 0, 1 or 2;
- every diagnostic has a code documented in docs/diagnostics.md;
- every located diagnostic points into its file: 1 <= line <= lines + 1, column >= 1, and the
  column is at most one past the end of its line;
- the text and GitHub formats send no control character (but newline and tab) to the terminal;
- a mutant that loads (no errors) also gives its IR (`kefu ir`) and drives the replay Engine
  through a few events;
- the checker never hangs: a mutant (at most a few hundred kilobytes, some with thousands of
  numbered agents, groups or replies) is checked in seconds, never minutes.

A mutated platform file is checked both on its own and as the platform of an example shop
(through `--platform-dir`). The seeds are fixed, so a failure is the same on every run; the
message names the seed and the mutation. `python tests/test_fuzz_policy.py SEED COUNT` runs
more mutants outside pytest (the last 40,000 found nothing more), listing distinct failures and the
slowest mutants. The bugs this found have their own tests in tests/test_bad_input.py.
"""

from __future__ import annotations

import json
import random
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:   # run as a script (see the docstring)
    sys.path.insert(0, str(ROOT))
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from cli_helpers import kefu  # noqa: E402
from engine import ir, registry  # noqa: E402
from engine.diagnostics import Diagnostic, render_github, render_json, render_text  # noqa: E402
from engine.events import Event  # noqa: E402
from engine.loader import Loader  # noqa: E402
from engine.runtime import Engine, platform_policy  # noqa: E402

DOCUMENTED = frozenset(re.findall(r"^## ([EW]\d{3}) ", (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8"),
                                  re.M))
EXAMPLES = ROOT / "rulesets" / "examples"
COMMON = {p.relative_to(EXAMPLES).as_posix(): p.read_bytes() for p in sorted((EXAMPLES / "common").rglob("*.kefu"))}


@dataclass(frozen=True)
class Original:
    """A policy to mutate: its name, text, and what kind of file it is."""

    name: str
    text: str
    kind: str            # "example" (includes common/), "platform", "snippet" or "case"
    platform: str = ""   # for a platform file: its name


def originals() -> list[Original]:
    """Every *.kefu under rulesets/ and every policy of tests/cases/."""
    found = []
    for path in sorted((ROOT / "rulesets").rglob("*.kefu")):
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        if path.parent.name == "platforms":
            found.append(Original(rel, text, "platform", path.stem))
        elif path.parent == EXAMPLES:
            found.append(Original(rel, text, "example"))
        else:
            found.append(Original(rel, text, "snippet"))
    for path in sorted((ROOT / "tests" / "cases").glob("*.yaml")):
        for case in YAML(typ="safe").load(path.read_text(encoding="utf-8")):
            found.append(Original(f"{path.name}: {case['name']}", case["policy"], "case"))
    return found


ORIGINALS = originals()
SHIPPED = [o for o in ORIGINALS if o.kind != "case"]
# every statement of the originals and of the examples in the docs, one line each
_DOCS = "\n".join(body for page in ("language.md", "diagnostics.md")
                  for info, body in re.findall(r"^```(\w*)\n(.*?)^```\n", (ROOT / "docs" / page).read_text(encoding="utf-8"),
                                               re.M | re.S) if info in ("", "kefu"))
STATEMENTS = sorted({line.strip() for text in [o.text for o in ORIGINALS] + [_DOCS] for line in text.split("\n")
                     if re.match(r"\s*[a-z]", line) and not line.lstrip().startswith("$")}
                    | {"timezone America/New_York", "timezone Australia/Lord_Howe", "timezone Pacific/Chatham",
                       "timezone UTC", "hours sun 01:00-03:00", "holiday 2026-11-01 00:30-02:30"})
SHOP_OF_PLATFORM = {m.group(1): o for o in ORIGINALS if o.kind == "example"
                    for m in [re.search(r'^shop "[^"]*" on (\w+)', o.text, re.M)] if m}

# ---- mutations -------------------------------------------------------------------------------------

KEYWORDS = sorted(set(re.findall(r'"([a-z_]+)"', (ROOT / "grammar" / "kefu.lark").read_text(encoding="utf-8"))))
SYMBOLS = ["{", "}", '"', ",", "->", ";", "..", "-", ":", "%", ">=", "==", "<", "#", "\\", "(", ")", "{ }", '""',
           "{ {", "} }", '"\\"', '"\\u"', '"\\ud800"', '"\\q"', "\\u4e2d"]
NUMBERS = ["0", "1", "-1", "-0", "00", "007", "50", "51", "4294967296", "999999999999999", "9999999999999999",
           "9" * 400, "1.5", "1e9", "0x10", "١٢", "１２", "²", "99.5%", "0%", "100%", "1000%", "9" * 20 + "%"]
DURATIONS = ["0s", "0m", "1s", "30s", "15m", "2h", "1d", "99999d", "3650d", "3651d", "1d1d1d", "0d0h0m0s",
             "1h30m", "87600h", "9" * 16 + "s", "1x", "1d-", "24:00", "00:00", "25:61", "9:99", "2026-02-29",
             "2028-02-29", "0000-00-00", "9999-12-31", "2026-10-07..2026-10-01", "08:00-08:00", "24:00-00:00"]
TEXTS = ["客服", "售前组", "，", "；", "“", "”", "（", "：", "\u3000", "😀", "e\u0301", "\u200b", "\ufeff", "\u2028",
         "\u2029", "\x85", "\x0b", "\x0c", "\r", "\r\n", "\t", "\x1b[31m", "\x7f", "ß", "İ", "ﬁ", "Ⅻ",
         "ℌ", "_", "a_b", "x" * 41, "Asia/Shanghai", "../..", "/etc/passwd", "common/courtesy.kefu"]
# names the checker and the engine know (strategies, roles, features, limits, …) and names of the examples
NAMES = sorted({name for table in vars(registry).values() if isinstance(table, Mapping) for name in table}
               | {"taobao", "pinduoduo", "douyin", "amy", "bob", "presale", "aftersale", "zhao", "p1001", "yuan"})
TOKENS = KEYWORDS + SYMBOLS + NUMBERS + DURATIONS + TEXTS + NAMES
BAD_BYTES = [b"\xff", b"\xfe\xff", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe4\xb8",
             b"\x80", b"\xbf\xcd", b"\x00", b"\xef\xbb\xbf"]
WORD = re.compile(r"\w+|->|\.\.|[^\s\w]")


def _lines_op(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    what = rng.randrange(4)
    if what == 0:
        del lines[i]
    elif what == 1:
        lines.insert(i, lines[j])
    elif what == 2:
        lines[i], lines[j] = lines[j], lines[i]
    else:
        lines[i:i + 1] = [lines[i]] * rng.choice([3, 50, 300])
    return "\n".join(lines)


def _delete_chars(rng: random.Random, text: str) -> str:
    pos = rng.randrange(len(text) + 1)
    return text[:pos] + text[pos + rng.choice([1, 1, 1, 2, 3, 8, 40]):]


def _insert_token(rng: random.Random, text: str) -> str:
    pos = rng.randrange(len(text) + 1)
    token = rng.choice(TOKENS)
    pad = rng.choice(["", " ", " ", "\n"])
    return text[:pos] + pad + token + pad + text[pos:]


def _replace_word(rng: random.Random, text: str) -> str:
    words = list(WORD.finditer(text))
    if not words:
        return _insert_token(rng, text)
    m = rng.choice(words)
    pool = NUMBERS + DURATIONS if m.group()[:1].isdigit() else TOKENS
    return text[:m.start()] + rng.choice(pool) + text[m.end():]


def _insert_statement(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    lines.insert(rng.randrange(len(lines) + 1), rng.choice(STATEMENTS))
    return "\n".join(lines)


# literals of each kind, matched in that order, and values of the same kind that keep the text parsing
VALUES = [
    (re.compile(r"\b\d{4}-\d{2}-\d{2}\b"), ["2026-01-01", "2026-12-31", "2028-02-29", "1970-01-01", "9999-12-31",
                                          "0001-01-01"]),
    (re.compile(r"\b\d{1,2}:\d{2}\b"), ["00:00", "00:01", "12:00", "23:59", "24:00"]),
    (re.compile(r"\b(?:\d+[dhms])+\b"), ["0s", "1s", "59s", "1m", "1h", "1d", "3650d", "1h30m", "3649d23h59m59s"]),
    (re.compile(r"\b\d+(?:\.\d+)?%"), ["0%", "0.01%", "50%", "100%", "1000%"]),
    (re.compile(r"\b\d+\b"), ["0", "1", "2", "7", "50", "1000", "100000", "999999999999999"]),
    (re.compile(r"\b[^\W\d]\w*\b"), NAMES),
]


def _replace_value(rng: random.Random, text: str) -> str:
    """A literal or name replaced by another of its kind (so that the text most likely still parses)."""
    pattern, values = rng.choice(VALUES)
    found = list(pattern.finditer(text))
    if not found:
        return text
    m = rng.choice(found)
    return text[:m.start()] + rng.choice(values) + text[m.end():]


def _truncate(rng: random.Random, text: str) -> str:
    return text[:rng.randrange(len(text) + 1)]


def _long(rng: random.Random, text: str) -> str:
    pos = rng.randrange(len(text) + 1)
    n = rng.choice([130, 2000, 20000])
    piece = rng.choice(["x" * n, "客" * n, '"' + "a" * n + '"', '"' + "服" * n + '"', "1" * n, "a, " * (n // 3),
                        "# " + "长" * n, " " * n + "}", "p1, " * (n // 4), "\\" * n, '"\\' * (n // 2)])
    return text[:pos] + piece + text[pos:]


def _nest(rng: random.Random, text: str) -> str:
    pos = rng.randrange(len(text) + 1)
    n = rng.choice([3, 100, 3000])
    piece = rng.choice(["{" * n, "}" * n, "{ " * n + "} " * n, "route { " * n, "group g { " * n,
                        '"' * n, "reply welcome \"a\" faq { " * n, "-> " * n, "( " * n])
    return text[:pos] + piece + text[pos:]


def _scale(rng: random.Random, text: str) -> str:
    """A line repeated many times, or a list in it made long, with numbered names: many distinct agents,
    groups, replies, unknown names … (a check that compares each with each would take minutes)."""
    lines = text.split("\n")
    i, n = rng.randrange(len(lines)), rng.choice([20, 200, 1000])
    number = re.compile(r'\b([^\W\d]\w*)\b(?!")|"([^"\\\n]*)"')

    def numbered(line: str, k: int) -> str:
        return number.sub(lambda m: f"{m.group(1)}{k}" if m.group(1) and m.group(1) not in KEYWORDS
                          else f'"{m.group(2)}{k}"' if m.group(2) is not None else m.group(), line)

    if rng.random() < 0.5:
        lines[i:i + 1] = [numbered(lines[i], k) for k in range(n)]
    else:
        items = list(re.finditer(r"(?<=[\s,])([^\W\d]\w*|\d+|\"[^\"\n]*\")(?=\s*,)", lines[i]))
        if items:
            m = rng.choice(items)
            word = m.group()
            grown = ", ".join(f'{word[:-1]}{k}"' if word.endswith('"') else f"{word}{k}" for k in range(n))
            lines[i] = lines[i][:m.start()] + grown + lines[i][m.end():]
    return "\n".join(lines)


def _combine(rng: random.Random, text: str) -> str:
    other = rng.choice(ORIGINALS).text
    what = rng.randrange(3)
    if what == 0:
        return text + "\n" + other
    if what == 1:
        return text[:rng.randrange(len(text) + 1)] + other[rng.randrange(len(other) + 1):]
    a, b = text.split("\n"), other.split("\n")
    return "\n".join(x for pair in zip(a, b) for x in pair)


TEXT_OPS = [_lines_op, _delete_chars, _insert_token, _insert_token, _replace_word, _replace_word, _replace_word,
            _insert_statement, _insert_statement, _truncate, _long, _nest, _combine, _scale]


MILD_OPS = [_replace_value, _replace_value, _replace_value, _insert_statement, _lines_op, _scale]


def mutate(rng: random.Random, text: str) -> tuple[bytes, list[str]]:
    """1–4 random mutations of text: the bytes to write and the names of the mutations.

    A third of the mutants are mild — values replaced by others of their kind, statements
    inserted, lines deleted or repeated — so that many still parse and reach the later checks.
    """
    names = []
    mild = rng.random() < 0.35
    for _ in range(rng.choice([1, 1, 2, 3, 4])):
        op = rng.choice(MILD_OPS if mild else TEXT_OPS)
        names.append(op.__name__.strip("_"))
        text = op(rng, text)
    data = text.encode("utf-8")
    if rng.random() < 0.05:
        names.append("crlf")
        data = data.replace(b"\n", b"\r\n")
    if rng.random() < 0.05:
        names.append("bom")
        data = b"\xef\xbb\xbf" + data
    if not mild and rng.random() < 0.08:
        pos = rng.randrange(len(data) + 1)
        bad = rng.choice(BAD_BYTES)
        names.append(f"bytes {bad!r}")
        data = data[:pos] + bad + data[pos:]
    return data, names


# ---- one mutant ------------------------------------------------------------------------------------

@dataclass
class Mutant:
    """The files of one mutant: paths under the directory, the file to check, a platform directory."""

    label: str
    files: dict[str, bytes]
    check: str = "shop.kefu"
    platform_dir: str | None = None


def make_mutant(seed: int, index: int) -> Mutant:
    """The index-th mutant of a seed (the same on every run)."""
    rng = random.Random(f"{seed}:{index}")
    # half of the mutants start from a shipped file: the cases are broken already
    original = rng.choice(SHIPPED if rng.random() < 0.5 else ORIGINALS)
    data, names = mutate(rng, original.text)
    label = f"seed {seed} #{index}: {original.name}: {', '.join(names)}"
    if original.kind == "platform" and rng.random() < 0.5:
        # the mutated platform as the platform of its example shop
        shop = SHOP_OF_PLATFORM[original.platform]
        files = {f"plat/{original.platform}.kefu": data, "shop.kefu": shop.text.encode("utf-8"), **COMMON}
        return Mutant(label + " (as --platform-dir)", files, platform_dir="plat")
    files = {"shop.kefu": data}
    if original.kind in ("example", "case") or rng.random() < 0.3:
        files.update(COMMON)
        if rng.random() < 0.15:  # the included snippet broken too
            snippet = next(iter(COMMON))
            files[snippet], more = mutate(rng, COMMON[snippet].decode("utf-8"))
            label += f"; {snippet}: {', '.join(more)}"
    return Mutant(label, files)


def write(mutant: Mutant, where: Path) -> None:
    for rel, data in mutant.files.items():
        target = where / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _line_count(data: bytes) -> int:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.count(b"\n") + 1


def _events(policy: ir.Policy, seed: int) -> list[Event]:
    """A few events of every type, naming the policy's agents and pages."""
    rng = random.Random(seed)
    agents = sorted({a.name for a in policy.shop.agents} | {r.name for g in policy.shop.groups for r in g.agents})
    agents = agents[:6] + ["stranger"]
    pages = [p.name for p in policy.platform.pages][:6] + [None]
    texts = [k for r in policy.shop.replies for k in getattr(r, "keywords", [])][:4] + ["在吗", "谢谢", ""]
    # 11 Nov 2026, and just before clocks change: New York (1 Nov 2026), Lord Howe (4 Oct 2026, by 30 minutes)
    events, ts = [], rng.choice([1_794_355_200.0, 1_793_511_000.0, 1_791_041_400.0])
    for line in range(1, 25):
        ts += rng.choice([0, 1, 30, 400, 4000])
        consumer, agent, kind = f"c{rng.randrange(4)}", rng.choice(agents), rng.random()
        if kind < 0.25:
            events.append(Event(line=line, ts=ts, type="agent_status", shop=None, agent=agent,
                                status=rng.choice(["online", "online", "busy", "offline"])))
        elif kind < 0.65:
            events.append(Event(line=line, ts=ts, type="message", shop=None, sender="consumer", consumer=consumer,
                                text=rng.choice(texts), page=rng.choice(pages)))
        elif kind < 0.85:
            events.append(Event(line=line, ts=ts, type="message", shop=None, sender="agent", consumer=consumer,
                                agent=agent, text="好的"))
        elif kind < 0.93:
            events.append(Event(line=line, ts=ts, type="transfer", shop=None, consumer=consumer, agent=agent,
                                to_agent=rng.choice(agents)))
        else:
            events.append(Event(line=line, ts=ts, type="session_end", shop=None, consumer=consumer))
    return events


def _drive(policy: ir.Policy, seed: int) -> None:
    engine = Engine(policy, seed=seed)
    for event in _events(policy, seed):
        engine.feed(event)
    engine.finish()
    for row in engine.metric_rows():
        assert 0 <= row.met <= row.eligible


def _check_spans(diags: list[Diagnostic], lines: dict[str, int], texts: dict[str, list[str]]) -> None:
    for d in diags:
        assert d.code in DOCUMENTED, f"undocumented code {d.code}: {d.message}"
        for span in ([d.span] if d.span else []) + [s for _, s in d.notes]:
            where = f"{d.code} at {span.file}:{span.line}:{span.column}"
            assert span.file in lines, f"{where}: not a file of the policy ({sorted(lines)})"
            assert 1 <= span.line <= lines[span.file] + 1, f"{where}: the file has {lines[span.file]} lines"
            assert span.column >= 1, where
            assert (span.end_line, span.end_column) >= (span.line, span.column), f"{where}: ends before it starts"
            if span.file in texts:
                text = texts[span.file]
                width = len(text[span.line - 1].rstrip("\r")) if span.line <= len(text) else 0
                assert span.column <= width + 1, f"{where}: the line has {width} characters"


# Characters a terminal acts on (but newline and tab): the text formats show them as visible stand-ins.
ACTING = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

# A mutant is at most a few hundred kilobytes: checking it (twice, in-process and by the CLI) takes
# milliseconds, or a second at most. Far more means work that grows faster than the text. Only the
# offline run (`python tests/test_fuzz_policy.py`) times mutants: the test suite asserts no timings.
SECONDS_PER_MUTANT = 5.0


def run_mutant(mutant: Mutant, where: Path, cli: bool = True, limit: float | None = None) -> str:
    """Check one mutant written under where (the working directory); the outcome, for statistics.

    Raises AssertionError (naming the mutant) when the standard is broken, or, given a limit in
    seconds, when the check took longer.
    """
    began = time.perf_counter()
    try:
        outcome = _run(mutant, where, cli)
        took = time.perf_counter() - began
        assert limit is None or took < limit, f"took {took:.1f} s: the checker must not hang"
        return outcome
    except Exception as err:
        shown = {k: (v if len(v) < 3000 else v[:3000] + b"...") for k, v in mutant.files.items() if k not in COMMON
                 or v != COMMON[k]}
        raise AssertionError(f"{mutant.label}\n{type(err).__name__}: {err}\nfiles: {shown!r}") from err


def _run(mutant: Mutant, where: Path, cli: bool) -> str:
    write(mutant, where)
    # relative paths, from the mutant's directory (the working directory), as the CLI is given them
    platform_dirs = [Path(mutant.platform_dir)] if mutant.platform_dir else []
    result = Loader(platform_dirs).load(Path(mutant.check))
    lines = {rel: _line_count(data) for rel, data in mutant.files.items()}
    texts = {display: src.text.split("\n") for display, src in result.sources.items()}
    for display, src in result.sources.items():
        lines.setdefault(display, src.text.count("\n") + 1)
    diags = sorted(result.diagnostics, key=Diagnostic.sort_key)
    _check_spans(diags, lines, texts)
    shown = render_text(diags, lambda f, n: result.sources[f].line_text(n) if f in result.sources else None)
    shown += render_github(diags)
    acting = ACTING.search(shown)
    assert acting is None, f"{acting.group()!r} reaches the terminal: {shown[max(0, acting.start() - 80):acting.end()]!r}"
    render_json(diags, [mutant.check])
    if cli:
        args = ["check", "--format", "json", mutant.check] + (["--platform-dir", mutant.platform_dir] if mutant.platform_dir else [])
        checked = kefu(*args)
        assert checked.exit_code in (0, 1, 2), checked.exit_code
        envelope = json.loads(checked.stdout)
        unique = list(dict.fromkeys((d.code, d.message, d.span) for d in diags))   # the CLI shows repeats once
        assert [(d["code"], d["message"], d["span"]) for d in envelope["diagnostics"]] == \
            [(code, message, span.model_dump() if span else None) for code, message, span in unique]
        errors = any(d.severity == "error" for d in diags)
        assert checked.exit_code == (2 if any(d.code in ("E001", "E006") for d in diags) else 1 if errors else 0)
    if not result.ok:
        return "errors"
    if result.policy is not None:
        if cli:
            args = ["ir", mutant.check] + (["--platform-dir", mutant.platform_dir] if mutant.platform_dir else [])
            shown_ir = kefu(*args)
            assert shown_ir.exit_code == 0, shown_ir.output
            assert ir.Policy.model_validate_json(shown_ir.stdout) == result.policy
        _drive(result.policy, len(mutant.label))
        return "policy"
    if result.platform is not None:
        _drive(platform_policy(result.platform), len(mutant.label))
        return "platform"
    return "fragment"


# ---- the test --------------------------------------------------------------------------------------

SEEDS = range(10)
MUTANTS_PER_SEED = 80


@pytest.mark.parametrize("seed", SEEDS)
def test_mutated_policies_keep_the_standard(seed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outcomes: dict[str, int] = {}
    for index in range(MUTANTS_PER_SEED):
        where = tmp_path / str(index)
        where.mkdir()
        monkeypatch.chdir(where)
        outcome = run_mutant(make_mutant(seed, index), where)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    # the mutants are not vacuous: many are broken, and some still load and replay
    assert outcomes.get("errors", 0) >= MUTANTS_PER_SEED // 3, outcomes
    assert outcomes.get("policy", 0) + outcomes.get("platform", 0) >= 3, outcomes


def test_recovery_reports_what_parsing_from_the_start_reports():
    # After a syntax error, parse_source parses again from the last statement before the error, not
    # from the start of the file (see FastParser.scan): the diagnostics must be the same.
    from engine.parser import _parse_source_whole, parse_source
    from engine.source import SourceFile

    compared = 0
    for index in range(150):
        rng = random.Random(f"recovery:{index}")
        text = rng.choice(ORIGINALS).text
        for _ in range(rng.choice([2, 5, 10, 20])):
            text = rng.choice(TEXT_OPS)(rng, text)
        src = SourceFile("shop.kefu", text)
        (tree, diags), (whole_tree, whole) = parse_source(src), _parse_source_whole(src)
        assert [(d.code, d.message, d.span, d.hint) for d in diags] == \
            [(d.code, d.message, d.span, d.hint) for d in whole], f"recovery:{index}"
        assert (tree is None) == (whole_tree is None)
        compared += len(whole)
    assert compared > 300


def test_the_fuzzer_covers_every_kind_of_original():
    kinds = {o.kind for o in ORIGINALS}
    assert kinds == {"example", "platform", "snippet", "case"}
    assert set(SHOP_OF_PLATFORM) == {"taobao", "pinduoduo", "douyin"}
    assert len(ORIGINALS) > 50


def main(argv: list[str]) -> int:   # pragma: no cover - exploration outside pytest
    """python tests/test_fuzz_policy.py FIRST_SEED COUNT [--no-cli]: run more mutants, report failures."""
    import os
    import tempfile
    import traceback

    seed, count = int(argv[0]), int(argv[1])
    cli = "--no-cli" not in argv
    failures: dict[str, str] = {}
    slow: list[tuple[float, str]] = []
    outcomes: dict[str, int] = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(count):
            where = Path(tmp) / str(index)
            where.mkdir()
            os.chdir(where)
            mutant = make_mutant(seed, index)
            began = time.perf_counter()
            try:
                outcome = run_mutant(mutant, where, cli, limit=SECONDS_PER_MUTANT)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
            except AssertionError as err:
                cause = err.__cause__ or err
                tb = traceback.extract_tb(cause.__traceback__)[-1]
                message = re.sub(r"\d+(\.\d+)?", "N", str(cause)[:80])   # "took N s" is one failure
                key = f"{type(cause).__name__} {tb.filename.split('/')[-1]}:{tb.lineno} {message}"
                if key not in failures:
                    failures[key] = str(err)[:3000]
                    print(f"FAIL {key}\n  {mutant.label}", flush=True)
            took = time.perf_counter() - began
            if took > 0.5:
                slow.append((took, mutant.label))
    print(f"{count} mutants in {time.perf_counter() - start:.1f}s; {len(failures)} distinct failures; {outcomes}")
    for took, label in sorted(slow, reverse=True)[:10]:
        print(f"slow {took:.2f}s {label}")
    for key, text in failures.items():
        print("=" * 80, "\n", key, "\n", text, sep="")
    return 1 if failures else 0


if __name__ == "__main__":   # pragma: no cover
    sys.exit(main(sys.argv[1:]))
