"""A seeded mutation fuzzer of event logs: whatever a log holds, the reader and the replay keep the standard.

Mutants are made from the shipped samples and small logs built here, at the byte level (lines
deleted, duplicated, swapped, cut, joined or split; invalid UTF-8, NUL, byte-order marks, CR,
over-long lines, gzip whole, cut or damaged) and at the JSON level (every field removed or set to
null, "", [], {}, true, a number, a huge number, nesting; unknown fields and values; duplicate
keys; two values on one line; timestamps of every odd form, going back or far ahead). Every
mutant is read and replayed, and checked against what the log standard promises:

- no exception but the documented I/O ones of a corrupt gzip stream (the CLI's exit 2);
- ``read == accepted + rejected``; every Rejected has 1 <= line <= the number of lines;
- each line is judged as it would be alone (`parse_line`, the reference): a line it rejects is
  rejected with that reason, a line it accepts is the same Event or rejected for its time only,
  and the time rules (reorder tolerance, jumps ahead) are those of a plain reference below;
- accepted events come out sorted by (ts, line); a stream handing over a few bytes at a time (a
  pipe) reads the same; ``--strict`` stops at the first rejection with the same counts kept;
- a reason is one short line;
- the replay of each example policy and of each platform alone: the report is JSON, its decision
  counts add up to the decision lines written, and the same input gives the same bytes twice;
- ``--strict`` through the CLI exits 1 exactly when a line is rejected, else 0.

The seeds are fixed, so a run is always the same; a failure names the seed and the mutation. To
look further, drive `mutate` and `run_mutant` from a script over many more seeds (tens of
thousands run in a few minutes).
"""

from __future__ import annotations

import gzip
import io
import json
import math
import random
import zlib
from pathlib import Path

import orjson
import pytest

from engine import events
from engine.events import MAX_JUMP, MAX_LINE_BYTES, Event, ReadStats, Rejected, StrictError, parse_line, read_events
from engine.loader import Loader
from engine.replay import OtherShopError, render_text, replay, report_dict, report_json

from cli_helpers import EXAMPLES, shipped_policies

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "samples").glob("*.jsonl"))
IO_ERRORS = (OSError, EOFError, zlib.error)
TOLERANCE = 60.0


# ---- the logs mutated ------------------------------------------------------------------------------

def _line(**fields) -> bytes:
    return orjson.dumps(fields)


BUILT = b"\n".join([
    _line(ts="2026-11-11T08:59:58+08:00", type="agent_status", shop="s1", agent="amy", status="online", max_sessions=2,
          group="presale"),
    _line(ts="2026-11-11T08:59:59+08:00", type="agent_status", shop="s1", agent="bob", status="busy"),
    _line(ts="2026-11-11T09:00:05+08:00", type="message", shop="s1", sender="consumer", consumer="c42",
          text="这个有货吗", page="product_detail", card={"kind": "product", "id": "p7"}),
    _line(ts="2026-11-11T09:00:06+08:00", type="message", shop="s1", sender="robot", consumer="c42", text="亲"),
    _line(ts=1794358870, type="message", shop="s1", sender="agent", agent="amy", consumer="c42", text="亲,有货的"),
    _line(ts="2026-11-11T09:02:00.5+08:00", type="message", shop="s1", sender="consumer", consumer="c7",
          card={"kind": "order", "id": "123"}),
    _line(ts="2026-11-11T01:03:00Z", type="message", shop="s1", sender="system", consumer="c7"),
    _line(ts="2026-11-11T09:04:00+08:00", type="message", shop="s1", sender="assistant", consumer="c7", text="在"),
    _line(ts="2026-11-11T09:05:00+08:00", type="transfer", shop="s1", consumer="c42", agent="amy", to_agent="bob"),
    _line(ts="2026-11-11T09:06:00+08:00", type="agent_status", shop="s1", agent="bob", status="online"),
    _line(ts="2026-11-11T09:20:00+08:00", type="session_end", shop="s1", consumer="c42", agent="bob"),
    _line(ts="2026-11-11T09:21:00+08:00", type="session_end", shop="s1", consumer="c7"),
    _line(ts="2026-11-12T09:00:00+08:00", type="message", shop="s1", sender="consumer", consumer="c42", text="发票"),
    _line(ts="2026-11-12T09:00:30+08:00", type="agent_status", shop="s1", agent="amy", status="offline"),
]) + b"\n"


def seed_logs() -> list[tuple[str, bytes]]:
    """The logs mutated: the first lines of each sample (so a replay stays quick) and BUILT."""
    logs = [("built", BUILT)]
    for path in SAMPLES:
        lines = path.read_bytes().split(b"\n")
        logs.append((path.stem, b"\n".join(lines[:120]) + b"\n"))
    return logs


# ---- mutations ---------------------------------------------------------------------------------------

