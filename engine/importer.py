"""`kefu import`: a desk's export (CSV or JSON) into a kefu event log, by a mapping file.

A mapping file (YAML, docs/import.md) says where each event field comes from: a column of the
export, a constant, a column's value mapped to another (买家 → consumer), and which rows give
which events (a row may give several, or none). Nothing in it is executed: conditions and value
maps are data. A mapping that names a column the export lacks is a located error in the mapping
file before any row is read; a bad row is reported with its file, row and column and skipped.
Output is in time order whatever the export's order: rows are sorted in runs held in memory and
merged from temporary files, so memory stays bounded.
"""

from __future__ import annotations

import codecs
import csv
import heapq
import re
import json
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .events import parse_ts
from .scenarios import ScenarioError as MappingError, known_keys, read_document, where

EVENT_FIELDS = ("type", "shop", "sender", "consumer", "agent", "text", "page", "status", "to_agent", "group",
                "max_sessions", "priority")
WHOLE_NUMBERS = ("max_sessions", "priority")
"""Fields whose column text becomes an integer in the event."""
SOURCE_KEYS = ("format", "delimiter", "encoding", "records", "sheet")
TIME_KEYS = ("column", "format", "timezone")
DAY, HALF_DAY = 86400, 43200
FORMATS = ("csv", "jsonl", "json", "xlsx")
# strptime formats whose text datetime.fromisoformat reads the same (by the text's length)
ISO_LIKE = {"%Y-%m-%d %H:%M:%S": 19, "%Y-%m-%dT%H:%M:%S": 19, "%Y-%m-%d %H:%M": 16}
RUN = 100_000
"""Events sorted in memory at a time; longer exports are merged from sorted runs on disk."""


class Writer(Protocol):
    """Where the log goes: a binary file (or a gzip stream)."""

    def write(self, data: bytes, /) -> int: ...


_PLACE = re.compile(r"\{([^{}]+)\}")


@dataclass
class Template:
    """Text made of several columns: `{date} {q_start}`. Only column names go between braces: no
    attribute, index or format spec is read (it is not Python's str.format)."""

    text: str
    columns: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> Template:
        """The template, with the columns it names."""
        return cls(text, tuple(_PLACE.findall(text)))

    def render(self, row: dict[str, str]) -> str:
        """The template with each column's value of the row (empty when a value is)."""
        if any(not (row.get(c) or "").strip() for c in self.columns):
            return ""
        return _PLACE.sub(lambda m: (row.get(m.group(1)) or "").strip(), self.text)


@dataclass
class Value:
    """Where one event field comes from: a constant, or a column (its values mapped, a default)."""

    constant: Any = None
    column: str | None = None
    mapping: dict[str, Any] | None = None
    default: Any = None
    has_default: bool = False   # `default:` given (`default: null`: leave the field out)
    template: Template | None = None   # several columns' values in one text (instead of column)
    time: TimeSpec | None = None   # a column read as a time (an event with a time of its own)
    lookup: str | None = None      # the value another row gives (a table of `lookups`), by key
    key: Key | None = None
    first_of: list[Value] | None = None   # the first of these that gives a value


@dataclass
class Key:
    """The key a row looks another row up by: a column, split into several (the first found wins),
    read as a whole number (`3.0` → `3`) when the export writes ids as numbers."""

    column: str
    split: str | None = None
    integer: bool = False

    def keys(self, row: dict[str, str]) -> list[str]:
        """The row's keys, in order."""
        raw = (row.get(self.column) or "").strip()
        parts = [p.strip() for p in raw.split(self.split)] if self.split else [raw]
        out = []
        for part in parts:
            if part and self.integer:
                try:
                    number = float(part)
                except ValueError:
                    continue
                if not number.is_integer():   # 1.5, inf, nan: no whole-number id
                    continue
                part = str(int(number))
            if part:
                out.append(part)
        return out


@dataclass
class Lookup:
    """`lookups:` a table from the rows `when` selects: key → value, built in a first pass."""

    key: Key
    value: str
    conditions: list[Condition]


@dataclass
class TimeSpec:
    """How a time column is read: `iso` (with an offset, or the zone given), `epoch`, or a strptime format."""

    column: str
    format: str
    zone: ZoneInfo | None
    template: Template | None = None   # a time made of several columns: `{date} {q_start}`
    rolls_over: bool = False   # `ts` only: a time over 12 h before the row's `time` is on the next day


@dataclass
class Condition:
    """`when:` a column's value is (or is not) one of some values, or is empty or not."""

    column: str
    values: tuple[str, ...] | None = None
    negate: bool = False
    empty: bool | None = None

    def holds(self, row: dict[str, str]) -> bool:
        """Whether the row satisfies it."""
        value = (row.get(self.column) or "").strip()
        if self.empty is not None:
            return (value == "") == self.empty
        assert self.values is not None
        return (value in self.values) != self.negate


