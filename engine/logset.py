"""Several event logs read as one: `--events` files, globs and directories, merged in time.

What `kefu replay --events` accepts (docs/scale.md, "Many inputs"):

- a file (`.jsonl`, `.jsonl.gz`, or any name: gzip is recognised by its first bytes), or ``-``;
- a glob (``logs/2026-11-*.jsonl.gz``), expanded in sorted order; one that matches nothing is an error;
- a directory: every ``*.jsonl`` and ``*.jsonl.gz`` under it (subdirectories included), in sorted
  path order; one that holds none is an error;
- an fsspec URL (``s3://bucket/logs/*.jsonl.gz``, ``file:///…``), globbed the same way, when
  fsspec is installed (``pip install 'kefu[dask]'``).

A file named twice (by two specs that overlap) is an error: its events would be replayed twice.

Each file is read by its own `read_events` (its own order checks and line numbers), and the
files' events are merged by time; events at the same instant keep the order of their files,
then of their lines. So a month written as a file a day replays as one log, and a rejected line
is reported with its file and line.
"""

from __future__ import annotations

import errno
import glob
import heapq
import os
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

from .events import Event, ReadStats, Rejected, Vocabulary, open_log, read_events

LOG_SUFFIXES = (".jsonl", ".jsonl.gz")
"""The files a directory given to --events contributes."""
GLOB_CHARS = frozenset("*?[")


class LogSpecError(Exception):
    """An --events spec names nothing to read, or names a file twice."""


def is_url(spec: str) -> bool:
    """Whether spec is an fsspec URL (``s3://…``) rather than a local path."""
    head, sep, _ = spec.partition("://")
    return bool(sep) and head.isidentifier()


def expand(specs: list[str]) -> list[str]:
    """The log files the specs name, in order (a glob or directory expands sorted); LogSpecError if one
    names nothing or a file comes twice."""
    files: list[str] = []
    for spec in specs:
        found = _expand_one(spec)
        if not found:
            kind = "directory" if not is_url(spec) and os.path.isdir(spec) else "pattern"
            what = f"no {' or '.join(LOG_SUFFIXES)} file under {spec}" if kind == "directory" else f"{spec} matches no file"
            raise LogSpecError(what)
        files += found
    seen: dict[str, str] = {}
    for file in files:
        key = file if file == "-" or is_url(file) else os.path.realpath(file)
        if key in seen:
            raise LogSpecError(f"{file} is given twice (its events would be replayed twice)")
        seen[key] = file
    return files


def _expand_one(spec: str) -> list[str]:
    if spec == "-":
        return [spec]
    if is_url(spec):
        return _expand_url(spec)
    if os.path.isdir(spec):
        root = Path(spec)
        return sorted(str(p) for p in root.rglob("*") if p.is_file() and p.name.endswith(LOG_SUFFIXES))
    if GLOB_CHARS & set(spec) and not os.path.exists(spec):
        return sorted(glob.glob(spec, recursive=True))
    return [spec]   # a plain file: opening it says whether it exists


def _expand_url(spec: str) -> list[str]:
    fsspec = _fsspec(spec)
    try:
        fs, _, paths = fsspec.get_fs_token_paths(spec)
    except (ImportError, ValueError) as err:   # an unknown protocol, or its package not installed
        raise LogSpecError(f"{spec}: {err}") from None
    protocol = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol
    out = []
    for path in sorted(paths):
        if fs.isdir(path):
            out += sorted(p for p in fs.find(path) if p.endswith(LOG_SUFFIXES))
        else:
            out.append(path)
    return [f"{protocol}://{p}" if "://" not in p else p for p in out]


def _fsspec(spec: str):
    try:
        import fsspec
    except ImportError:
        raise LogSpecError(f"{spec}: reading a URL needs fsspec (pip install 'kefu[dask]')") from None
    return fsspec


def open_file(path: str) -> BinaryIO:
    """A log file opened for binary reading: a local path or ``-`` as `open_log` does, a URL through fsspec
    (decompressed by the reader, which knows gzip by its first bytes)."""
    if is_url(path):
        return _fsspec(path).open(path, "rb").open()
    return open_log(path)


def allow_open(files: int) -> None:
    """Raise this process's open-file limit towards its hard limit when a merge must hold `files` logs open
    (the soft limit is often 1,024; a month of a file per shop and day is more)."""
    try:
        import resource
    except ImportError:   # not on this system: its own limit stands
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = files + 64   # the process's own files besides the logs
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard == resource.RLIM_INFINITY else min(hard, wanted),
                                                    hard))


class OpenLogs:
    """Several logs opened at once (so a missing one stops a run before it starts), to be read merged in
    time (`read_merged`); closed as a context manager ends."""

    def __init__(self, files: list[str]):
        allow_open(len(files))
        self.files = files
        self.opened: list[BinaryIO] = []
        try:
            for file in files:
                self.opened.append(open_file(file))
        except OSError:
            self.close()
            raise

    def close(self) -> None:
        """Close every log opened."""
        for stream in self.opened:
            stream.close()

    def __enter__(self) -> "OpenLogs":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_merged(files: list[str], *, on_reject: Callable[[int, Rejected], None] | None = None, strict: bool = False,
                vocabulary: Vocabulary | None = None, opened: list[BinaryIO] | None = None,
                ) -> tuple[list[ReadStats], Iterator[Event]]:
    """Every file's events merged in time, each event's `file` its file's index; each file's counts
    (complete once the iterator is exhausted). on_reject gets the file index with each rejection.

    opened: the files already open, in order (default: opened here, as the merge first reads them).
    One file is read straight through (no merge, no tuple per event).
    """
    reads = [ReadStats() for _ in files]
    if opened is None:
        allow_open(len(files))
    streams = opened if opened is not None else [open_file(path) for path in files]

    def reader(index: int) -> Iterator[Event]:
        report = (lambda r: on_reject(index, r)) if on_reject is not None else None
        with streams[index] as stream, named_errors(files[index]):
            yield from read_events(stream, stats=reads[index], on_reject=report, strict=strict,
                                   vocabulary=vocabulary)

    def keyed(index: int) -> Iterator[tuple[float, int, int, Event]]:
        for event in reader(index):
            event.file = index
            yield event.ts, index, event.line, event

    if len(files) == 1:
        return reads, reader(0)
    merged = heapq.merge(*(keyed(i) for i in range(len(files))))
    return reads, (event for *_, event in merged)


@contextmanager
def named_errors(path: str) -> Iterator[None]:
    """A log's read errors that name no file (a cut or corrupt .gz: EOFError, zlib.error, BadGzipFile) as an
    OSError naming it, so that a run over many logs says which."""
    try:
        yield
    except (EOFError, zlib.error, OSError) as err:
        if isinstance(err, OSError) and err.filename is not None:
            raise
        raise OSError(errno.EIO, getattr(err, "strerror", None) or str(err) or type(err).__name__, path) from err


def total(reads: Iterable[ReadStats]) -> ReadStats:
    """The counts of several reads together."""
    out = ReadStats()
    for stats in reads:
        out.read += stats.read
        out.accepted += stats.accepted
        out.rejected += stats.rejected
    return out
