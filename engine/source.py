"""Source files: reading policy text safely and mapping positions back to lines."""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Union

from .ir import Span

MAX_POLICY_BYTES = 4 * 1024 * 1024


class SourceError(Exception):
    """A policy file that cannot be read as text; carries a diagnostic code."""

    def __init__(self, code: str, message: str, hint: str, line: int = 1, column: int = 1):
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.line = line
        self.column = column


@dataclass
class SourceFile:
    """The text of one policy file and where its lines start."""

    path: str
    text: str
    _lines: list[str] | None = field(default=None, repr=False)

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline."""
        if self._lines is None:   # split once, without the CR of CRLF line ends: a line is asked for once per diagnostic
            self._lines = [text.rstrip("\r") for text in self.text.split("\n")]
        return self._lines[line - 1] if 0 < line <= len(self._lines) else ""

    def span(self, line: int, column: int, end_line: int | None = None, end_column: int | None = None) -> Span:
        """A span in this file."""
        return Span(
            file=self.path,
            line=line,
            column=column,
            end_line=end_line or line,
            end_column=end_column or column + 1,
        )


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """Line and column (in characters, from 1) of a byte offset."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


def decode_policy(path: str, data: bytes) -> SourceFile:
    """Decode policy bytes as UTF-8 text, refusing binary, oversized and non-UTF-8 input."""
    if len(data) > MAX_POLICY_BYTES:
        raise SourceError(
            "E003",
            f"file is larger than {MAX_POLICY_BYTES:,} bytes, the most a policy may be",
            "split the policy and use `include` for shared parts",
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    nul = data.find(b"\x00")
    if nul >= 0:
        line, column = _position(data, nul)
        raise SourceError("E005", "file contains NUL bytes: not a text policy", "check that this is a policy file, not a binary", line, column)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line, column = _position(data, err.start)
        raise SourceError(
            "E002",
            f"file is not valid UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start})",
            "save the file as UTF-8; GBK/GB18030 files can be converted with `iconv -f GB18030 -t UTF-8`",
            line,
            column,
        ) from None
    return SourceFile(path=path, text=text)


def path_kind(path: Path) -> str:
    """"dir", "missing", or "other" (a file, or a path the OS will not even look at: reading it says why).

    Path.is_dir and .exists raise for a name too long or a directory that cannot be searched.
    """
    try:
        if path.is_dir():
            return "dir"
        return "other" if path.exists() else "missing"
    except (OSError, ValueError):
        return "other"


FileRef = Union[Path, tuple[int, int]]
"""A file a run reads or writes: its path, or the (device, inode) of a file already open (standard input)."""


def stdin_file() -> tuple[int, int] | None:
    """The (device, inode) of the regular file standard input is redirected from (`< log.jsonl`); None for a
    pipe, a terminal, or no standard input at all."""
    try:
        info = os.fstat(sys.stdin.fileno())
    except (AttributeError, OSError, ValueError):   # closed, or replaced by an object with no descriptor
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None


def _same_file(path: Path, other: FileRef) -> bool:
    """Whether path names the other file (the same path, a link to it, or the open file's inode)."""
    try:
        if isinstance(other, tuple):
            info = path.stat()
            return (info.st_dev, info.st_ino) == other
        return path.resolve() == other.resolve() or (path.exists() and other.exists() and path.samefile(other))
    except (OSError, ValueError, RuntimeError):   # missing, or a path the OS refuses: opening it says why
        return False


def _special(path: Path) -> bool:
    """Whether path is an existing file that is neither regular nor a directory (/dev/null, a pipe)."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def overwritten_input(outputs: Mapping[str, Path | None],
                      inputs: Mapping[str, FileRef | None] | Iterable[tuple[str, FileRef | None]],
                      ) -> tuple[str, Path, str] | None:
    """The first output that names an input or an earlier output, as (its label, its path, the other's
    label); None when none does.

    Writing an output replaces the file it names. Inputs are given as (label, path) pairs (or a dict): the
    log, the policy, each snippet it includes, its platform file; standard input as its (device, inode).
    Two outputs may both name the same device or pipe (`/dev/null`): writing there erases nothing.
    """
    pairs = inputs.items() if isinstance(inputs, Mapping) else inputs
    named: list[tuple[str, FileRef]] = [(label, ref) for label, ref in pairs if ref is not None]
    for label, path in outputs.items():
        if path is None:
            continue
        for other, that in named:
            if _same_file(path, that):
                return label, path, other
        if not _special(path):
            named.append((label, path))
    return None


def read_policy(path: Path, display: str | None = None) -> SourceFile:
    """Read and decode a policy file; raises SourceError with a code on failure."""
    shown = display or str(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SourceError("E001", "no such file", "check the path; policy files end in .kefu") from None
    except OSError as err:
        raise SourceError("E001", f"cannot read file: {err.strerror}", "check the path and its permissions") from None
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):  # a FIFO or device: opening it could block
        raise SourceError("E001", "not a regular file", "pass a .kefu policy file")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_POLICY_BYTES + 1)
    except FileNotFoundError:
        raise SourceError("E001", "no such file", "check the path; policy files end in .kefu") from None
    except IsADirectoryError:
        raise SourceError("E001", "is a directory, not a policy file", "pass a .kefu file, or a directory to check all its policies") from None
    except OSError as err:
        raise SourceError("E001", f"cannot read file: {err.strerror}", "check the path and its permissions") from None
    return decode_policy(shown, data)