@dataclass
class EventRule:
    """One event a matching row gives."""

    line: int
    conditions: list[Condition]
    fields: dict[str, Value]
    time: TimeSpec


@dataclass
class Mapping:
    """A mapping file, read and checked."""

    file: str
    format: str | None
    delimiter: str | None
    encoding: str
    records: str | None
    rules: list[EventRule]
    columns: dict[str, tuple[int, int]] = field(default_factory=dict)   # column -> where the mapping names it
    sheet: int | str | None = None   # xlsx: the sheet, by name or 0-based index (default: the first)
    lookups: dict[str, Lookup] = field(default_factory=dict)
    tables: dict[str, dict[str, str]] = field(default_factory=dict)   # the lookups' tables, once built
    time: TimeSpec | None = None   # the row's `time` (an event's `ts` may roll over from it)


# ---- reading the mapping ---------------------------------------------------------------------------
def load_mapping(path: Path, shown: str) -> Mapping:
    """The mapping file, checked; MappingError (file:line:col) when it cannot be used."""
    doc = read_document(path, shown)
    if not isinstance(doc, CommentedMap):
        raise MappingError(shown, 1, 1, "a mapping file is a mapping with `events` (and `time`, `source`, …)")
    known_keys(doc, shown, ("source", "time", "shop", "events", "lookups"))
    source = doc.get("source") or CommentedMap()
    if not isinstance(source, CommentedMap):
        raise MappingError(shown, *where(doc, "source"), "`source` is a mapping (format, delimiter, encoding, records)")
    known_keys(source, shown, SOURCE_KEYS)
    columns: dict[str, tuple[int, int]] = {}
    lookups = _lookups(doc, shown, columns)
    if "time" not in doc:
        raise MappingError(shown, 1, 1, "a mapping needs `time`: the column that gives each event's time")
    time = _time(doc, "time", shown, columns)
    events = doc.get("events")
    if not isinstance(events, CommentedSeq) or not events:
        raise MappingError(shown, *where(doc, "events") if "events" in doc else (1, 1),
                           "`events` is a list: the events a row gives")
    rules = []
    for index, item in enumerate(events):
        line, col = where(events, index)
        if not isinstance(item, CommentedMap):
            raise MappingError(shown, line, col, "an event is a mapping of its fields (type, sender, consumer, …)")
        known_keys(item, shown, EVENT_FIELDS + ("when", "ts"))
        fields = {name: _value(item, name, shown, columns, lookups) for name in EVENT_FIELDS if name in item}
        if "shop" not in fields and "shop" in doc:
            fields["shop"] = _value(doc, "shop", shown, columns, lookups)
        if "type" not in fields:
            raise MappingError(shown, line, col, "an event needs a `type` (message, agent_status, transfer, session_end)")
        conditions = _conditions(item, shown, columns)
        own_time = _time(item, "ts", shown, columns) if "ts" in item else time
        rules.append(EventRule(line, conditions, fields, own_time))
    fmt = source.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise MappingError(shown, *where(source, "format"), f"unknown format {fmt!r}", ", ".join(FORMATS))
    encoding = str(source.get("encoding", "auto"))
    if encoding != "auto":
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise MappingError(shown, *where(source, "encoding"), f"unknown encoding {encoding!r}",
                               "auto, utf-8, utf-8-sig, gb18030, …") from None
    delimiter = source.get("delimiter")
    if delimiter is not None and len(str(delimiter)) != 1:
        raise MappingError(shown, *where(source, "delimiter"), "`delimiter` is one character")
    sheet = source.get("sheet")
    return Mapping(shown, fmt, str(delimiter) if delimiter is not None else None, encoding,
                   str(source["records"]) if "records" in source else None, rules, columns,
                   sheet if isinstance(sheet, int) and not isinstance(sheet, bool) else
                   (str(sheet) if sheet is not None else None), lookups, time=time)


