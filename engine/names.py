"""Name lookup helpers: 'did you mean …' suggestions."""

from __future__ import annotations

import difflib
from typing import Iterable


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to name, if any is close enough."""
    pool = list(candidates)
    match = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    if not match:
        lowered = {c.lower(): c for c in pool}
        match = [lowered[name.lower()]] if name.lower() in lowered else []
    return match[0] if match else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A 'did you mean …?' hint, or None when nothing is close."""
    match = closest(name, candidates)
    return f"did you mean '{match}'?" if match else None


def plural(what: str) -> str:
    """The plural of a noun phrase: `agent status` → `agent statuses`, `agent or group` → `agents and groups`."""
    if " or " in what:
        return " and ".join(plural(part) for part in what.split(" or "))
    if what.endswith(("s", "x", "z", "ch", "sh")):
        return what + "es"
    if what.endswith("y") and what[-2:-1] not in ("a", "e", "i", "o", "u"):
        return what[:-1] + "ies"
    return what + "s"
