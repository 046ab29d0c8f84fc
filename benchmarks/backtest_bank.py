"""Back-test of the what-if replay on the real bank call-centre month (docs/whatif.md, "Back-test").

The counterfactual must reproduce a desk's own scores when the policy says how the desk ran. This
script replays the "Anonymous Bank" month (`../shared/data/real/callcentre_anonbank_august.csv`, read
from there, never copied) with model agents and compares, per day, the share of queued calls answered
within 60 s and within 180 s with the share observed in the data:

- **observed**: of the calls that entered the queue (`q_start` recorded), those whose service started
  (`server` named, `ser_start` recorded) within 60 s / 180 s of entering it;
- **the log**: a call is a consumer's message at `q_start` (its page the service `type`), the agent's
  answer at `ser_start`, a `session_end` at `ser_exit` (served) or `q_exit` (abandoned);
- **presence**: the data has no breaks or logins, so an agent is taken as present in each slot (`--slot`
  minutes) in which it served a call (`--presence slots`), or from its first to its last call of the day
  (`--presence day`), or through the day except while a call it could take waited `--away` seconds with
  the agent free (`--presence waiting`);
- **the platform and policy** (written to a temporary directory: a platform file whose pages are the
  service types, which shows a new kind of desk is one file): every agent takes one call at a time
  (`max_sessions 1`), calls queue in arrival order, the longest-idle agent takes the next; one pool for
  every type, or a group per type (`--skills`), or each type routed to every agent who served it often
  enough (`--skill-share`);
- **the model**: calibrated on the log (`kefu calibrate`), then its reply delays set to 1 s (a phone agent
  picks up as soon as the call is put through: the calibrated first-reply delay is the queue wait, which
  the replay itself produces), or the measured time to put a call through to a free agent (`--pickup`,
  `--daily-pickup`); service times are the calibrated hand-end delays, patience the Kaplan–Meier curve of
  the abandoned calls (`--daily-model`: both calibrated on each day alone); with `--hang-up` a caller may
  hang up while the call rings, not only while it queues (the model's `patience.leaves: unanswered`).

It prints each day's observed and simulated shares, the mean absolute error and bias over the month,
and the worst days.

    python benchmarks/backtest_bank.py --skill-share 0.02 --slot 5 --daily-pickup --daily-model --hang-up   # docs/whatif.md
    python benchmarks/backtest_bank.py --presence day --runs 3                     # the simplest assumptions
"""

from __future__ import annotations

import argparse
import bisect
import csv
import sys
import tempfile
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterator
from statistics import fmean, median
from zoneinfo import ZoneInfo

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.events import ReadStats, Vocabulary, read_events  # noqa: E402
from engine.loader import Loader  # noqa: E402
from engine.replay import replay  # noqa: E402
from engine.whatif.actor import ModelActor  # noqa: E402
from engine.whatif.calibrate import calibrate_stream  # noqa: E402
from engine.whatif.model import QUANTILES, quantile_key  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "real" / "callcentre_anonbank_august.csv"
ZONE = "Asia/Shanghai"
SLOT = 15 * 60
NIGHT = 6 * 3600
"""A gap between two of an agent's calls longer than this is a night: the agent was away."""
LONGEST_WAIT = 4 * 3600
"""How far back to look for calls still waiting: the month's waits are all under an hour, but for 28 calls
whose exit reads a second before their entry (taken as the next day's, a day long), not looked back for."""
PLATFORM = """platform bank "Anonymous Bank call centre"

timezone Asia/Shanghai

pages PS "PS", NW "NW", IN "IN", NE "NE", TT "TT", PE "PE"

senders agent "agent"

metric answered_60s "answered within 60 s" {
  unit question
  window 00:00-24:00
  deadline 1m
  clock starts at question
  effective agent
}

metric answered_180s "answered within 180 s" {
  unit question
  window 00:00-24:00
  deadline 3m
  clock starts at question
  effective agent
}

allow queue
limit max_sessions 1..1
default assign by longest_idle ties first
default queue { scope shop; order fifo }
"""


def _clock(day: str, text: str, zone: ZoneInfo) -> float | None:
    if text == "0:00:00":
        return None
    h, m, s = (int(x) for x in text.split(":"))
    return (datetime.fromisoformat(day).replace(tzinfo=zone) + timedelta(hours=h, minutes=m, seconds=s)).timestamp()