def _value(node: Any, key: Any, shown: str, columns: dict[str, tuple[int, int]],
           lookups: dict[str, Lookup] | None = None) -> Value:
    raw = node[key]
    if not isinstance(raw, dict):
        return Value(constant=_plain(raw))
    if "first_of" in raw:
        known_keys(raw, shown, ("first_of", "default"))
        choices = raw["first_of"]
        if not isinstance(choices, list) or not choices:
            raise MappingError(shown, *where(raw, "first_of"), "`first_of` is a list of field specs")
        return Value(first_of=[_value(choices, i, shown, columns, lookups) for i in range(len(choices))],
                     default=_plain(raw.get("default")), has_default="default" in raw)
    if "lookup" in raw:
        known_keys(raw, shown, ("lookup", "key", "default"))
        name = str(raw["lookup"])
        if name not in (lookups or {}):
            from .names import did_you_mean
            raise MappingError(shown, *where(raw, "lookup"), f"no lookup {name!r}",
                               did_you_mean(name, list(lookups or {})) or "declare it under `lookups`")
        if "key" not in raw:
            raise MappingError(shown, *where(node, key), "a lookup needs a `key`: {column: NAME, split: \",\", integer: true}")
        return Value(column=f"lookup {name}", lookup=name, key=_key(raw, "key", shown, columns),
                     default=_plain(raw.get("default")), has_default="default" in raw)
    known_keys(raw, shown, ("column", "template", "map", "default"))
    if ("column" in raw) == ("template" in raw):
        raise MappingError(shown, *where(node, key),
                           f"`{key}` is a constant, or {{column: NAME}} or {{template: \"{{A}}-{{B}}\"}}, with map and default")
    template = _template(raw, shown, columns) if "template" in raw else None
    column = template.text if template is not None else str(raw["column"])
    if template is None:
        columns.setdefault(column, where(raw, "column"))
    mapping = raw.get("map")
    if mapping is not None and not isinstance(mapping, dict):
        raise MappingError(shown, *where(raw, "map"), "`map` is a mapping: a value of the column -> the field's value")
    return Value(column=column, mapping={str(k): _plain(v) for k, v in mapping.items()} if mapping else None,
                 default=_plain(raw.get("default")), has_default="default" in raw, template=template)


def _key(node: Any, key: str, shown: str, columns: dict[str, tuple[int, int]]) -> Key:
    raw = node[key]
    if not isinstance(raw, dict) or "column" not in raw:
        raise MappingError(shown, *where(node, key), f"`{key}` is {{column: NAME, split: \",\", integer: true}}")
    known_keys(raw, shown, ("column", "split", "integer"))
    column = str(raw["column"])
    columns.setdefault(column, where(raw, "column"))
    split = raw.get("split")
    if split is not None and not str(split):
        raise MappingError(shown, *where(raw, "split"), "`split` is the text between keys: \",\" (not empty)")
    return Key(column, str(split) if split else None, _flag(raw, "integer", shown))


def _lookups(doc: CommentedMap, shown: str, columns: dict[str, tuple[int, int]]) -> dict[str, Lookup]:
    raw = doc.get("lookups")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise MappingError(shown, *where(doc, "lookups"), "`lookups` is a mapping: NAME: {key, value, when}")
    out = {}
    for name, spec in raw.items():
        if not isinstance(spec, dict) or "key" not in spec or "value" not in spec:
            raise MappingError(shown, *where(raw, name), f"lookup {name!r} is {{key: {{column: …}}, value: COLUMN, when: …}}")
        known_keys(spec, shown, ("key", "value", "when"))
        value = str(spec["value"])
        columns.setdefault(value, where(spec, "value"))
        out[str(name)] = Lookup(_key(spec, "key", shown, columns), value, _conditions(spec, shown, columns))
    return out


def _template(raw: dict, shown: str, columns: dict[str, tuple[int, int]]) -> Template:
    template = Template.of(str(raw["template"]))
    if not template.columns:
        raise MappingError(shown, *where(raw, "template"), "a template names columns in braces: \"{date} {time}\"")
    for column in template.columns:
        columns.setdefault(column, where(raw, "template"))
    return template


