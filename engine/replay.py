"""The replay: an event log through a policy gives decisions and a compliance report."""

from __future__ import annotations

import gc
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Protocol

import orjson
from rich.cells import cell_len

from . import ir
from .breakdown import Breakdown
from .events import Event, ReadStats, Rejected, Vocabulary, read_events
from .logset import OpenLogs, read_merged, total
from .runtime import Engine, TracedEngine
from .diagnostics import visible
from .runtime.decisions import Decision, encode_lines
from .runtime.trace import Trace

REPORT_FORMAT_VERSION = 1
WRITE_BATCH = 1024
"""Decisions encoded and written together (bounded memory, one C call per batch)."""
NO_SHOP = "(no shop id)"
"""How reports show the shop of events that name none."""
SHOPS_NAMED = 10
"""How many of the other shops' ids a replay names (it remembers one more, to say there were more; their
events are all counted)."""


class OtherShopError(Exception):
    """A shop policy met an event of another shop, and no `--shop` says which shop to replay."""

    def __init__(self, line: int, shop: str, policy_shop: str, file: str | None = None):
        super().__init__(f"line {line}: an event of shop {shop!r}, the policy is for shop {policy_shop!r}")
        self.file = file   # which log, when several are read
        self.line = line
        self.shop = shop
        self.policy_shop = policy_shop


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
    breakdown: Breakdown | None = None
    skipped: int = 0                  # accepted events of other shops than the one replayed (--shop)
    other_shops: tuple[str, ...] = ()  # the first SHOPS_NAMED + 1 of their ids, in the order met (one more: "…")


def replay(
    policy: ir.Policy,
    stream: BinaryIO | list[str] | OpenLogs,
    *,
    seed: int = 0,
    automation: bool = True,
    decisions_out: BytesWriter | None = None,
    on_reject: Callable[[Rejected], None] | None = None,
    strict: bool = False,
    policy_file: str | None = None,
    progress: Callable[[int], None] | None = None,
    by: Iterable[str] = (),
    shop: str | None = None,
    tracer: Trace | None = None,
    actor: Any = None,
    on_decisions: Callable[[list[Decision]], None] | None = None,
) -> ReplayResult:
    """Replay an event stream (or log files merged in time, engine/logset.py) through a policy; decisions go
    to decisions_out as JSON Lines.

    by: the breakdowns the report gets (`agent`, `hour`; see engine.breakdown).
    shop: replay only the events of this shop (and those naming none); the others are counted
    as skipped. Without it, a shop policy refuses an event of another shop (OtherShopError);
    a platform policy replays every shop, each on its own.
    tracer: the engine's tracer hook (`kefu explain`, runtime/trace.py).
    actor: who answers: None for the log's people, or a model actor (engine/whatif/actor.py, `play`), which
    takes the shop's events as the loop reads them and feeds the engine the answers its model draws.
    on_decisions: told each list of decisions as it is made: the Decision objects decisions_out gets, in its
    order (after their `file` is set when several files are read; engine.finish()'s last). It must not change
    them (`kefu compare` reads what a change did from them, engine/whatif/compare.py).

    The cyclic garbage collector is paused while it runs (and restored after): the replay's
    records make no reference cycles, so a collection would only rescan the live state.
    """
    with _collector_paused():
        engine = Engine(policy, seed=seed, automation=automation) if tracer is None else \
            TracedEngine(policy, tracer, seed=seed, automation=automation)
        by = tuple(by)
        breakdown = Breakdown(engine, by) if by else None
        observe = _observe_both(breakdown.observe if breakdown is not None else None, on_decisions)
        if shop is not None:
            engine.default_shop = shop   # an event naming no shop is the selected shop's
        only = shop if shop is not None else (policy.shop.name or None)
        skip = [0]   # events of other shops skipped (with --shop)
        others: dict[str, None] = {}
        stats = ReadStats()
        write = decisions_out.write if decisions_out is not None else None
        feed: Callable[[Event], list] = engine.feed
        batch: list = []   # decisions not written yet: written a batch at a time, by one encode call
        count = 0
        vocabulary = Vocabulary.of_platform(policy.platform)   # a log names the pages and senders of its platform
        read, files, reads = _events(stream, stats, on_reject, strict, vocabulary)
        events = of_shop(read, only, shop, files, others, skip) if only is not None else read
        if files is not None:   # several logs: each decision of an event names the event's file
            feed = naming_files(feed, files)
        if actor is not None:
            events = map(_Step, actor.play(engine, events, feed))   # type: ignore[arg-type]   # streamed
            feed = _decisions_of   # the actor fed the engine: a step is what it decided
        for event in events:
            decisions = feed(event)
            if decisions:
                if observe is not None:
                    observe(decisions)
                if write is not None:
                    batch += decisions
                    if len(batch) >= WRITE_BATCH:
                        write(encode_lines(batch))
                        batch.clear()
            count += 1
            if progress is not None and not count & PROGRESS_EVERY:
                progress(count if actor is None else _lines_read(stats, reads))   # a model's step is no event
        last = engine.finish()
        if reads is not None:
            stats = total(reads)
        if observe is not None:
            observe(last)
        if tracer is not None:
            tracer.finished(last)
        batch += last
        if write is not None and batch:
            write(encode_lines(batch))
        return ReplayResult(engine=engine, stats=stats, policy_file=policy_file, seed=seed, breakdown=breakdown,
                            skipped=skip[0], other_shops=tuple(others))


