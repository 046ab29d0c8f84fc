"""`kefu explain`: why the engine decided what it did, for one event line or one consumer's story.

It replays the log through the same engine as `kefu replay`, with the engine's tracer hook set
(runtime/trace.py): for each event asked about, the state that mattered before it (agents'
statuses, loads, caps and idle rates, the queue, the consumer's session and last replies), each
rule the engine considered in order with what came of it and the rule's `file:line`, and the
decisions it made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson

from . import ir
from .diagnostics import visible
from .events import Event, Rejected
from .replay import replay
from .runtime.clock import LocalClock, policy_timezone
from .runtime.decisions import Decision
from .runtime.trace import Step, Trace, TracedEvent

EXPLAIN_FORMAT_VERSION = 1


@dataclass
class Explanation:
    """What `kefu explain` found: the traced events, and the log's rejected lines."""

    events: list[TracedEvent]
    rejected: dict[int, str]
    clock: LocalClock
    consumer: str | None = None   # the consumer whose story it is (None: one line)


def explain(policy: ir.Policy, stream: BinaryIO, *, line: int | None = None, consumer: str | None = None,
            seed: int = 0, automation: bool = True, shop: str | None = None) -> Explanation:
    """Replay the log with the tracer on and keep the event at `line`, or every event of `consumer`."""
    if (line is None) == (consumer is None):
        raise ValueError("explain one line or one consumer")

    def keep(event: Event | None, decisions: list[Decision]) -> bool:
        if line is not None:
            return event is not None and event.line == line
        return (event is not None and event.consumer == consumer) or any(d.consumer == consumer for d in decisions)

    tracer = Trace(keep, consumer)
    rejected: dict[int, str] = {}

    def on_reject(r: Rejected) -> None:
        rejected[r.line] = r.reason

    replay(policy, stream, seed=seed, automation=automation, on_reject=on_reject, shop=shop, tracer=tracer)
    return Explanation(tracer.events, rejected, LocalClock(policy_timezone(policy)), consumer)


# ---- text -----------------------------------------------------------------------------------------
def _rule(step_rule: Any) -> str:
    return f"  [{step_rule.file}:{step_rule.line}]" if step_rule is not None else ""


def _event_head(traced: TracedEvent, clock: LocalClock) -> str:
    ev = traced.event
    if ev is None:
        return "end of the log: the timers still pending fire"
    when = clock.iso(ev.ts)
    what = {"message": f"{ev.sender} message", "agent_status": f"agent {ev.agent} goes {ev.status}",
            "transfer": f"transfer of {ev.consumer} from {ev.agent} to {ev.to_agent}",
            "session_end": f"{ev.consumer}'s session ended by hand"}.get(ev.type, ev.type)
    if ev.type == "message":
        who = ev.consumer if ev.sender == "consumer" else f"{ev.agent or ev.sender} to {ev.consumer}"
        what = f"{ev.sender} message · {who}"
        if ev.text:
            what += f": {ev.text!r}"
        if ev.page:
            what += f" (page {ev.page})"
        if ev.card_kind:
            what += f" (card {ev.card_kind} {ev.card_id})"
    return f"line {ev.line} · {when} · {what}"


def _state_lines(state: dict[str, Any], full: bool) -> list[str]:
    if not state:
        return []
    agents = state.get("agents", [])
    present = [a for a in agents if a["status"] != "offline"]
    shown = agents if full else present
    described = ", ".join(f"{a['agent']} {a['status']} {a['load']}/{a['cap']}" for a in shown) or "none"
    lines = [f"  state: {'agents' if full else 'agents present'}: {described} · queue {state.get('queue_length', 0)}"]
    cs = state.get("consumer")
    if full and cs is not None:
        parts = []
        if cs["session_agent"]:
            parts.append(f"in a session with {cs['session_agent']}")
        if cs["queued_since"] is not None:
            parts.append("queued")
        if cs["last_agent"]:
            parts.append(f"last session with {cs['last_agent']}")
        if cs["auto_replies_sent"]:
            parts.append(f"automatic replies sent lately: {len(cs['auto_replies_sent'])}")
        lines.append("  consumer: " + ("; ".join(parts) or "new"))
    return lines


