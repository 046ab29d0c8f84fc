"""Decision records: what the policy's automation decided, and which rule decided it.

A decision is a msgspec Struct whose fields are, in order, exactly the keys of its JSON
record (docs/replay.md): the common ones on `Decision`, then the action's own on its
subclass. So a batch of decisions is written by one C call (`encode_lines`) with no
dict built per decision, and a Decision object reads the same as its JSON line: `ts`
is the local RFC 3339 text, `rule` a `RuleRef`. Optional fields (`waited`, `trigger`,
`faq`) are left out of the record when unset (omit_defaults).
"""

from __future__ import annotations

import math
import posixpath
from typing import Any, Callable, Iterable

import msgspec

from ..ir import Policy, Span
from ..resources import platforms_dir

SHIPPED_PLATFORMS = "rulesets/platforms/"
"""How the loader shows a shipped platform file (engine/loader.py, _platform_display)."""

# Every action a decision can carry (documented in docs/replay.md).
ACTIONS = (
    "assign",          # a consumer is given to an agent
    "enqueue",         # a consumer waits in the queue
    "leave_queue",     # a queued or pooled consumer leaves unserved (ended by hand, day end, pool expiry)
    "offline_route",   # all agents offline: the consumer goes to the offline account
    "offline_pool",    # all agents offline: the message waits in the offline pool
    "transfer",        # the log moved a consumer to another agent (a human act, recorded)
    "close_session",   # a session ends: by hand (log) or automatically (policy timer)
    "auto_reply",      # the policy sends an automatic reply
    "differs",         # the agent who answered in the log is not the one the policy assigned
    "history_answer",  # the log's agent answers a consumer whose session ended within `history`
    "history_expired", # the log's agent writes to a consumer whose session ended longer ago: not an answer
)


class RuleRef(msgspec.Struct, frozen=True, gc=False):
    """The policy or platform line that decided: `{"file", "line"}` in a record."""

    file: str
    line: int


def rule_ref(span: Span | None) -> RuleRef | None:
    """The RuleRef of a rule's span (the engine makes them once, when it reads the policy)."""
    return None if span is None else RuleRef(span.file, span.line)


class RuleFiles:
    """How a policy's decisions name a rule's file: a path a user can open (docs/replay.md, `rule`).

    A rule of the shop policy or of one of its includes: the path relative to the policy's directory.
    A platform rule: the platform file as the user gave it (a --platform-dir's file), or the shipped
    file's name (``taobao.kefu``), which is the same whether kefu is installed or run from a checkout.
    """

    def __init__(self, policy: Policy):
        shop, platform = policy.shop.span, policy.platform.span
        self.base = posixpath.dirname(shop.file) or "." if shop is not None else None
        self.platform_file = platform.file if platform is not None else None
        self._refs: dict[str, dict[int, RuleRef]] = {}   # file -> line -> RuleRef (a file's str hashes once)

    def file(self, file: str) -> str:
        """The file of a rule as decisions name it."""
        if file == self.platform_file:
            name = file[len(SHIPPED_PLATFORMS):]
            shipped = file.startswith(SHIPPED_PLATFORMS) and "/" not in name and (platforms_dir() / name).is_file()
            return name if shipped else file
        return posixpath.relpath(file, self.base) if self.base is not None else file

    def ref(self, ref: RuleRef | None) -> RuleRef | None:
        """ref with its file named as decisions name it (each distinct ref worked out once)."""
        if ref is None:
            return None
        lines = self._refs.get(ref.file)
        if lines is None:
            lines = self._refs[ref.file] = {}
        named = lines.get(ref.line)
        if named is None:
            named = lines[ref.line] = RuleRef(self.file(ref.file), ref.line)
        return named

    def __call__(self, span: Span | None) -> RuleRef | None:
        """The RuleRef of a rule's span, its file named as decisions name it."""
        return self.ref(rule_ref(span))


class Decision(msgspec.Struct, omit_defaults=True, gc=False):
    """One decision; `line` is the event line that caused it (None for a timer).

    `ts` is local RFC 3339 text, as in the record; the subclass per action carries
    the action's own fields.
    """

    ts: str
    action: str
    shop: str
    consumer: str | None
    agent: str | None
    line: int | None
    rule: RuleRef | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON record of the decision, as a dict."""
        return msgspec.to_builtins(self)


class Assigned(Decision, omit_defaults=True, gc=False):
    """`assign` or `offline_route`: the agent's load and cap after it; `waited` on a dequeue."""

    reason: str
    load: int
    cap: int
    waited: int | None = None
    file: str | None = None   # the event's file, when the replay reads several (docs/scale.md)


class Queued(Decision, omit_defaults=True, gc=False):
    """`enqueue` or `offline_pool`: the place in the queue and the estimated wait (seconds or None)."""

    reason: str
    position: int
    queue_length: int
    estimated_wait: int | None
    file: str | None = None   # the event's file, when the replay reads several (docs/scale.md)


class AutoReplied(Decision, omit_defaults=True, gc=False):
    """`auto_reply`: the kind and text; what triggered it; the FAQ questions sent with a welcome."""

    kind: str
    text: str
    trigger: str | None = None
    faq: tuple[str, ...] | None = None
    file: str | None = None   # the event's file, when the replay reads several (docs/scale.md)


class Closed(Decision, omit_defaults=True, gc=False):
    """`close_session`: why (`by_hand`, `auto_end`) and how long the session lasted (seconds)."""

    reason: str
    duration: int
    file: str | None = None   # the event's file, when the replay reads several (docs/scale.md)


class Transferred(Decision, omit_defaults=True, gc=False):
    """`transfer` (from the log): the agent the consumer came from."""

    reason: str
    from_agent: str | None
    file: str | None = None   # the event's file, when the replay reads several (docs/scale.md)


class LeftQueue(Decision, omit_defaults=True, gc=False):
    """`leave_queue`: a queued consumer leaves unserved: `by_hand`, `day_end` or `pool_expired`."""

    reason: str
    file: str | None = None   # the event's file, when the replay reads several (docs/scale.md)


class Differs(Decision, omit_defaults=True, gc=False):
    """`differs`: the agent who answered in the log (`agent` is the policy's)."""

    actual_agent: str
    file: str | None = None   # the event's file, when the replay reads several (docs/scale.md)


class FromHistory(Decision, omit_defaults=True, gc=False):
    """`history_answer` or `history_expired`: the seconds since the consumer's session ended, and the `history`
    window (seconds) they are within or past."""

    since_end: int
    window: int
    file: str | None = None   # the event's file, when the replay reads several (docs/scale.md)


_encode_lines = msgspec.json.Encoder().encode_lines


def encode_lines(decisions: Iterable[Decision]) -> bytes:
    """Decisions as JSON Lines (each record followed by a newline)."""
    return _encode_lines(decisions)


class Stamper:
    """A decision's `ts` text from a timestamp; the last one is remembered, as decisions come in bursts."""

    def __init__(self, iso: Callable[[float], str]):
        self._iso = iso
        self._ts = math.nan
        self._text = ""

    def text(self, ts: float) -> str:
        """ts as a decision's local RFC 3339 text."""
        if ts != self._ts:
            self._ts = ts
            self._text = self._iso(ts)
        return self._text
