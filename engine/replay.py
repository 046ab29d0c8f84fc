"""The replay: an event log through a policy gives decisions and a compliance report."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, Protocol

import orjson

from . import ir
from .events import ReadStats, Rejected, Vocabulary, read_events
from .runtime import Engine
from .diagnostics import visible
from .runtime.decisions import encode_lines

REPORT_FORMAT_VERSION = 1
WRITE_BATCH = 1024
"""Decisions encoded and written together (bounded memory, one C call per batch)."""


class BytesWriter(Protocol):
    """Where decisions go: a binary file, or anything else with its write(bytes)."""

    def write(self, data: bytes, /) -> int: ...


@dataclass
class ReplayResult:
    """What a replay produced: the engine (with its metrics and counts) and the reader's stats."""

    engine: Engine
    stats: ReadStats
    policy_file: str | None
    seed: int


def replay(
    policy: ir.Policy,
    stream: BinaryIO,
    *,
    seed: int = 0,
    automation: bool = True,
    decisions_out: BytesWriter | None = None,
    on_reject: Callable[[Rejected], None] | None = None,
    strict: bool = False,
    policy_file: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Replay an event stream through a policy; decisions go to decisions_out as JSON Lines.

    The cyclic garbage collector is paused while it runs (and restored after): the replay's
    records make no reference cycles, so a collection would only rescan the live state.
    """
    with _collector_paused():
        engine = Engine(policy, seed=seed, automation=automation)
        stats = ReadStats()
        write = decisions_out.write if decisions_out is not None else None
        feed = engine.feed
        batch: list = []   # decisions not written yet: written a batch at a time, by one encode call
        count = 0
        vocabulary = Vocabulary.of_platform(policy.platform)   # a log names the pages and senders of its platform
        for event in read_events(stream, stats=stats, on_reject=on_reject, strict=strict, vocabulary=vocabulary):
            decisions = feed(event)
            if decisions and write is not None:
                batch += decisions
                if len(batch) >= WRITE_BATCH:
                    write(encode_lines(batch))
                    batch.clear()
            count += 1
            if progress is not None and not count & 0x3FFF:
                progress(count)
        batch += engine.finish()
        if write is not None and batch:
            write(encode_lines(batch))
        return ReplayResult(engine=engine, stats=stats, policy_file=policy_file, seed=seed)


@contextmanager
def _collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def report_dict(result: ReplayResult) -> dict:
    """The report in its stable JSON shape (documented in docs/replay.md)."""
    engine, stats = result.engine, result.stats
    policy = engine.policy
    days: dict[tuple[str, str], dict] = {}

    def day_entry(shop: str, day: str) -> dict:
        return days.setdefault((shop, day), {"shop": shop, "date": day, "decisions": {}, "compared": 0, "agreed": 0})

    for (shop, day, action), n in sorted(engine.day_counts.items()):
        day_entry(shop, day)["decisions"][action] = n
    for (shop, day), (compared, agreed) in engine.agreement.items():
        entry = day_entry(shop, day)
        entry["compared"], entry["agreed"] = compared, agreed
    compared = sum(d["compared"] for d in days.values())
    agreed = sum(d["agreed"] for d in days.values())
    return {
        "format": REPORT_FORMAT_VERSION,
        "platform": policy.platform.name,
        "policy": {"shop": policy.shop.name, "file": result.policy_file} if policy.shop.name else None,
        "seed": result.seed,
        "events": {"read": stats.read, "accepted": stats.accepted, "rejected": stats.rejected},
        "metrics": [row.to_dict() for row in engine.metric_rows()],
        "decisions": dict(sorted(engine.counts.items())),
        "auto_replies": dict(sorted(engine.auto_reply_kinds.items())),
        "suppressed_auto_replies": engine.suppressed,
        "assignment": {
            "compared": compared,
            "agreed": agreed,
            "differs": compared - agreed,
            "agreement": round(agreed / compared, 6) if compared else None,
        },
        "days": [days[key] for key in sorted(days)],
    }


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _threshold(t: dict | None) -> str:
    return "—" if not t else f"{t['op']} {t['value'] * 100:g}%"


def _verdict(passed: bool | None) -> str:
    return {True: "pass", False: "FAIL", None: "—"}[passed]


def render_text(report: dict) -> str:
    """A readable report: a table per shop and day."""
    lines = []
    title = f"kefu replay · platform {report['platform']}"
    if report["policy"]:
        title += f" · shop {report['policy']['shop']} ({report['policy']['file']})"
    lines += [title, ""]
    ev = report["events"]
    lines.append(f"events: {ev['read']} read, {ev['accepted']} accepted, {ev['rejected']} rejected")
    lines.append("")
    by_day: dict[tuple[str, str], list[dict]] = {}
    for row in report["metrics"]:
        by_day.setdefault((row["shop"], row["date"]), []).append(row)
    day_info = {(d["shop"], d["date"]): d for d in report["days"]}
    for key in sorted(set(by_day) | set(day_info)):
        shop, day = key
        lines.append(f"== {shop or '(no shop id)'} · {day} ==")
        rows = by_day.get(key, [])
        if rows:
            header = f"  {'metric':<22} {'eligible':>8} {'met':>6} {'rate':>7} {'threshold':>10} {'result':>6} {'penalty':>8}"
            lines.append(header)
            for r in rows:
                penalty = f"{r['penalty']} {r['currency']}" if r["penalty"] else "0"
                lines.append(f"  {r['metric']:<22} {r['eligible']:>8} {r['met']:>6} {_pct(r['rate']):>7} "
                             f"{_threshold(r['threshold']):>10} {_verdict(r['passed']):>6} {penalty:>8}")
        info = day_info.get(key)
        if info:
            counts = ", ".join(f"{k} {v}" for k, v in info["decisions"].items()) or "none"
            lines.append(f"  decisions: {counts}")
            if info["compared"]:
                differs = info["compared"] - info["agreed"]
                lines.append(f"  assignment vs log: {info['agreed']}/{info['compared']} agree, {differs} differ "
                             f"({_pct(info['agreed'] / info['compared'])} agreement)")
        lines.append("")
    total = report["assignment"]
    lines.append("totals: " + (", ".join(f"{k} {v}" for k, v in report["decisions"].items()) or "no decisions"))
    if total["compared"]:
        lines.append(f"assignment agreement: {total['agreed']}/{total['compared']} ({_pct(total['agreement'])})")
    penalties = sum(r["penalty"] for r in report["metrics"])
    if penalties:
        lines.append(f"penalties: {penalties} in total")
    # ids come from the log, names from the policy: a control character in one must not drive the terminal
    return "\n".join(map(visible, lines)) + "\n"


def report_json(report: dict) -> bytes:
    """The report as indented JSON bytes (deterministic)."""
    return orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n"
