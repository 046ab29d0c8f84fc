"""Name lookup helpers: 'did you mean …' suggestions."""

from __future__ import annotations

import difflib
import unicodedata
from typing import Iterable, Mapping

CUTOFF = 0.6
# Two wide (CJK) characters with one wrong (小梅 for 小美) have a ratio of 0.5, below CUTOFF: such names may
# be suggested from 0.5.
SHORT_WIDE_CUTOFF = 0.5


def _cutoff(name: str) -> float:
    """The similarity a candidate needs: lower for a name of two wide (CJK) characters."""
    if len(name) == 2 and all(unicodedata.east_asian_width(ch) in ("W", "F") for ch in name):
        return SHORT_WIDE_CUTOFF
    return CUTOFF


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to name, if any is close enough."""
    pool = list(candidates)
    match = difflib.get_close_matches(name, pool, n=1, cutoff=_cutoff(name))
    if not match:
        lowered = {c.lower(): c for c in pool}
        match = [lowered[name.lower()]] if name.lower() in lowered else []
    return match[0] if match else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A 'did you mean …?' hint, or None when nothing is close."""
    match = closest(name, candidates)
    return f"did you mean '{match}'?" if match else None


def by_label(name: str, labels: Mapping[str, str]) -> str | None:
    """A 'did you mean …?' hint giving the name a label belongs to, when name is that label or close to it
    (a Chinese name: 客服管理员, 店铺首页, 周一); None when no label is close. labels: label → name."""
    match = closest(name, labels) if labels else None
    if match is None:
        return None
    if match == name:
        return f"names are written in English: write '{labels[match]}' for {match}"
    return f"did you mean '{labels[match]}' ({match})?"


def plural(what: str) -> str:
    """The plural of a noun phrase: `agent status` → `agent statuses`, `agent or group` → `agents and groups`."""
    if " or " in what:
        return " and ".join(plural(part) for part in what.split(" or "))
    if what.endswith(("s", "x", "z", "ch", "sh")):
        return what + "es"
    if what.endswith("y") and what[-2:-1] not in ("a", "e", "i", "o", "u"):
        return what[:-1] + "ies"
    return what + "s"