FIELDS = ("ts", "type", "shop", "sender", "consumer", "agent", "text", "page", "card", "status", "max_sessions",
          "group", "to_agent")
ODD_VALUES = [None, "", [], {}, True, False, 0, -1, 1, 1.5, 12.0, "x", "online", [1, [2, [3]]], {"kind": "product"},
              {"a": {"b": {"c": []}}}, 2 ** 63, 2 ** 64, -(2 ** 63) - 1, 1e300, -0.0, 5e-324, "\u0000", "\ud7ff",
              "🙂" * 50, "中文", " ", "\t", "null"]
HUGE_NUMBERS = [b"1e308", b"1e309", b"-1e309", b"18446744073709551616", b"9223372036854775808",
                b"123456789012345678901234567890", b"1" + b"0" * 400, b"0.000000000000000000000000001",
                b"1E400", b"-0", b"1.0e+2", b"01", b"1.", b".5", b"+1", b"NaN", b"Infinity", b"0x10"]
ODD_TS = [
    "2026-11-11T09:00:05+08:00", "2026-11-11T09:00:05Z", "2026-11-11T09:00:05z", "2026-11-11t09:00:05+08:00",
    "2026-11-11 09:00:05+08:00", "2026-11-11T09:00:05", "2026-11-11", "2026-11-11T09:00", "2026-11-11T09:00Z",
    "2026-11-11T09:00:05+0800", "2026-11-11T09:00:05+08", "2026-11-11T09:00:05+14:00", "2026-11-11T09:00:05-12:00",
    "2026-11-11T09:00:05+23:59", "2026-11-11T09:00:05-23:59", "2026-11-11T09:00:05+24:00", "2026-11-11T09:00:05+00:60",
    "2026-11-11T09:00:05+05:45", "2026-11-11T09:00:05+08:00:00", "2026-11-11T09:00:05.123456789+08:00",
    "2026-11-11T09:00:05.1+08:00", "2026-11-11T09:00:05.+08:00", "2026-11-11T09:00:05,5+08:00",
    "2026-11-11T09:00:05." + "9" * 40 + "+08:00", "2026-11-11T23:59:60+08:00", "2016-12-31T23:59:60Z",
    "2026-11-11T24:00:00+08:00", "2026-02-29T09:00:00+08:00", "2028-02-29T09:00:00+08:00", "2026-00-10T09:00:00Z",
    "2026-11-31T09:00:00Z", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+08:00", "0001-01-01T00:00:00-08:00",
    "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59+23:59", "9989-12-31T23:59:59Z",
    "9990-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "1970-01-01T07:59:59+08:00", "1969-12-31T23:59:59Z",
    "2026-11-11T09:00:05+08:00 ", " 2026-11-11T09:00:05+08:00", "2026-11-11T09:00:05+08:00\n",
    "２０２６-１１-１１T09:00:05+08:00", "2026-11-11T0９:00:05+08:00", "2026-11-11T09:00:05＋08:00", "",
    "now", "2026-W46-3T09:00:05+08:00", "2026-315T09:00:05+08:00", "20261111T090005Z", "2026-11-11T09:00:05.5Z",
    "+2026-11-11T09:00:05Z", "-2026-11-11T09:00:05Z", "12026-11-11T09:00:05Z", "2026-11-11T09:00:05GMT",
    "2026-11-11T09:00:05 +08:00", "2026-11-11T09:00:05UTC", "2026-11-11T09:00:05+08:00Z",
    "2026-11-11T09:00:05+0٨:00", "2026-11-11T09:00:05+0٨:6٠", "2026-11-11T09:00:05." + "٥" * 3000 + "Z",
    1794358805, 1794358805.5, 1794358805000, 1794358805000000, 0, 0.0, -1, -0.0, 1e-9, 253086767999.999,
    253086768000, 253402271999, 1e12, 1e15, 1e20, 2 ** 64, 2 ** 63 - 1, -(2 ** 63), 1.7976931348623157e308,
    True, False, None, [], {}, ["2026-11-11T09:00:05+08:00"], {"$date": "2026-11-11T09:00:05+08:00"},
]
ODD_KEYS = ["ts", "type", "sender", "status", "page", "consumer", "agent", "to_agent", "card", "max_sessions", "shop",
            "x", "kefu:line", "kefu:card_kind", "kefu:card_id", "wire_card", "line", "card_kind", "TS", "Type", "",
            "\u0000", "tѕ", "中文"]
