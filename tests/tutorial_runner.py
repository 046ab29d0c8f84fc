"""Runs docs/tutorial.md: its file blocks are written, its console blocks' commands run in order.

A ```kefu file=PATH``` (or ```yaml file=PATH```) block writes PATH; in a ```console``` block each
`$ kefu …` line is a command, run in-process in one temporary directory for the whole page, and the
lines after it, up to the next `$`, are what it prints (standard output, then standard error).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^```(\w+)(?: file=(\S+))?\n(.*?)^```\n", re.M | re.S)


@dataclass
class Command:
    argv: list[str]
    shown: str          # the output the page shows
    start: int          # offset in the page of the shown output
    end: int


def blocks(page: str):
    """(kind, path, body, body offset) of each fenced block, in order."""
    for match in FENCE.finditer(page):
        yield match.group(1), match.group(2), match.group(3), match.start(3)


def commands(body: str, offset: int) -> list[Command]:
    """The `$ kefu …` lines of a console block and the output shown after each."""
    found = []
    lines = body.splitlines(keepends=True)
    pos = offset
    current: Command | None = None
    for line in lines:
        if line.startswith("$ "):
            current = Command(shlex.split(line[2:])[1:], "", pos + len(line), pos + len(line))
            found.append(current)
        elif current is not None:
            current.shown += line
            current.end = pos + len(line)
        pos += len(line)
    return found


def run_page(page: str, workdir: Path, kefu) -> list[tuple[Command, str]]:
    """Every command of the page with what it really printed (files written as the page says)."""
    import os

    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        out = []
        for kind, path, body, offset in blocks(page):
            if path:
                (workdir / path).parent.mkdir(parents=True, exist_ok=True)
                (workdir / path).write_text(body, encoding="utf-8")
            elif kind == "console":
                for command in commands(body, offset):
                    result = kefu(*command.argv)
                    out.append((command, result.stdout + result.stderr))
        return out
    finally:
        os.chdir(cwd)
