"""The `kefu` command line: one function per command."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import zlib
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from . import ir
from .diagnostics import Diagnostic, error, render_github, render_json, render_text
from .loader import POLICY_SUFFIX, LoadResult, Loader
from .source import SourceFile, overwritten_input, path_kind

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
IO_CODES = {"E001"}

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="kefu: policies for customer-service desks (客服) on Taobao, Pinduoduo and Douyin.",
)


class OutputFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"


def _walk_policies(directory: Path) -> tuple[list[Path], list[Diagnostic]]:
    """Every *.kefu file under a directory, and an E001 for each directory under it that cannot be read.

    Path.rglob skips such directories silently; their policies would go unchecked without a word.
    """
    found: list[Path] = []
    unreadable: list[Diagnostic] = []

    def refused(err: OSError) -> None:
        where = Path(err.filename) if err.filename else directory
        unreadable.append(error("E001", f"{where.as_posix()}: cannot read directory: {err.strerror or err}", None,
                                "check its permissions; the policies in it were not checked"))

    for folder, _, names in os.walk(directory, onerror=refused):
        found.extend(Path(folder, name) for name in names if name.endswith(POLICY_SUFFIX))
    return sorted(p for p in found if path_kind(p) == "other"), unreadable


def _policy_files(paths: list[Path]) -> tuple[list[Path], list[Diagnostic]]:
    """Expand paths to policy files; a directory contributes every *.kefu under it."""
    files: list[Path] = []
    problems: list[Diagnostic] = []
    for path in paths:
        kind = path_kind(path)
        if kind == "dir":
            found, unreadable = _walk_policies(path)
            problems.extend(unreadable)
            if not found and not unreadable:
                problems.append(error("E006", f"{path}: no policy files (*{POLICY_SUFFIX}) in this directory", None,
                                      f"policy files end in {POLICY_SUFFIX}"))
            files.extend(found)
        elif kind == "other":
            files.append(path)   # reading it reports what is wrong with it, if anything
        else:
            problems.append(error("E001", f"{path}: no such file or directory", None, "check the path"))
    return files, problems


def _unique(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen, out = set(), []
    for d in diags:
        key = (d.code, d.message, d.span)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def _print_diagnostics(diags: list[Diagnostic], sources: dict[str, SourceFile], fmt: OutputFormat, files: list[str]) -> None:
    if fmt is OutputFormat.json:
        sys.stdout.write(render_json(diags, files))
    elif fmt is OutputFormat.github:
        sys.stdout.write(render_github(diags))
    else:
        def line_of(file: str, line: int) -> str | None:
            src = sources.get(file)
            return src.line_text(line) if src else None
        sys.stderr.write(render_text(diags, line_of))


def _exit_code(diags: list[Diagnostic], strict: bool) -> int:
    if any(d.code in IO_CODES or d.code == "E006" for d in diags):
        return EXIT_USAGE
    if any(d.severity == "error" for d in diags) or (strict and diags):
        return EXIT_ERRORS
    return EXIT_OK


@app.command()
def check(
    paths: List[Path] = typer.Argument(..., help="Policy files or directories (every *.kefu under them)."),
    format: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f", help="text, json or github annotations."),
    strict: bool = typer.Option(False, "--strict", help="Warnings fail the check too."),
    platform_dir: List[Path] = typer.Option([], "--platform-dir", help="Extra directory of platform files."),
) -> None:
    """Check policy files: syntax, names, platform limits, contradictions.

    Exit codes: 0 clean, 1 errors (or warnings with --strict), 2 usage or I/O error.
    """
    loader = _loader(platform_dir)
    files, diags = _policy_files(paths)
    sources: dict[str, SourceFile] = {}
    shown: list[str] = []
    for path in files:
        result = loader.load(path)
        shown.append(loader.display_of(path))
        sources.update(result.sources)
        diags.extend(sorted(result.diagnostics, key=Diagnostic.sort_key))
    diags = _unique(diags)
    _print_diagnostics(diags, sources, format, shown)
    code = _exit_code(diags, strict)
    if format is OutputFormat.text:
        errors = sum(1 for d in diags if d.severity == "error")
        warnings = len(diags) - errors
        verdict = "ok" if code == EXIT_OK else "failed"
        typer.echo(f"checked {len(files)} file{'s' if len(files) != 1 else ''}: "
                   f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''} — {verdict}",
                   err=True)
    raise typer.Exit(code)


def _loader(platform_dir: list[Path]) -> Loader:
    """A loader searching these platform directories; a directory that does not exist is a usage error (exit 2)."""
    for directory in platform_dir:
        kind = path_kind(directory)
        if kind != "dir":
            what = "no such directory" if kind == "missing" else "not a directory"
            typer.echo(f"error: --platform-dir {directory}: {what}", err=True)
            raise typer.Exit(EXIT_USAGE)
    return Loader(platform_dir)


def _load_one(path: Path, platform_dir: list[Path]) -> LoadResult:
    loader = _loader(platform_dir)
    kind = path_kind(path)
    if kind != "other":
        result = LoadResult()
        what = "is a directory" if kind == "dir" else "no such file"
        result.diagnostics.append(error("E001", f"{path}: {what}", None, "pass one .kefu policy file"))
        return result
    return loader.load(path)


@app.command("ir")
def ir_command(
    path: Path = typer.Argument(..., help="A shop policy (or platform file)."),
    platform_dir: List[Path] = typer.Option([], "--platform-dir", help="Extra directory of platform files."),
) -> None:
    """Print the resolved IR of a policy (platform merged in) as JSON."""
    result = _load_one(path, platform_dir)
    if not result.ok or (result.policy is None and result.platform is None):
        diags = sorted(result.diagnostics, key=Diagnostic.sort_key) or [
            error("E030", f"{path}: a fragment has no IR of its own", None, "pass a shop policy or a platform file")]
        _print_diagnostics(diags, result.sources, OutputFormat.text, [str(path)])
        raise typer.Exit(_exit_code(diags, False) or EXIT_ERRORS)
    model = result.policy if result.policy is not None else result.platform
    assert model is not None  # both None exits above
    typer.echo(model.model_dump_json(indent=2))


class ReportFormat(str, Enum):
    text = "text"
    json = "json"


MAX_REJECTS_SHOWN = 100
SEED_MIN, SEED_MAX = -(1 << 63), (1 << 64) - 1
"""The seeds a replay takes: the report carries the seed, and JSON numbers are written up to 64 bits."""


def _replay_policy(policy: Optional[Path], platform: Optional[str], platform_dir: list[Path]):
    """The policy to replay and its display name, or exits with diagnostics (1) or usage (2)."""
    if (policy is None) == (platform is None):
        typer.echo("error: give a POLICY file or --platform NAME (one of them)", err=True)
        raise typer.Exit(EXIT_USAGE)
    loader = _loader(platform_dir)
    if platform is not None:
        files = loader.available_platforms()
        if platform not in files:
            from .names import did_you_mean
            hint = did_you_mean(platform, files) or f"known platforms: {', '.join(sorted(files))}"
            typer.echo(f"error: unknown platform {platform!r} ({hint})", err=True)
            raise typer.Exit(EXIT_USAGE)
        result = loader.load_platform_file(files[platform], platform)
        if not result.ok:
            _print_diagnostics(result.diagnostics, result.sources, OutputFormat.text, [platform])
            raise typer.Exit(_exit_code(result.diagnostics, False) or EXIT_ERRORS)
        from .runtime import platform_policy
        assert result.platform is not None  # ok: the file was read as a platform file (load_platform_file)
        return platform_policy(result.platform), None
    assert policy is not None  # exactly one of policy and platform is given (checked above)
    result = _load_one(policy, platform_dir)
    if result.policy is None:
        diags = result.diagnostics or [error("E030", f"{policy}: not a shop policy", None,
                                             'a replay needs a policy that starts with `shop "name" on PLATFORM`')]
        _print_diagnostics(diags, result.sources, OutputFormat.text, [str(policy)])
        raise typer.Exit(_exit_code(diags, False) or EXIT_ERRORS)
    return result.policy, loader.display_of(policy)


@app.command()
def replay(
    policy: Optional[Path] = typer.Argument(None, help="Shop policy to replay (omit with --platform)."),
    platform: Optional[str] = typer.Option(None, "--platform", help="Replay the platform file alone: its metrics and defaults, no shop automation."),
    events: str = typer.Option(..., "--events", "-e", help="Event log: JSON Lines file, or - for stdin; gzip is read by its first bytes (.gz, or piped)."),
    decisions: Optional[Path] = typer.Option(None, "--decisions", help="Write every decision as JSON Lines here (- for standard output, with --report FILE)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write the report here instead of stdout."),
    format: ReportFormat = typer.Option(ReportFormat.text, "--format", "-f", help="Report format: text or json."),
    seed: int = typer.Option(0, "--seed", min=SEED_MIN, max=SEED_MAX,
                             help="Seed for random tie-breaks (same seed, same output); it must fit in 64 bits."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad event line (exit 1)."),
    platform_dir: List[Path] = typer.Option([], "--platform-dir", help="Extra directory of platform files."),
) -> None:
    """Replay an event log through a policy: decisions and a compliance report.

    Exit codes: 0 replayed, 1 policy errors or a bad line with --strict, 2 usage or I/O error.
    Bad event lines are reported on stderr with their line number, counted, and skipped.
    """
    from .events import StrictError, open_log, standard_stream
    from .replay import render_text, replay as run_replay, report_dict, report_json

    resolved, policy_file = _replay_policy(policy, platform, platform_dir)
    shown = {"n": 0}
    label = "-" if events == "-" else events

    def on_reject(rejected) -> None:
        shown["n"] += 1
        if shown["n"] <= MAX_REJECTS_SHOWN:
            typer.echo(f"{label}:{rejected.line}: rejected: {rejected.reason}", err=True)

    to_stdout = decisions is not None and str(decisions) == "-"
    if to_stdout and report is None:
        typer.echo("error: --decisions - writes the decisions to standard output: give the report a file with --report",
                   err=True)
        raise typer.Exit(EXIT_USAGE)
    clash = overwritten_input({"--decisions": None if to_stdout else decisions, "--report": report},
                              {"the log": None if events == "-" else Path(events), "the policy": policy})
    if clash is not None:
        output, path, other = clash
        if other.startswith("--"):   # two outputs
            typer.echo(f"error: {output} {path} is {other} too: give each its own file", err=True)
        else:
            typer.echo(f"error: {output} {path} is {other}: writing it would erase {other}", err=True)
        raise typer.Exit(EXIT_USAGE)
    try:
        stream = open_log(events)
    except OSError as err:
        typer.echo(f"error: cannot read events {events}: {err.strerror or err}", err=True)
        raise typer.Exit(EXIT_USAGE)
    try:
        decisions_out = _Decisions(standard_stream("stdout") if to_stdout else decisions.open("wb")) if decisions else None
    except OSError as err:
        typer.echo(f"error: cannot write decisions {decisions}: {err.strerror or err}", err=True)
        raise typer.Exit(EXIT_USAGE)
    try:
        with stream, _progress(events) as tick:
            result = run_replay(resolved, stream, seed=seed, automation=platform is None, decisions_out=decisions_out,
                                on_reject=on_reject, strict=strict, policy_file=policy_file, progress=tick)
        if decisions_out is not None:
            decisions_out.finish(close=not to_stdout)
    except StrictError as err:
        typer.echo(f"stopped at the first bad line (--strict): {label}:{err.rejected.line}: {err.rejected.reason}", err=True)
        raise typer.Exit(EXIT_ERRORS)
    except _WriteError as err:
        typer.echo(f"error: cannot write decisions {decisions}: {err.reason}", err=True)
        raise typer.Exit(EXIT_USAGE)
    except (OSError, EOFError, zlib.error) as err:   # a corrupt or cut .gz log among them
        typer.echo(f"error: cannot read events {events}: {err}", err=True)
        raise typer.Exit(EXIT_USAGE)
    finally:
        if decisions_out is not None and not to_stdout:
            with contextlib.suppress(OSError):   # after an error, already reported
                decisions_out.out.close()
    if shown["n"] > MAX_REJECTS_SHOWN:
        typer.echo(f"{label}: {shown['n'] - MAX_REJECTS_SHOWN} more rejected lines not shown", err=True)
    data = report_dict(result)
    body = report_json(data) if format is ReportFormat.json else render_text(data).encode("utf-8")
    if report is not None:
        try:
            report.write_bytes(body)
        except OSError as err:
            typer.echo(f"error: cannot write report {report}: {err.strerror or err}", err=True)
            raise typer.Exit(EXIT_USAGE)
    else:
        stdout = standard_stream("stdout")
        stdout.write(body)
        stdout.flush()


class _WriteError(Exception):
    """Writing the decisions failed (a full disk, say); reason is the OS's."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Decisions:
    """The decisions file, telling its write errors apart from the log's read errors."""

    def __init__(self, out):
        self.out = out

    def write(self, data: bytes) -> int:
        try:
            return self.out.write(data)
        except OSError as err:
            raise _WriteError(err.strerror or str(err)) from None

    def finish(self, close: bool) -> None:
        """Flush what is buffered (and close the file)."""
        try:
            self.out.flush()
            if close:
                self.out.close()
        except OSError as err:
            raise _WriteError(err.strerror or str(err)) from None


