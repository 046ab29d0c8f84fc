"""The `kefu` command line: one function per command."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from . import ir
from .diagnostics import Diagnostic, error, render_github, render_json, render_text
from .loader import POLICY_SUFFIX, LoadResult, Loader
from .source import SourceFile

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


def _policy_files(paths: list[Path]) -> tuple[list[tuple[Path, Path | None]], list[Diagnostic]]:
    """Expand paths to policy files; a directory contributes every *.kefu under it."""
    files: list[tuple[Path, Path | None]] = []
    problems: list[Diagnostic] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob(f"*{POLICY_SUFFIX}") if p.is_file())
            if not found:
                problems.append(error("E006", f"{path}: no policy files (*{POLICY_SUFFIX}) in this directory", None,
                                      f"policy files end in {POLICY_SUFFIX}"))
            files.extend((p, path.resolve()) for p in found)
        elif path.exists():
            files.append((path, None))
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
    files, diags = _policy_files(paths)
    loader = Loader(platform_dir)
    sources: dict[str, SourceFile] = {}
    shown: list[str] = []
    for path, root in files:
        result = loader.load(path, root=root)
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


def _load_one(path: Path, platform_dir: list[Path]) -> LoadResult:
    loader = Loader(platform_dir)
    if not path.exists() or path.is_dir():
        result = LoadResult()
        what = "is a directory" if path.is_dir() else "no such file"
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
        diags = result.diagnostics or [error("E030", f"{path}: a fragment has no IR of its own", None,
                                             "pass a shop policy or a platform file")]
        _print_diagnostics(diags, result.sources, OutputFormat.text, [str(path)])
        raise typer.Exit(_exit_code(diags, False) or EXIT_ERRORS)
    model = result.policy if result.policy is not None else result.platform
    typer.echo(model.model_dump_json(indent=2))


@app.command()
def schema() -> None:
    """Print the JSON Schema of the resolved policy IR."""
    typer.echo(json.dumps(ir.Policy.model_json_schema(), indent=2, ensure_ascii=False))


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
