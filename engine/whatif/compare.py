"""`kefu compare`: one log through two policies of a shop, and what the change did (docs/compare.md).

A comparison runs a *replay runner* for policy A and for policy B on the same log, `runs` times,
run i with seed `seed + i` for both sides (common random numbers), and reports per shop and day
each metric under A and B and the difference of rate (B − A, in points) with its mean and a 95 %
t-interval over the runs; what the change did (sessions given to another agent, consumers queued,
waits, automatic replies, decisions by action); per agent the load and occupancy; the rate by hour.

The runner decides who the agents are: `model_replay` (`--agents model`), agents answering as an agent
model says, run i drawing the same numbers for A and B; or `log_replay` (`--agents log`), the log's
people acting as they did, so a run is exact and every run the same. A runner is any callable with
`ReplayRunner`'s signature returning a `RunOutcome`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Optional, Protocol, Sequence

from .. import ir
from ..breakdown import NO_AGENT
from ..events import Rejected
from ..replay import ReplayResult, replay, report_dict
from ..runtime.decisions import Assigned, Closed, Decision, LeftQueue, Queued, Transferred
from .runs import round6, t_interval

COMPARE_FORMAT_VERSION = 1
BREAKDOWNS = ("agent", "hour")


# --- one run ----------------------------------------------------------------------------------------------------

@dataclass
class RunOutcome:
    """What one replay of one policy gave: its report (with both breakdowns) and what its decisions show."""

    report: dict
    changes: "DecisionFacts"


class ReplayRunner(Protocol):
    """Replays a log through a policy with a seed; `log_replay` (the log's people) is the one built."""

    def __call__(self, policy: ir.Policy, log: list[str], *, seed: int, shop: Optional[str],
                 policy_file: Optional[str], facts: bool = True) -> RunOutcome: ...


class LogReplay:
    """The runner of `--agents log`: the replay of engine/replay.py, the log's people acting as they did.

    on_reject hears the log's bad lines during the first run only (every run reads the same log).
    """

    def __init__(self, on_reject: Optional[Callable[[Rejected], None]] = None, actor: Optional[Callable[[int], object]] = None):
        self.on_reject = on_reject
        self.actor = actor   # the actor of a run's seed (model agents), or None: the log's people
        self.runs = 0

    def __call__(self, policy: ir.Policy, log: list[str], *, seed: int, shop: Optional[str],
                 policy_file: Optional[str], facts: bool = True) -> RunOutcome:
        """One replay: its report and its decisions' facts (facts False: none read, an empty DecisionFacts;
        only the first run's are shown)."""
        seen = DecisionFacts()
        result: ReplayResult = replay(policy, log, seed=seed, on_decisions=seen.observe if facts else None,
                                      shop=shop, by=BREAKDOWNS,
                                      on_reject=self.on_reject if self.runs == 0 else None, policy_file=policy_file,
                                      actor=self.actor(seed) if self.actor is not None else None)
        self.runs += 1
        return RunOutcome(report_dict(result), seen)


def log_replay(on_reject: Optional[Callable[[Rejected], None]] = None) -> ReplayRunner:
    """The runner of `--agents log`."""
    return LogReplay(on_reject)


def model_replay(model: object, staff: object = None, on_reject: Optional[Callable[[Rejected], None]] = None) -> ReplayRunner:
    """The runner of `--agents model`: the replay with agents answering as the model says, present as the log
    or the staffing plan says; run i's draws use its seed, the same for A and B (common random numbers)."""
    from .actor import ModelActor
    return LogReplay(on_reject, lambda seed: ModelActor(model, seed, staff))   # type: ignore[arg-type]


def epoch(ts: str) -> float:
    """A decision's local RFC 3339 text as epoch seconds."""
    return datetime.fromisoformat(ts).timestamp()


class DecisionFacts:
    """Reads a replay's decisions (the Decision objects it hands its `on_decisions` observer) for what compare
    shows.

    - sessions: per consumer session, keyed by (consumer, file, line of the decision that opened it: the
      consumer's first message of the session), the first agent it was assigned to (None if never);
    - queued and pooled consumers; the `waited` of every assign out of the queue or pool (`dequeue`, and
      `taken_by_agent`: an agent of the log answered a queued consumer);
    - per agent the time it held at least one session: a consumer's session is with the agent of its last
      `assign`, `offline_route` or `transfer` decision until its `close_session`; and the span of the
      decisions' times.

    A decision's time is its `ts` text; it is turned into epoch seconds only where a sum needs it (an agent
    taking its first session or freeing its last, the span's ends), once per distinct time in a row.
    """

    def __init__(self) -> None:
        self.sessions: dict[tuple[str, str, int], Optional[str]] = {}
        self.current: dict[str, tuple[str, str, int]] = {}
        self.queued: set[str] = set()
        self.pooled: set[str] = set()
        self.waits: list[int] = []
        self.holder: dict[str, str] = {}   # consumer -> the agent its session is with, in the policy's world
        self.load: dict[str, int] = {}
        self.busy_since: dict[str, float] = {}
        self.held: dict[str, float] = {}
        self.first_text = self.last_text = ""   # as the decisions wrote them
        self._text = ""        # the last ts text turned into epoch seconds,
        self._seconds = 0.0    # and them

    @property
    def first(self) -> Optional[float]:
        """The first decision's time as epoch seconds (None: no decision)."""
        return epoch(self.first_text) if self.first_text else None

    @property
    def last(self) -> Optional[float]:
        """The last decision's time as epoch seconds (None: no decision)."""
        return epoch(self.last_text) if self.last_text else None

    def observe(self, decisions: list[Decision]) -> None:
        """Read decisions as the replay makes them (its on_decisions observer)."""
        if not decisions:
            return
        if not self.first_text:
            self.first_text = decisions[0].ts
        self.last_text = decisions[-1].ts
        for d in decisions:
            consumer = d.consumer
            if consumer is None:   # none of the decisions read below: the engine makes them all for a consumer
                continue
            if isinstance(d, Assigned):   # assign, offline_route
                self._opened(d, consumer)
                if d.waited is not None:   # served from the queue or pool: a dequeue, or taken by an agent
                    self.waits.append(d.waited)
                self._hold(consumer, d.agent, d.ts)
            elif isinstance(d, Queued):   # enqueue, offline_pool
                self._opened(d, consumer)
                if d.action == "enqueue":
                    self.queued.add(consumer)
                else:
                    self.pooled.add(consumer)
            elif isinstance(d, Transferred):
                self._hold(consumer, d.agent, d.ts)
            elif isinstance(d, Closed):   # close_session
                self._hold(consumer, None, d.ts)
                self.current.pop(consumer, None)
            elif isinstance(d, LeftQueue):   # leave_queue
                self.current.pop(consumer, None)

    def _opened(self, d: Assigned | Queued, consumer: str) -> None:
        key = self.current.get(consumer)
        if key is None:
            key = self.current[consumer] = (consumer, d.file or "", d.line if d.line is not None else -1)
            self.sessions.setdefault(key, None)
        if isinstance(d, Assigned) and self.sessions.get(key) is None:
            self.sessions[key] = d.agent

    def _hold(self, consumer: str, agent: Optional[str], ts: str) -> None:
        """The consumer's session is now with agent (None: it ended); each agent's load follows."""
        before = self.holder.pop(consumer, None)
        if before is not None:
            self._step(before, -1, ts)
        if agent is not None:
            self.holder[consumer] = agent
            self._step(agent, +1, ts)

    def _step(self, agent: str, step: int, ts: str) -> None:
        load = self.load.get(agent, 0)
        self.load[agent] = load + step
        if load == 0 and step > 0:
            self.busy_since[agent] = self._epoch(ts)
        elif load == 1 and step < 0:
            self.held[agent] = self.held.get(agent, 0.0) + self._epoch(ts) - self.busy_since.pop(agent)
        self.held.setdefault(agent, 0.0)

    def _epoch(self, ts: str) -> float:
        """epoch(ts), remembered for the next decisions (a burst shares its time)."""
        if ts != self._text:
            self._text, self._seconds = ts, epoch(ts)
        return self._seconds

    def occupied(self, end: Optional[float]) -> dict[str, float]:
        """Per agent, the seconds it held at least one session; a session still open is held until end."""
        held = dict(self.held)
        for agent, since in self.busy_since.items():
            held[agent] += max(0.0, (end if end is not None else since) - since)
        return held


# --- the comparison ---------------------------------------------------------------------------------------------

@dataclass
class Side:
    """A policy compared: the policy, its file as shown."""

    policy: ir.Policy
    file: Optional[str]


@dataclass
class Comparison:
    """The outcomes of every run of A and B (run i: seed + i for both)."""

    a: Side
    b: Side
    seed: int
    agents: str
    runs_a: list[RunOutcome] = field(default_factory=list)
    runs_b: list[RunOutcome] = field(default_factory=list)


def compare(policy_a: Side, policy_b: Side, log: list[str], *, seed: int, runs: int = 1,
            runner: Optional[ReplayRunner] = None, shop: Optional[str] = None, agents: str = "log") -> Comparison:
    """Replay the log through A and B `runs` times, run i with seed `seed + i` for both (common random numbers)."""
    if runs < 1:
        raise ValueError("runs must be at least 1")
    run = runner if runner is not None else log_replay()
    result = Comparison(policy_a, policy_b, seed, agents)
    for i in range(runs):
        result.runs_a.append(run(policy_a.policy, log, seed=seed + i, shop=shop, policy_file=policy_a.file,
                                 facts=i == 0))   # what the change did is shown for the first run only
        result.runs_b.append(run(policy_b.policy, log, seed=seed + i, shop=shop, policy_file=policy_b.file,
                                 facts=i == 0))
    return result


def points(a: Optional[dict], b: Optional[dict]) -> Optional[float]:
    """B − A of the rate met / eligible of two figures, in percentage points (None when a side has no rate)."""
    if not a or not b or not a["eligible"] or not b["eligible"]:
        return None
    return round((b["met"] / b["eligible"] - a["met"] / a["eligible"]) * 100, 6) + 0.0


def _difference(pairs: Sequence[tuple[Optional[dict], Optional[dict]]]) -> dict:
    """The difference of rate over the runs (each a pair of figures, A and B): the first run's points, the mean
    and the 95 % interval."""
    each = [points(a, b) for a, b in pairs]
    first = each[0]
    if any(p is None for p in each):
        return {"points": first, "mean": None, "low": None, "high": None}
    mean, low, high = t_interval([p for p in each if p is not None])
    return {"points": first, "mean": round6(mean), "low": round6(low), "high": round6(high)}


def percentile(values: list[int], share: float) -> Optional[int]:
    """The nearest-rank percentile: the smallest value with at least `share` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# --- the report -------------------------------------------------------------------------------------------------

def compare_dict(result: Comparison) -> dict:
    """The comparison in its stable JSON shape (docs/compare.md, docs/compare.schema.json)."""
    first_a, first_b = result.runs_a[0], result.runs_b[0]
    ra, rb = first_a.report, first_b.report
    span = _span(first_a.changes, first_b.changes)
    return {
        "format": COMPARE_FORMAT_VERSION,
        "platform": ra["platform"],
        "shop": result.a.policy.shop.name,
        "a": {"file": result.a.file},
        "b": {"file": result.b.file},
        "agents": result.agents,
        "seed": result.seed,
        "runs": len(result.runs_a),
        "events": ra["events"],
        "replayed": {"start": span[0], "end": span[1], "seconds": span[2]},
        "metrics": _metric_rows(result),
        "totals": _totals(result),
        "changes": _changes(first_a, first_b),
        "by_agent": _by_agent(first_a, first_b, span[2], _last(first_a.changes, first_b.changes)),
        "by_hour": _by_hour(result),
    }


def _span(a: DecisionFacts, b: DecisionFacts) -> tuple[Optional[str], Optional[str], int]:
    """The replayed time: from the first to the last decision of A and B together (start, end, seconds)."""
    sides = [f for f in (a, b) if f.first is not None and f.last is not None]
    if not sides:
        return None, None, 0
    start = min(sides, key=lambda f: f.first or 0.0)
    end = max(sides, key=lambda f: f.last or 0.0)
    assert start.first is not None and end.last is not None
    return start.first_text, end.last_text, round(end.last - start.first)


def _last(a: DecisionFacts, b: DecisionFacts) -> Optional[float]:
    """The end of the replayed time, as epoch seconds."""
    return max((f.last for f in (a, b) if f.last is not None), default=None)


def _figures(row: Optional[dict]) -> Optional[dict]:
    if row is None:
        return None
    return {key: row[key] for key in ("eligible", "met", "rate", "passed", "penalty")}


def _metric_rows(result: Comparison) -> list[dict]:
    """Per shop, day and metric: the figures under A and B (first run) and the difference over the runs."""
    keyed = [({(r["shop"], r["date"], r["metric"]): r for r in run.report["metrics"]}) for run in result.runs_a]
    keyed_b = [({(r["shop"], r["date"], r["metric"]): r for r in run.report["metrics"]}) for run in result.runs_b]
    rows = []
    for key in sorted(set(keyed[0]) | set(keyed_b[0])):
        a, b = keyed[0].get(key), keyed_b[0].get(key)
        either = a or b
        assert either is not None
        pairs = [(ka.get(key), kb.get(key)) for ka, kb in zip(keyed, keyed_b)]
        rows.append({"shop": key[0], "date": key[1], "metric": key[2], "label": either["label"],
                     "threshold": either["threshold"], "currency": either["currency"],
                     "a": _figures(a), "b": _figures(b), "difference": _difference(pairs)})
    return rows


def _sum_by_metric(report: dict) -> dict[str, tuple[int, int]]:
    sums: dict[str, tuple[int, int]] = {}
    for row in report["metrics"]:
        eligible, met = sums.get(row["metric"], (0, 0))
        sums[row["metric"]] = (eligible + row["eligible"], met + row["met"])
    return sums


def _units(eligible: int, met: int) -> dict:
    return {"eligible": eligible, "met": met, "rate": round(met / eligible, 6) if eligible else None}


def _totals(result: Comparison) -> list[dict]:
    """Per metric over every day of the log: units under A and B (first run) and the difference over the runs."""
    sums_a = [_sum_by_metric(run.report) for run in result.runs_a]
    sums_b = [_sum_by_metric(run.report) for run in result.runs_b]
    out = []
    for metric in dict.fromkeys([*sums_a[0], *sums_b[0]]):
        per_run = [(_units(*sa.get(metric, (0, 0))), _units(*sb.get(metric, (0, 0)))) for sa, sb in zip(sums_a, sums_b)]
        out.append({"metric": metric, "a": per_run[0][0], "b": per_run[0][1],
                    "difference": _difference(per_run)})
    return out


def _changes(run_a: RunOutcome, run_b: RunOutcome) -> dict:
    """What the change did, in the first run (seed): sessions, queue, waits, automatic replies, decisions."""
    fa, fb = run_a.changes, run_b.changes
    return {
        "sessions": _sessions(fa.sessions, fb.sessions),
        "routed_elsewhere": len({key[0] for key in fa.sessions.keys() & fb.sessions.keys()
                                 if fa.sessions[key] is not None and fb.sessions[key] is not None
                                 and fa.sessions[key] != fb.sessions[key]}),
        "queued": {"a": len(fa.queued), "b": len(fb.queued), "a_only": len(fa.queued - fb.queued),
                   "b_only": len(fb.queued - fa.queued)},
        "pooled": {"a": len(fa.pooled), "b": len(fb.pooled)},
        "waits": {"a": _waits(fa.waits), "b": _waits(fb.waits)},
        "auto_replies": _auto_replies(run_a.report["auto_replies_by_kind"], run_b.report["auto_replies_by_kind"]),
        "decisions": _decisions(run_a.report["decisions"], run_b.report["decisions"]),
    }


def _sessions(a: dict[tuple[str, str, int], Optional[str]], b: dict[tuple[str, str, int], Optional[str]]) -> dict:
    both = a.keys() & b.keys()
    served = [key for key in both if a[key] is not None and b[key] is not None]
    return {"matched": len(both),
            "same_agent": sum(1 for key in served if a[key] == b[key]),
            "other_agent": sum(1 for key in served if a[key] != b[key]),
            "served_in_a_only": sum(1 for key in both if a[key] is not None and b[key] is None),
            "served_in_b_only": sum(1 for key in both if a[key] is None and b[key] is not None),
            "only_in_a": len(a.keys() - b.keys()),
            "only_in_b": len(b.keys() - a.keys())}


def _waits(waits: list[int]) -> dict:
    return {"served": len(waits), "mean": round(sum(waits) / len(waits), 6) if waits else None,
            "p90": percentile(waits, 0.9)}


def _auto_replies(a: dict[str, dict], b: dict[str, dict]) -> dict[str, dict]:
    out = {}
    for kind in dict.fromkeys([*a, *b]):
        side_a = a.get(kind, {"sent": 0, "suppressed": {}})
        side_b = b.get(kind, {"sent": 0, "suppressed": {}})
        out[kind] = {"a": side_a, "b": side_b, "sent_difference": side_b["sent"] - side_a["sent"]}
    return out


def _decisions(a: dict[str, int], b: dict[str, int]) -> dict[str, dict]:
    return {action: {"a": a.get(action, 0), "b": b.get(action, 0), "difference": b.get(action, 0) - a.get(action, 0)}
            for action in sorted(a.keys() | b.keys())}


def _by_agent(run_a: RunOutcome, run_b: RunOutcome, seconds: int, end: Optional[float]) -> list[dict]:
    """Per shop and agent: assigned, peak load and cap (the replay's by-agent table, without its row of units
    never assigned) and occupancy, A and B."""
    rows_a = {(r["shop"], r["agent"]): r for r in run_a.report.get("by_agent") or [] if r["agent"] != NO_AGENT}
    rows_b = {(r["shop"], r["agent"]): r for r in run_b.report.get("by_agent") or [] if r["agent"] != NO_AGENT}
    held_a, held_b = run_a.changes.occupied(end), run_b.changes.occupied(end)
    agents = sorted(rows_a.keys() | rows_b.keys() | {(_shop(run_a), agent) for agent in held_a}
                    | {(_shop(run_b), agent) for agent in held_b})
    return [{"shop": shop, "agent": agent,
             "a": _agent_side(rows_a.get((shop, agent)), held_a.get(agent, 0.0), seconds),
             "b": _agent_side(rows_b.get((shop, agent)), held_b.get(agent, 0.0), seconds)}
            for shop, agent in agents]


def _shop(run: RunOutcome) -> str:
    """The shop of a one-shop run (the first metric's or day's)."""
    for key in ("metrics", "days"):
        for row in run.report[key]:
            return row["shop"]
    return ""


def _agent_side(row: Optional[dict], held: float, seconds: int) -> dict:
    return {"assigned": row["assigned"] if row else 0, "peak_load": row["peak_load"] if row else 0,
            "cap": row["cap"] if row else None,
            "occupancy": round(held / seconds, 6) if seconds else None}


def _by_hour(result: Comparison) -> list[dict]:
    """Per shop, local hour and metric: the units under A and B (first run) and the difference over the runs."""
    hours_a = [{(r["shop"], r["hour"]): r for r in run.report.get("by_hour") or []} for run in result.runs_a]
    hours_b = [{(r["shop"], r["hour"]): r for r in run.report.get("by_hour") or []} for run in result.runs_b]
    out = []
    for key in sorted(hours_a[0].keys() | hours_b[0].keys()):
        metrics = dict.fromkeys([*(hours_a[0].get(key) or {"metrics": {}})["metrics"],
                                 *(hours_b[0].get(key) or {"metrics": {}})["metrics"]])
        figures = {}
        for metric in metrics:
            pairs = [(_hour_units(ha.get(key), metric), _hour_units(hb.get(key), metric))
                     for ha, hb in zip(hours_a, hours_b)]
            figures[metric] = {"a": pairs[0][0], "b": pairs[0][1],
                               "difference": _difference(pairs)}
        out.append({"shop": key[0], "hour": key[1], "metrics": figures})
    return out


def _hour_units(row: Optional[dict], metric: str) -> dict:
    if row is None or metric not in row["metrics"]:
        return {"eligible": 0, "met": 0, "rate": None}
    return dict(row["metrics"][metric])
