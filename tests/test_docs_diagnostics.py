"""Every example in docs/diagnostics.md is what `kefu` really prints.

The page shows, for each example, the policy file(s) and a ```text block: the command
(`$ kefu check shop.kefu`), its output exactly as printed, then `$ echo $?` and the exit code.
The page's rules, which this test follows:

- an example runs in a directory holding just the files shown; `shop.kefu` is checked unless
  the command line says otherwise;
- a plain ``` block is a file: `shop.kefu`, or the file named at the end of the paragraph just
  before it (`` `plat/acme.kefu`: ``, `` `shop.kefu` (the answer is …): ``);
- "`NAME` is an empty file" / "`NAME/` is an empty directory" in the text of an example;
- an example showing no file of its own (the JSON and GitHub formats) runs on the files of the
  example before it in the same `##` section.

A few files are described in words rather than shown byte for byte (an encoding, a NUL byte,
4 MiB of comment, a chain of 17 includes, a long text shown cut with `…`): `build_described`
makes them as the page describes, and checks that what the page does show agrees.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cli_helpers import kefu

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "diagnostics.md"

# example id -> reason: the only examples not run. Keep this list as short as possible.
SKIPPED = {
    "E001-2": "needs a file and a directory of mode 000 that the checker cannot read; "
              "skipped only when the tests can read them anyway (root)",
}

# "shown on the page" -> "the real text", for files shown cut with `…`; the full text must
# start and end as the shown one does.
ELIDED = {
    "E202": ("冷藏保存冷藏保存…", "冷藏保存" * 51),                          # "repeated 51 times, 204 characters"
    "E206": ("p1, p2, p3, …, p50, p51", ", ".join(f"p{i}" for i in range(1, 52))),   # "products p1 … p51"
    "E209": ("客服已下班客服已下班…", "客服已下班" * 61),                      # "repeated 61 times, 305 characters"
}


@dataclass
class Example:
    id: str
    heading: str                      # the `##` section: a code (E014) or a title
    line: int                         # of the `$ kefu …` line in the page
    argv: list[str]
    output: str
    exit_code: int
    files: dict[str, str] = field(default_factory=dict)   # path -> text, as shown
    empty_files: list[str] = field(default_factory=list)
    empty_dirs: list[str] = field(default_factory=list)
    prose: str = ""                   # the text of the example, between its files
    reused: bool = False              # shows no file: runs on the files of the example before it


FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.M | re.S)
NAMED_FILE = re.compile(r"`([^`\s]+\.kefu)`")
EMPTY = re.compile(r"`([^`\s]+)` is an empty (file|directory)")


def _section_id(heading: str) -> str:
    code = re.match(r"([EW]\d{3}) ", heading)
    if code:
        return code.group(1)
    return re.sub(r"[^a-z0-9]+", "-", heading.split(" (")[0].lower()).strip("-")


def parse_page(text: str) -> list[Example]:
    """The examples of the page, in order."""
    examples: list[Example] = []
    section = subsection = ""             # `##` and `###` headings
    pending: dict[str, str] = {}          # files shown since the last example
    prose: list[str] = []                 # paragraphs since the last example
    pos = 0
    for fence in FENCE.finditer(text):
        before = text[pos:fence.start()]
        pos = fence.end()
        for heading in re.finditer(r"^(#{2,3}) (.*)$", before, re.M):
            if heading.group(1) == "##":
                section, subsection = heading.group(2), ""
                pending, prose = {}, []
            else:
                subsection = heading.group(2)
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", before) if p.strip() and not p.lstrip().startswith("#")]
        prose += paragraphs
        info, body = fence.group(1), fence.group(2)
        if info == "":
            lead = paragraphs[-1] if paragraphs else ""
            names = NAMED_FILE.findall(lead) if lead.endswith(":") else []
            name = names[-1] if names else "shop.kefu"
            assert name not in pending, f"{name} shown twice for one example (line {text.count(chr(10), 0, fence.start()) + 1})"
            pending[name] = body
        elif info == "text" and body.startswith("$ kefu "):
            lines = body.splitlines()
            assert lines[-2] == "$ echo $?" and lines[-1].isdigit(), f"example ends without `$ echo $?`: {lines[0]}"
            assert not any(line.startswith("$ ") for line in lines[1:-2]), f"one command per block: {lines[0]}"
            empties = [m.groups() for p in prose for m in EMPTY.finditer(p)]
            reused = not pending and not empties and bool(examples) and examples[-1].heading == section
            if reused:
                previous = examples[-1]   # "With this policy:" … the same policy in another format
                pending = dict(previous.files)
                empties = [(f, "file") for f in previous.empty_files] + [(d, "directory") for d in previous.empty_dirs]
            examples.append(Example(
                id=_section_id(subsection or section), heading=section,
                line=text.count("\n", 0, fence.start()) + 2,
                argv=shlex.split(lines[0][len("$ kefu "):]),
                output="".join(line + "\n" for line in lines[1:-2]),
                exit_code=int(lines[-1]),
                files=pending,
                empty_files=[name for name, kind in empties if kind == "file"],
                empty_dirs=[name for name, kind in empties if kind == "directory"],
                prose="\n\n".join(prose),
                reused=reused,
            ))
            pending, prose = {}, []
    # number the examples of a section that has several: E014-1, E014-2, …
    counts: dict[str, int] = {}
    for ex in examples:
        counts[ex.id] = counts.get(ex.id, 0) + 1
    seen: dict[str, int] = {}
    for ex in examples:
        if counts[ex.id] > 1:
            seen[ex.id] = seen.get(ex.id, 0) + 1
            ex.id = f"{ex.id}-{seen[ex.id]}"
    return examples


PAGE_TEXT = PAGE.read_text(encoding="utf-8")
EXAMPLES = parse_page(PAGE_TEXT)

# example id -> suspected engine bug, for an example whose shown output is right but the engine
# prints something else (xfail, strict). Empty while the page and the engine agree.
ENGINE_BUGS: dict[str, str] = {}


def _write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")


def build_described(ex: Example, tmp_path: Path) -> tuple[dict[str, str | bytes], Path]:
    """The files of an example as the page describes them, and the directory it is run in."""
    files: dict[str, str | bytes] = dict(ex.files)
    cwd = tmp_path
    section = ex.id.split("-")[0]
    if section in ELIDED:
        shown, full = ELIDED[section]
        head, tail = shown.split("…")
        assert full.startswith(head) and full.endswith(tail), f"{section}: the shown text is not the start and end of the real one"
        [name] = [n for n, body in files.items() if shown in body]
        files[name] = files[name].replace(shown, full)
    if ex.id == "E002":        # "`shop.kefu` saved as GBK"
        assert "saved as GBK" in ex.prose
        files["shop.kefu"] = ex.files["shop.kefu"].encode("gbk")
    elif ex.id == "E003":      # "a header followed by 4 MiB of comment"
        assert "a header followed by 4 MiB of comment" in ex.prose and not files
        files["shop.kefu"] = 'shop "s" on douyin\n' + ("# " + "x" * 1022 + "\n") * 4096
    elif ex.id == "E005":      # "with a NUL byte after `amy` on line 2"
        assert "a NUL byte after `amy` on line 2" in ex.prose and not files
        files["shop.kefu"] = 'shop "s" on douyin\nagent amy\x00 role admin\n'
    elif ex.id == "E021":      # "`shared/courtesy.kefu` exists next to the `shop` directory; the check is run inside `shop/`"
        assert "`shared/courtesy.kefu` exists next to the `shop` directory; the check is run inside `shop/`" in ex.prose
        files["shared/courtesy.kefu"] = 'reply closing "好的" -> "谢谢"\n'
        cwd = tmp_path / "shop"
    elif ex.id == "E023":      # "`f0.kefu` … `f16.kefu` each include the next file"
        assert "`f0.kefu` … `f16.kefu` each include the next file" in ex.prose
        chain = {f"f{i}.kefu": f'include "f{i + 1}.kefu"\n' for i in range(17)}
        for name in set(files) - {"shop.kefu"}:
            assert files[name] == chain[name], f"E023: {name} as shown does not include the next file"
        files.update(chain)
    elif ex.id == "E001-2":    # "`policies/` holds `shop.kefu`, `new.kefu` and a directory `archive/` … mode 000"
        files.update({"policies/shop.kefu": 'shop "s" on douyin\n', "policies/new.kefu": 'shop "n" on douyin\n',
                      "policies/archive/old.kefu": 'shop "o" on douyin\n'})
    return files, cwd


def _can_read_mode_000(tmp_path: Path) -> bool:
    """Whether this process reads files whatever their mode (root, or CAP_DAC_OVERRIDE)."""
    probe = tmp_path / "probe"
    probe.write_text("x")
    probe.chmod(0)
    try:
        return probe.read_text() == "x"
    except PermissionError:
        return False
    finally:
        probe.unlink()


def _ids():
    return [ex.id for ex in EXAMPLES]


@pytest.mark.parametrize("ex", EXAMPLES, ids=_ids())
def test_example_output_is_what_kefu_prints(ex: Example, tmp_path, monkeypatch, request):
    if ex.id in SKIPPED and (ex.id != "E001-2" or _can_read_mode_000(tmp_path)):
        pytest.skip(SKIPPED[ex.id])
    if ex.id in ENGINE_BUGS:
        request.applymarker(pytest.mark.xfail(reason=ENGINE_BUGS[ex.id], strict=True))
    files, cwd = build_described(ex, tmp_path)
    for name, data in files.items():
        _write(tmp_path / name, data)
    for name in ex.empty_files:
        _write(tmp_path / name, "")
    for name in ex.empty_dirs:
        (tmp_path / name).mkdir(parents=True)
    cwd.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(cwd)
    locked = [tmp_path / "policies" / "new.kefu", tmp_path / "policies" / "archive"] if ex.id == "E001-2" else []
    for path in locked:
        path.chmod(0)
    try:
        result = kefu(*ex.argv)
    finally:
        for path in locked:
            path.chmod(0o755)

    where = f"docs/diagnostics.md:{ex.line} ({ex.id})"
    assert result.output == ex.output, f"{where}: the output shown is not what `kefu {shlex.join(ex.argv)}` prints"
    assert result.exit_code == ex.exit_code, f"{where}: shown exit code {ex.exit_code}, real {result.exit_code}"
    # The page says where each format goes: JSON and GitHub annotations on stdout, the rest on stderr.
    machine = "--format" in ex.argv and ex.argv[ex.argv.index("--format") + 1] in ("json", "github")
    assert (result.stdout, result.stderr) == ((ex.output, "") if machine else ("", ex.output)), f"{where}: wrong stream"


def test_every_example_on_the_page_is_found():
    commands = re.findall(r"^```text\n\$ kefu ", PAGE_TEXT, re.M)
    assert len(EXAMPLES) == len(commands) > 0
    assert len({ex.id for ex in EXAMPLES}) == len(EXAMPLES)
    # every code documented on the page has at least one example that runs (or is listed in SKIPPED)
    codes = re.findall(r"^## ([EW]\d{3}) ", PAGE_TEXT, re.M)
    with_example = {ex.id.split("-")[0] for ex in EXAMPLES}
    assert codes and not set(codes) - with_example, f"codes without an example: {sorted(set(codes) - with_example)}"
    # every file shown belongs to an example
    shown = sum(1 for fence in FENCE.finditer(PAGE_TEXT) if fence.group(1) == "")
    assert shown == sum(len(ex.files) for ex in EXAMPLES if not ex.reused)
    # the lists of special cases name examples that exist
    ids = {ex.id for ex in EXAMPLES}
    assert set(SKIPPED) <= ids and set(ENGINE_BUGS) <= ids and set(ELIDED) <= {i.split("-")[0] for i in ids}