def calls(path: Path, zone: ZoneInfo) -> list[dict]:
    """The calls that entered the queue, with their times as epoch seconds."""
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            q_start = _clock(row["date"], row["q_start"], zone)
            if q_start is None:
                continue
            ser_start, ser_exit = _clock(row["date"], row["ser_start"], zone), _clock(row["date"], row["ser_exit"], zone)
            q_exit = _clock(row["date"], row["q_exit"], zone)
            served = row["server"] != "NO_SERVER" and ser_start is not None
            if served and ser_start < q_start:   # a time past midnight is the next day's
                ser_start += 86400
            if served and ser_exit is not None and ser_exit < ser_start:
                ser_exit += 86400
            if q_exit is not None and q_exit < q_start:
                q_exit += 86400
            out.append({"id": f"{row['vru+line']}-{row['call_id']}@{row['date']}", "day": row["date"],
                        "type": row["type"], "priority": int(row["priority"] or 0), "q_start": q_start,
                        "served": served, "agent": row["server"],
                        "ser_start": ser_start, "ser_exit": ser_exit, "q_exit": q_exit})
    return out


def observed(rows: list[dict]) -> dict[str, tuple[float, float, int]]:
    """Per day: the share answered within 60 s and within 180 s, and the calls."""
    by_day: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_day[r["day"]].append(r)
    out = {}
    for day, day_rows in sorted(by_day.items()):
        waits = [r["ser_start"] - r["q_start"] for r in day_rows if r["served"]]
        n = len(day_rows)
        out[day] = (sum(w <= 60 for w in waits) / n, sum(w <= 180 for w in waits) / n, n)
    return out


def pickup(rows: list[dict]) -> dict[str, float]:
    """Quantiles of the seconds from queue entry to service when the agent who took the call was already
    free at its entry (its previous call had ended): the time to put a call through, with no queue in it."""
    return _quantiles_or_one([call["ser_start"] - call["q_start"] for before, call in _successive_calls(rows)
                              if before["ser_exit"] <= call["q_start"] and call["q_start"] - before["ser_exit"] < 3600])


def pickup_present(rows: list[dict], away: int) -> dict[str, float]:
    """Quantiles of the seconds from the moment an agent was free and its next call was waiting to that
    call's service, when shorter than `away` (the agent was there): the time to put a call through."""
    delays = (call["ser_start"] - max(before["ser_exit"], call["q_start"]) for before, call in _successive_calls(rows))
    return _quantiles_or_one([delay for delay in delays if 0 <= delay < away])


def _successive_calls(rows: list[dict]) -> Iterator[tuple[dict, dict]]:
    """Each agent's served calls two by two (a call and the next it took), agent after agent."""
    by_agent: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["served"] and r["ser_exit"] is not None:
            by_agent[r["agent"]].append(r)
    for calls_of in by_agent.values():
        calls_of.sort(key=lambda r: r["ser_start"])
        yield from zip(calls_of, calls_of[1:])


def _quantiles_or_one(waits: list[float]) -> dict[str, float]:
    """The QUANTILES of the waits (the q·n-th smallest); 1 s each when there are none (put through at once)."""
    waits = sorted(waits)
    if not waits:
        return {quantile_key(q): 1.0 for q in QUANTILES}
    return {quantile_key(q): float(waits[min(len(waits) - 1, int(q * len(waits)))]) for q in QUANTILES}


