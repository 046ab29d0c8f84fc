"""docs/tutorial.md is true: its commands, run in order on the files it shows, print what it shows."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import kefu
from tutorial_runner import run_page

PAGE = Path(__file__).resolve().parent.parent / "docs" / "tutorial.md"


def test_every_command_of_the_tutorial_prints_what_the_page_shows(tmp_path):
    results = run_page(PAGE.read_text(encoding="utf-8"), tmp_path, kefu)
    assert len(results) >= 10
    for command, printed in results:
        assert printed == command.shown, f"kefu {' '.join(command.argv)}"