def _time(node: CommentedMap, key: str, shown: str, columns: dict[str, tuple[int, int]]) -> TimeSpec:
    raw = node[key]
    if not isinstance(raw, dict) or ("column" in raw) == ("template" in raw):
        raise MappingError(shown, *where(node, key), f"`{key}` is {{column: NAME (or template: \"{{A}} {{B}}\"), "
                                                     "format: iso|epoch|%Y-…, timezone: …}")
    known_keys(raw, shown, TIME_KEYS + ("template",) + (("rolls_over",) if key == "ts" else ()))
    template = _template(raw, shown, columns) if "template" in raw else None
    column = template.text if template is not None else str(raw["column"])
    if template is None:
        columns.setdefault(column, where(raw, "column"))
    zone = None
    if "timezone" in raw:
        try:
            zone = ZoneInfo(str(raw["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise MappingError(shown, *where(raw, "timezone"), f"unknown time zone {raw['timezone']!r}",
                               "an IANA name such as Asia/Shanghai") from None
    fmt = str(raw.get("format", "iso"))
    if fmt not in ("iso", "epoch") and "%z" not in fmt and zone is None:
        raise MappingError(shown, *where(node, key), "a time without an offset needs `timezone`",
                           "kefu never guesses a time zone: add timezone: Asia/Shanghai (for example)")
    return TimeSpec(column, fmt, zone, template, _flag(raw, "rolls_over", shown))


def _conditions(item: dict, shown: str, columns: dict[str, tuple[int, int]]) -> list[Condition]:
    raw = item.get("when")
    if raw is None:
        return []
    entries = raw if isinstance(raw, list) else [raw]
    out = []
    for entry in entries:
        if not isinstance(entry, dict) or "column" not in entry:
            raise MappingError(shown, *where(item, "when"),
                               "`when` is {column: NAME, in: [values]} (or not_in, empty: true|false), or a list of them")
        known_keys(entry, shown, ("column", "in", "not_in", "empty"))
        column = str(entry["column"])
        columns.setdefault(column, where(entry, "column"))
        tests = [key for key in ("in", "not_in", "empty") if key in entry]
        if len(tests) != 1:
            raise MappingError(shown, *where(entries, entries.index(entry)) if isinstance(raw, list) else where(item, "when"),
                               "a condition is one of {column: NAME, in: [values]}, {column: NAME, not_in: [values]} "
                               f"or {{column: NAME, empty: true|false}}; this one has {', '.join(tests) or 'none'}")
        if "empty" in entry:
            out.append(Condition(column, empty=_flag(entry, "empty", shown)))
            continue
        values = entry.get("in", entry.get("not_in"))
        values = values if isinstance(values, list) else [values]
        out.append(Condition(column, tuple(str(_plain(v)) for v in values), negate="not_in" in entry))
    return out


def _flag(node: Any, key: str, shown: str) -> bool:
    """A true/false setting (absent: false); any other value is a located error, not read as true."""
    value = node.get(key, False)
    if not isinstance(value, bool):
        raise MappingError(shown, *where(node, key), f"`{key}` is true or false, not {value!r}")
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


# ---- reading the source ----------------------------------------------------------------------------
@dataclass
class Row:
    """One record of the export: its number (a CSV's line, a JSON record's index) and its values."""

    number: int
    values: dict[str, str]
    fault: str | None = None   # why the record cannot be read as a row (a CSV line of the wrong width)


def detect_encoding(path: Path, encoding: str) -> str:
    """The encoding to read the export with: the one given, or UTF-8 (BOM or not) when its first MiB
    decodes as UTF-8, else GB18030 (the usual encoding of Chinese spreadsheets' CSV)."""
    if encoding != "auto":
        return encoding
    with open(path, "rb") as f:
        head = f.read(1 << 20)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8-sig"


def rows(path: Path, mapping: Mapping, encoding: str | None = None) -> tuple[list[str], Iterator[Row]]:
    """The export's columns and its rows, read as a stream (CSV, JSON Lines; a JSON list is read whole)."""
    fmt = mapping.format or ("jsonl" if path.suffix in (".jsonl", ".ndjson") else
                             "json" if path.suffix == ".json" else "xlsx" if path.suffix == ".xlsx" else "csv")
    if fmt == "xlsx":
        return _xlsx_rows(path, mapping.sheet)
    name = detect_encoding(path, encoding or mapping.encoding)
    f = open(path, encoding=name, newline="" if fmt == "csv" else None)
    if fmt == "csv":
        sample = f.read(65536)
        f.seek(0)
        delimiter = mapping.delimiter
        if delimiter is None:
            try:
                delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
            except csv.Error:
                delimiter = ","
        reader = csv.reader(f, delimiter=delimiter)
        try:
            header = [h.strip() for h in next(reader, [])]
        except csv.Error as err:
            raise ValueError(f"line {reader.line_num}: {err}") from None

        def csv_rows() -> Iterator[Row]:
            with f:
                for values in _csv_lines(reader):
                    if values:
                        fault = (None if len(values) == len(header) else
                                 f"the line has {len(values)} fields, the header {len(header)} "
                                 "(a bare carriage return or an unquoted delimiter in a value?)")
                        yield Row(reader.line_num, dict(zip(header, values)), fault)
        return header, csv_rows()
    if fmt == "jsonl":
        header = _jsonl_columns(f)
        f.seek(0)

        def jsonl_rows() -> Iterator[Row]:
            with f:
                for n, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            record = json.loads(line)
                        except ValueError as err:
                            yield Row(n, {}, f"not JSON: {err}")
                            continue
                        yield _record_row(n, record)
        return header, jsonl_rows()
    with f:
        data: Any = json.load(f)
    for part in mapping.records.split(".") if mapping.records else []:
        data = data.get(part) if isinstance(data, dict) else None
    if not isinstance(data, list):
        raise ValueError(f"no list of records at {mapping.records or 'the top'}")
    header = sorted({k for r in data if isinstance(r, dict) for k in r})
    return header, (_record_row(n, r) for n, r in enumerate(data, 1))


def _jsonl_columns(f: Any) -> list[str]:
    """A JSON Lines export's columns: every field of every record, sorted (a first pass over the file; records
    need not have the same fields). A line that is not a JSON object adds none: it is a bad row when read."""
    columns: set[str] = set()
    for line in f:
        if line.strip():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                columns.update(record)
    return sorted(columns)


def _record_row(number: int, record: Any) -> Row:
    """A JSON record as a row; one that is not an object is a bad row, counted like the others."""
    if not isinstance(record, dict):
        return Row(number, {}, f"the record is a JSON {type(record).__name__}, not an object")
    return Row(number, {k: "" if v is None else str(v) for k, v in record.items()})


def _csv_lines(reader: Any) -> Iterator[list[str]]:
    """The reader's lines; a line CSV cannot read (a field past the size limit) stops the read, located."""
    try:
        yield from reader
    except csv.Error as err:
        raise ValueError(f"line {reader.line_num}: {err}") from None


def _xlsx_rows(path: Path, sheet: int | str | None) -> tuple[list[str], Iterator[Row]]:
    """An Excel sheet's header and rows, streamed (openpyxl read-only); a date cell reads as
    `YYYY-MM-DD HH:MM:SS`, a number as its text."""
    from openpyxl import load_workbook  # type: ignore[import-untyped]  # only an Excel import needs it

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except zipfile.BadZipFile as err:
        raise ValueError(f"not an Excel workbook: {err}") from None
    names = book.sheetnames
    if isinstance(sheet, int):
        if not 0 <= sheet < len(names):
            raise ValueError(f"no sheet {sheet} (the workbook has {len(names)})")
        ws = book[names[sheet]]
    elif sheet is not None:
        if sheet not in names:
            raise ValueError(f"no sheet {sheet!r} (its sheets: {', '.join(names)})")
        ws = book[sheet]
    else:
        ws = book[names[0]]
    cells = ws.iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(cells, ())]

    def text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    def xlsx_rows() -> Iterator[Row]:
        try:
            for number, values in enumerate(cells, 2):
                if any(v is not None for v in values):
                    yield Row(number, {h: text(v) for h, v in zip(header, values)})
        finally:
            book.close()
    return header, xlsx_rows()


# ---- rows to events --------------------------------------------------------------------------------
class BadRow(Exception):
    """A row that cannot give its events: the column and the reason."""

    def __init__(self, column: str | None, reason: str):
        super().__init__(reason)
        self.column, self.reason = column, reason


def event_time(spec: TimeSpec, row: Row) -> float:
    """A row's time as epoch seconds, read as the mapping says."""
    text = spec.template.render(row.values) if spec.template else (row.values.get(spec.column) or "").strip()
    if not text:
        raise BadRow(spec.column, "no time")
    try:
        if spec.format == "epoch":
            return parse_ts(float(text))   # the event reader's range (and its "milliseconds?" hint)
        if spec.format == "iso":
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        elif spec.format in ISO_LIKE and len(text) == ISO_LIKE[spec.format]:
            moment = datetime.fromisoformat(text)   # the same fields, read in C (strptime is slow)
        else:
            moment = datetime.strptime(text, spec.format)
    except ValueError as err:
        if spec.format == "epoch" and "out of range" in str(err):
            hint = " (milliseconds? epoch is in seconds)" if "milliseconds" in str(err) else ""
            raise BadRow(spec.column, f"{text[:40]!r} is out of range for epoch seconds{hint}") from None
        raise BadRow(spec.column, f"{text[:40]!r} is not a time of format {spec.format}") from None
    if moment.tzinfo is None:
        if spec.zone is None:
            raise BadRow(spec.column, f"{text[:40]!r} has no offset and the mapping gives no timezone")
        moment = moment.replace(tzinfo=spec.zone)
    return moment.timestamp()


def _field(name: str, value: Value, row: Row, tables: dict[str, dict[str, str]]) -> Any:
    if value.first_of is not None:
        for choice in value.first_of:
            found = _field(name, choice, row, tables)
            if found is not None and found != "":
                return found
        return value.default
    if value.lookup is not None:
        table = tables[value.lookup]
        assert value.key is not None
        return next((table[k] for k in value.key.keys(row.values) if k in table), value.default)
    if value.column is None:
        return value.constant
    raw = value.template.render(row.values) if value.template else (row.values.get(value.column) or "").strip()
    if value.mapping is not None:
        if raw in value.mapping:
            return value.mapping[raw]
        if value.has_default:
            return value.default
        raise BadRow(value.column, f"{raw[:40]!r} is not one of the values `map` lists for {name}")
    if raw == "":
        return value.default
    if name in WHOLE_NUMBERS:
        if not (raw.isascii() and raw.isdigit()):   # int() would take "+3", "1_0" and full-width digits
            raise BadRow(value.column, f"{raw[:40]!r} is not a whole number")
        return int(raw)
    return raw


# the fields an event of each type must have (docs/events.md)
REQUIRED = {"message": ("sender", "consumer"), "agent_status": ("agent", "status"),
            "transfer": ("consumer", "agent", "to_agent"), "session_end": ("consumer",)}


def _required(event: dict) -> list[str]:
    needed = list(REQUIRED.get(str(event.get("type")), ()))
    if event.get("type") == "message" and event.get("sender") == "agent":
        needed.append("agent")
    return needed


def _why_missing(name: str, value: Value | None, row: Row) -> BadRow:
    """Why a field an event needs has no value: the column (or the lookup's key column) and the reason."""
    if value is None:
        return BadRow(None, f"no {name}: the mapping gives this event none")
    if value.lookup is not None and value.key is not None:
        keys = value.key.keys(row.values)
        found = f"no row for {', '.join(keys)}" if keys else "an empty key"
        return BadRow(value.key.column, f"no {name}: lookup {value.lookup!r} finds {found}")
    if value.first_of is not None:
        return BadRow(None, f"no {name}: none of its `first_of` choices gives a value")
    return BadRow(value.column, f"no {name}: the column is empty")


def row_events(mapping: Mapping, row: Row) -> list[tuple[float, dict]]:
    """The events a row gives (none when no rule's conditions hold)."""
    out = []
    row_time: float | None = None   # the row's `time`, read once however many events use it
    for rule in mapping.rules:
        if not all(c.holds(row.values) for c in rule.conditions):
            continue
        if row_time is None and (rule.time is mapping.time or rule.time.rolls_over):
            row_time = event_time(mapping.time or rule.time, row)
        ts = row_time if rule.time is mapping.time and row_time is not None else event_time(rule.time, row)
        if rule.time.rolls_over and row_time is not None and ts < row_time - HALF_DAY:
            ts += DAY   # a clock time on the row's date that is past midnight (a call that ends at 00:02)
        event = {name: _field(name, value, row, mapping.tables) for name, value in rule.fields.items()}
        event = {k: v for k, v in event.items() if v is not None and v != ""}
        for needed in _required(event) + (["shop"] if "shop" in rule.fields else []):
            if needed not in event:
                raise _why_missing(needed, rule.fields.get(needed), row)
        out.append((ts, event))
    return out


# ---- the import ------------------------------------------------------------------------------------
@dataclass
class ImportStats:
    """What an import read and wrote: rows read == imported + skipped."""

    read: int = 0
    imported: int = 0
    skipped: int = 0
    events: int = 0


def build_tables(mapping: Mapping, source: Iterator[Row]) -> None:
    """The lookups' tables, from a first pass over the rows (held in memory: one entry a selected row)."""
    tables: dict[str, dict[str, str]] = {name: {} for name in mapping.lookups}
    for row in source:
        if row.fault:
            continue
        for name, lookup in mapping.lookups.items():
            if all(c.holds(row.values) for c in lookup.conditions):
                value = (row.values.get(lookup.value) or "").strip()
                for key in lookup.key.keys(row.values):
                    tables[name].setdefault(key, value)
    mapping.tables = tables


def missing_columns(mapping: Mapping, header: list[str]) -> list[tuple[str, int, int]]:
    """The columns the mapping names that the export lacks, with where the mapping names them."""
    present = set(header)
    return [(column, *at) for column, at in mapping.columns.items() if column not in present]


def import_rows(mapping: Mapping, source: Iterator[Row], out: Writer,
                on_bad: Callable[[Row, str | None, str], None], strict: bool = False) -> ImportStats:
    """Every row to its events, written to out as a kefu event log in time order."""
    with tempfile.TemporaryDirectory(prefix="kefu-import-") as tmp:
        stats, lines = sort_events(mapping, source, on_bad, strict, Path(tmp))
        for line in lines:
            out.write(line)
    return stats


def sort_events(mapping: Mapping, source: Iterator[Row], on_bad: Callable[[Row, str | None, str], None],
                strict: bool, tmp: Path) -> tuple[ImportStats, Iterator[bytes]]:
    """Read every row now (the sort must see them all), in sorted runs spilled to tmp; return the
    counts and the log's lines, merged from the runs as they are read (tmp must outlive them)."""
    stats = ImportStats()
    runs: list[Path] = []
    batch: list[tuple[float, int, bytes]] = []
    for row in source:
        stats.read += 1
        try:
            if row.fault:
                raise BadRow(None, row.fault)
            events = row_events(mapping, row)
        except BadRow as bad:
            stats.skipped += 1
            on_bad(row, bad.column, bad.reason)
            if strict:
                break
            continue
        if not events:
            stats.skipped += 1
            on_bad(row, None, "no event of the mapping matches it")
            if strict:
                break
            continue
        stats.imported += 1
        for ts, event in events:
            stats.events += 1
            batch.append((ts, stats.events, orjson.dumps(event)))
        if len(batch) >= RUN:
            runs.append(_spill(sorted(batch), tmp, len(runs)))
            batch = []
    batch.sort()
    merged = heapq.merge(*([_read_run(path) for path in runs] + [iter(batch)]))
    return stats, (_with_ts(body, ts) for ts, _, body in merged)


def _with_ts(body: bytes, ts: float) -> bytes:
    """The event's JSON with its ts first, as RFC 3339 in UTC (whole seconds when whole)."""
    moment = datetime.fromtimestamp(ts, timezone.utc)
    text = moment.isoformat(timespec="seconds" if ts == int(ts) else "milliseconds").replace("+00:00", "Z")
    return b'{"ts":"' + text.encode() + b'",' + body[1:] + b"\n"


def _spill(batch: list[tuple[float, int, bytes]], tmp: Path, n: int) -> Path:
    path = tmp / f"run-{n}.bin"
    with open(path, "wb") as f:
        for ts, seq, body in batch:
            f.write(orjson.dumps([ts, seq]) + b"\t" + body + b"\n")
    return path


def _read_run(path: Path) -> Iterator[tuple[float, int, bytes]]:
    with open(path, "rb") as f:
        for line in f:
            key, body = line.rstrip(b"\n").split(b"\t", 1)
            ts, seq = orjson.loads(key)
            yield ts, seq, body


# ---- --guess: a starting mapping -------------------------------------------------------------------
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M",
                "%a %b %d %H:%M:%S %z %Y", "%a, %d %b %Y %H:%M:%S %z")   # Twitter's; RFC 2822 (mail, HTTP)