class _progress:
    """A rich progress line on stderr while replaying, only when stderr is a terminal."""

    def __init__(self, label: str):
        self.label = label
        self.bar = None

    def __enter__(self):
        if not sys.stderr.isatty():
            return None
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.bar = Progress(SpinnerColumn(), TextColumn("replaying {task.fields[label]}: {task.completed:,} events"),
                            TimeElapsedColumn(), transient=True)
        self.bar.__enter__()
        task = self.bar.add_task("replay", total=None, label=self.label)
        return lambda n: self.bar.update(task, completed=n)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


@app.command()
def generate(
    policy: Path = typer.Argument(..., help="Shop policy whose agents, pages, products and keywords the log uses."),
    out: str = typer.Option("-", "--out", "-o", help="Output file (.jsonl, .jsonl.gz) or - for stdout."),
    day: str = typer.Option("2026-11-11", "--day", help="First local day (YYYY-MM-DD)."),
    days: int = typer.Option(1, "--days", help="Number of days."),
    consumers: int = typer.Option(300, "--consumers", help="Distinct consumers per day."),
    seed: int = typer.Option(1, "--seed", help="Seed (same seed, same bytes)."),
    platform_dir: List[Path] = typer.Option([], "--platform-dir", help="Extra directory of platform files."),
) -> None:
    """Write a realistic synthetic event log for a shop policy (peaks, breaks, cards, transfers).

    Exit codes: 0 written, 1 policy errors or no agent who can chat, 2 usage or I/O error.
    """
    from .synth import generate_command

    _loader(platform_dir)   # a --platform-dir that is not a directory is a usage error
    raise typer.Exit(generate_command(policy, out, day, days, consumers, seed, platform_dirs=platform_dir))


class SchemaName(str, Enum):
    ir = "ir"
    report = "report"
    decision = "decision"


@app.command()
def schema(
    name: SchemaName = typer.Argument(SchemaName.ir, help="ir (resolved policy), report (replay report) or decision (one decision record)."),
) -> None:
    """Print a JSON Schema: the policy IR, the replay report, or a decision record."""
    from .interface import SCHEMAS

    model = ir.Policy if name is SchemaName.ir else SCHEMAS[name.value]
    typer.echo(json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False))


def main() -> None:
    """Console entry point. An I/O error no command handled itself (standard output full or closed,
    say) is a plain message and exit 2, not a traceback."""
    try:
        app()
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        sys.stderr.write(f"error: {where}{err.strerror or err}\n")
        raise SystemExit(EXIT_USAGE) from None


if __name__ == "__main__":
    main()
