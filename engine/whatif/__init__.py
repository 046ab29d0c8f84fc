"""The what-if engine: a model of a desk's agents calibrated on a log (`kefu calibrate`, docs/whatif.md)."""

from __future__ import annotations

import importlib.util


def actor_build() -> str:
    """How the installed actor (actor.py) runs: 'compiled' (the mypyc extension a wheel build makes where it can,
    hatch_build.py) or 'pure Python'; found without importing it."""
    spec = importlib.util.find_spec(f"{__name__}.actor")
    origin = spec.origin if spec is not None and spec.origin else ""
    return "pure Python" if origin.endswith(".py") else "compiled"