HINTS = {   # header words that say what a column is (lower case)
    "time": ("时间", "日期", "time", "date", "created", "timestamp", "ts"),
    "consumer": ("买家", "顾客", "客户", "用户", "buyer", "customer", "consumer", "user", "nick", "author"),
    "agent": ("客服", "坐席", "子账号", "agent", "staff", "server", "operator"),
    "text": ("内容", "消息", "text", "content", "message", "body"),
    "sender": ("发送方", "方向", "角色", "sender", "direction", "inbound", "from", "role"),
    "shop": ("店铺", "shop", "store", "company"),
}


def _time_format(values: list[str]) -> str | None:
    """The time format every non-empty sample value reads with, if any."""
    samples = [v for v in values if v]
    if not samples:
        return None
    for fmt in ("iso", *TIME_FORMATS, "epoch"):
        try:
            for v in samples:
                if fmt == "iso":
                    datetime.fromisoformat(v.replace("Z", "+00:00"))
                elif fmt == "epoch":
                    if not (v.replace(".", "", 1).isdigit() and 9 <= len(v.split(".")[0]) <= 10):
                        raise ValueError
                else:
                    datetime.strptime(v, fmt)
            return fmt
        except ValueError:
            continue
    return None


def _role(header: str, values: list[str]) -> str | None:
    name = header.lower()
    for role, words in HINTS.items():
        if any(w in name for w in words):
            return role
    return None