UNKNOWN_ENUMS = {
    "type": ["Message", "msg", "agent-status", "end", "session_start", "transfer ", " message", "MESSAGE", "status"],
    "sender": ["bot", "Consumer", "customer", "staff", "human", "system ", "robots", "agents"],
    "status": ["away", "Online", "ONLINE", "idle", "online ", "on", "busy!", "break"],
    "page": ["cart", "home", "Shop_Home", "product", "detail", "order", "live", "refund"],
}
INVALID_UTF8 = [b"\xff", b"\xfe", b"\xc3", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf",
                b"\x80", b"\xba\xc3", b"\xf0\x9f\x98", b"\xe5\xa5"]
BOM = b"\xef\xbb\xbf"
SIGNIFICANT = [b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\", b" ", b"\t", b"\r", b"\n", b"\x00", b"0", b"-", b"e",
               b"\\u", b"\\ud800", b"\\u0000", b'\\"', b"\x0b", b"\x0c", b"\x1f", b"\x7f"]


def _fields(raw: bytes) -> dict | None:
    try:
        obj = orjson.loads(raw)
        orjson.dumps(obj)   # not nested too deep to write back
    except (orjson.JSONDecodeError, TypeError):
        return None
    return obj if type(obj) is dict else None


def _dumps(obj) -> bytes:
    """orjson.dumps, or json's for integers past 64 bits."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _dump_pairs(pairs: list[tuple[str, object]]) -> bytes:
    """An object from key/value pairs, keys repeated as given (orjson would merge them)."""
    return b"{" + b", ".join(_dumps(k) + b": " + _dumps(v) for k, v in pairs) + b"}"


def _ts_of(obj: dict) -> float | None:
    try:
        return events.parse_ts(obj.get("ts"))
    except (ValueError, TypeError):
        return None


def _pick(rng: random.Random, lines: list[bytes]) -> int:
    return rng.randrange(len(lines))


# Each mutation changes the list of lines in place (JSON and line level) or returns new bytes (byte level).

def m_delete(rng, lines):
    del lines[_pick(rng, lines)]


def m_duplicate(rng, lines):
    i = _pick(rng, lines)
    lines.insert(rng.randrange(len(lines) + 1), lines[i])


def m_swap(rng, lines):
    i, j = _pick(rng, lines), _pick(rng, lines)
    lines[i], lines[j] = lines[j], lines[i]


def m_truncate_line(rng, lines):
    i = _pick(rng, lines)
    lines[i] = lines[i][:rng.randrange(len(lines[i]) + 1)]


def m_join(rng, lines):
    if len(lines) > 1:
        i = rng.randrange(len(lines) - 1)
        lines[i:i + 2] = [lines[i] + rng.choice([b"", b" ", b",", b"\r"]) + lines[i + 1]]


def m_split(rng, lines):
    i = _pick(rng, lines)
    cut = rng.randrange(len(lines[i]) + 1)
    lines[i:i + 1] = [lines[i][:cut], lines[i][cut:]]


def m_split_and_join(rng, lines):
    """A line cut in two and two lines joined: as many lines as before, none of them whole."""
    m_split(rng, lines)
    m_join(rng, lines)


def m_two_values(rng, lines):
    i, j = _pick(rng, lines), _pick(rng, lines)
    lines[i] = lines[i] + rng.choice([b"", b" ", b",", b"\t", b" , "]) + lines[j]


def m_insert_bytes(rng, lines):
    i = _pick(rng, lines)
    cut = rng.randrange(len(lines[i]) + 1)
    junk = rng.choice([rng.choice(INVALID_UTF8), b"\x00", BOM, b"\r", rng.choice(SIGNIFICANT)])
    lines[i] = lines[i][:cut] + junk + lines[i][cut:]


def m_replace_byte(rng, lines):
    i = _pick(rng, lines)
    if lines[i]:
        cut = rng.randrange(len(lines[i]))
        lines[i] = lines[i][:cut] + rng.choice(SIGNIFICANT + INVALID_UTF8) + lines[i][cut + 1:]


def m_bom_line(rng, lines):
    i = _pick(rng, lines)
    lines[i] = BOM + lines[i]


def m_blank(rng, lines):
    lines.insert(rng.randrange(len(lines) + 1), rng.choice([b"", b" ", b"\t", b"\r", b"  \t \r", b"\x0b", b"\x0c",
                                                            b"\x00", BOM, b"\xc2\xa0", b"\xe3\x80\x80"]))


def m_indent(rng, lines):
    i = _pick(rng, lines)
    lines[i] = rng.choice([b" ", b"\t", b"\r", b"  "]) + lines[i] + rng.choice([b"", b" ", b"\t", b"\r"])


def m_long_line(rng, lines):
    size = MAX_LINE_BYTES + rng.choice([-200, -1, 0, 1, 2, 100, 40_000])
    kind = rng.random()
    if kind < 0.4:   # a valid event with a long text, cut to the size
        head = (b'{"ts": "2026-11-11T09:00:05+08:00", "type": "message", "sender": "consumer", "consumer": "c1", '
                b'"text": "')
        line = head + b"x" * max(0, size - len(head) - 2) + b'"}'
    elif kind < 0.7:
        line = b" " * size
    else:
        line = b"{" * size
    lines.insert(rng.randrange(len(lines) + 1), line)


def m_remove_field(rng, lines):
    i = _pick(rng, lines)
    obj = _fields(lines[i])
    if obj:
        del obj[rng.choice(list(obj))]
        lines[i] = _dumps(obj)


def m_set_field(rng, lines):
    i = _pick(rng, lines)
    obj = _fields(lines[i])
    if obj is not None:
        obj[rng.choice(FIELDS)] = rng.choice(ODD_VALUES)
        lines[i] = _dumps(obj)


def m_number_text(rng, lines):
    """A field's value replaced by the text of a number, huge, odd or not JSON at all."""
    i = _pick(rng, lines)
    obj = _fields(lines[i])
    if obj is not None:
        name = rng.choice(FIELDS)
        obj[name] = "@@"
        lines[i] = _dumps(obj).replace(b'"@@"', rng.choice(HUGE_NUMBERS))