PROGRESS_EVERY = 0x3FFF
"""progress() is told the count every PROGRESS_EVERY + 1 events (a power of two less one: a mask)."""


def _observe_both(first: Callable[[list[Decision]], None] | None,
                  then: Callable[[list[Decision]], None] | None) -> Callable[[list[Decision]], None] | None:
    """One observer of the decisions that tells first, then `then` (None when neither is given: the replay loop
    then tests one None per event, as with no observer)."""
    if first is None or then is None:
        return first if then is None else then

    def observe(decisions: list[Decision]) -> None:
        first(decisions)
        then(decisions)
    return observe


def _lines_read(stats: ReadStats, reads: list[ReadStats] | None) -> int:
    """The log's lines read so far (with model agents, the log is read a day ahead of the replay's steps)."""
    return stats.read if reads is None else sum(r.read for r in reads)


def _events(stream: BinaryIO | list[str] | OpenLogs, stats: ReadStats, on_reject: Callable[[Rejected], None] | None,
            strict: bool, vocabulary: Vocabulary) -> tuple[Iterator[Event], list[str] | None, list | None]:
    """The events of a stream, or of several files merged (each event's `file` then set to its file's index)."""
    opened = stream.opened if isinstance(stream, OpenLogs) else None
    if isinstance(stream, OpenLogs):
        stream = stream.files
    if not isinstance(stream, list):
        return read_events(stream, stats=stats, on_reject=on_reject, strict=strict, vocabulary=vocabulary), None, None
    files = stream

    def rejected(index: int, r: Rejected) -> None:
        if on_reject is not None:
            on_reject(Rejected(r.line, r.reason, files[index]))

    reads, merged = read_merged(files, on_reject=rejected, strict=strict, vocabulary=vocabulary, opened=opened)
    return merged, (files if len(files) > 1 else None), reads


def of_shop(events: Iterable[Event], only: str, shop: str | None, files: list[str] | None,
            others: dict[str, None], skipped: list[int]) -> Iterator[Event]:
    """The events a replay of the shop `only` replays: another shop's are skipped (counted in skipped[0], the
    first named in others) with --shop, else stop it."""
    for event in events:
        if event.shop != only and event.shop is not None:
            if shop is None:
                raise OtherShopError(event.line, event.shop, only, files[event.file] if files else None)
            skipped[0] += 1
            if len(others) <= SHOPS_NAMED:
                others[event.shop] = None
            continue
        yield event


class _Step:
    """A step of a model actor as the replay loop takes it: the decisions made."""

    __slots__ = ("decisions",)

    def __init__(self, decisions: list):
        self.decisions = decisions


_decisions_of = attrgetter("decisions")
"""The decisions of a step (the loop's `feed` for a model actor's steps)."""