def decision_text(d: dict[str, Any]) -> str:
    """A decision record in words."""
    action, who = d["action"], d.get("consumer")
    rule = f"  [{d['rule']['file']}:{d['rule']['line']}]" if d.get("rule") else ""
    if action in ("assign", "offline_route"):
        waited = f", after {d['waited']} s in the queue" if d.get("waited") is not None else ""
        text = f"{action} {who} to {d['agent']} ({d['reason']}; load {d['load']}/{d['cap']}{waited})"
    elif action in ("enqueue", "offline_pool"):
        wait = d.get("estimated_wait")
        text = (f"{action} {who} at position {d['position']} of {d['queue_length']} ({d['reason']}"
                + (f"; estimated wait {wait} s" if wait is not None else "") + ")")
    elif action == "auto_reply":
        text = f"automatic reply {d['kind']} to {who}: {d['text']!r}"
    elif action == "close_session":
        text = f"close {who}'s session with {d['agent']} ({d['reason']}, {d['duration']} s)"
    elif action == "leave_queue":
        text = f"{who} leaves the queue ({d['reason']})"
    elif action == "transfer":
        text = f"transfer {who} from {d.get('from_agent')} to {d['agent']} (from the log)"
    elif action == "differs":
        text = f"the log's {d['actual_agent']} answered {who} first, not {d['agent']} whom the policy assigned"
    elif action == "history_answer":
        text = (f"{d['agent']} answers {who} from history, {d['since_end']} s after the session ended "
                f"(window {d['window']} s)")
    elif action == "history_expired":
        text = (f"{d['agent']} writes to {who} {d['since_end']} s after the session ended, past the history window "
                f"({d['window']} s): not an answer")
    else:
        text = f"{action} {who}"
    return text + rule


def _step_line(step: Step) -> str:
    return f"  · {step.what.replace('_', ' ')}: {step.text}{_rule(step.rule)}"


def render_text(found: Explanation, full: bool = False) -> str:
    """The explanation in words: each event, the state, the steps, the decisions."""
    lines: list[str] = []
    for traced in found.events:
        lines.append(_event_head(traced, found.clock))
        lines += _state_lines(traced.state, full)
        steps = traced.steps if full else [s for s in _steps_of(traced.steps, found.consumer) if not _quiet(s)]
        lines += [_step_line(s) for s in steps]
        at = found.clock.iso(traced.event.ts) if traced.event is not None else None
        records = [d.to_dict() for d in traced.decisions]
        if found.consumer is not None and not full:   # a consumer's story: its own decisions
            records = [d for d in records if d.get("consumer") == found.consumer]
        lines += [f"  → {decision_text(d)}" + (f" (at {d['ts'][11:19]}, a timer due before this event)"
                                                if at is not None and d["ts"] != at else "")
                  for d in records] or ["  → no decision"]
        lines.append("")
    return "\n".join(map(visible, lines)) + ("\n" if lines else "")


def _steps_of(steps: list[Step], consumer: str | None) -> list[Step]:
    """The steps about a consumer: a queue drain's steps for other consumers are left out."""
    if consumer is None:
        return steps
    kept, mine = [], True
    for step in steps:
        if step.what == "dequeue":
            mine = step.data.get("consumer") == consumer
        if mine:
            kept.append(step)
    return kept


def _quiet(step: Step) -> bool:
    """Steps the short form leaves out: those that found nothing to do."""
    return step.what == "auto_reply" and step.text.startswith(("no trigger", "the policy has no automatic reply"))


# ---- JSON -----------------------------------------------------------------------------------------
def render_json(found: Explanation) -> bytes:
    """The explanation as JSON (docs/explain.md)."""
    events = []
    for traced in found.events:
        ev = traced.event
        head: dict[str, Any] = {"line": None, "ts": None, "type": "end_of_log"}
        if ev is not None:
            head = {"line": ev.line, "ts": found.clock.iso(ev.ts), "type": ev.type, "shop": ev.shop,
                    "sender": ev.sender, "consumer": ev.consumer, "agent": ev.agent, "text": ev.text, "page": ev.page}
        events.append({**head, "state": traced.state,
                       "steps": [{"what": s.what, "text": s.text,
                                  "rule": {"file": s.rule.file, "line": s.rule.line} if s.rule else None, **s.data}
                                 for s in traced.steps],
                       "decisions": [d.to_dict() for d in traced.decisions]})
    return orjson.dumps({"format": EXPLAIN_FORMAT_VERSION, "events": events}, option=orjson.OPT_INDENT_2) + b"\n"