def m_swap_kinds(rng, lines):
    """Floats where strings go and strings where numbers go."""
    i = _pick(rng, lines)
    obj = _fields(lines[i])
    if obj:
        for key, value in list(obj.items()):
            if isinstance(value, str) and rng.random() < 0.5:
                obj[key] = rng.choice([1.5, 42, float(len(value)), -3.25])
            elif isinstance(value, (int, float)) and not isinstance(value, bool) and rng.random() < 0.5:
                obj[key] = str(value)
        lines[i] = _dumps(obj)


def m_unknown_field(rng, lines):
    i = _pick(rng, lines)
    obj = _fields(lines[i])
    if obj is not None:
        obj[rng.choice(ODD_KEYS)] = rng.choice(ODD_VALUES)
        lines[i] = _dumps(obj)


def m_unknown_enum(rng, lines):
    i = _pick(rng, lines)
    obj = _fields(lines[i])
    if obj is not None:
        name = rng.choice(list(UNKNOWN_ENUMS) + ["card"])
        if name == "card":
            obj["card"] = {"kind": rng.choice(["sku", "Product", "order ", None, 1, ""]),
                           "id": rng.choice(["p", "", 7, None])}
            if rng.random() < 0.3:
                obj["card"]["extra"] = 1
        else:
            obj[name] = rng.choice(UNKNOWN_ENUMS[name])
        lines[i] = _dumps(obj)


def m_odd_ts(rng, lines):
    i = _pick(rng, lines)
    obj = _fields(lines[i])
    if obj is not None:
        obj["ts"] = rng.choice(ODD_TS)
        lines[i] = _dumps(obj)


def m_ts_number(rng, lines):
    """A ts as epoch seconds or milliseconds, as the number or its text."""
    i = _pick(rng, lines)
    obj = _fields(lines[i])
    if obj is not None:
        ts = _ts_of(obj)
        if ts is not None:
            obj["ts"] = rng.choice([ts, int(ts), ts * 1000, int(ts * 1000), str(int(ts)), ts + 0.000001])
            lines[i] = _dumps(obj)


def m_ts_shift(rng, lines):
    """A line's time moved: a little or far back, a little or far ahead, into the past or the far future."""
    i = _pick(rng, lines)
    obj = _fields(lines[i])
    if obj is not None:
        ts = _ts_of(obj)
        if ts is not None:
            delta = rng.choice([-1, 1]) * rng.choice([0.5, 30, 59.999, 60, 60.001, 61, 3600, MAX_JUMP - 1, MAX_JUMP,
                                                      MAX_JUMP + 1, 3 * MAX_JUMP, 400 * MAX_JUMP, 1461 * MAX_JUMP,
                                                      3_000_000 * MAX_JUMP])
            obj["ts"] = ts + delta if rng.random() < 0.5 else _rfc3339(ts + delta)
            lines[i] = _dumps(obj)


def m_ts_run(rng, lines):
    """Every line from one on moved by the same step: a real gap, or the log going back."""
    i = _pick(rng, lines)
    delta = rng.choice([-86400 * 365, -7200, -61, 61, MAX_JUMP + 1, 7 * MAX_JUMP, 4000 * MAX_JUMP])
    for j in range(i, len(lines)):
        obj = _fields(lines[j])
        if obj is not None and (ts := _ts_of(obj)) is not None:
            obj["ts"] = ts + delta
            lines[j] = _dumps(obj)