def naming_files(feed: Callable[[Event], list], files: list[str]) -> Callable[[Event], list]:
    """feed, naming the file of each decision a log's event makes (a replay of several logs; the events a model
    actor makes carry line 0 and name no file)."""
    def named(event: Event) -> list:
        decisions = feed(event)
        if decisions and event.line:
            _name_file(decisions, files[event.file])
        return decisions
    return named


def _name_file(decisions: list, file: str) -> None:
    """Each decision an event made names the event's file (a replay of several files)."""
    for d in decisions:
        if d.line is not None:
            d.file = file   # every decision class has it (runtime/decisions.py), the base class cannot


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
    engine = result.engine
    policy = engine.policy
    header = {"platform": policy.platform.name,
              "policy": {"shop": policy.shop.name, "file": result.policy_file} if policy.shop.name else None}
    return assemble_report([shop_part(engine, result.breakdown, result.policy_file)], result.stats, header,
                           seed=result.seed, skipped=result.skipped)


def shop_part(engine: Engine, breakdown: Breakdown | None, policy_file: str | None) -> dict:
    """What one engine contributes to a report, as plain data (a worker process sends it back to be merged)."""
    policy = engine.policy
    return {
        "platform": policy.platform.name,
        "policy": policy_file if policy.shop.name else None,
        "metrics": [row.to_dict() for row in engine.metric_rows()],
        "day_counts": sorted(engine.day_counts.items()),
        "agreement": sorted(engine.agreement.items()),
        "sent": dict(engine.auto_reply_kinds),
        "kinds": list(engine.replier.kinds),
        "suppressed_by": sorted(engine.suppressed_by.items()),
        "breakdown": breakdown.to_dict() if breakdown is not None else {},
    }


def assemble_report(parts: list[dict], stats: ReadStats, header: dict, *, seed: int, skipped: int = 0,
                    extra_events: dict | None = None) -> dict:
    """The report of one or more engines' parts (shop_part), in the order given."""
    days: dict[tuple[str, str], dict] = {}

    def day_entry(shop: str, day: str) -> dict:
        return days.setdefault((shop, day), {"shop": shop, "date": day, "decisions": {}, "compared": 0, "agreed": 0})

    counts: Counter = Counter()
    sent: Counter = Counter()
    suppressed_by: Counter = Counter()
    kinds: list[str] = []
    breakdown: dict[str, list[dict]] = {}
    for part in parts:
        for (shop, day, action), n in part["day_counts"]:
            day_entry(shop, day)["decisions"][action] = n
            counts[action] += n
        for (shop, day), (compared, agreed) in part["agreement"]:
            entry = day_entry(shop, day)
            entry["compared"], entry["agreed"] = compared, agreed
        sent.update(part["sent"])
        suppressed_by.update(dict((tuple(key), n) for key, n in part["suppressed_by"]))
        kinds += [k for k in part["kinds"] if k not in kinds]
        for kind, rows in part["breakdown"].items():
            breakdown.setdefault(kind, []).extend(rows)
    compared = sum(d["compared"] for d in days.values())
    agreed = sum(d["agreed"] for d in days.values())
    metrics = [row for part in parts for row in part["metrics"]]
    if len(parts) > 1:
        metrics.sort(key=lambda r: (r["shop"], r["date"]))   # stable: each part's metric order kept
        for rows in breakdown.values():
            rows.sort(key=lambda r: (r["shop"], r.get("agent", ""), r.get("hour", 0)))
    report: dict[str, Any] = {
        "format": REPORT_FORMAT_VERSION,
        **header,
        "seed": seed,
        "events": {"read": stats.read, "accepted": stats.accepted, "rejected": stats.rejected,
                   "skipped": skipped, **(extra_events or {})},
        "metrics": metrics,
        "decisions": dict(sorted(counts.items())),
        "auto_replies": dict(sorted(sent.items())),
        "suppressed_auto_replies": sum(suppressed_by.values()),
        "auto_replies_by_kind": _auto_replies_by_kind(kinds, sent, suppressed_by),
        "assignment": {
            "compared": compared,
            "agreed": agreed,
            "differs": compared - agreed,
            "agreement": round(agreed / compared, 6) if compared else None,
        },
        "days": [days[key] for key in sorted(days)],
        **breakdown,
    }
    shops = shop_summaries(report["metrics"], report["days"])
    if len(shops) > 1:
        report["shops"] = shops
    return report


