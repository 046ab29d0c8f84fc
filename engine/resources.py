"""Where the grammar and shipped rulesets live, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The directory of a shipped resource (`grammar` or `rulesets`)."""
    installed = _HERE / "_data" / name
    if installed.is_dir():
        return installed
    return _HERE.parent / name


def grammar_path() -> Path:
    """The policy grammar file."""
    return resource_dir("grammar") / "kefu.lark"


def platforms_dir() -> Path:
    """The directory of the shipped platform files."""
    return resource_dir("rulesets") / "platforms"