def m_ts_edge(rng, lines):
    """A few lines in one hour at the edge of the range (1970, 9990), at an offset that moves it across."""
    i = _pick(rng, lines)
    day, hour = rng.choice([("1970-01-01", "00"), ("1970-01-01", "23"), ("1969-12-31", "23"), ("9989-12-31", "23"),
                            ("9989-12-31", "00"), ("9990-01-01", "00")])
    offset = rng.choice(["+00:30", "-00:30", "+05:45", "-05:45", "+23:59", "-23:59", "Z", "+01:00", "-01:00"])
    for j in range(i, min(len(lines), i + rng.randrange(2, 5))):
        obj = _fields(lines[j])
        if obj is not None:
            obj["ts"] = f"{day}T{hour}:{rng.randrange(60):02d}:{rng.randrange(60):02d}{offset}"
            lines[j] = _dumps(obj)


def m_duplicate_key(rng, lines):
    i = _pick(rng, lines)
    obj = _fields(lines[i])
    if obj:
        pairs = list(obj.items())
        key = rng.choice(list(obj) + list(FIELDS))
        pairs.insert(rng.randrange(len(pairs) + 1), (key, rng.choice(ODD_VALUES + [obj.get(key)])))
        lines[i] = _dump_pairs(pairs)


def m_nest(rng, lines):
    i = _pick(rng, lines)
    depth = rng.choice([2, 100, 1000, 5000])
    wrap = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
    if rng.random() < 0.5:
        lines[i] = wrap[0] * depth + lines[i] + wrap[1] * depth
    else:
        obj = _fields(lines[i])
        if obj is not None:
            obj[rng.choice(FIELDS)] = "@@"
            lines[i] = _dumps(obj).replace(b'"@@"', wrap[0] * depth + b"1" + wrap[1] * depth)


def m_not_object(rng, lines):
    i = _pick(rng, lines)
    lines[i] = rng.choice([b"null", b"true", b"1", b'"x"', b"[]", b"{}", b"[" + lines[i] + b"]", b"{" + lines[i] + b"}",
                           b'"' + lines[i] + b'"', b"//" + lines[i], b"#" + lines[i], lines[i] + b"//x"])


def m_escape(rng, lines):
    """Strings written with escapes: the same text, or escapes of characters JSON does not allow raw."""
    i = _pick(rng, lines)
    obj = _fields(lines[i])
    if obj:
        key = rng.choice(list(obj))
        if isinstance(obj[key], str):
            value = obj[key]
            esc = "".join(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else c for c in value)
            if rng.random() < 0.3:
                esc += rng.choice(["\\ud800", "\\udc00", "\\u0000", "\\n", "\\\\", "\\/", "\\ud83d\\ude42", "\\x41"])
            obj[key] = "@@"
            lines[i] = _dumps(obj).replace(b'"@@"', b'"' + esc.encode() + b'"')


LINE_MUTATIONS = [m_delete, m_duplicate, m_swap, m_truncate_line, m_join, m_split, m_split_and_join, m_two_values,
                  m_insert_bytes, m_replace_byte, m_bom_line, m_blank, m_indent, m_remove_field, m_set_field,
                  m_number_text, m_swap_kinds, m_unknown_field, m_unknown_enum, m_odd_ts, m_ts_number, m_ts_shift,
                  m_ts_run, m_ts_edge, m_duplicate_key, m_nest, m_not_object, m_escape]


def _rfc3339(ts: float) -> str:
    from datetime import datetime, timedelta, timezone
    try:
        return datetime.fromtimestamp(ts, timezone(timedelta(hours=8))).isoformat()
    except (ValueError, OverflowError, OSError):
        return repr(ts)


