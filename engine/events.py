"""Streaming reader of event logs (the input of `kefu replay`; the format is docs/events.md).

An event log is UTF-8 JSON Lines. `read_events` turns a binary stream into `Event`s in time
order, checking every line, and reports each bad line as a `Rejected` (line number + short
reason) instead of dropping it.

Decisions this module makes (docs/events.md gives them to users):

- **Lines** are counted from 1 and split on ``\\n`` (a trailing ``\\r`` is ignored). A blank or
  whitespace-only line is not an event: it is neither accepted nor rejected and is **not counted
  in ``read``**, but it still takes a line number, so numbers match an editor's. A UTF-8 byte
  order mark at the start of line 1 is skipped. A line longer than `MAX_LINE_BYTES` is rejected
  without being held in memory whole.
- **Counting**: ``stats.read`` counts non-blank lines, and ``read == accepted + rejected`` holds
  after the iterator is exhausted (also after `StrictError`). Events still held in the reorder
  buffer are already counted as accepted.
- **Reasons** never repeat the line number (`Rejected.line` carries it; ``str(rejected)`` gives
  ``line 17: missing field "consumer"``). Values quoted in a reason are cut to 40 characters.
- **ts**: an RFC 3339 string *with* an offset (``2026-11-11T09:00:05+08:00``, ``…Z``, fractional
  seconds allowed, ``T``/``t``/space as separator) or epoch seconds as a JSON number (not a
  boolean) from 1970 up to (not including) 9990-01-01 UTC, so that a policy's timers (at most
  `transform.MAX_DURATION` later) still fall on a calendar date. A string without an offset is rejected — the reader never
  guesses a time zone. ``Event.ts`` is epoch seconds (UTC) as a float.
- **Nulls**: an optional field set to ``null`` counts as absent; a required one set to ``null`` is
  a wrong type.
- **Pages and senders** are those of a `Vocabulary`: the platform replayed (``Vocabulary.of_platform``),
  else the shipped platforms' (`shipped_vocabulary`). ``consumer`` is always a sender. An unknown one
  is rejected naming the platform and its names (or the closest one).
- **Fields per type** (anything else is ignored, as docs/events.md says): every event may carry ``shop``;
  ``message`` needs ``sender`` and ``consumer``, plus ``agent`` when the sender is ``agent``; it may
  carry ``text``, and a consumer message may carry ``page``, ``card`` and ``priority`` (an integer
  from 0 to MAX_PRIORITY; on other senders those three, and ``agent`` on non-agent senders, are
  ignored and left ``None``). ``agent_status`` needs
  ``agent`` and ``status`` and may carry ``max_sessions`` (a positive integer, at most MAX_CAP =
  2**63 - 1) and ``group``.
  ``transfer`` needs ``consumer``, ``agent`` and ``to_agent`` (a different agent). ``session_end``
  needs ``consumer`` and may carry ``agent``. Id fields must be non-empty strings.
- **Order**: events within `tolerance` seconds of disorder are put back in time order by a
  reorder buffer (a deque kept sorted on ``(ts, line)``; in-order events are appended, late ones
  inserted from the right): an event is released once the largest ts seen so far
  exceeds its ts by more than `tolerance`, and the rest at end of input. Output is therefore
  sorted by ``(ts, line)``. An event older than ``max ts seen − tolerance`` cannot be placed any
  more and is rejected (``ts goes back 312 s (tolerance 60 s)``). Memory is bounded by the events
  inside the tolerance window, never by the length of the log.
- **Jumps ahead**: a log may have gaps (a shop closed for a week), but one line with a mistyped
  year would otherwise make every later line "go back". So a line more than `MAX_JUMP` (a day)
  ahead of the largest ts seen so far is held back until the next line that is not rejected on
  its own (bad lines, and lines going back beyond the tolerance of the ts before the jump, are
  rejected as usual meanwhile). If that line would be rejected as going back after the held one
  (``ts < held ts − tolerance``), the held line is the bad one: it is rejected with its own line
  number (``ts jumps 1461 days ahead of the lines around it``) and the read goes on from the ts
  before the jump (the deciding line may itself be a jump, held in turn). Otherwise the jump is
  real and the held line is accepted; so is a held line at the end of input. The first line of a
  log is held too, having nothing before it: the next line condemns it only by coming back more
  than MAX_JUMP before it (``ts jumps 1461 days ahead of the line after it``); a line less far
  back goes back from a first line that stands. Held lines count as accepted until rejected, so
  the rejection of a held line reaches `on_reject` after those of the lines read past it.
- **gzip**: a stream that starts with the gzip magic bytes (`GZIP_MAGIC`) and is not a
  ``gzip.GzipFile`` already (`open_log` gunzips files named ``.gz``) is decompressed as it is read,
  so a gzipped log on stdin or under any name reads as the plain one.
- **strict**: the first bad line is counted, passed to `on_reject`, then raised as `StrictError`;
  events still in the reorder buffer are not yielded. A held jump line found bad stops the read at
  it: the line that showed it is left out of ``read``.
- I/O errors of the stream (a corrupt or truncated gzip stream raises ``OSError``/``EOFError``/
  ``zlib.error``) are not bad lines: they propagate to the caller.
"""

from __future__ import annotations

import errno
import gzip
import io
import math
import re
import sys
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, BinaryIO, Callable, Iterator, Literal, Mapping, Sequence, Union

import msgspec
import orjson

from .names import closest

if TYPE_CHECKING:
    from . import ir