def guess_mapping(header: list[str], sample: list[Row], source: str) -> str:
    """A starting mapping for an export, from its columns and first rows: to read and edit, not to trust."""
    values = {h: [r.values.get(h, "").strip() for r in sample] for h in header}
    time_col = next((h for h in header if _time_format(values[h]) and _role(h, values[h]) == "time"), None) \
        or next((h for h in header if _time_format(values[h])), None)
    roles: dict[str, str] = {}
    for h in header:
        role = _role(h, values[h])
        if role and role != "time" and role not in roles.values():
            roles[h] = role
    by_role = {role: h for h, role in roles.items()}
    lines = [f"# A starting mapping for {source}, guessed from its columns and first {len(sample)} rows by",
             "# `kefu import --guess`: check every line (docs/import.md), then run",
             f"#   kefu import {source} --mapping THIS.yaml --out log.jsonl",
             f"# Columns: {', '.join(header)}"]
    if time_col is None:
        lines.append("time: {column: TODO, format: iso}   # no column reads as a time: name it and its format")
    else:
        fmt = _time_format(values[time_col])
        naive = fmt != "epoch" and "%z" not in str(fmt) and any(
            v and (fmt != "iso" or datetime.fromisoformat(v.replace("Z", "+00:00")).tzinfo is None)
            for v in values[time_col])
        zone = ", timezone: Asia/Shanghai" if naive else ""
        lines.append(f'time: {{column: {time_col}, format: "{fmt}"{zone}}}   # check the time zone')
    lines.append(f"shop: {{column: {by_role['shop']}}}" if "shop" in by_role else "shop: TODO   # the shop's id")
    sender = by_role.get("sender")
    distinct = sorted({v for v in values.get(sender, []) if v}) if sender else []
    who = {"consumer": by_role.get("consumer", "TODO"), "agent": by_role.get("agent", "TODO")}
    text = by_role.get("text")
    lines.append("events:")
    for kind in ("consumer", "agent"):
        guessed = [v for v in distinct if _looks_like(kind, v)] or ["TODO"]
        lines.append(f"  - when: {{column: {sender or 'TODO'}, in: [{', '.join(guessed)}]}}   # the rows of the {kind}")
        lines.append("    type: message")
        lines.append(f"    sender: {kind}")
        if kind == "agent":
            lines.append(f"    agent: {{column: {who['agent']}}}")
        lines.append(f"    consumer: {{column: {who['consumer']}}}")
        if text:
            lines.append(f"    text: {{column: {text}}}")
    if distinct:
        lines.append(f"# the values of {sender} seen: {', '.join(distinct)}")
    return "\n".join(lines) + "\n"


