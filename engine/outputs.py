"""Output files that appear whole or not at all: written beside their target, renamed over it on success."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO


def _default_mode() -> int:
    """The mode open() gives a new file: 0o666 less the umask."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


class PendingOutput:
    """An output being written: a temporary file in the target's directory (same file system), renamed over
    the target by commit() and removed by discard(), so a failed or interrupted run leaves the target as it was.

    Opening it creates the temporary file, so an output that cannot be written fails before any work is done.
    A symbolic link is followed (the file it points to is replaced, not the link). A target that is not a
    regular file (/dev/null, a pipe, a terminal) is written directly: there is nothing there to keep.
    """

    def __init__(self, path: Path, what: str = "output"):
        self.path = path
        self.what = what
        self.target = Path(os.path.realpath(path))
        self.temp: Path | None = None
        self.file: BinaryIO = self._open()

    def _open(self) -> BinaryIO:
        try:
            info = self.target.stat()
        except FileNotFoundError:
            mode = _default_mode()
        else:
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(self.path))
            if not stat.S_ISREG(info.st_mode):
                return open(self.target, "wb")
            if not os.access(self.target, os.W_OK):   # a read-only file is not replaced behind its owner's back
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self.path))
            mode = stat.S_IMODE(info.st_mode)
        fd, temp = tempfile.mkstemp(dir=self.target.parent, prefix=f".{self.target.name[:40]}.", suffix=".tmp")
        self.temp = Path(temp)
        try:
            os.fchmod(fd, mode)
            return os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            self.discard()
            raise

    def close(self) -> None:
        """Write what is buffered and close the file (OSError if the disk is full, say)."""
        self.file.close()

    def replace(self) -> None:
        """Put the closed file in the target's place."""
        if self.temp is not None:
            os.replace(self.temp, self.target)
            self.temp = None

    def discard(self) -> None:
        """Close and remove the temporary file; the target keeps what it held. Does nothing after commit()."""
        with contextlib.suppress(OSError):
            if hasattr(self, "file"):
                self.file.close()
        if self.temp is not None:
            with contextlib.suppress(OSError):
                self.temp.unlink()
            self.temp = None


class OutputFailed(Exception):
    """An output could not be finished: which one, and the OS's reason."""

    def __init__(self, output: PendingOutput, reason: str):
        super().__init__(f"{output.path}: {reason}")
        self.output = output
        self.reason = reason


class PendingOutputs:
    """The outputs of one run: each opened before the work, all committed at the end of a successful run, and
    every one not committed discarded when the block exits (an error, exit, or Ctrl-C)."""

    def __init__(self) -> None:
        self.pending: list[PendingOutput] = []

    def open(self, path: Path, what: str = "output") -> PendingOutput:
        """Create the output's temporary file (OSError when it cannot be written); what: how messages name it."""
        output = PendingOutput(path, what)
        self.pending.append(output)
        return output

    def commit(self) -> None:
        """Put every output in its target's place. All are written out and closed before any is renamed, so one
        that cannot be finished (a full disk) leaves every target as it was. OutputFailed names the one that failed."""
        for step in (PendingOutput.close, PendingOutput.replace):
            for output in self.pending:
                try:
                    step(output)
                except OSError as err:
                    raise OutputFailed(output, err.strerror or str(err)) from None

    def __enter__(self) -> PendingOutputs:
        return self

    def __exit__(self, *exc: object) -> None:
        for output in self.pending:
            output.discard()
