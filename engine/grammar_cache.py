"""The built grammar, cached where only the user can write (language.md §9.1).

Building the LALR tables is a good part of every start. The built parser is kept in
$XDG_CACHE_HOME/kefu (else ~/.cache/kefu). Lark saves it as a pickle, and loading a
pickle runs code: a file is loaded only when it and its directory are the user's own
and writable by nobody else, the directory is no symbolic link and the file is opened
without following one. Anything else (no such file, someone else's, not loadable, a
place that cannot be written) means building the grammar, without a message.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import tempfile
from pathlib import Path

from lark import Lark
from lark import __version__ as lark_version


def cache_path(grammar: str, options: str) -> Path | None:
    """Where the built grammar is cached: $XDG_CACHE_HOME/kefu (else ~/.cache/kefu), a file named by the hash of
    the grammar, the Lark options, the Lark and the Python version; None where there is no user to own it (no os.getuid)."""
    if not hasattr(os, "getuid"):
        return None
    base = os.environ.get("XDG_CACHE_HOME", "")
    try:
        root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    except RuntimeError:   # no home directory
        return None
    key = hashlib.sha256("\0".join((grammar, lark_version, sys.version, options)).encode()).hexdigest()
    return root / "kefu" / f"grammar-{key[:32]}.lark.pickle"


def _owned_and_private(info: os.stat_result) -> bool:
    """The user's own, and nobody else may write it (Lark's cache is a pickle: loading it runs code)."""
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _trusted_dir(directory: Path) -> bool:
    """A real directory (not a symbolic link) that is the user's own and that only the user may write."""
    try:
        info = os.lstat(directory)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and _owned_and_private(info)


def load(path: Path) -> Lark | None:
    """The parser cached at path, if the file and its directory are the user's own and private; else None."""
    if not _trusted_dir(path.parent):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())   # of the file opened, not of whatever the name points to now
        if not (stat.S_ISREG(info.st_mode) and _owned_and_private(info)):
            return None
        try:
            return Lark.load(f)
        except Exception:   # a cache written by another Lark, or cut short: build afresh
            return None


def save(lark: Lark, path: Path) -> None:
    """Write the parser to path atomically (a private temporary file renamed); on any error, write nothing."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _trusted_dir(path.parent):
            return
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".grammar-", suffix=".tmp")   # mode 0600
        try:
            with os.fdopen(fd, "wb") as f:
                lark.save(f)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except Exception:   # not writable, full, …: the next run builds the grammar again
        return