def shop_summaries(metrics: list[dict], days: list[dict]) -> list[dict]:
    """Each shop over the whole log, the shops most at risk first: per metric its units, rate, the days
    it failed its threshold and its penalties; the days failed and the penalties in all.

    Most at risk: the highest penalties, then the most days failed, then the lowest rate of any metric.
    """
    shops: dict[str, dict] = {}

    def shop_entry(name: str) -> dict:
        return shops.setdefault(name, {"shop": name, "days": set(), "failed": set(), "metrics": {}})

    for day in days:
        shop_entry(day["shop"])["days"].add(day["date"])
    for row in metrics:
        shop = shop_entry(row["shop"])
        shop["days"].add(row["date"])
        if row["passed"] is False:
            shop["failed"].add(row["date"])
        figures = shop["metrics"].setdefault(row["metric"], {"eligible": 0, "met": 0, "rate": None,
                                                              "threshold": row["threshold"], "days_failed": 0,
                                                              "penalty": 0})
        figures["eligible"] += row["eligible"]
        figures["met"] += row["met"]
        figures["days_failed"] += row["passed"] is False
        figures["penalty"] += row["penalty"]
    out = []
    for shop in shops.values():
        for figures in shop["metrics"].values():
            figures["rate"] = round(figures["met"] / figures["eligible"], 6) if figures["eligible"] else None
        out.append({"shop": shop["shop"], "days": len(shop["days"]), "days_failed": len(shop["failed"]),
                    "penalty": sum(f["penalty"] for f in shop["metrics"].values()),
                    "metrics": dict(sorted(shop["metrics"].items()))})

    def lowest_rate(summary: dict) -> float:
        return min((f["rate"] for f in summary["metrics"].values() if f["rate"] is not None), default=2.0)

    return sorted(out, key=lambda s: (-s["penalty"], -s["days_failed"], lowest_rate(s), s["shop"]))


def shop_cells(shops: list[dict], metrics: list[str]) -> tuple[list[str], list[list[str]]]:
    """The shops side by side as a table's header and rows (the text and the HTML report lay them out)."""
    body = [[s["shop"] or NO_SHOP, str(s["days"]), *_rate_cells(s, metrics), str(s["days_failed"]),
             str(s["penalty"])] for s in shops]
    return ["shop", "days", *(_with_threshold(m, shops) for m in metrics), "days failed", "penalty"], body


def _shops_table(shops: list[dict], metrics: list[str]) -> list[str]:
    return ["== shops, most at risk first ==", *_table(*shop_cells(shops, metrics)), ""]


def _with_threshold(metric: str, shops: list[dict]) -> str:
    """A metric's column head: its name and the platform's threshold, if it has one."""
    threshold = next((s["metrics"][metric]["threshold"] for s in shops if metric in s["metrics"]), None)
    return f"{metric} {_threshold(threshold)}" if threshold else metric


def _auto_replies_by_kind(kinds: list[str], sent: Counter, suppressed: Counter) -> dict[str, dict]:
    """Per reply kind the shop has (in the order replies are sent): how many were sent, and how many
    were not, by reason."""
    kinds = list(kinds)
    kinds += sorted({k for k in sent if k not in kinds} | {k for k, _ in suppressed if k not in kinds})
    return {kind: {"sent": sent[kind],
                   "suppressed": {reason: n for (k, reason), n in sorted(suppressed.items()) if k == kind}}
            for kind in kinds}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _threshold(t: dict | None) -> str:
    return "—" if not t else f"{t['op']} {t['value'] * 100:g}%"


def _verdict(passed: bool | None) -> str:
    return {True: "pass", False: "FAIL", None: "—"}[passed]