def _looks_like(kind: str, value: str) -> bool:
    words = {"consumer": ("买家", "顾客", "客户", "buyer", "customer", "true", "1", "in"),
             "agent": ("客服", "人工", "staff", "agent", "false", "2", "out")}[kind]
    return value.strip().lower() in words or any(w in value.lower() for w in words if len(w) > 1)


# ---- the mapping's JSON Schema (`kefu schema mapping`, docs/mapping.schema.json) -----------------------
_SCALAR = {"type": ["string", "number", "integer", "boolean", "null"]}
_DEFS: dict[str, Any] = {
    "scalar": _SCALAR,
    "column": {"type": "object", "additionalProperties": False,
               "oneOf": [{"required": ["column"]}, {"required": ["template"]}],
               "properties": {"column": {"type": "string"}, "template": {"type": "string"}, "map": {"type": "object"},
                              "default": {"$ref": "#/$defs/scalar"}}},
    "time": {"type": "object", "additionalProperties": False,
             "oneOf": [{"required": ["column"]}, {"required": ["template"]}],
             "properties": {"column": {"type": "string"}, "template": {"type": "string"},
                            "format": {"type": "string"}, "timezone": {"type": "string"}}},
    "own_time": {"type": "object", "additionalProperties": False,
                 "oneOf": [{"required": ["column"]}, {"required": ["template"]}],
                 "properties": {"column": {"type": "string"}, "template": {"type": "string"},
                                "format": {"type": "string"}, "timezone": {"type": "string"},
                                "rolls_over": {"type": "boolean"}}},
    "condition": {"type": "object", "additionalProperties": False, "required": ["column"],
                  "properties": {"column": {"type": "string"}, "in": {"type": "array"},
                                 "not_in": {"type": "array"}, "empty": {"type": "boolean"}}},
    "when": {"anyOf": [{"$ref": "#/$defs/condition"}, {"type": "array", "items": {"$ref": "#/$defs/condition"}}]},
    "key": {"type": "object", "additionalProperties": False, "required": ["column"],
            "properties": {"column": {"type": "string"}, "split": {"type": "string", "minLength": 1},
                           "integer": {"type": "boolean"}}},
    "lookup": {"type": "object", "additionalProperties": False, "required": ["lookup", "key"],
               "properties": {"lookup": {"type": "string"}, "key": {"$ref": "#/$defs/key"},
                              "default": {"$ref": "#/$defs/scalar"}}},
    "simple": {"anyOf": [{"$ref": "#/$defs/scalar"}, {"$ref": "#/$defs/column"}, {"$ref": "#/$defs/lookup"}]},
    "field": {"anyOf": [{"$ref": "#/$defs/simple"},
                        {"type": "object", "additionalProperties": False, "required": ["first_of"],
                         "properties": {"first_of": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/simple"}},
                                        "default": {"$ref": "#/$defs/scalar"}}}]},
}
MAPPING_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "kefu import mapping",
    "description": "How an export's columns become kefu events (docs/import.md).",
    "type": "object",
    "additionalProperties": False,
    "required": ["time", "events"],
    "properties": {
        "source": {"type": "object", "additionalProperties": False, "properties": {
            "format": {"enum": list(FORMATS)}, "delimiter": {"type": "string", "minLength": 1, "maxLength": 1},
            "encoding": {"type": "string"}, "records": {"type": "string"}, "sheet": {"type": ["string", "integer"]}}},
        "time": {"$ref": "#/$defs/time"},
        "shop": {"$ref": "#/$defs/field"},
        "lookups": {"type": "object", "additionalProperties": {
            "type": "object", "additionalProperties": False, "required": ["key", "value"],
            "properties": {"key": {"$ref": "#/$defs/key"}, "value": {"type": "string"},
                           "when": {"$ref": "#/$defs/when"}}}},
        "events": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["type"],
            "properties": {**{name: {"$ref": "#/$defs/field"} for name in EVENT_FIELDS},
                           "ts": {"$ref": "#/$defs/own_time"}, "when": {"$ref": "#/$defs/when"}}}},
    },
    "$defs": _DEFS,
}