__all__ = [
    "Event", "Rejected", "ReadStats", "StrictError", "Vocabulary", "open_log", "read_events", "parse_line", "parse_ts",
    "shipped_vocabulary", "TYPES", "CONSUMER", "STATUSES", "CARD_KINDS", "MAX_LINE_BYTES", "MAX_JUMP", "GZIP_MAGIC",
]

TYPES = ("message", "agent_status", "transfer", "session_end")
CONSUMER = "consumer"
"""The consumer's sender: a sender on every platform (the platform's `senders` line lists the shop's side)."""
STATUSES = ("online", "busy", "offline")
CARD_KINDS = ("product", "order")

MAX_LINE_BYTES = 1 << 20
"""Longest line accepted (1 MiB); longer lines are rejected and skipped without being stored."""

GZIP_MAGIC = b"\x1f\x8b"
"""The first two bytes of a gzip stream: a log that starts with them is decompressed as it is read."""

_BOM = b"\xef\xbb\xbf"

MAX_JUMP = 24 * 3600.0
"""Seconds a line may jump ahead of every line before it (a day) without being checked against the
next line: a longer jump is held back and rejected if the next line comes back before it."""

CHUNK_BYTES = 1 << 15
"""Bytes read at a time (32 KiB): the whole lines of a chunk are decoded by one call. Small enough
that a chunk's Events are still in the CPU cache when the engine takes them (a replay measured 4 %
faster than with 256 KiB chunks)."""

# Value → the interned constant, so type, status and card kind share memory (sender and page are checked
# against the platform's names but are the line's own strings: compare them with ==).
_TYPE = {t: t for t in TYPES}
_STATUS = {s: s for s in STATUSES}
_CARD_KIND = {k: k for k in CARD_KINDS}

_MAX_EPOCH = 253086768000.0  # 9990-01-01T00:00:00Z: + MAX_DURATION (10 years) and a day is still before 9999-12-31
_SEC = {f"{i:02d}": i for i in range(60)}
# re.ASCII: \d is 0-9 only (not ٠-٩, ０-９, ...), as RFC 3339 says
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII)
_NAIVE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?", re.ASCII)
_TS_CACHE_MAX = 4096


# ---- the fast path: typed decoding in C ------------------------------------------------------
#
# `read_events` reads the log a chunk (CHUNK_BYTES of whole lines) at a time and decodes all its
# lines with one msgspec call straight into `Event`s (`_decode_block`; a chunk it cannot take as
# exactly one JSON object per line goes line by line). Event's typed fields carry the checks of
# `_event` that C can do (ids non-empty, the format's enums known, optional fields null or valid); it
# forbids unknown fields, so every byte of a line it accepts has gone through a typed field and msgspec
# has checked it as strictly as orjson would (UTF-8, escapes, number range). `_settle_fields` then
# checks the page and sender against the platform's (they are decoded as strings: the platform is
# data, known only when the read starts), makes the checks across fields and clears what the type
# ignores. The fast path only ever
# *accepts*: a line it cannot decode, or one that needs a check it does not make (a missing field,
# an agent message without agent, a transfer to the same agent, a ts that does not parse, an
# ignored but invalid field, max_sessions 12.0, ...), goes whole to the original path (orjson +
# `_event`), which accepts or rejects it with its reason. So every reason, and the Event of every
# line the fast path declines, is the original's by construction; for the lines it accepts the
# fast path makes the Event `_event` would (tests/test_events.py checks both against parse_line).
#
# A log whose lines carry extra fields (which the format says to ignore) would fail the strict decode
# on every line. Once a line passes with them ignored -- orjson's dict converted to a `_LooseEvent`,
# Event's fields without forbidding unknown keys: the same checks -- the rest of the log is read
# that way (a card with extra keys goes to the original path): orjson
# judges the JSON, as on the original path, and msgspec the fields (about 1.2x faster than the
# original path, against 1.75x for the strict decoder).

_Id = Annotated[str, msgspec.Meta(min_length=1)]
# The enums as the decoder checks them (Literal of a tuple is the Literal of its items).
_Type = Literal[TYPES]  # type: ignore[valid-type]
_Status = Literal[STATUSES]  # type: ignore[valid-type]
_CardKind = Literal[CARD_KINDS]  # type: ignore[valid-type]
# above 2**64 - 1 orjson makes a float of an integer: leave those (and the rest of u64) to it
MAX_CAP = (1 << 63) - 1
"""Largest max_sessions a line may give: a 64-bit integer, as JSON readers of the decisions expect."""
_Cap = Annotated[int, msgspec.Meta(ge=1, le=MAX_CAP)]
MAX_PRIORITY = 9
"""A consumer message's `priority` is an integer from 0 (the default) to MAX_PRIORITY, higher served first."""
_Priority = Annotated[int, msgspec.Meta(ge=0, le=MAX_PRIORITY)]