def _table(header: list[str], rows: list[list[str]], left: int = 1) -> list[str]:
    """Rows as aligned lines: the first `left` columns flush left, the others right.

    Widths are terminal cells (a CJK character takes two), so Chinese labels line up.
    """
    widths = [max(cell_len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [cell + " " * (w - cell_len(cell)) if i < left else " " * (w - cell_len(cell)) + cell
                  for i, (cell, w) in enumerate(zip(cells, widths))]
        return ("  " + "  ".join(padded)).rstrip()

    return [line(header), *map(line, rows)]


def _metric_name(row: dict) -> str:
    return f"{row['metric']}  {row['label']}" if row.get("label") else row["metric"]


def metric_cells(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """The metrics of a shop's day as a table's header and rows (the text and the HTML report lay them out)."""
    body = [[_metric_name(r), str(r["eligible"]), str(r["met"]), _pct(r["rate"]), _threshold(r["threshold"]),
             _verdict(r["passed"]), f"{r['penalty']} {r['currency']}" if r["penalty"] else "0"] for r in rows]
    return ["metric", "eligible", "met", "rate", "threshold", "result", "penalty"], body


def agent_cells(rows: list[dict], metrics: list[str]) -> tuple[list[str], list[list[str]]]:
    """A shop's `--by agent` rows as a table's header and rows."""
    body = [[r["agent"], str(r["assigned"]), str(r["transfers_in"]),
             f"{r['peak_load']}/{r['cap']}" if r["cap"] is not None else "—", *_rate_cells(r, metrics)] for r in rows]
    return ["agent", "assigned", "transfers_in", "peak/cap", *metrics], body


def hour_cells(rows: list[dict], metrics: list[str]) -> tuple[list[str], list[list[str]]]:
    """A shop's `--by hour` rows as a table's header and rows."""
    body = [[f"{r['hour']:02d}:00", str(r["assigned"]), str(r["queued"]), str(r["peak_queue"]),
             *_rate_cells(r, metrics)] for r in rows]
    return ["hour", "assigned", "queued", "peak_queue", *metrics], body


def _metric_table(rows: list[dict]) -> list[str]:
    return _table(*metric_cells(rows))


def day_notes(info: dict) -> list[str]:
    """What the text and HTML reports say under a day's table: its decisions, and how many assignments agree
    with the log's."""
    notes = [f"decisions: {_decision_counts(info['decisions'])}"]
    if info["compared"]:
        differs = info["compared"] - info["agreed"]
        notes.append(f"assignment vs log: {info['agreed']}/{info['compared']} agree, {differs} differ "
                     f"({_pct(info['agreed'] / info['compared'])} agreement)")
    return notes


def _decision_counts(counts: dict[str, int]) -> str:
    """Decision counts, without `differs` (an agreement figure, shown on its own line)."""
    return ", ".join(f"{k} {v}" for k, v in counts.items() if k != "differs") or "none"


def file_lines(events: dict) -> list[str]:
    """Each log's own counts, when several were read as one (none for one log)."""
    return [f"{f['file']}: {f['read']} read, {f['accepted']} accepted, {f['rejected']} rejected"
            for f in events.get("files") or ()]


def history_lines(counts: dict[str, int]) -> list[str]:
    """The agent messages to consumers whose session had ended (`history`), in words; none when there were none."""
    answered, expired = counts.get("history_answer", 0), counts.get("history_expired", 0)
    if not answered and not expired:
        return []
    return [f"answers from history: {answered} within the history window (answers), {expired} past it "
            "(not answers: the metrics do not count them)"]


def _rate_cell(figures: dict) -> str:
    if not figures["eligible"]:
        return "—"
    return f"{_pct(figures['rate'])} ({figures['met']}/{figures['eligible']})"


def _rate_cells(row: dict, metrics: list[str]) -> list[str]:
    """A breakdown row's cell per metric of the report; — for a metric its shop's platform does not have (a
    --policies replay of shops on several platforms)."""
    return [_rate_cell(row["metrics"][m]) if m in row["metrics"] else "—" for m in metrics]


def _by_agent(rows: list[dict], metrics: list[str]) -> list[str]:
    lines: list[str] = []
    for shop in dict.fromkeys(r["shop"] for r in rows):
        lines.append(f"== by agent · {shop or NO_SHOP} ==")
        lines += _table(*agent_cells([r for r in rows if r["shop"] == shop], metrics))
        lines.append("")
    return lines


def _by_hour(rows: list[dict], metrics: list[str]) -> list[str]:
    lines: list[str] = []
    for shop in dict.fromkeys(r["shop"] for r in rows):
        lines.append(f"== by hour · {shop or NO_SHOP} ==")
        lines += _table(*hour_cells([r for r in rows if r["shop"] == shop], metrics))
        lines.append("")
    return lines


def render_text(report: dict) -> str:
    """A readable report: a table per shop and day, then the breakdowns asked for, then totals."""
    lines = []
    title = f"kefu replay · platform {report['platform']}" if report["platform"] else "kefu replay · several platforms"
    if report["policy"]:
        title += f" · shop {report['policy']['shop']} ({report['policy']['file']})"
    if report.get("policies"):
        title += f" · {len(report['policies'])} shop policies"
    lines += [title, ""]
    ev = report["events"]
    skipped = f", {ev['skipped']} skipped (other shops)" if ev["skipped"] else ""
    lines.append(f"events: {ev['read']} read, {ev['accepted']} accepted, {ev['rejected']} rejected{skipped}")
    lines += [f"  {line}" for line in file_lines(ev)]
    if report.get("skipped_shops"):
        lines.append("skipped shops: " + ", ".join(f"{s['shop'] or NO_SHOP} ({s['events']} events)"
                                                               for s in report["skipped_shops"]))
    lines.append("")
    if report.get("shops"):
        lines += _shops_table(report["shops"], list(dict.fromkeys(r["metric"] for r in report["metrics"])))
    by_day: dict[tuple[str, str], list[dict]] = {}
    for row in report["metrics"]:
        by_day.setdefault((row["shop"], row["date"]), []).append(row)
    day_info = {(d["shop"], d["date"]): d for d in report["days"]}
    for key in sorted(set(by_day) | set(day_info)):
        shop, day = key
        lines.append(f"== {shop or NO_SHOP} · {day} ==")
        rows = by_day.get(key, [])
        if rows:
            lines += _metric_table(rows)
        info = day_info.get(key)
        if info:
            lines += [f"  {note}" for note in day_notes(info)]
        lines.append("")
    lines += _auto_reply_table(report.get("auto_replies_by_kind") or {})
    metrics = list(dict.fromkeys(r["metric"] for r in report["metrics"]))
    if report.get("by_agent"):
        lines += _by_agent(report["by_agent"], metrics)
    if report.get("by_hour"):
        lines += _by_hour(report["by_hour"], metrics)
    if report.get("runs"):
        from .whatif.runs import render_runs
        lines += render_runs(report["runs"])
    total = report["assignment"]
    lines.append("totals: " + (_decision_counts(report["decisions"]) if report["decisions"] else "no decisions"))
    if total["compared"]:
        lines.append(f"assignment agreement: {total['agreed']}/{total['compared']} agree, {total['differs']} differ "
                     f"({_pct(total['agreement'])})")
    lines += history_lines(report["decisions"])
    penalties = sum(r["penalty"] for r in report["metrics"])
    if penalties:
        lines.append(f"penalties: {penalties} in total")
    # ids come from the log, names from the policy: a control character in one must not drive the terminal
    return "\n".join(map(visible, lines)) + "\n"


def _auto_reply_table(by_kind: dict[str, dict]) -> list[str]:
    """Per reply kind: sent, and not sent with the reasons (none when the policy has no replies)."""
    if not by_kind:
        return []
    lines = ["automatic replies:", f"  {'kind':<14} {'sent':>6} {'suppressed':>10}  why"]
    for kind, counts in by_kind.items():
        reasons = counts["suppressed"]
        why = ", ".join(f"{reason} {n}" for reason, n in reasons.items()) or "—"
        lines.append(f"  {kind:<14} {counts['sent']:>6} {sum(reasons.values()):>10}  {why}")
    return lines + [""]


def report_json(report: dict) -> bytes:
    """The report as indented JSON bytes (deterministic)."""
    return orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n"
