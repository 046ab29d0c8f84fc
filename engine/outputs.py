"""Output files that appear whole or not at all: written beside their target, renamed over it on success."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO, cast


class PendingOutput:
    """An output being written: a temporary file in the target's directory (same file system), renamed over
    the target by replace() and removed by discard(), so a failed or interrupted run leaves the target as it was.

    open() creates the temporary file, so an output that cannot be written fails before any work is done.
    A symbolic link is followed (the file it points to is replaced, not the link). A target that is not a
    regular file (/dev/null, a pipe, a terminal) is written directly: there is nothing there to keep.

    Every OSError (opening, writing, closing, renaming) comes out as OutputFailed, naming the output.
    """

    def __init__(self, path: Path, what: str = "output"):
        self.path = path
        self.what = what
        self.target = Path(os.path.realpath(path))
        self.temp: Path | None = None
        self.file: BinaryIO | None = None

    def open(self) -> BinaryIO:
        """Create the temporary file (or open a device or pipe) and return it, its writes guarded: OutputFailed
        (an OSError) names this output when it cannot be created or written."""
        try:
            return cast(BinaryIO, _GuardedFile(self._open_file(), self))
        except OSError as err:
            raise OutputFailed(self, err) from None

    def _open_file(self) -> BinaryIO:
        """The file to write: the temporary file, or the device or pipe itself (OSError as the OS says)."""
        try:
            info = self.target.stat()
        except FileNotFoundError:
            mode = None
        else:
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(self.path))
            if not stat.S_ISREG(info.st_mode):
                self.file = open(self.target, "wb")
                return self.file
            if not os.access(self.target, os.W_OK):   # a read-only file is not replaced behind its owner's back
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self.path))
            mode = stat.S_IMODE(info.st_mode)
        fd = self._create_temp()
        if mode is not None:   # the file keeps its permissions; a new one gets open()'s (0o666 less the umask)
            os.fchmod(fd, mode)
        self.file = os.fdopen(fd, "wb")
        return self.file

    def _create_temp(self) -> int:
        """A new temporary file beside the target. Its name is set before it exists, so a signal at any point
        leaves discard() knowing what to remove."""
        for _ in range(100):
            self.temp = self.target.parent / f".{self.target.name[:40]}.{secrets.token_hex(4)}.tmp"
            try:
                return os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
            except FileExistsError:   # another file's name: not ours to remove
                self.temp = None
            except OSError:
                self.temp = None   # not created (no such directory, no permission)
                raise
        raise FileExistsError(errno.EEXIST, "no free temporary name", str(self.target.parent))

    def close(self) -> None:
        """Write what is buffered and close the file (OSError if the disk is full, say)."""
        if self.file is not None:
            self.file.close()

    def replace(self) -> None:
        """Put the closed file in the target's place."""
        if self.temp is not None:
            os.replace(self.temp, self.target)
            self.temp = None

    def discard(self) -> None:
        """Close and remove the temporary file; the target keeps what it held. Does nothing after commit()."""
        if self.file is not None:
            with contextlib.suppress(OSError):
                self.file.close()
        if self.temp is not None:
            with contextlib.suppress(OSError):
                self.temp.unlink()
            self.temp = None


class OutputFailed(OSError):
    """An output could not be opened, written or finished: which one, and the OS's reason. An OSError, with the
    OS's errno and the output's path, so a caller that catches OSError around an output still catches it."""

    def __init__(self, output: PendingOutput, err: OSError):
        reason = err.strerror or str(err)
        super().__init__(err.errno, reason, str(output.path))
        self.output = output
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.output.path}: {self.reason}"


class _GuardedFile:
    """An output's open file whose OSErrors (a full disk on write, say) come out as OutputFailed naming it."""

    def __init__(self, file: BinaryIO, output: PendingOutput):
        self.file = file
        self.output = output

    def write(self, data: bytes) -> int:
        """Write data (buffered)."""
        try:
            return self.file.write(data)
        except OSError as err:
            raise OutputFailed(self.output, err) from None

    def flush(self) -> None:
        """Write what is buffered."""
        try:
            self.file.flush()
        except OSError as err:
            raise OutputFailed(self.output, err) from None


class PendingOutputs:
    """The outputs of one run: each opened before the work, all committed at the end of a successful run, and
    every one not committed discarded when the block exits (an error, exit, or Ctrl-C)."""

    def __init__(self) -> None:
        self.pending: list[PendingOutput] = []

    def open(self, path: Path, what: str = "output") -> BinaryIO:
        """The file to write the output to: its temporary file, created now; what: how messages name the output.
        OutputFailed (an OSError) when it cannot be created, and from any write to it that fails."""
        output = PendingOutput(path, what)
        self.pending.append(output)   # before its file exists: an interruption from here on discards it
        return output.open()

    def commit(self) -> None:
        """Put every output in its target's place. All are written out and closed before any is renamed, so one
        that cannot be finished (a full disk) leaves every target as it was. OutputFailed names the one that failed."""
        for step in (PendingOutput.close, PendingOutput.replace):
            for output in self.pending:
                try:
                    step(output)
                except OSError as err:
                    raise OutputFailed(output, err) from None

    def __enter__(self) -> PendingOutputs:
        return self

    def __exit__(self, *exc: object) -> None:
        for output in self.pending:
            output.discard()


def write_whole(path: Path, data: bytes) -> None:
    """Replace a file's content whole (a temporary file beside it, renamed over it); OutputFailed names the
    path when it cannot be."""
    with PendingOutputs() as outputs:
        outputs.open(path).write(data)
        outputs.commit()