def mutate(rng: random.Random, data: bytes, *, long_lines: bool = False) -> tuple[bytes, list[str]]:
    """A mutant of data: a few mutations in a row, then maybe a change of the whole file."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    names = []
    for _ in range(rng.choice([1, 1, 2, 3, 5, 8])):
        if not lines:
            lines.append(b"")
        mutation = rng.choice(LINE_MUTATIONS + ([m_long_line] if long_lines else []))
        mutation(rng, lines)
        names.append(mutation.__name__)
    end = rng.choice([b"\n", b"\n", b"\r\n", b"\r", b"\n\n", b""])
    joined = end.join(lines) + (end if rng.random() < 0.8 else b"")
    whole = rng.random()
    if whole < 0.05:
        joined = joined[:rng.randrange(len(joined) + 1)]
        names.append("truncate-file")
    elif whole < 0.08:
        joined = BOM + joined
        names.append("bom-file")
    elif whole < 0.10:
        joined = BOM + BOM + joined
        names.append("two-boms")
    return joined, names


def gzip_mutant(rng: random.Random, data: bytes) -> tuple[bytes, str, bool]:
    """(compressed bytes, what was done, whether it is still a valid gzip stream)."""
    packed = gzip.compress(data, mtime=0)
    kind = rng.choice(["whole", "two-members", "truncated", "corrupted", "trailing-garbage", "trailing-zeros",
                       "header-only", "double"])
    if kind == "whole":
        return packed, kind, True
    if kind == "two-members":
        cut = rng.randrange(len(data) + 1)
        return gzip.compress(data[:cut], mtime=0) + gzip.compress(data[cut:], mtime=0), kind, True
    if kind == "truncated":
        return packed[:rng.randrange(2, len(packed))], kind, False
    if kind == "corrupted":
        at = rng.randrange(10, len(packed))
        return packed[:at] + bytes([packed[at] ^ (1 << rng.randrange(8))]) + packed[at + 1:], kind, False
    if kind == "trailing-garbage":
        return packed + rng.choice([b"x", b"\x1f", b"garbage\n", b"\x1f\x8b\x08"]), kind, False
    if kind == "trailing-zeros":
        return packed + b"\x00" * rng.randrange(1, 20), kind, True
    if kind == "header-only":
        return packed[:10], kind, False
    return gzip.compress(packed, mtime=0), kind, True   # "double": a gzip inside the gzip: bad lines, not an error


# ---- the reference: what the reader must make of a log -------------------------------------------------

def split_lines(data: bytes) -> list[bytes]:
    """The lines of a log as the reader numbers them (a BOM at the very start dropped)."""
    if data.startswith(BOM):
        data = data[3:]
    if not data:
        return []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def expected(data: bytes, tolerance: float = TOLERANCE) -> tuple[list[Event], list[Rejected], int]:
    """(accepted events sorted, rejections in the order reported, lines read) by the rules of events.py, plainly."""
    rejected: list[Rejected] = []
    accepted: list[Event] = []
    read_count = 0
    max_ts, held = -math.inf, None   # the newest ts accepted; a line more than MAX_JUMP ahead of it, held
    for number, raw in enumerate(split_lines(data), 1):
        if len(raw) > MAX_LINE_BYTES:
            read_count += 1
            rejected.append(Rejected(number, f"line longer than {MAX_LINE_BYTES} bytes"))
            continue
        if not raw or raw.isspace():
            continue
        read_count += 1
        ev = parse_line(raw, number)
        if isinstance(ev, Rejected):
            rejected.append(ev)
            continue
        ts = ev.ts
        if held is not None:   # this line decides whether the held one is a real jump
            if ts < max_ts - tolerance:
                rejected.append(Rejected(number, _goes_back(max_ts - ts, tolerance)))
                continue
            jump, held = held, None
            if max_ts == -math.inf:   # the log's first line: a line more than a day before it condemns it
                if ts < jump.ts - MAX_JUMP:
                    rejected.append(Rejected(jump.line, f"ts jumps {events._fmt_days(jump.ts - ts)} ahead of the line after it"))
                else:
                    accepted.append(jump)
                    max_ts = jump.ts
            elif ts < jump.ts - tolerance:
                days = events._fmt_days(jump.ts - max_ts)
                rejected.append(Rejected(jump.line, f"ts jumps {days} ahead of the lines around it"))
            else:
                accepted.append(jump)
                max_ts = jump.ts
        if ts < max_ts - tolerance:
            rejected.append(Rejected(number, _goes_back(max_ts - ts, tolerance)))
        elif ts > max_ts + MAX_JUMP:   # the first line too (max_ts is -inf)
            held = ev
        else:
            accepted.append(ev)
            max_ts = max(max_ts, ts)
    if held is not None:
        accepted.append(held)
    return sorted(accepted, key=lambda e: (e.ts, e.line)), rejected, read_count


def _goes_back(seconds: float, tolerance: float) -> str:
    return f"ts goes back {events._fmt_seconds(seconds)} s (tolerance {events._fmt_seconds(tolerance)} s)"


# ---- the checks ------------------------------------------------------------------------------------------

def read_all(data: bytes, **kw) -> tuple[list[Event], list[Rejected], ReadStats]:
    stats, rejected = ReadStats(), []
    got = list(read_events(io.BytesIO(data), stats=stats, on_reject=rejected.append, **kw))
    return got, rejected, stats


class Trickle(io.BytesIO):
    """A stream that hands over a few bytes at a time, as a pipe may: the reader must not care."""

    def __init__(self, data: bytes, seed: int):
        super().__init__(data)
        self.rng = random.Random(seed)

    def read1(self, size: int = -1) -> bytes:
        return super().read1(min(size if size >= 0 else 1 << 30, self.rng.choice([1, 1, 2, 3, 7, 100])))

    def read(self, size: int | None = -1) -> bytes:
        return self.read1(-1 if size is None else size)


def check_read(data: bytes, plain: bytes, what: str) -> tuple[list[Event], list[Rejected]]:
    """Read data (plain once decompressed) and check it against the reference; returns what was read."""
    got, rejected, stats = read_all(data)
    n_lines = len(split_lines(plain))
    assert stats.read == stats.accepted + stats.rejected, (what, stats)
    assert stats.accepted == len(got) and stats.rejected == len(rejected), (what, stats)
    assert all(1 <= r.line <= n_lines for r in rejected), (what, rejected, n_lines)
    # a reason is one short line: values quoted in it are cut to 40 characters
    assert all(type(r.reason) is str and 0 < len(r.reason) < 200 and "\n" not in r.reason
               for r in rejected), (what, rejected)
    assert [(e.ts, e.line) for e in got] == sorted((e.ts, e.line) for e in got), what
    for e in got:
        assert type(e.ts) is float and 0.0 <= e.ts < events._MAX_EPOCH, (what, e)
        assert e.type in events.TYPES and e.wire_card is None, (what, e)
        assert e.max_sessions is None or (type(e.max_sessions) is int and e.max_sessions >= 1), (what, e)
    want_events, want_rejected, want_read = expected(plain)
    assert rejected == want_rejected, (what, rejected, want_rejected)
    assert got == want_events, what
    assert stats.read == want_read, (what, stats, want_read)
    # strict: stops exactly at the first rejection, with the same counts kept
    s_stats, s_seen = ReadStats(), []
    try:
        list(read_events(io.BytesIO(data), stats=s_stats, on_reject=s_seen.append, strict=True))
    except StrictError as err:
        assert rejected and err.rejected == rejected[0] and s_seen == [rejected[0]], (what, err)
    else:
        assert not rejected, what
    assert s_stats.read == s_stats.accepted + s_stats.rejected, (what, s_stats)
    # the same, a few bytes at a time
    t_stats, t_rejected = ReadStats(), []
    t_got = list(read_events(Trickle(data, len(data)), stats=t_stats, on_reject=t_rejected.append))
    assert (t_got, t_rejected, t_stats) == (got, rejected, stats), what
    return got, rejected


def check_replay(data: bytes, n_lines: int, policies, what: str) -> None:
    """Replay data through each policy twice: consistent counts, JSON out, the same bytes both times.

    A shop policy refuses a log holding another shop's events; then the policy's own shop is selected
    (as with --shop), the others skipped.
    """
    for name, policy, automation in policies:
        outputs: list[bytes] = []
        select = None
        while len(outputs) < 2:
            out = io.BytesIO()
            try:
                result = replay(policy, io.BytesIO(data), seed=5, automation=automation, decisions_out=out,
                                shop=select)
            except OtherShopError as err:
                assert select is None and err.shop != policy.shop.name, (what, name, err)
                assert err.policy_shop == policy.shop.name and 1 <= err.line <= n_lines, (what, name, err)
                select = policy.shop.name
                continue
            report = report_dict(result)
            ev = report["events"]
            assert ev["read"] == ev["accepted"] + ev["rejected"], (what, name, ev)
            assert (ev["skipped"] > 0) == (select is not None) and ev["skipped"] <= ev["accepted"], (what, name, ev)
            body = report_json(report)
            assert json.loads(body) == json.loads(json.dumps(report, allow_nan=False)), (what, name)
            text = render_text(report)
            records = [orjson.loads(line) for line in out.getvalue().splitlines()]
            assert sum(report["decisions"].values()) == len(records), (what, name)
            assert all(r["line"] is None or 1 <= r["line"] <= n_lines for r in records), (what, name)
            assert sum(sum(d["decisions"].values()) for d in report["days"]) == len(records), (what, name)
            outputs.append(out.getvalue() + body + text.encode())
        assert outputs[0] == outputs[1], (what, name)


def run_mutant(data: bytes, policies, what: str, *, replay_it: bool = True) -> list[Rejected]:
    _, rejected = check_read(data, data, what)
    if replay_it:
        check_replay(data, len(split_lines(data)), policies, what)
    return rejected


def run_gzip_mutant(packed: bytes, plain: bytes, valid: bool, what: str) -> None:
    if valid:
        with gzip.GzipFile(fileobj=io.BytesIO(packed)) as unpacked:   # one layer, as the reader takes off
            check_read(packed, unpacked.read(), what)
        return
    try:
        _, rejected, stats = read_all(packed)
    except IO_ERRORS:
        return
    # a damaged stream may still inflate (a flipped bit in the header's unused bytes, trailing zeros)
    assert stats.read == stats.accepted + stats.rejected, (what, stats)


# ---- the tests --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def policies():
    return shipped_policies()


N_MUTANTS = 150


@pytest.mark.parametrize("seed", range(8))
def test_mutants_keep_the_standard(policies, seed):
    rng = random.Random(1000 + seed)
    logs = seed_logs()
    for n in range(N_MUTANTS):
        name, data = rng.choice(logs)
        mutant, how = mutate(rng, data)
        # a replay costs more than a read: every fourth mutant goes through the policies
        run_mutant(mutant, policies, f"seed {1000 + seed} #{n} {name} {how}", replay_it=n % 4 == 0)


def test_long_line_mutants(policies):
    rng = random.Random(77)
    logs = seed_logs()
    for n in range(6):
        name, data = rng.choice(logs)
        lines = data.split(b"\n")[:-1]
        m_long_line(rng, lines)
        mutant = b"\n".join(lines) + rng.choice([b"\n", b""])
        run_mutant(mutant, policies, f"long #{n} {name}", replay_it=n < 2)


@pytest.mark.parametrize("chunk", [1, 5, 97, 4096])
def test_mutants_read_the_same_in_any_chunk_size(monkeypatch, chunk):
    # the reader decodes a chunk of whole lines at a time; the chunk size must not matter
    monkeypatch.setattr(events, "CHUNK_BYTES", chunk)
    rng = random.Random(2000 + chunk)
    logs = seed_logs()
    for n in range(40 if chunk > 1 else 10):
        name, data = rng.choice(logs)
        mutant, how = mutate(rng, data)
        check_read(mutant, mutant, f"chunk {chunk} #{n} {name} {how}")


def test_gzip_mutants():
    rng = random.Random(3000)
    logs = seed_logs()
    for n in range(60):
        name, data = rng.choice(logs)
        plain, how = mutate(rng, data) if rng.random() < 0.5 else (data, [])
        packed, kind, valid = gzip_mutant(rng, plain)
        run_gzip_mutant(packed, plain, valid, f"gzip #{n} {name} {kind} {how}")


def test_strict_through_the_cli_exits_1_exactly_when_a_line_is_rejected(tmp_path):
    from cli_helpers import kefu
    rng = random.Random(4000)
    logs = seed_logs()
    policy = EXAMPLES[0]
    own = ("--shop", Loader().load(policy).policy.shop.name)   # the logs are of several shops: select this one
    seen = set()
    for n in range(10):
        name, data = rng.choice(logs)
        mutant, how = mutate(rng, data) if n % 3 else (data, [])
        _, rejected, stats = read_all(mutant)
        log = tmp_path / f"m{n}.jsonl"
        log.write_bytes(mutant)
        result = kefu("replay", policy, "--events", log, "--strict", "--report", tmp_path / "r.txt", *own)
        assert result.exit_code == (1 if rejected else 0), (n, name, how, result.output)
        if rejected:
            first = rejected[0]
            assert f"stopped at the first bad line (--strict): {log}:{first.line}: {first.reason}" in result.output
        seen.add(bool(rejected))
        (tmp_path / "r.json").unlink(missing_ok=True)
        plain = kefu("replay", policy, "--events", log, "--report", tmp_path / "r.json", "--format", "json", *own)
        if stats.read and not stats.accepted:   # not an event log at all: exit 1 and no report (docs/replay.md)
            assert plain.exit_code == 1 and "does not look like a kefu event log" in plain.stderr, (n, name, how)
            assert not (tmp_path / "r.json").exists()
            continue
        assert plain.exit_code == 0, (n, name, how, plain.output)
        counts = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["events"]
        assert counts["rejected"] == len(rejected) and counts["read"] == counts["accepted"] + counts["rejected"]
    assert seen == {True, False}


def test_corrupt_gzip_through_the_cli_is_exit_2_with_a_plain_message(tmp_path):
    from cli_helpers import kefu
    rng = random.Random(5000)
    policy = EXAMPLES[0]
    data = seed_logs()[1][1]
    packed = gzip.compress(data, mtime=0)
    mutants = [packed[:len(packed) // 2], packed[:10], packed[:12] + b"\xff" * 40, packed + b"garbage"]
    for _ in range(4):
        at = rng.randrange(10, len(packed) - 8)
        mutants.append(packed[:at] + bytes([packed[at] ^ 0xFF]) + packed[at + 1:])
    for n, mutant in enumerate(mutants):
        for name in (f"m{n}.jsonl.gz", f"m{n}.jsonl"):
            log = tmp_path / name
            log.write_bytes(mutant)
            try:
                _, _, stats = read_all(mutant)
            except IO_ERRORS:
                broken, expected = True, 2
            else:   # a log of which no line is an event exits 1 (docs/replay.md)
                broken, expected = False, 1 if stats.read and not stats.accepted else 0
            result = kefu("replay", policy, "--events", log, "--report", tmp_path / "r.txt")
            assert result.exit_code == expected, (n, name, result.output)
            if broken:
                assert f"error: cannot read events {log}: " in result.output, result.output
        result = kefu("replay", policy, "--events", "-", "--report", tmp_path / "r.txt", input=mutant)
        assert result.exit_code == expected, (n, result.output)   # as the same bytes read from a file
        assert ("error: cannot read events -: " in result.output) == (result.exit_code == 2), result.output