def presence(rows: list[dict], mode: str, slot: int = SLOT, gap: int = 0, skill_share: float = 0.1,
             away: int = 60) -> list[tuple[float, str, str]]:
    """(ts, agent, status) of each agent's presence, inferred from its calls (see the module doc)."""
    if mode == "waiting":
        return presence_by_waiting(rows, skill_share, away)
    idle = _idle_gaps(rows, skill_share, away) if mode == "slots+idle" else {}
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        if r["served"] and r["ser_exit"] is not None:
            spans[r["agent"]].append((r["ser_start"], r["ser_exit"]))
    events = []
    for agent, intervals in spans.items():
        if gap:   # an agent idle for less than `gap` between two calls was there all along
            intervals = _bridged(sorted(intervals), gap)
        if mode == "day":
            by_day: dict[int, list[tuple[float, float]]] = defaultdict(list)
            for start, end in intervals:
                by_day[int(start // 86400)].append((start, end))
            merged = [(min(s for s, _ in v), max(e for _, e in v)) for v in by_day.values()]
        else:
            step = max(1, slot // 3)
            slots = sorted({int(t // slot) for start, end in intervals for t in [*range(int(start), int(end), step), int(end)]})
            merged = []
            for number in slots:
                start, end = number * slot, (number + 1) * slot
                if merged and start <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], end)
                else:
                    merged.append((start, end))
        if idle.get(agent):
            merged = _bridged(sorted(merged + idle[agent]), 1)
        for start, end in merged:
            events += [(start - 1, agent, "online"), (end, agent, "offline")]
    return sorted(events)


def _idle_gaps(rows: list[dict], skill_share: float, away: int) -> dict[str, list[tuple[float, float]]]:
    """Per agent, the gaps between two of its calls (of one day) in which no call it could take waited `away`
    seconds with the agent free: idle for want of calls, so present (slots alone would say absent)."""
    served, skills_of, waits_by_type, starts_by_type = _who_could_take(rows, skill_share)
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for agent, own in served.items():
        spans = [(r["ser_start"], r["ser_exit"]) for r in own]
        for (_, end), (start, _) in zip(spans, spans[1:]):
            if 0 < start - end <= NIGHT and \
                    _first_neglect(waits_by_type, starts_by_type, skills_of[agent], end, start, away) is None:
                out[agent].append((end, start))
    return out


def _who_could_take(rows: list[dict], skill_share: float):
    """Each agent's served calls (in time order) and skills (the types of at least skill_share of its calls),
    and each type's waits (queue entry to service or abandonment), sorted, with their starts."""
    served: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["served"] and r["ser_exit"] is not None:
            served[r["agent"]].append(r)
    skills_of = {}
    for agent, own in served.items():
        own.sort(key=lambda r: r["ser_start"])
        types = Counter(r["type"] for r in own)
        skills_of[agent] = [k for k, n in types.items() if n >= skill_share * len(own)] or [types.most_common(1)[0][0]]
    waits_by_type: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        end = r["ser_start"] if r["served"] else (r["q_exit"] if r["q_exit"] is not None else r["q_start"])
        waits_by_type[r["type"]].append((r["q_start"], end))
    starts_by_type = {}
    for kind, spans in waits_by_type.items():
        spans.sort()
        starts_by_type[kind] = [start for start, _ in spans]
    return served, skills_of, waits_by_type, starts_by_type


def presence_by_waiting(rows: list[dict], skill_share: float, away: int) -> list[tuple[float, str, str]]:
    """Each agent present from its first call of the day to its last, except while a call it could take
    waited `away` seconds or more with the agent free: then it was away until its next call."""
    served, skills_of, waits_by_type, starts_by_type = _who_could_take(rows, skill_share)
    events = []
    for agent, own in served.items():
        skills = skills_of[agent]
        spans = [(r["ser_start"], r["ser_exit"]) for r in own]
        on_since = spans[0][0]
        for (_, end), (start, _) in zip(spans, spans[1:]):
            if start - end > NIGHT:   # a new day: away overnight
                events += [(on_since - 1, agent, "online"), (end, agent, "offline")]
                on_since = start
                continue
            left = _first_neglect(waits_by_type, starts_by_type, skills, end, start, away)
            if left is not None:
                events += [(on_since - 1, agent, "online"), (left, agent, "offline")]
                on_since = start
        events += [(on_since - 1, agent, "online"), (spans[-1][1], agent, "offline")]
    return sorted(events)


def _first_neglect(waits_by_type, starts_by_type, skills, free: float, busy: float, away: int) -> float | None:
    """The moment an agent free from `free` to `busy` let a call of its skills wait `away` seconds: a
    call waiting at or entering after `free`, still waiting `away` seconds after the later of the two."""
    first = None
    for kind in skills:
        spans, starts = waits_by_type[kind], starts_by_type[kind]
        i = max(0, bisect.bisect_left(starts, free - LONGEST_WAIT))
        j = bisect.bisect_left(starts, busy)
        for q_start, end in spans[i:j]:
            since = max(free, q_start)
            if end - since >= away and since + away < busy and (first is None or since < first):
                first = since
    return first


def _bridged(intervals: list[tuple[float, float]], gap: int) -> list[tuple[float, float]]:
    """Intervals with the gaps shorter than `gap` seconds between them filled."""
    out: list[tuple[float, float]] = []
    for start, end in intervals:
        if out and start - out[-1][1] < gap:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def event_log(rows: list[dict], mode: str, zone: ZoneInfo, path: Path, slot: int = SLOT, gap: int = 0,
              priority: bool = False, skill_share: float = 0.1, away: int = 60) -> None:
    """The calls as a kefu event log, the inferred presence included."""
    def iso(ts: float) -> str:
        return datetime.fromtimestamp(ts, zone).isoformat()

    events = [(ts, 0, {"ts": iso(ts), "type": "agent_status", "agent": agent, "status": status})
              for ts, agent, status in presence(rows, mode, slot, gap, skill_share, away)]
    for r in rows:
        call = {"ts": iso(r["q_start"]), "type": "message", "sender": "consumer", "consumer": r["id"], "page": r["type"]}
        if priority:
            call["priority"] = r["priority"]
        events.append((r["q_start"], 1, call))
        if r["served"]:
            events.append((r["ser_start"], 2, {"ts": iso(r["ser_start"]), "type": "message", "sender": "agent",
                                               "agent": r["agent"], "consumer": r["id"]}))
            if r["ser_exit"] is not None:
                events.append((r["ser_exit"], 3, {"ts": iso(r["ser_exit"]), "type": "session_end", "consumer": r["id"],
                                                  "agent": r["agent"]}))
        elif r["q_exit"] is not None:
            events.append((r["q_exit"], 3, {"ts": iso(r["q_exit"]), "type": "session_end", "consumer": r["id"]}))
    events.sort(key=lambda e: (e[0], e[1]))
    with open(path, "wb") as out:
        for _, _, event in events:
            out.write(orjson.dumps({**event, "shop": "anonbank"}) + b"\n")


def desk(folder: Path, rows: list[dict], skills: bool, skill_share: float | None = None,
         priority: bool = False) -> tuple[Path, Path]:
    """The bank's platform file and its as-run policy, written to folder: one pool of every agent; or (skills)
    a group per service type of the agents who served it most, each type routed to its group; or (skill_share)
    each type routed to every agent who served it in at least that share of its calls."""
    platforms = folder / "platforms"
    platforms.mkdir()
    platform = PLATFORM.replace("allow queue", "allow queue, queue_order, page_routing")
    if priority:
        platform = platform.replace("order fifo", "order priority")
    (platforms / "bank.kefu").write_text(platform, encoding="utf-8")
    policy = folder / "anonbank.kefu"
    served: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        if r["served"]:
            served[r["agent"]][r["type"]] += 1
    if not skills:
        names = ", ".join(sorted(served))
        policy.write_text(f'shop "anonbank" on bank\n\ngroup desk {{ agents {names}; max_sessions 1 }}\n', encoding="utf-8")
        return platforms, policy
    if skill_share is not None:   # every agent who served a type often enough takes its calls
        names = ", ".join(sorted(served))
        lines = ['shop "anonbank" on bank', "", f"group desk {{ agents {names}; max_sessions 1 }}", "", "route {"]
        kinds = sorted({kind for types in served.values() for kind in types})
        for kind in kinds:
            takers = [a for a, types in sorted(served.items()) if types[kind] >= skill_share * sum(types.values())]
            takers = takers or [max(served, key=lambda a: served[a][kind])]
            lines.append(f"  page {kind} -> {', '.join(takers)}")
        lines += ["  default -> desk", "}"]
        policy.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return platforms, policy
    groups: dict[str, list[str]] = defaultdict(list)
    for agent, types in sorted(served.items()):
        groups[types.most_common(1)[0][0]].append(agent)
    lines = ['shop "anonbank" on bank', ""]
    lines += [f"group {kind} {{ agents {', '.join(agents)}; max_sessions 1 }}" for kind, agents in sorted(groups.items())]
    biggest = max(groups, key=lambda kind: len(groups[kind]))
    lines += ["", "route {"] + [f"  page {kind} -> {kind}" for kind in sorted(groups)] + [f"  default -> {biggest}", "}"]
    policy.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return platforms, policy


def facts(rows: list[dict], model) -> str:
    """What docs/whatif.md quotes of the data: the month's pick-up median, the served calls' median wait by
    priority, the calibrated first replies by load bucket, and the calls served for over 30 minutes."""
    waits: dict[int, list[float]] = defaultdict(list)
    for r in rows:
        if r["served"]:
            waits[r["priority"]].append(r["ser_start"] - r["q_start"])
    by_priority = ", ".join(f"priority {p} {median(w):.0f} s" for p, w in sorted(waits.items()))
    loads = ", ".join(f"{bucket}: {pool.n}" for bucket, pool in model.shops[0].delays.first_reply.items())
    long = [r["ser_exit"] - r["ser_start"] for r in rows
            if r["served"] and r["ser_exit"] is not None and r["ser_exit"] - r["ser_start"] > 1800]
    return (f"pick-up to a free agent (the month): median {pickup(rows)['p50']:.0f} s; served calls' median wait: "
            f"{by_priority}; first replies by load: {loads}; calls served over 30 minutes: {len(long)} "
            f"({sum(long) / 3600:.0f} agent-hours)")


def _answer_with(model, quantiles: dict[str, float], hang_up: bool = False) -> None:
    """Every reply delay of the model set to these quantiles (the time to put a call through); with hang_up,
    callers may leave while their call rings, not only while queued."""
    for shop in model.shops:
        shop.patience.leaves = "unanswered" if hang_up else "queued"
        for pools in (shop.delays.first_reply, shop.delays.follow_up):
            for pool in pools.values():
                pool.quantiles, pool.mean = dict(quantiles), None
        for pool in (shop.delays.first_reply_all_loads, shop.delays.follow_up_all_loads):
            pool.quantiles, pool.mean = dict(quantiles), None
        for agent in shop.agents:
            for pooled in (*agent.delays.first_reply.values(), *agent.delays.follow_up.values()):
                pooled.quantiles, pooled.mean = dict(quantiles), None


def recovery(consumers: int = 1000, days: int = 3) -> list[tuple[str, str, float, float, float, float, float]]:
    """Calibrate on logs of `kefu generate` (engine/synth.py), whose reply delays are known, and return
    (generator, quantile, true seconds, calibrated seconds, and counted from the log's lines from the wait's
    first message and from the burst's last, tolerance):
    the stock generator (a mixture,
    median about 37 s) and one whose delay is a lognormal of median 300 s (sigma 0.5)."""
    import io
    import math
    import random
    from datetime import date
    from engine import synth

    policy = Loader().load(ROOT / "rulesets" / "examples" / "taobao-apparel.kefu").policy
    stock = synth._Generator.reply_delay
    lognormal = lambda self: max(1, round(self.rng.lognormvariate(math.log(300), 0.5)))   # noqa: E731
    out = []
    for name, delay in (("stock mixture", stock), ("lognormal, median 300 s", lognormal)):
        sampler = synth._Generator.__new__(synth._Generator)
        sampler.rng = random.Random(7)
        truth = sorted(d for d in (delay(sampler) for _ in range(200_000)) if d is not None)
        synth._Generator.reply_delay = delay
        try:
            log = io.BytesIO()
            synth.generate_log(policy, day=date(2026, 11, 11), days=days, consumers=consumers, seed=1, out=log)
        finally:
            synth._Generator.reply_delay = stock
        log.seek(0)
        model, _ = calibrate_stream(log, log_name="generated", timezone=ZONE, stats=ReadStats())
        got = model.shops[0].delays.first_reply_all_loads.quantiles or {}
        from_first, from_last = (sorted(values) for values in _first_replies(log.getvalue()))
        for q, tolerance in RECOVERY_TOLERANCE:
            out.append((name, quantile_key(q), float(truth[int(q * len(truth))]), got[quantile_key(q)],
                        float(from_first[int(q * len(from_first))]), float(from_last[int(q * len(from_last))]),
                        tolerance))
    return out


def _first_replies(log: bytes) -> tuple[list[float], list[float]]:
    """Each conversation's first agent reply, in seconds from the consumer's first message (as calibrate counts)
    and from their last message before it (as the generator counts), counted from the log's lines alone: a
    conversation ends at a session_end or after an hour of silence, as calibrate cuts them."""
    last_seen: dict[str, float] = {}
    first_message: dict[str, float] = {}
    last_message: dict[str, float] = {}
    answered: set[str] = set()
    from_first, from_last = [], []
    for line in log.splitlines():
        event = orjson.loads(line)
        consumer = event.get("consumer")
        if consumer is None:
            continue
        ts = datetime.fromisoformat(event["ts"]).timestamp() if isinstance(event["ts"], str) else float(event["ts"])
        if event["type"] == "session_end" or ts - last_seen.get(consumer, ts) > 3600:   # a new conversation
            answered.discard(consumer)
            first_message.pop(consumer, None)
            last_message.pop(consumer, None)
        last_seen[consumer] = ts
        if event["type"] == "message" and event.get("sender") == "consumer":
            first_message.setdefault(consumer, ts)
            last_message[consumer] = ts
        elif event["type"] == "message" and event.get("sender") == "agent" and consumer not in answered \
                and consumer in last_message:
            from_first.append(ts - first_message[consumer])
            from_last.append(ts - last_message[consumer])
            answered.add(consumer)
    return from_first, from_last


RECOVERY_TOLERANCE = ((0.25, 0.15), (0.5, 0.10), (0.75, 0.15), (0.9, 0.25))
"""The quantiles of first replies compared, and how far (relative) the recovered one may be: a reply due
while its agent is busy or offline comes when the agent is back (engine/synth.py), which adds to the top."""


def print_recovery() -> int:
    """Print the recovery table; exit 1 when a quantile is outside its tolerance (see the table's header)."""
    rows = recovery()
    print("Calibration on generated logs (kefu generate, taobao-apparel, 3 days of 1,000 consumers): first replies.")
    print("calibrate counts a reply from the wait's first message (as the platforms' clocks do), the generator from")
    print("the burst's last; 'first' and 'last' count both ways from the log's lines. Checked against the")
    print("tolerance: 'calibrated' for the lognormal, whose bursts are short beside its delays; 'last' for the")
    print("stock mixture, whose median (48 s) is of the order of a burst.")
    print(f"{'generator':<24} {'quantile':>8} {'true':>6} {'calibrated':>10} {'error':>7} {'first':>6} {'last':>6} "
          f"{'error':>7} {'tolerance':>9}")
    bad = 0
    for name, key, true, got, from_first, from_last, tolerance in rows:
        error, error_last = (got - true) / true, (from_last - true) / true
        checked = error_last if name.startswith("stock") else error
        bad += abs(checked) > tolerance
        print(f"{name:<24} {key:>8} {true:5.0f}s {got:9.1f}s {error * 100:+6.1f}% {from_first:5.0f}s {from_last:5.0f}s "
              f"{error_last * 100:+6.1f}% {tolerance * 100:8.0f}%")
    print("all within tolerance" if not bad else f"{bad} outside tolerance")
    return 1 if bad else 0


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--presence", choices=("slots", "slots+idle", "day", "waiting"), default="slots")
    ap.add_argument("--away", type=int, default=60, help="seconds (--presence waiting): an agent free while a "
                    "call it could take waited this long was away")
    ap.add_argument("--runs", type=_at_least_one, default=1)
    ap.add_argument("--skills", action="store_true", help="a group per service type (else one pool)")
    ap.add_argument("--skill-share", type=float, default=None,
                    help="route each type to every agent who served it in at least this share of its calls")
    ap.add_argument("--daily-pickup", action="store_true",
                    help="each day replayed alone with the pick-up time measured on that day")
    ap.add_argument("--pickup", action="store_true",
                    help="answers take the time calls took to be put through to a free agent (else 1 s)")
    ap.add_argument("--priority", action="store_true", help="calls queue by their priority (0-2, the highest first)")
    ap.add_argument("--gap", type=int, default=0, help="minutes: an agent idle for less between two calls was present")
    ap.add_argument("--slot", type=int, default=15, help="minutes of a presence slot (--presence slots)")
    ap.add_argument("--daily-model", action="store_true", help="with --daily-pickup: each day's model calibrated "
                    "on that day alone (its service times and patience)")
    ap.add_argument("--hang-up", action="store_true", help="callers may hang up while the call rings (patience "
                    "runs to the answer), not only while queued")
    ap.add_argument("--worst", type=int, default=5)
    ap.add_argument("--generated", action="store_true",
                    help="instead: calibrate on generated logs and compare with the generator's known delays")
    args = ap.parse_args(argv)
    if args.generated:
        return print_recovery()
    if args.daily_model and not args.daily_pickup:
        ap.error("--daily-model replays each day alone: it needs --daily-pickup")
    if not args.data.is_file():
        print(f"no data at {args.data}: the back-test needs the bank month (see the module doc)")
        return 2
    zone = ZoneInfo(ZONE)
    rows = calls(args.data, zone)
    truth = observed(rows)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        log = folder / "bank.jsonl"
        event_log(rows, args.presence, zone, log, args.slot * 60, args.gap * 60, args.priority,
                  args.skill_share or 0.1, args.away)
        agents = sorted({r["agent"] for r in rows if r["served"]})
        platforms, policy_path = desk(folder, rows, args.skills or args.skill_share is not None, args.skill_share,
                                      args.priority)
        result = Loader([platforms]).load(policy_path)
        if result.policy is None or not result.ok:
            print("\n".join(str(d) for d in result.diagnostics))
            return 1
        policy = result.policy
        with open(log, "rb") as f:
            model, _ = calibrate_stream(f, log_name=str(log), timezone=ZONE, stats=ReadStats(),
                                        vocabulary=Vocabulary.of_platform(policy.platform), platform="bank")
        simulated: dict[str, list[tuple[float, float]]] = defaultdict(list)
        # --daily-pickup: each day replayed alone with its own pick-up (a call centre's queue empties at night)
        days = [[day] for day in truth] if args.daily_pickup else [list(truth)]
        for chosen in days:
            part = [r for r in rows if r["day"] in chosen]
            if args.presence == "waiting":
                answer = pickup_present(part, args.away)
            else:
                answer = pickup(part) if args.pickup or args.daily_pickup else {quantile_key(q): 1.0 for q in QUANTILES}
            played = model   # the month's, or (--daily-model) the day's
            _answer_with(played, answer, args.hang_up)
            day_log = log
            if len(days) > 1:
                day_log = folder / f"{chosen[0]}.jsonl"
                event_log(part, args.presence, zone, day_log, args.slot * 60, args.gap * 60, args.priority,
                          args.skill_share or 0.1, args.away)
                if args.daily_model:
                    with open(day_log, "rb") as f:
                        played, _ = calibrate_stream(f, log_name=str(day_log), timezone=ZONE, stats=ReadStats(),
                                                     vocabulary=Vocabulary.of_platform(policy.platform), platform="bank")
                    _answer_with(played, answer, args.hang_up)
            for seed in range(args.runs):
                with open(day_log, "rb") as f:
                    replayed = replay(policy, f, seed=seed, actor=ModelActor(played, seed))
                rates: dict[str, dict[str, float]] = defaultdict(dict)
                for row in replayed.engine.metric_rows():
                    if row.eligible:
                        rates[str(row.date)][row.metric] = row.met / row.eligible
                for day in chosen:
                    got = rates.get(day, {})
                    simulated[day].append((got.get("answered_60s", 0.0), got.get("answered_180s", 0.0)))
    print(facts(rows, model))
    slots = f" ({args.slot}-minute slots)" if args.presence.startswith("slots") else ""
    print(f"Anonymous Bank, August: {len(rows):,} queued calls, {len(agents)} agents; presence {args.presence}{slots}; "
          f"{args.runs} run(s)")
    print(f"{'day':<11} {'calls':>6}  {'60 s obs':>8} {'sim':>6} {'diff':>6}   {'180 s obs':>9} {'sim':>6} {'diff':>6}")
    diffs60, diffs180 = [], []
    for day, (o60, o180, n) in truth.items():
        s60 = fmean(s for s, _ in simulated[day])
        s180 = fmean(s for _, s in simulated[day])
        diffs60.append((s60 - o60) * 100)
        diffs180.append((s180 - o180) * 100)
        print(f"{day:<11} {n:>6}  {o60 * 100:7.1f}% {s60 * 100:5.1f}% {diffs60[-1]:+6.1f}   {o180 * 100:8.1f}% "
              f"{s180 * 100:5.1f}% {diffs180[-1]:+6.1f}")
    half = len(diffs60) // 2
    for label, diffs in (("60 s", diffs60), ("180 s", diffs180)):
        halves = (f" (days 1-{half}: {fmean(abs(d) for d in diffs[:half]):.1f}, "
                  f"days {half + 1}-{len(diffs)}: {fmean(abs(d) for d in diffs[half:]):.1f})") if half else ""
        print(f"{label}: mean absolute error {fmean(abs(d) for d in diffs):.1f} points, bias {fmean(diffs):+.1f} "
              f"points{halves}")
    worst = sorted(zip(truth, diffs180), key=lambda item: -abs(item[1]))[:args.worst]
    print("worst days (180 s): " + ", ".join(f"{day} {d:+.1f}" for day, d in worst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
