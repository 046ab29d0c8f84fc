"""Shared test helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.loader import Loader

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def load_text(tmp_path):
    """Write policy text to a file and load it; returns the LoadResult."""

    def load(text: str, name: str = "shop.kefu", **files: str):
        for rel, body in files.items():
            target = tmp_path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body, encoding="utf-8")
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return Loader().load(path, display=name)

    return load
