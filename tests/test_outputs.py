"""engine.outputs: an output is a temporary file beside its target until the run commits it."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from engine import outputs
from engine.outputs import OutputFailed, PendingOutputs


def test_a_new_output_gets_the_mode_open_would_give_it(tmp_path):
    old = os.umask(0o027)
    try:
        with PendingOutputs() as pending:
            pending.open(tmp_path / "new.txt").write(b"x")
            pending.commit()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o640   # 0o666 less the umask, as open() gives
    assert (tmp_path / "new.txt").read_bytes() == b"x"


def test_a_read_only_output_is_refused_not_replaced(tmp_path, monkeypatch):
    target = tmp_path / "kept.txt"
    target.write_bytes(b"kept")
    # root may write anything: what a user without the right would be told is what access() says
    monkeypatch.setattr(outputs.os, "access", lambda path, mode: False)
    with PendingOutputs() as pending, pytest.raises(OutputFailed) as failed:
        pending.open(target)
    assert (failed.value.errno, failed.value.reason) == (errno.EACCES, "Permission denied")
    assert target.read_bytes() == b"kept" and os.listdir(tmp_path) == ["kept.txt"]


def test_outputs_not_committed_are_discarded(tmp_path):
    target = tmp_path / "kept.txt"
    target.write_bytes(b"kept")
    with pytest.raises(RuntimeError), PendingOutputs() as pending:
        pending.open(target).write(b"half")
        raise RuntimeError("the run failed")
    assert target.read_bytes() == b"kept" and os.listdir(tmp_path) == ["kept.txt"]


def test_an_output_that_cannot_be_finished_names_itself_and_no_target_changes(tmp_path):
    first = tmp_path / "first.txt"
    first.write_bytes(b"kept")
    with PendingOutputs() as pending:
        pending.open(first, "decisions").write(b"new")
        pending.open(outputs.Path("/dev/full"), "report").write(b"buffered until it is closed")
        with pytest.raises(OutputFailed) as failed:
            pending.commit()
    assert (failed.value.output.what, failed.value.reason) == ("report", "No space left on device")
    assert first.read_bytes() == b"kept" and os.listdir(tmp_path) == ["first.txt"]


def test_a_directory_in_the_outputs_place_is_refused_naming_it(tmp_path):
    (tmp_path / "out").mkdir()
    with PendingOutputs() as pending, pytest.raises(OutputFailed) as failed:
        pending.open(tmp_path / "out", "report")
    assert failed.value.output.what == "report" and failed.value.filename == str(tmp_path / "out")
    assert failed.value.reason == "Is a directory" and isinstance(failed.value, OSError)
    assert os.listdir(tmp_path) == ["out"]


def test_an_output_under_a_regular_file_is_refused_naming_it(tmp_path):
    (tmp_path / "file").write_bytes(b"kept")   # no directory can be made under it, not even by root
    with PendingOutputs() as pending, pytest.raises(OutputFailed) as failed:
        pending.open(tmp_path / "file" / "out.txt")
    assert str(failed.value) == f"{tmp_path / 'file' / 'out.txt'}: Not a directory"
    assert os.listdir(tmp_path) == ["file"]


def test_a_write_that_fails_names_the_output(tmp_path):
    with PendingOutputs() as pending:
        full = pending.open(outputs.Path("/dev/full"), "decisions")
        with pytest.raises(OutputFailed) as failed:
            full.write(b"x" * (1 << 20))   # more than any buffer: written at once, to a device that is always full
    assert (failed.value.output.what, failed.value.errno) == ("decisions", errno.ENOSPC)


def test_a_commit_that_cannot_rename_names_the_output_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "report.txt"
    with PendingOutputs() as pending:
        pending.open(target, "report").write(b"new")
        target.mkdir()   # a directory where the file was to go: os.replace refuses, for root too
        with pytest.raises(OutputFailed) as failed:
            pending.commit()
    assert (failed.value.output.what, failed.value.errno) == ("report", errno.EISDIR)
    assert os.listdir(tmp_path) == ["report.txt"] and target.is_dir()