class _StrictCard(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    kind: _CardKind
    id: _Id




# The fast path's ts cache: minute prefix ``YYYY-MM-DDTHH:MM:`` -> (get, epoch of that minute),
# where get maps the rest of the string, ``SS`` + offset, to the second (None for anything else).
# Parsing one ts of an hour fills all 60 minutes of it; read_events also keeps the last minute
# used, so a ts costs two slices, a compare and a lookup. The cache holds two hours at most: a log
# goes forward in time, and a small dict stays in the CPU cache (256 hours cost read_events 6%).
_MINUTE_KEYS = tuple(f"{i:02d}:" for i in range(60))
_MINUTES_MAX = 60 * 2
_OFFSETS_MAX = 64


def _fast_ts(value: str, cache: dict, minutes: dict, offsets: dict) -> float | None:
    """parse_ts(value, cache), or None if that raises; on success remembers value's hour in minutes."""
    try:
        ts = parse_ts(value, cache)
    except ValueError:
        return None
    # parse_ts accepted value: YYYY-MM-DDTHH:MM:SS, then a fraction or an offset. Cache whole seconds.
    if (len(value) == 25 or len(value) == 20) and value[19] != ".":
        sec, minute = _SEC.get(value[17:19]), _SEC.get(value[14:16])
        if sec is None or minute is None:  # cannot happen; never cache what is not understood
            return ts
        offset = value[19:]
        get = offsets.get(offset)
        if get is None:
            if len(offsets) >= _OFFSETS_MAX:
                offsets.clear()
            get = offsets[offset] = {s + offset: n for s, n in _SEC.items()}.get
        hour, base = value[:14], ts - sec - minute * 60
        if not _hour_in_range(base):
            return ts
        if len(minutes) >= _MINUTES_MAX:
            minutes.clear()
        for i, key in enumerate(_MINUTE_KEYS):
            minutes[hour + key] = (get, base + i * 60)
    return ts


class Event(msgspec.Struct, gc=False, forbid_unknown_fields=True,
            rename={"line": "kefu:line", "file": "kefu:file", "card_kind": "kefu:card_kind", "card_id": "kefu:card_id", "wire_card": "card"}):
    """One accepted line of an event log; fields not used by the event's type are None.

    Build one with at least line, ts and type. A msgspec Struct: read_events decodes the log's
    lines straight into Events (the JSON keys are the field names, but for `card`, read into
    `wire_card` and then moved to card_kind and card_id) and only sets line and ts after.
    """

    line: int = 0        # 1-based line number in the log
    if TYPE_CHECKING:
        ts: float = 0.0  # epoch seconds, UTC
        type: str = ""   # "message" | "agent_status" | "transfer" | "session_end"
    else:  # what a line may hold, as decoded; read_events makes ts a float and declines a missing type
        ts: Union[str, float, None] = None
        type: Union[_Type, None] = None
    shop: Union[_Id, None] = None
    sender: Union[str, None] = None  # message only: "consumer" or one of the platform's senders
    consumer: Union[_Id, None] = None
    agent: Union[_Id, None] = None
    text: Union[str, None] = None
    page: Union[str, None] = None   # one of the platform's pages
    card_kind: Union[str, None] = None   # "product" | "order"
    card_id: Union[str, None] = None
    status: Union[_Status, None] = None   # agent_status
    max_sessions: Union[_Cap, None] = None
    group: Union[_Id, None] = None
    to_agent: Union[_Id, None] = None
    wire_card: Union[_StrictCard, None] = None   # the line's card while reading; None in every Event read
    file: int = 0        # which log, when several are read as one (engine/logset.py): its index
    priority: Union[_Priority, None] = None   # consumer message: its place in a `queue { order priority }`


_decode_event = msgspec.json.Decoder(Event).decode
_decode_events = msgspec.json.Decoder(list[Union[Event, None]]).decode
# A line with extra fields is read as a _LooseEvent: Event's own fields (names, types, defaults, keys),
# with unknown keys ignored; the Event is then made from its fields in the same order.
_LooseEvent = msgspec.defstruct(
    "_LooseEvent", [(f.name, f.type, f.default) for f in msgspec.structs.fields(Event)], gc=False,
    rename={f.name: f.encode_name for f in msgspec.structs.fields(Event) if f.name != f.encode_name})
_astuple = msgspec.structs.astuple


@dataclass(frozen=True)
class Vocabulary:
    """The pages and senders a log may name: those of the platform it is replayed on.

    senders are the shop's side (the platform's `senders` line); "consumer" is always a sender too.
    owner names whose names they are in a rejection's reason ("platform taobao").
    """

    pages: tuple[str, ...]
    senders: tuple[str, ...]
    owner: str

    @classmethod
    def of_platform(cls, platform: "ir.Platform") -> "Vocabulary":
        """The pages and senders a platform file declares."""
        return cls(tuple(dict.fromkeys(p.name for p in platform.pages)),
                   tuple(dict.fromkeys(s.name for s in platform.senders if s.name != CONSUMER)),
                   f"platform {platform.name}")

    def all_senders(self) -> tuple[str, ...]:
        """Every sender a message may have: the consumer, then the platform's."""
        return (CONSUMER,) + self.senders


@lru_cache(maxsize=1)
def shipped_vocabulary() -> Vocabulary:
    """What a log may name when no platform is given: the pages and senders of the shipped platform files."""
    from .loader import Loader   # the reader itself needs no parser: only a read without a platform loads one
    pages: dict[str, None] = {}
    senders: dict[str, None] = {}
    loader = Loader([])
    for name, path in loader.available_platforms().items():
        platform = loader.load_platform_file(path, name).platform
        if platform is not None:
            vocabulary = Vocabulary.of_platform(platform)
            pages.update(dict.fromkeys(vocabulary.pages))
            senders.update(dict.fromkeys(vocabulary.senders))
    return Vocabulary(tuple(pages), tuple(senders), "the shipped platforms")


@dataclass(frozen=True)
class _Names:
    """A vocabulary as the reader looks names up: value -> the interned name, built once per read."""

    sender: dict[str, str]
    page: dict[str, str]
    vocabulary: Vocabulary

    @property
    def owner(self) -> str | None:
        """Whose names a reason lists: a platform's; None for the shipped platforms' (only a close match is shown)."""
        owner = self.vocabulary.owner
        return owner if owner.startswith("platform ") else None


@lru_cache(maxsize=16)
def _names(vocabulary: Vocabulary | None) -> _Names:
    vocabulary = vocabulary or shipped_vocabulary()
    return _Names({s: s for s in vocabulary.all_senders()}, {p: p for p in vocabulary.pages}, vocabulary)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A line that is not a valid event: its line number and a short reason (file: which of several logs)."""

    line: int
    reason: str
    file: str | None = None

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(slots=True)
class ReadStats:
    """Line counts of one read; `read == accepted + rejected` once reading has finished."""

    read: int = 0
    accepted: int = 0
    rejected: int = 0


class StrictError(Exception):
    """Raised by read_events(strict=True) at the first bad line."""

    def __init__(self, rejected: Rejected):
        super().__init__(str(rejected))
        self.rejected = rejected


class _Bad(Exception):
    """Internal: a line is rejected with this reason."""


# ---- opening ---------------------------------------------------------------------------------

def standard_stream(name: str) -> BinaryIO:
    """The binary side of sys.stdin or sys.stdout; OSError when the process was started with it closed."""
    stream = getattr(sys, name)
    if stream is None:
        raise OSError(errno.EBADF, f"standard {'input' if name == 'stdin' else 'output'} is closed")
    return stream.buffer


def open_log(path: str) -> BinaryIO:
    """Open an event log for binary reading: "-" is stdin, a name ending in .gz is gunzipped.

    Missing or unreadable files raise FileNotFoundError / OSError as open() does.
    """
    if path == "-":
        return standard_stream("stdin")
    if str(path).endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


# ---- values ----------------------------------------------------------------------------------

def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _show(value) -> str:
    """A value as JSON, cut to 40 characters, for a reason."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = orjson.dumps(value).decode()
        except TypeError:  # nested deeper than orjson writes (it reads deeper): name its type
            text = _json_type(value)
    if len(text) > 40:
        text = text[:39] + "…"
    return orjson.dumps(text).decode() if isinstance(value, str) else text


def _unknown(what: str, value, known: tuple[str, ...], owner: str | None = None) -> _Bad:
    """An unknown value; owner: whose names known are (a platform's pages or senders), listed when none is close."""
    if not isinstance(value, str):
        return _Bad(f"field \"{what}\" must be a string, got {_json_type(value)}")
    label = {"type": "type", "sender": "sender", "status": "status", "page": "page", "card.kind": "card kind"}[what]
    reason = f"unknown {label} {_show(value)}"
    if owner is not None:
        reason += f" for {owner}"
    match = closest(value, known)
    if match:
        reason += f" (did you mean \"{match}\"?)"
    elif owner is not None:
        reason += f" (its {label}s: {', '.join(known) or 'none'})"
    return _Bad(reason)


def _required_id(obj: dict, name: str) -> str:
    value = obj.get(name)
    if type(value) is str and value:
        return value
    if value is None and name not in obj:
        raise _Bad(f"missing field \"{name}\"")
    if value == "":
        raise _Bad(f"field \"{name}\" is empty")
    raise _Bad(f"field \"{name}\" must be a string, got {_json_type(value)}")


def _optional_str(obj: dict, name: str) -> str | None:
    value = obj.get(name)
    if value is None or type(value) is str:
        return value
    raise _Bad(f"field \"{name}\" must be a string, got {_json_type(value)}")


def _optional_id(obj: dict, name: str) -> str | None:
    value = _optional_str(obj, name)
    if value == "":
        raise _Bad(f"field \"{name}\" is empty")
    return value


def parse_ts(value, cache: dict | None = None) -> float:
    """Epoch seconds (UTC) of a ts value; raises ValueError with a short reason.

    `cache` (any dict, owned by the caller) remembers the epoch of each minute and hour prefix seen
    with its offset, so the common form ``YYYY-MM-DDTHH:MM:SS+HH:MM`` costs three slices and two
    lookups, a new minute a few more, and only a new hour the full RFC 3339 parse.
    """
    if type(value) is str:
        if cache is not None:
            hit = cache.get(value[:17])
            if hit is not None and value[19:] == hit[0]:
                sec = _SEC.get(value[17:19])
                if sec is not None:
                    return hit[1] + sec
        return _parse_ts_slow(value, cache)
    if type(value) is float or type(value) is int:
        ts = float(value)
        if 0.0 <= ts < _MAX_EPOCH:
            return ts
        hint = " (milliseconds? ts is in seconds)" if 1e12 <= ts < _MAX_EPOCH * 1000 else ""
        raise ValueError(f"ts {_show(value)} is out of range{hint}")
    raise ValueError(f"field \"ts\" must be an RFC 3339 string or epoch seconds, got {_json_type(value)}")


def _parse_ts_slow(value: str, cache: dict | None) -> float:
    if cache is not None:  # a new minute of a known hour
        hour = cache.get(value[:14])
        if hour is not None and value[19:] == hour[0] and value[16:17] == ":":
            minute, sec = _SEC.get(value[14:16]), _SEC.get(value[17:19])
            if minute is not None and sec is not None:
                base = hour[1] + minute * 60
                cache[value[:17]] = (hour[0], base)
                return base + sec
    if not _RFC3339.fullmatch(value):
        if _NAIVE.fullmatch(value):
            raise ValueError(f"ts {_show(value)} has no UTC offset (add +08:00 or Z)")
        raise ValueError(f"ts {_show(value)} is not RFC 3339")
    try:
        ts = datetime.fromisoformat(value.upper() if value[-1] == "z" or value[10] == "t" else value).timestamp()
    except ValueError as err:  # e.g. month must be in 1..12
        if value[-1] not in "Zz" and (int(value[-5:-3]) > 23 or int(value[-2:]) > 59):
            raise ValueError(f"ts {_show(value)}: UTC offset out of range (up to ±23:59)") from None
        if value in str(err):  # "Invalid isoformat string: '…'": never the whole value in a reason
            raise ValueError(f"ts {_show(value)} is not RFC 3339") from None
        raise ValueError(f"ts {_show(value)}: {err}") from None
    if not 0.0 <= ts < _MAX_EPOCH:
        raise ValueError(f"ts {_show(value)} is out of range")
    if cache is not None and (len(value) == 25 or len(value) == 20) and value[19] != ".":
        sec = _SEC[value[17:19]]
        hour = ts - sec - _SEC[value[14:16]] * 60
        if _hour_in_range(hour):
            if len(cache) >= _TS_CACHE_MAX:
                cache.clear()
            cache[value[:17]] = (value[19:], ts - sec)
            cache[value[:14]] = (value[19:], hour)
    return ts


def _hour_in_range(start: float) -> bool:
    """Whether every second of the hour from start is in range: only such an hour is cached.

    A cache hit skips the range check, so an hour that crosses 1970 or 9990 (at an offset that is
    not whole hours, or with the offset pushing the hour's ts across) is parsed anew every time.
    """
    return 0.0 <= start and start + 3600.0 <= _MAX_EPOCH


# ---- lines -----------------------------------------------------------------------------------

def _decode(raw: bytes) -> dict:
    raw = raw.rstrip(b"\r\n")  # so an error at the end of the line is not placed on "line 2"
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise _Bad(f"not UTF-8: invalid byte 0x{raw[bad.start]:02x} at byte {bad.start + 1}") from None
        raise _Bad(f"not JSON: {err.msg} at column {err.colno}") from None
    if type(obj) is not dict:
        raise _Bad(f"not a JSON object: got {_json_type(obj)}")
    return obj


def _enum_error(obj: dict, name: str, known: tuple[str, ...], owner: str | None = None) -> _Bad:
    if name not in obj:
        return _Bad(f"missing field \"{name}\"")
    return _unknown(name, obj[name], known, owner)


def _event(obj: dict, line: int, ts_cache: dict | None, names: _Names) -> Event:
    """Validate one decoded line and build its Event; raises _Bad.

    Each check has a cheap test for the common valid case; the helpers that build the reason
    run only for a bad value. Checks run in a fixed order, so the first problem is reported.
    """
    get = obj.get
    if "ts" not in obj:
        raise _Bad('missing field "ts"')
    kind = get("type")
    kind = _TYPE.get(kind) if type(kind) is str else None
    if kind is None:
        raise _enum_error(obj, "type", TYPES)
    try:
        ts = parse_ts(obj["ts"], ts_cache)
    except ValueError as err:
        raise _Bad(str(err)) from None
    shop = get("shop")
    if shop is not None and (type(shop) is not str or not shop):
        shop = _optional_id(obj, "shop")

    if kind == "message":
        sender = get("sender")
        sender = names.sender.get(sender) if type(sender) is str else None
        if sender is None:
            raise _enum_error(obj, "sender", names.vocabulary.all_senders(), names.owner)
        consumer = get("consumer")
        if type(consumer) is not str or not consumer:
            consumer = _required_id(obj, "consumer")
        text = get("text")
        if text is not None and type(text) is not str:
            text = _optional_str(obj, "text")
        if sender == "consumer":
            page = get("page")
            if page is not None:
                page_c = names.page.get(page) if type(page) is str else None
                if page_c is None:
                    raise _unknown("page", page, names.vocabulary.pages, names.owner)
                page = page_c
            card = get("card")
            card_kind = card_id = None
            if card is not None:
                if type(card) is not dict:
                    raise _Bad(f'field "card" must be an object, got {_json_type(card)}')
                ck = card.get("kind")
                if ck is None:
                    raise _Bad('missing field "card.kind"')
                card_kind = _CARD_KIND.get(ck) if type(ck) is str else None
                if card_kind is None:
                    raise _unknown("card.kind", ck, CARD_KINDS)
                card_id = card.get("id")
                if type(card_id) is not str or not card_id:
                    if card_id is None and "id" not in card:
                        raise _Bad('missing field "card.id"')
                    if card_id == "":
                        raise _Bad('field "card.id" is empty')
                    raise _Bad(f'field "card.id" must be a string, got {_json_type(card_id)}')
            priority = get("priority")
            if priority is not None and (type(priority) is not int or not 0 <= priority <= MAX_PRIORITY):
                raise _Bad(f'field "priority" must be an integer from 0 to {MAX_PRIORITY}, got {_show(priority)}')
            return Event(line=line, ts=ts, type=kind, shop=shop, sender=sender, consumer=consumer, text=text, page=page,
                         card_kind=card_kind, card_id=card_id, priority=priority)
        agent = None
        if sender == "agent":
            agent = get("agent")
            if type(agent) is not str or not agent:
                agent = _required_id(obj, "agent")
        return Event(line=line, ts=ts, type=kind, shop=shop, sender=sender, consumer=consumer, agent=agent, text=text)

    if kind == "agent_status":
        agent = get("agent")
        if type(agent) is not str or not agent:
            agent = _required_id(obj, "agent")
        status = get("status")
        status = _STATUS.get(status) if type(status) is str else None
        if status is None:
            raise _enum_error(obj, "status", STATUSES)
        cap = get("max_sessions")
        if cap is not None and (type(cap) is not int or not 1 <= cap <= MAX_CAP):
            if type(cap) is float and cap.is_integer() and cap >= 1:
                cap = int(cap)
            elif type(cap) is not int or cap < 1:
                raise _Bad(f'field "max_sessions" must be a positive integer, got {_show(cap)}')
            if cap > MAX_CAP:   # 1e20, or an integer orjson could only read as a float
                raise _Bad(f'field "max_sessions" is more than {MAX_CAP}, got {float(cap):g}')
        group = get("group")
        if group is not None and (type(group) is not str or not group):
            group = _optional_id(obj, "group")
        return Event(line=line, ts=ts, type=kind, shop=shop, agent=agent, status=status, max_sessions=cap, group=group)

    if kind == "transfer":
        consumer = _required_id(obj, "consumer")
        agent = _required_id(obj, "agent")
        to_agent = _required_id(obj, "to_agent")
        if to_agent == agent:
            raise _Bad(f"transfer to the same agent {_show(agent)}")
        return Event(line=line, ts=ts, type=kind, shop=shop, consumer=consumer, agent=agent, to_agent=to_agent)

    consumer = _required_id(obj, "consumer")  # session_end
    agent = _optional_id(obj, "agent")
    return Event(line=line, ts=ts, type=kind, shop=shop, consumer=consumer, agent=agent)


def parse_line(raw: bytes, line: int, ts_cache: dict | None = None,
               vocabulary: Vocabulary | None = None) -> Event | Rejected:
    """Parse one line of a log (without ordering checks): an Event, or a Rejected with the reason.

    vocabulary: the pages and senders the line may name (default: those of the shipped platforms).
    """
    try:
        return _event(_decode(raw), line, ts_cache, _names(vocabulary))
    except _Bad as bad:
        return Rejected(line, str(bad))


def _fmt_days(seconds: float) -> str:
    days = f"{seconds / 86400:.1f}".removesuffix(".0")
    return f"{days} day" if days == "1" else f"{days} days"


def _goes_back(seconds: float, tolerance: float) -> str:
    return f"ts goes back {_fmt_seconds(seconds)} s (tolerance {_fmt_seconds(tolerance)} s)"


def _fmt_seconds(value: float) -> str:
    if value == int(value):
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


# ---- reading ---------------------------------------------------------------------------------

def _blocks(stream: BinaryIO, limit: int) -> Iterator[tuple[bytes, bool]]:
    """(block, overlong) pairs: a block is whole lines, about CHUNK_BYTES long.

    overlong: the line after the block was longer than `limit` - 1 bytes; it has been read
    past in bounded pieces, never held whole. A UTF-8 BOM at the start is dropped; a stream
    that starts with GZIP_MAGIC (and is not a GzipFile already) is read through gzip.
    """
    read = getattr(stream, "read1", None) or stream.read
    readline = stream.readline
    size = max(1, min(CHUNK_BYTES, limit - 1))  # so a line inside a chunk is never over-long
    first = True
    while True:
        chunk = read(size)
        if not chunk:
            return
        if first:
            if not isinstance(chunk, bytes):
                raise TypeError("read_events needs a binary stream (open the log with open_log or mode 'rb')")
            while len(chunk) < 3 and (GZIP_MAGIC.startswith(chunk) or _BOM.startswith(chunk)):
                more = stream.read(3 - len(chunk))  # a pipe may hand over a byte or two first
                if not more:
                    break
                chunk += more
            if chunk.startswith(GZIP_MAGIC) and not isinstance(stream, gzip.GzipFile):
                gunzipped = _gunzip(chunk, stream)
                read, readline = gunzipped.read1, gunzipped.readline
                stream = gunzipped  # type: ignore[assignment]  # a GzipFile is a binary stream
                continue
            if chunk.startswith(_BOM):
                chunk = chunk[3:]
            first = False
        overlong = False
        if chunk and chunk[-1] != 10:  # finish the last line, reading no further than the limit
            cut = chunk.rfind(b"\n") + 1
            line = chunk[cut:]
            line += readline(limit - len(line))
            if len(line) == limit and line[-1] != 10:
                while True:  # skip the rest of the over-long line in bounded pieces
                    rest = readline(limit)
                    if not rest or rest[-1] == 10:
                        break
                chunk, overlong = chunk[:cut], True
            else:
                chunk = chunk[:cut] + line
        yield chunk, overlong


class _Prefixed:
    """A stream read so far only as far as `head`: gives head back, then the rest of stream."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self.head, self.stream = head, stream

    def read(self, size: int = -1) -> bytes:
        head = self.head
        if not head:
            return self.stream.read(size)
        if 0 <= size <= len(head):
            self.head = head[size:]
            return head[:size]
        self.head = b""
        return head + self.stream.read(size - len(head) if size > 0 else -1)

    def seek(self, offset: int) -> int:
        """Never called (the reader does not rewind); gzip.GzipFile's fileobj type asks for it."""
        raise io.UnsupportedOperation("a log read from a stream cannot be rewound")


def _gunzip(head: bytes, stream: BinaryIO) -> gzip.GzipFile:
    """The decompressed side of a gzip stream whose first bytes, head, have been read already."""
    return gzip.GzipFile(fileobj=_Prefixed(head, stream), mode="rb")


_SEPARATOR = b"\n,null,"
"""What joins the lines of a block into one JSON array: see _decode_block."""
_GROWTH = len(_SEPARATOR) - 1


def _decode_block(body: bytes) -> list[Event | None] | None:
    """Every line of body (lines without the last newline) decoded as an Event (None: ``null``), or None.

    The lines are decoded as one JSON array, ``[line1\\n,null,line2\\n,null,...,lineN]``, and
    taken only if it has 2N - 1 items. The newline cannot be inside a string (JSON strings hold no
    raw control characters), so each separator's comma is outside strings; nor inside an object (an
    Event or its card: a key would have to follow the comma, not null; an Event holds no arrays). So
    every separator stands between items of the outer array, each line holds at least one item (an
    empty line would make two commas in a row), and 2N - 1 items means exactly one per line. (With
    a bare comma for separator, a line ending inside a string and a line of two values made up the
    count between them, and both lines were taken for others' Events.)
    """
    joined = body.replace(b"\n", _SEPARATOR)
    try:
        items = _decode_events(b"[" + joined + b"]")
    except Exception:
        return None
    # (len(joined) - len(body)) / _GROWTH is the number of newlines, counted without a scan
    return items[::2] if len(items) == (len(joined) - len(body)) // _GROWTH * 2 + 1 else None


def read_events(stream: BinaryIO, *, stats: ReadStats, on_reject: Callable[[Rejected], None] | None = None,
                strict: bool = False, tolerance: float = 60.0, vocabulary: Vocabulary | None = None) -> Iterator[Event]:
    """Events of a binary JSONL stream in time order; bad lines go to on_reject (see module doc).

    vocabulary: the pages and senders lines may name, those of the platform replayed (default: the
    shipped platforms' pages and senders).
    """
    if not (tolerance >= 0 and math.isfinite(tolerance)):
        raise ValueError(f"tolerance must be a finite number of seconds >= 0, got {tolerance!r}")
    names = _names(vocabulary)
    senders, pages, agents = names.sender, names.page, "agent" in names.sender
    buffer: deque[Event] = deque()  # the reorder window, sorted by (ts, line)
    append, popleft = buffer.append, buffer.popleft
    ts_cache: dict = {}
    minutes: dict = {}
    offsets: dict = {}
    minute_get = minutes.get
    prefix, sec_get, base = "", _NO_SECONDS.get, 0.0  # the last minute seen: ts[:17], its seconds, its epoch
    upto_min, from_sec = slice(17), slice(17, None)  # ts[upto_min] is ts[:17] without a new slice object
    max_ts = horizon = -math.inf  # horizon: max_ts - tolerance (inf while a jump is held)
    inf = head = math.inf  # head: the ts of buffer[0], inf when the buffer is empty
    # A line more than max_jump ahead of max_ts is held until the next line (see module doc). ceiling
    # is max_ts + max_jump as of the last time a line passed it: never above the exact bound, so
    # only a line past it is checked exactly, about once per day of log.
    max_jump, ceiling, neg_inf = MAX_JUMP, -math.inf, -math.inf
    held: Event | None = None
    loads, decode, loose = orjson.loads, _decode_event, _loose_event
    extras = False  # set by the first line that only extra fields keep from the strict decoder
    max_epoch = _MAX_EPOCH

    def reject(line: int, reason: str) -> None:
        stats.rejected += 1
        rejected = Rejected(line, reason)
        if on_reject is not None:
            on_reject(rejected)
        if strict:
            raise StrictError(rejected) from None

    limit = MAX_LINE_BYTES + 1
    lineno = 0
    for block, overlong in _blocks(stream, limit):
        body = block[:-1] if block and block[-1] == 10 else block
        raws: list[bytes] | None = None
        items: Sequence[Event | None] | None = _decode_block(body) if body and not extras else None  # item None: not decoded
        if items is None:  # line by line: the strict decoder, else (extra fields) orjson + convert
            raws = body.split(b"\n") if block else []
            items = []
            for raw in raws:
                m = None
                if not extras:
                    try:
                        m = decode(raw)
                    except msgspec.ValidationError:  # a wrong field, or an extra one
                        try:
                            m = loose(loads(raw))
                            extras = True  # only extra fields: the log has them, read it so from now on
                        except Exception:
                            pass
                    except Exception:  # not JSON (or blank), or not UTF-8: the original path decides
                        pass
                else:
                    try:
                        m = loose(loads(raw))
                    except Exception:
                        pass
                items.append(m)
        first = lineno + 1
        for event in items:
            lineno += 1
            if event is not None:  # the fast path: a decoded line made the Event `_event` would, or declined
                ts = event.ts
                if type(ts) is str:
                    if ts[upto_min] == prefix and (sec := sec_get(ts[from_sec])) is not None:  # same minute as before
                        ts = base + sec
                    else:
                        hit = minute_get(ts[upto_min])
                        if hit is not None and (sec := hit[0](ts[from_sec])) is not None:
                            prefix = ts[upto_min]
                            sec_get, base = hit
                            ts = base + sec
                        else:
                            ts = _fast_ts(ts, ts_cache, minutes, offsets)
                elif ts is not None and not 0.0 <= ts < max_epoch:  # a number: parse_ts's range check
                    ts = None  # type: ignore[assignment]  # ts is typed as Event.ts (float); declined: the original path sets it
                if ts is None or not _settle_fields(event, senders, pages, agents):
                    event = None  # declined
                else:
                    event.line = lineno
                    event.ts = ts
            if event is None:  # the original path: every rejection, and the valid lines the fast path declines
                if raws is None:
                    raws = body.split(b"\n")
                raw = raws[lineno - first]
                if not raw or raw.isspace():
                    continue
                stats.read += 1
                try:
                    event = _event(_decode(raw), lineno, ts_cache, names)
                except _Bad as bad:
                    reject(lineno, str(bad))
                    continue
                ts = event.ts
            else:
                stats.read += 1
            if ts < horizon:  # goes back; or, while a jump is held (horizon inf), the line that settles it
                if held is None or ts < max_ts - tolerance:
                    reject(lineno, _goes_back(max_ts - ts, tolerance))
                    continue
                jump, held, horizon = held, None, max_ts - tolerance
                opening = max_ts == neg_inf  # the held line is the log's first: only a day back condemns it
                if ts < jump.ts - (max_jump if opening else tolerance):  # this line fits only before the held one
                    stats.accepted -= 1
                    if strict:
                        stats.read -= 1  # the read stops at the held line; this one is left unjudged
                    reject(jump.line, f"ts jumps {_fmt_days(jump.ts - ts)} ahead of the line after it" if opening
                           else f"ts jumps {_fmt_days(jump.ts - max_ts)} ahead of the lines around it")
                else:  # a real gap in the log (or a first line that stands): it goes in as any line ahead
                    max_ts, horizon, ceiling = jump.ts, jump.ts - tolerance, jump.ts + max_jump
                    while head < horizon:
                        yield popleft()
                        head = buffer[0].ts if buffer else inf
                    append(jump)
                    if jump.ts < head:
                        head = jump.ts
                    if ts < horizon:  # after a first line it stands against: this one goes back
                        reject(lineno, _goes_back(max_ts - ts, tolerance))
                        continue
            stats.accepted += 1
            if ts >= max_ts:  # in order (the common case): release what fell out of the window, append
                if ts > ceiling:  # rare: a day past the last check, or a jump to hold back
                    if ts > max_ts + max_jump:  # (the first line too: max_ts is -inf)
                        held, horizon = event, inf  # until the next line says whether the jump is real
                        continue
                    ceiling = ts + max_jump
                max_ts = ts  # unchanged for an equal ts: cheaper than testing ts > max_ts
                horizon = ts - tolerance
                while head < horizon:
                    yield popleft()
                    head = buffer[0].ts if buffer else inf
                append(event)
            else:  # late by at most `tolerance`: insert after every buffered event with ts <= its ts
                i = len(buffer)
                while i and buffer[i - 1].ts > ts:
                    i -= 1
                buffer.insert(i, event)
            if ts < head:
                head = ts
        if overlong:
            lineno += 1
            stats.read += 1
            reject(lineno, f"line longer than {MAX_LINE_BYTES} bytes")
    while buffer:
        yield popleft()
    if held is not None:  # nothing after it says otherwise
        yield held


_NO_SECONDS: dict[str, int] = {}


def _loose_event(obj) -> Event:
    """The Event of a line decoded by orjson, the extra fields the format ignores left out (before _settle_fields)."""
    return Event(*_astuple(msgspec.convert(obj, _LooseEvent)))


def _settle_fields(ev: Event, senders: Mapping[str, str], pages: Mapping[str, str], agents: bool) -> bool:
    """Clear the fields the event's type ignores and move the card; False: the original path must judge it.

    A decoded line has every field typed and checked already; what is left are the checks across
    fields (a message needs a sender and a consumer, an agent message an agent, ...) and the
    platform's names (senders, pages; agents: whether agent is a sender), which decline.
    """
    kind = ev.type
    if kind == "message":
        # The decoded sender and page are new strings (their hash not computed yet): the common senders are
        # compared, not hashed; a page is looked up when a line has one.
        sender = ev.sender
        if sender == "consumer":
            if ev.page is not None and ev.page not in pages:
                return False
            if ev.agent is not None:
                ev.agent = None
            card = ev.wire_card
            if card is not None:
                ev.card_kind, ev.card_id, ev.wire_card = card.kind, card.id, None
            elif ev.card_kind is not None or ev.card_id is not None:
                return False  # "kefu:card_kind" and the like: left to the original path
        else:
            if (ev.page is not None or ev.wire_card is not None or ev.card_kind is not None or ev.card_id is not None
                    or ev.priority is not None):
                ev.page = ev.wire_card = ev.card_kind = ev.card_id = ev.priority = None
            if sender == "agent":
                if ev.agent is None or not agents:
                    return False
            elif sender is None or sender not in senders:
                return False
            elif ev.agent is not None:
                ev.agent = None
        if ev.status is not None or ev.max_sessions is not None or ev.group is not None or ev.to_agent is not None:
            ev.status = ev.max_sessions = ev.group = ev.to_agent = None
        return ev.consumer is not None
    if kind is None:
        return False
    if (ev.sender is not None or ev.text is not None or ev.page is not None or ev.wire_card is not None
            or ev.card_kind is not None or ev.card_id is not None or ev.priority is not None):
        ev.sender = ev.text = ev.page = ev.wire_card = ev.card_kind = ev.card_id = ev.priority = None
    if kind == "agent_status":
        if ev.consumer is not None or ev.to_agent is not None:
            ev.consumer = ev.to_agent = None
        return ev.agent is not None and ev.status is not None
    if ev.status is not None or ev.max_sessions is not None or ev.group is not None:
        ev.status = ev.max_sessions = ev.group = None
    if kind == "transfer":
        return ev.consumer is not None and ev.agent is not None and ev.to_agent is not None and ev.to_agent != ev.agent
    if ev.to_agent is not None:  # session_end
        ev.to_agent = None
    return ev.consumer is not None
