"""`kefu import`: desk exports into kefu event logs by a mapping file (docs/import.md)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from cli_helpers import kefu

ROOT = Path(__file__).resolve().parent.parent
QIANNIU = ROOT / "rulesets" / "imports" / "qianniu.yaml"
OPEN_API = ROOT / "rulesets" / "imports" / "open-api.yaml"
TAOBAO_SHOP = ROOT / "rulesets" / "examples" / "taobao-apparel.kefu"


def _events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_qianniu_sample_gb18030_imports_and_replays(tmp_path):
    out = tmp_path / "day.jsonl"
    result = kefu("import", ROOT / "samples" / "qianniu-export.csv", "--mapping", QIANNIU, "--out", out)
    assert result.exit_code == 0, result.output
    # 7 rows: 6 messages of a consumer, an agent or the robot; the 系统 row matches no event
    assert result.stderr.splitlines()[-1].endswith(": 7 rows read = 6 imported + 1 skipped; 6 events written to " + str(out))
    events = _events(out)
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)
    assert events[0] == {"ts": "2026-11-11T01:00:05Z", "type": "message", "sender": "consumer", "consumer": "tb_张三",
                         "text": "这件有M码吗", "page": "product_detail", "shop": "yishang-apparel"}
    report = json.loads(kefu("replay", TAOBAO_SHOP, "--events", out, "--format", "json").stdout)
    # Taobao 3 minutes: 张三 answered by lin in 65 s, 李四 by the robot in 20 s, 王五 by he in 10 min: 2 of 3
    (row,) = report["metrics"]
    assert (row["eligible"], row["met"]) == (3, 2)


def test_the_open_api_sample_json_imports(tmp_path):
    out = tmp_path / "log.jsonl.gz"
    result = kefu("import", ROOT / "samples" / "open-api-records.json", "--mapping", OPEN_API, "--out", out)
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in gzip.decompress(out.read_bytes()).splitlines()]
    assert [(e["sender"], e["consumer"]) for e in events] == [
        ("consumer", "tb_张三"), ("agent", "tb_张三"), ("consumer", "tb_王五"), ("agent", "tb_王五")]
    report = json.loads(kefu("replay", TAOBAO_SHOP, "--events", out, "--format", "json").stdout)
    (row,) = report["metrics"]
    assert (row["eligible"], row["met"]) == (2, 1)   # 张三 in 65 s, 王五 in 10 min


MAPPING = """time: {column: 时间, format: "%Y-%m-%d %H:%M:%S", timezone: Asia/Shanghai}
shop: s
events:
  - when: {column: 方向, in: [买家]}
    type: message
    sender: consumer
    consumer: {column: 买家}
  - when: {column: 方向, in: [客服]}
    type: message
    sender: {column: 角色, map: {人工: agent, 机器人: robot}}
    agent: {column: 客服}
    consumer: {column: 买家}
"""


def _files(tmp_path, rows, mapping=MAPPING, encoding="utf-8"):
    (tmp_path / "map.yaml").write_text(mapping, encoding="utf-8")
    (tmp_path / "x.csv").write_bytes(("时间,方向,买家,客服,角色\n" + "".join(r + "\n" for r in rows)).encode(encoding))
    return tmp_path / "x.csv", tmp_path / "map.yaml"


def test_rows_are_sorted_by_time_even_past_memory(tmp_path, monkeypatch):
    import engine.importer

    rows = [f"2026-11-11 09:{m:02d}:00,买家,c{m},," for m in (5, 1, 4, 2, 3)]
    source, mapping = _files(tmp_path, rows)
    assert kefu("import", source, "-m", mapping, "-o", tmp_path / "a.jsonl").exit_code == 0
    monkeypatch.setattr(engine.importer, "RUN", 2)   # sorted runs of two, merged from disk
    assert kefu("import", source, "-m", mapping, "-o", tmp_path / "b.jsonl").exit_code == 0
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert [e["consumer"] for e in _events(tmp_path / "a.jsonl")] == ["c1", "c2", "c3", "c4", "c5"]


def test_bad_rows_are_located_counted_and_skipped(tmp_path):
    rows = ["2026-11-11 09:00:00,买家,c1,,", "9点,买家,c2,,", "2026-11-11 09:01:00,客服,c1,amy,主管",
            "2026-11-11 09:02:00,客服,c1,amy,人工"]
    source, mapping = _files(tmp_path, rows)
    result = kefu("import", source, "-m", mapping, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"{source.as_posix()}:3: column '时间': skipped: '9点' is not a time of format %Y-%m-%d %H:%M:%S",
        f"{source.as_posix()}:4: column '角色': skipped: '主管' is not one of the values `map` lists for sender",
        f"{source.as_posix()}: 4 rows read = 2 imported + 2 skipped; 2 events written to {tmp_path / 'out.jsonl'}"]
    assert [e["sender"] for e in _events(tmp_path / "out.jsonl")] == ["consumer", "agent"]
    strict = kefu("import", source, "-m", mapping, "-o", tmp_path / "strict.jsonl", "--strict")
    assert strict.exit_code == 1 and not (tmp_path / "strict.jsonl").exists()


def test_a_column_the_export_lacks_is_a_located_error_in_the_mapping(tmp_path):
    source, mapping = _files(tmp_path, ["2026-11-11 09:00:00,买家,c1,,"], MAPPING.replace("{column: 买家}", "{column: 顾客}"))
    result = kefu("import", source, "-m", mapping, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 1 and not (tmp_path / "out.jsonl").exists()
    assert result.stderr.startswith(f"{mapping.as_posix()}:7:16: error: {source.as_posix()} has no column '顾客' "
                                    "(its columns: 时间, 方向, 买家, 客服, 角色)")


def test_mapping_mistakes_are_located(tmp_path):
    cases = [
        (MAPPING.replace("events:", "evnets:"), "map.yaml:3:1: error: unknown key 'evnets'"),
        (MAPPING.replace(", timezone: Asia/Shanghai", ""), "map.yaml:1:1: error: a time without an offset needs `timezone`"),
        (MAPPING.replace("    type: message\n    sender: consumer", "    sender: consumer", 1),
         "map.yaml:4:5: error: an event needs a `type`"),
        ("time: !!python/object/apply:os.system ['touch pwned']\nevents: []\n", "map.yaml:1:1: error: `time` is"),
    ]
    for text, message in cases:
        source, mapping = _files(tmp_path, ["2026-11-11 09:00:00,买家,c1,,"], text)
        result = kefu("import", source, "-m", mapping, "-o", tmp_path / "out.jsonl")
        assert result.exit_code == 1, (text, result.output)
        assert message in result.stderr, (message, result.stderr)
    assert not Path("pwned").exists()


def test_gb18030_is_detected_and_an_encoding_can_be_given(tmp_path):
    source, mapping = _files(tmp_path, ["2026-11-11 09:00:00,买家,张三,,"], encoding="gb18030")
    assert kefu("import", source, "-m", mapping, "-o", tmp_path / "a.jsonl").exit_code == 0
    assert _events(tmp_path / "a.jsonl")[0]["consumer"] == "张三"
    wrong = kefu("import", source, "-m", mapping, "-o", tmp_path / "b.jsonl", "--encoding", "utf-8")
    assert wrong.exit_code == 2 and "cannot" in wrong.stderr


def test_an_excel_export_by_sheet_name(tmp_path):
    from datetime import datetime

    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "说明"
    book.active.append(["this sheet is not the chats"])
    sheet = book.create_sheet("聊天记录")
    sheet.append(["时间", "方向", "买家", "客服", "角色"])
    sheet.append([datetime(2026, 11, 11, 9, 1), "客服", "c1", "amy", "人工"])   # a date cell
    sheet.append(["2026-11-11 09:00:00", "买家", "c1", None, None])           # a text cell
    book.save(tmp_path / "x.xlsx")
    mapping = tmp_path / "map.yaml"
    mapping.write_text("source: {sheet: 聊天记录}\n" + MAPPING, encoding="utf-8")
    result = kefu("import", tmp_path / "x.xlsx", "-m", mapping, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.output
    assert [(e["ts"], e["sender"]) for e in _events(tmp_path / "out.jsonl")] == [
        ("2026-11-11T01:00:00Z", "consumer"), ("2026-11-11T01:01:00Z", "agent")]
    mapping.write_text("source: {sheet: 没有}\n" + MAPPING, encoding="utf-8")
    missing = kefu("import", tmp_path / "x.xlsx", "-m", mapping, "-o", tmp_path / "out2.jsonl")
    assert missing.exit_code == 2 and "no sheet '没有' (its sheets: 说明, 聊天记录)" in missing.stderr


def test_guess_prints_a_mapping_that_imports_the_sample(tmp_path):
    guessed = kefu("import", "--guess", ROOT / "samples" / "qianniu-export.csv")
    assert guessed.exit_code == 0, guessed.output
    text = guessed.stdout
    # the time column read as ISO without an offset (so a time zone to check), the sender column's
    # values split by who writes, the id and text columns by their Chinese headers
    assert 'time: {column: 时间, format: "iso", timezone: Asia/Shanghai}' in text
    assert "  - when: {column: 发送方, in: [买家]}" in text and "  - when: {column: 发送方, in: [客服]}" in text
    assert "# the values of 发送方 seen: 买家, 客服, 店小蜜, 系统" in text
    (tmp_path / "guess.yaml").write_text(text, encoding="utf-8")
    result = kefu("import", ROOT / "samples" / "qianniu-export.csv", "-m", tmp_path / "guess.yaml",
                  "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.output
    # the robot's and the system's rows match no guessed event: 5 of 7 rows imported
    assert "7 rows read = 5 imported + 2 skipped" in result.stderr
    assert kefu("import", ROOT / "samples" / "qianniu-export.csv").exit_code == 2   # neither --guess nor a mapping


def test_the_mapping_schema_is_exported_and_the_templates_follow_it():
    import jsonschema
    from ruamel.yaml import YAML

    shipped = json.loads((ROOT / "docs" / "mapping.schema.json").read_text(encoding="utf-8"))
    assert json.loads(kefu("schema", "mapping").stdout) == shipped
    for template in sorted((ROOT / "rulesets" / "imports").glob("*.yaml")):
        jsonschema.validate(YAML(typ="safe").load(template.read_text(encoding="utf-8")), shipped)
    with __import__("pytest").raises(jsonschema.ValidationError):
        jsonschema.validate({"time": {"column": "t"}, "events": [{"sender": "consumer"}]}, shipped)   # no type


def test_default_null_leaves_an_unmapped_field_out(tmp_path):
    mapping = MAPPING.replace("    consumer: {column: 买家}\n  - when", "    consumer: {column: 买家}\n"
                              "    page: {column: 角色, map: {首页: shop_home}, default: null}\n  - when", 1)
    source, mapping_file = _files(tmp_path, ["2026-11-11 09:00:00,买家,c1,,", "2026-11-11 09:00:01,买家,c2,,首页"], mapping)
    assert kefu("import", source, "-m", mapping_file, "-o", tmp_path / "out.jsonl").exit_code == 0
    assert [e.get("page") for e in _events(tmp_path / "out.jsonl")] == [None, "shop_home"]


def test_guess_reads_twitter_times_with_their_offset(tmp_path):
    (tmp_path / "tweets.csv").write_text(
        "tweet_id,author_id,inbound,created_at,text\n"
        "1,sprintcare,False,Tue Oct 31 22:10:47 +0000 2017,@115712 hello\n"
        "2,115712,True,Tue Oct 31 22:11:45 +0800 2017,@sprintcare hi\n", encoding="utf-8")
    guessed = kefu("import", "--guess", tmp_path / "tweets.csv")
    assert guessed.exit_code == 0, guessed.output
    assert 'time: {column: created_at, format: "%a %b %d %H:%M:%S %z %Y"}' in guessed.stdout   # no timezone: the offset says
    mapping = guessed.stdout.replace("shop: TODO", "shop: sprint").replace("agent: {column: TODO}", "agent: {column: author_id}")
    (tmp_path / "m.yaml").write_text(mapping, encoding="utf-8")
    result = kefu("import", tmp_path / "tweets.csv", "-m", tmp_path / "m.yaml", "-o", tmp_path / "o.jsonl")
    assert result.exit_code == 0, result.output
    # 22:11:45 at +08:00 is 14:11:45 UTC, before the other tweet's 22:10:47 UTC
    assert [(e["ts"], e["sender"]) for e in _events(tmp_path / "o.jsonl")] == [
        ("2017-10-31T14:11:45Z", "consumer"), ("2017-10-31T22:10:47Z", "agent")]


def test_an_event_without_a_field_its_type_needs_is_a_bad_row(tmp_path):
    source, mapping = _files(tmp_path, ["2026-11-11 09:00:00,买家,,,",            # a consumer message, no consumer
                                        "2026-11-11 09:00:01,客服,c1,,人工",       # an agent's message, no agent
                                        "2026-11-11 09:00:02,买家,c1,,"], MAPPING)
    result = kefu("import", source, "-m", mapping, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.output
    assert "x.csv:2: column '买家': skipped: no consumer: the column is empty" in result.stderr
    assert "x.csv:3: column '客服': skipped: no agent: the column is empty" in result.stderr
    assert [e["consumer"] for e in _events(tmp_path / "out.jsonl")] == ["c1"]


def test_replay_imports_an_export_by_its_mapping(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))   # where the sorted runs go
    result = kefu("replay", TAOBAO_SHOP, "--events", ROOT / "samples" / "qianniu-export.csv",
                  "--mapping", QIANNIU, "--format", "json")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1].endswith(": 7 rows read = 6 imported + 1 skipped; 6 events to the replay")
    (row,) = json.loads(result.stdout)["metrics"]
    assert (row["eligible"], row["met"]) == (3, 2)   # as imported then replayed (the test above)
    assert list(tmp_path.iterdir()) == []   # the runs are gone once the replay has read them
    # streamed straight into the replay, the report is the one of the imported log replayed
    assert kefu("import", ROOT / "samples" / "qianniu-export.csv", "-m", QIANNIU, "-o", tmp_path / "log.jsonl").exit_code == 0
    replayed = kefu("replay", TAOBAO_SHOP, "--events", tmp_path / "log.jsonl", "--format", "json").stdout
    assert json.loads(replayed)["metrics"] == json.loads(result.stdout)["metrics"]


def test_a_platform_replay_imports_by_its_mapping_and_many_policies_refuse_one(tmp_path):
    export = ROOT / "samples" / "qianniu-export.csv"
    result = kefu("replay", "--platform", "taobao", "--events", export, "--mapping", QIANNIU, "--format", "json")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1].endswith(": 7 rows read = 6 imported + 1 skipped; 6 events to the replay")
    assert json.loads(result.stdout)["events"]["accepted"] == 6
    refused = kefu("replay", "--policies", ROOT / "rulesets" / "examples", "--events", export, "--mapping", QIANNIU)
    assert refused.exit_code == 2 and "with --policies, import it first" in refused.stderr


def test_replay_streams_a_large_import_merged_from_several_runs(tmp_path, monkeypatch):
    import engine.importer as importer

    monkeypatch.setattr(importer, "RUN", 2)   # 6 events: three runs on disk, merged as the replay reads
    result = kefu("replay", TAOBAO_SHOP, "--events", ROOT / "samples" / "qianniu-export.csv",
                  "--mapping", QIANNIU, "--format", "json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["metrics"]
    assert (row["eligible"], row["met"]) == (3, 2) and json.loads(result.stdout)["events"]["accepted"] == 6


# ---- the real call-centre month (read from ../shared/data/real when it is there; never committed) --------
REAL = ROOT.parent / "shared" / "data" / "real"
CALL_CENTRE = """platform callcentre "a bank call centre"
timezone Asia/Shanghai
pages phone "电话"
senders agent "坐席"
metric answered_180s "180秒接通率" {
  unit question
  window 00:00-24:00
  deadline 3m
  clock starts at question
  effective agent
}
allow queue, session_end
default assign by least_loaded ties first
"""


def _answered_within_180s(csv_path: Path) -> dict[str, list[int]]:
    """Independent of kefu: per date, queued calls and those whose service started within 180 s of
    entering the queue (times are the row's date with its clock times, as the mapping reads them; a
    service clock time more than 12 h before the queue entry is past midnight, on the next day)."""
    import csv
    from datetime import datetime, timedelta

    per_day: dict[str, list[int]] = {}
    with open(csv_path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["q_start"] == "0:00:00":
                continue
            asked = datetime.strptime(f"{row['date']} {row['q_start']}", "%Y-%m-%d %H:%M:%S")
            day = per_day.setdefault(asked.date().isoformat(), [0, 0])
            day[0] += 1
            if row["server"] != "NO_SERVER" and row["ser_start"] != "0:00:00":
                served = datetime.strptime(f"{row['date']} {row['ser_start']}", "%Y-%m-%d %H:%M:%S")
                if (asked - served).total_seconds() > 12 * 3600:   # service started after midnight
                    served += timedelta(days=1)
                day[1] += 0 <= (served - asked).total_seconds() <= 180
    return per_day


def test_the_bank_month_imports_and_replays_to_the_independent_count(tmp_path):
    import pytest

    files = [REAL / "callcentre_anonbank_one_day.csv", REAL / "callcentre_anonbank_august.csv"]
    if not all(f.exists() for f in files):
        pytest.skip("the real data is not beside the repository")
    (tmp_path / "plat").mkdir()
    (tmp_path / "plat" / "callcentre.kefu").write_text(CALL_CENTRE, encoding="utf-8")
    for source in files:
        log = tmp_path / f"{source.stem}.jsonl"
        result = kefu("import", source, "-m", ROOT / "rulesets" / "imports" / "anonbank.yaml", "-o", log)
        assert result.exit_code == 0, result.output
        report = json.loads(kefu("replay", "--platform", "callcentre", "--platform-dir", tmp_path / "plat",
                                 "--events", log, "--format", "json").stdout)
        assert report["events"]["rejected"] == 0
        engine = {row["date"]: [row["eligible"], row["met"]] for row in report["metrics"]}
        assert engine == _answered_within_180s(source)   # every day (31 in August: 26,011 calls, 13,789 in time)


def test_mutated_exports_and_mappings_never_end_in_a_traceback(tmp_path, monkeypatch):
    """A seeded fuzzer: bytes cut, copied or inserted (quotes, NUL, a BOM, bad times) in the sample
    export, and characters put into its mapping (flow brackets, tags, anchors, a template reaching
    for an attribute); `kefu` (the in-process runner) fails the test on any traceback."""
    import random

    monkeypatch.chdir(tmp_path)
    rng = random.Random(7)
    export = (ROOT / "samples" / "qianniu-export.csv").read_bytes()
    mapping = QIANNIU.read_text(encoding="utf-8")
    inserts = [b",", b"\r\n", b'"', b"\x00", b"\xff\xfe", "时间".encode("gb18030"), b"9999-99-99 99:99:99"]
    words = ["{", "}", "[", ":", "\n", " ", "column: x", "!!python/object ", "&a ", "*a", 'template: "{a.__class__}"']
    for _ in range(120):
        data, text = bytearray(export), mapping
        for _ in range(rng.randint(0, 4)):
            i = rng.randrange(len(data))
            op = rng.randrange(3)
            if op == 0:
                del data[i:i + rng.randint(1, 8)]
            elif op == 1:
                data[i:i] = rng.choice(inserts)
            else:
                data[i:i] = bytes(data[rng.randrange(len(data)):][:20])
        for _ in range(rng.randint(0, 3)):
            i = rng.randrange(len(text))
            text = text[:i] + rng.choice(words) + text[i:]
        Path("x.csv").write_bytes(bytes(data))
        Path("m.yaml").write_text(text, encoding="utf-8")
        assert kefu("import", "x.csv", "-m", "m.yaml", "-o", "o.jsonl").exit_code in (0, 1, 2)
        assert kefu("import", "--guess", "x.csv").exit_code in (0, 2)


def _twitter_by_hand(csv_path: Path) -> dict[tuple[str, str], int]:
    """Independent of kefu: messages per (company, sender) as the mapping describes them — a consumer's
    tweet belongs to the company whose tweet it replies to, else the first company that replies to it;
    a company's tweet counts when it replies to a consumer's tweet."""
    import csv

    with open(csv_path, encoding="utf-8", newline="") as f:
        # a line of the wrong width (a bare carriage return splits tweet 3399) is a bad row, as in kefu
        tweets = [t for t in csv.DictReader(f) if None not in t and None not in t.values()]

    def ids(text: str) -> list[str]:
        return [str(int(float(part))) for part in (text or "").split(",") if part.strip()]

    company = {t["tweet_id"]: t["author_id"] for t in tweets if t["inbound"] == "False"}
    consumer = {t["tweet_id"] for t in tweets if t["inbound"] == "True"}
    counts: dict[tuple[str, str], int] = {}
    for t in tweets:
        if t["inbound"] == "True":
            shop = next((company[i] for i in ids(t["in_response_to_tweet_id"]) + ids(t["response_tweet_id"])
                         if i in company), None)
            key = (shop, "consumer") if shop else None
        else:
            key = (t["author_id"], "agent") if any(i in consumer for i in ids(t["in_response_to_tweet_id"])) else None
        if key:
            counts[key] = counts.get(key, 0) + 1
    return counts


TWITTER = """platform twitter "Twitter support desks"
timezone UTC
pages timeline "timeline"
senders agent "company account"
metric reply_1h "1-hour consumer-day rate" {
  unit consumer_day
  window 00:00-24:00
  deadline 1h
  clock starts at first_question
  effective agent
}
allow queue, session_end
default assign by least_loaded ties first
"""


def _twitter_1h_by_hand(csv_path: Path) -> dict[str, tuple[int, int]]:
    """Independent of kefu: per company, consumer-days (UTC) and those whose first tweet of the day to
    the company has a reply from it to that consumer within the hour (without `natural day` the hour
    may run past midnight: docs/language.md)."""
    import csv
    from datetime import datetime, timedelta

    with open(csv_path, encoding="utf-8", newline="") as f:
        # a line of the wrong width (a bare carriage return splits tweet 3399) is a bad row, as in kefu
        tweets = [t for t in csv.DictReader(f) if None not in t and None not in t.values()]

    def ids(text: str | None) -> list[str]:
        return [str(int(float(part))) for part in (text or "").split(",") if part.strip()]

    def at(tweet: dict) -> datetime:
        return datetime.strptime(tweet["created_at"], "%a %b %d %H:%M:%S %z %Y")

    company = {t["tweet_id"]: t["author_id"] for t in tweets if t["inbound"] == "False"}
    consumer = {t["tweet_id"]: t["author_id"] for t in tweets if t["inbound"] == "True"}
    first_asked: dict[tuple, datetime] = {}
    replies: dict[tuple[str, str], list[datetime]] = {}
    for t in tweets:
        if t["inbound"] == "True":
            shop = next((company[i] for i in ids(t["in_response_to_tweet_id"]) + ids(t["response_tweet_id"])
                         if i in company), None)
            if shop:
                key = (shop, t["author_id"], at(t).date())
                first_asked[key] = min(first_asked.get(key, at(t)), at(t))
        else:
            asker = next((consumer[i] for i in ids(t["in_response_to_tweet_id"]) if i in consumer), None)
            if asker:
                replies.setdefault((t["author_id"], asker), []).append(at(t))
    out: dict[str, tuple[int, int]] = {}
    for (shop, asker, _day), first in first_asked.items():
        met = any(first <= r <= first + timedelta(hours=1) for r in replies.get((shop, asker), ()))
        eligible, met_before = out.get(shop, (0, 0))
        out[shop] = (eligible + 1, met_before + met)
    return out


def test_the_twitter_corpus_imports_each_tweet_to_its_company(tmp_path):
    import pytest

    source = REAL / "twitter_support_head5000.csv"
    if not source.exists():
        pytest.skip("the real data is not beside the repository")
    log = tmp_path / "twcs.jsonl"
    result = kefu("import", source, "-m", ROOT / "rulesets" / "imports" / "twcs.yaml", "-o", log)
    assert result.exit_code == 0, result.output
    counts: dict[tuple[str, str], int] = {}
    for event in _events(log):
        counts[(event["shop"], event["sender"])] = counts.get((event["shop"], event["sender"]), 0) + 1
    assert counts == _twitter_by_hand(source)
    # every imported line is a valid event for a replay of every company at once
    (tmp_path / "plat").mkdir()
    (tmp_path / "plat" / "callcentre.kefu").write_text(CALL_CENTRE, encoding="utf-8")
    report = json.loads(kefu("replay", "--platform", "callcentre", "--platform-dir", tmp_path / "plat",
                             "--events", log, "--format", "json").stdout)
    assert report["events"]["rejected"] == 0 and report["events"]["accepted"] == sum(counts.values())
    assert len(report["shops"]) == len({shop for shop, _ in counts})
    # and the per-company 1-hour consumer-day rate equals the count made from the CSV
    (tmp_path / "plat" / "twitter.kefu").write_text(TWITTER, encoding="utf-8")
    report = json.loads(kefu("replay", "--platform", "twitter", "--platform-dir", tmp_path / "plat",
                             "--events", log, "--format", "json").stdout)
    per_company = {s["shop"]: (s["metrics"]["reply_1h"]["eligible"], s["metrics"]["reply_1h"]["met"])
                   for s in report["shops"]}
    by_hand = _twitter_1h_by_hand(source)
    assert per_company == by_hand
    assert len(by_hand) == 76 and sum(e for e, _ in by_hand.values()) == 1654 and sum(m for _, m in by_hand.values()) == 1148


JOIN_MAPPING = """time: {column: t, format: "%Y-%m-%d %H:%M:%S %z"}
lookups:
  company_post: {key: {column: id}, value: who, when: {column: side, in: [company]}}
  buyer_post: {key: {column: id}, value: who, when: {column: side, in: [buyer]}}
events:
  - when: {column: side, in: [buyer]}
    type: message
    sender: consumer
    consumer: {column: who}
    shop:
      first_of:
        - {lookup: company_post, key: {column: reply_to, integer: true}}
        - {lookup: company_post, key: {column: replies, split: ",", integer: true}}
  - when: {column: side, in: [company]}
    type: message
    sender: agent
    agent: {column: who}
    shop: {column: who}
    consumer: {lookup: buyer_post, key: {column: reply_to, integer: true}}
"""
# Post 1 (ann) is answered by 2 (acme) and 3 (zeta): its shop is the first company that answers (acme).
# Post 4 (bob) replies to 3 (written 3.0): zeta. Post 5 (acme) answers nobody's post: no consumer,
# skipped. Post 6 (cat) is answered by no company: no shop, skipped.
JOIN_ROWS = """id,who,side,t,reply_to,replies
1,ann,buyer,2026-01-05 09:00:00 +0000,,"2.0,3"
2,acme,company,2026-01-05 09:01:00 +0000,1,
3,zeta,company,2026-01-05 09:02:00 +0000,1.0,4
4,bob,buyer,2026-01-05 09:03:00 +0000,3.0,
5,acme,company,2026-01-05 09:04:00 +0000,,
6,cat,buyer,2026-01-05 09:05:00 +0000,,
"""


def test_a_line_of_the_wrong_width_is_a_bad_row_and_feeds_no_lookup(tmp_path):
    (tmp_path / "m.yaml").write_text(JOIN_MAPPING, encoding="utf-8")
    # post 1's line is cut by a bare carriage return: its first part has 4 fields, the rest 3
    broken = JOIN_ROWS.replace('1,ann,buyer,2026-01-05 09:00:00 +0000,,"2.0,3"', "1,ann,buyer,2026-01-05 09:00:00\r +0000,,")
    (tmp_path / "posts.csv").write_bytes(broken.encode("utf-8"))
    result = kefu("import", tmp_path / "posts.csv", "-m", tmp_path / "m.yaml", "-o", tmp_path / "o.jsonl")
    assert "posts.csv:2: skipped: the line has 4 fields, the header 6" in result.stderr
    assert "posts.csv:3: skipped: the line has 3 fields, the header 6" in result.stderr
    # post 1 is not in the buyers' table, so acme's and zeta's answers to it have no consumer
    assert "posts.csv:4: column 'reply_to': skipped: no consumer: lookup 'buyer_post' finds no row for 1" in result.stderr
    got = [(e["shop"], e["sender"], e["consumer"]) for e in _events(tmp_path / "o.jsonl")]
    assert got == [("zeta", "consumer", "bob")]
    assert result.stderr.splitlines()[-1].endswith("7 rows read = 1 imported + 6 skipped; 1 events written to "
                                                   + str(tmp_path / "o.jsonl"))


def test_lookups_join_rows_to_the_rows_they_answer(tmp_path):
    (tmp_path / "m.yaml").write_text(JOIN_MAPPING, encoding="utf-8")
    (tmp_path / "posts.csv").write_text(JOIN_ROWS, encoding="utf-8")
    result = kefu("import", tmp_path / "posts.csv", "-m", tmp_path / "m.yaml", "-o", tmp_path / "o.jsonl")
    assert result.exit_code == 0, result.output
    got = [(e["ts"][11:16], e["shop"], e["sender"], e.get("consumer"), e.get("agent")) for e in _events(tmp_path / "o.jsonl")]
    assert got == [("09:00", "acme", "consumer", "ann", None), ("09:01", "acme", "agent", "ann", "acme"),
                   ("09:02", "zeta", "agent", "ann", "zeta"), ("09:03", "zeta", "consumer", "bob", None)]
    assert "posts.csv:6: column 'reply_to': skipped: no consumer: lookup 'buyer_post' finds an empty key" in result.stderr
    assert "posts.csv:7: skipped: no shop: none of its `first_of` choices gives a value" in result.stderr
    assert result.stderr.splitlines()[-1].endswith("6 rows read = 4 imported + 2 skipped; 4 events written to "
                                                   + str(tmp_path / "o.jsonl"))


def test_a_lookup_not_declared_is_located_with_a_suggestion(tmp_path):
    (tmp_path / "m.yaml").write_text(JOIN_MAPPING.replace("{lookup: buyer_post", "{lookup: buyer_pots"), encoding="utf-8")
    (tmp_path / "posts.csv").write_text(JOIN_ROWS, encoding="utf-8")
    result = kefu("import", tmp_path / "posts.csv", "-m", tmp_path / "m.yaml", "-o", tmp_path / "o.jsonl")
    assert result.exit_code == 1, result.output   # the mapping has errors
    assert "m.yaml:19:16: error: no lookup 'buyer_pots'" in result.stderr and "did you mean 'buyer_post'?" in result.stderr
    assert not (tmp_path / "o.jsonl").exists()


ROLL_MAPPING = """time: {template: "{date} {asked}", format: "%Y-%m-%d %H:%M:%S", timezone: UTC}
shop: bank
events:
  - {type: message, sender: consumer, consumer: {column: call}}
  - type: message
    sender: agent
    agent: a1
    consumer: {column: call}
    ts: {template: "{date} {served}", format: "%Y-%m-%d %H:%M:%S", timezone: UTC, rolls_over: true}
"""


def test_an_own_time_past_midnight_rolls_over_to_the_next_day(tmp_path):
    (tmp_path / "m.yaml").write_text(ROLL_MAPPING, encoding="utf-8")
    # c1 is served 50 s after midnight; c2's service clock is 1 s before its queue entry (skew: stays)
    (tmp_path / "calls.csv").write_text("call,date,asked,served\nc1,2010-08-02,23:59:30,0:00:20\n"
                                        "c2,2010-08-02,14:00:05,14:00:04\n", encoding="utf-8")
    result = kefu("import", tmp_path / "calls.csv", "-m", tmp_path / "m.yaml", "-o", tmp_path / "o.jsonl")
    assert result.exit_code == 0, result.output
    got = [(e["consumer"], e["sender"], e["ts"]) for e in _events(tmp_path / "o.jsonl")]
    assert got == [("c2", "agent", "2010-08-02T14:00:04Z"), ("c2", "consumer", "2010-08-02T14:00:05Z"),
                   ("c1", "consumer", "2010-08-02T23:59:30Z"), ("c1", "agent", "2010-08-03T00:00:20Z")]
    # the row's own `time` has nothing to roll over from
    (tmp_path / "m.yaml").write_text(ROLL_MAPPING.replace("timezone: UTC}\nshop", "timezone: UTC, rolls_over: true}\nshop"),
                                     encoding="utf-8")
    result = kefu("import", tmp_path / "calls.csv", "-m", tmp_path / "m.yaml", "-o", tmp_path / "o2.jsonl")
    assert result.exit_code == 1 and "m.yaml:1:" in result.stderr and "rolls_over" in result.stderr


def test_bad_records_and_exports_are_located_never_a_traceback(tmp_path):
    (tmp_path / "m.yaml").write_text("time: {column: t, format: epoch}\nshop: x\n"
                                     "events: [{type: message, sender: consumer, consumer: {column: id}}]\n", encoding="utf-8")
    (tmp_path / "e.csv").write_text("id,t\n1,1e20\n2,1700000000\n3,nan\n4,1700000000000\n", encoding="utf-8")
    result = kefu("import", tmp_path / "e.csv", "-m", tmp_path / "m.yaml", "-o", tmp_path / "o.jsonl")
    assert result.exit_code == 0, result.output
    assert "e.csv:2: column 't': skipped: '1e20' is out of range for epoch seconds" in result.stderr
    assert "e.csv:4: column 't': skipped: 'nan' is out of range" in result.stderr
    assert "e.csv:5: column 't': skipped: '1700000000000' is out of range for epoch seconds (milliseconds?" in result.stderr
    assert [e["consumer"] for e in _events(tmp_path / "o.jsonl")] == ["2"]
    # JSON Lines: a line that is not JSON, and a record that is not an object, are bad rows, counted
    (tmp_path / "r.jsonl").write_text('{"id": 1, "t": 1700000000}\n{bad\n[1, 2]\n', encoding="utf-8")
    result = kefu("import", tmp_path / "r.jsonl", "-m", tmp_path / "m.yaml", "-o", tmp_path / "o2.jsonl")
    assert "r.jsonl:2: skipped: not JSON" in result.stderr and "r.jsonl:3: skipped: the record is a JSON list" in result.stderr
    assert result.stderr.splitlines()[-1].endswith("3 rows read = 1 imported + 2 skipped; 1 events written to "
                                                   + str(tmp_path / "o2.jsonl"))
    # an .xlsx that is not a workbook, and a CSV field past the csv module's limit: plain messages, exit 2
    (tmp_path / "b.xlsx").write_bytes(b"not a zip")
    result = kefu("import", tmp_path / "b.xlsx", "-m", tmp_path / "m.yaml", "-o", tmp_path / "o3.jsonl")
    assert result.exit_code == 2 and "not an Excel workbook" in result.stderr
    (tmp_path / "big.csv").write_text("id,t\n1," + "9" * 200_000 + "\n", encoding="utf-8")
    result = kefu("import", tmp_path / "big.csv", "-m", tmp_path / "m.yaml", "-o", tmp_path / "o4.jsonl")
    assert result.exit_code == 2 and "big.csv: line 2: field larger than field limit" in result.stderr


def test_a_mapping_setting_that_is_not_true_or_false_or_a_condition_of_two_tests_is_an_error(tmp_path):
    (tmp_path / "e.csv").write_text("id,t,s\n1,1700000000,a\n", encoding="utf-8")
    base = "time: {column: t, format: epoch}\nshop: x\nevents:\n  - type: message\n    sender: consumer\n" \
           "    consumer: {column: id}\n"
    cases = {"when: [{column: s, in: [a], not_in: [b]}]": "this one has in, not_in",
             "when: {column: s}": "this one has none"}
    for when, message in cases.items():
        (tmp_path / "m.yaml").write_text(base + "    " + when + "\n", encoding="utf-8")
        result = kefu("import", tmp_path / "e.csv", "-m", tmp_path / "m.yaml", "-o", tmp_path / "o.jsonl")
        assert result.exit_code == 1 and message in result.stderr, (when, result.stderr)
    (tmp_path / "m.yaml").write_text(
        "time: {column: t, format: epoch}\nshop: x\nevents:\n  - type: message\n    sender: consumer\n"
        "    consumer: {column: id}\n    ts: {column: t, format: epoch, rolls_over: \"no\"}\n", encoding="utf-8")
    result = kefu("import", tmp_path / "e.csv", "-m", tmp_path / "m.yaml", "-o", tmp_path / "o.jsonl")
    assert result.exit_code == 1 and "m.yaml:7:" in result.stderr and "`rolls_over` is true or false, not 'no'" in result.stderr


def test_a_mapping_may_give_a_calls_priority_as_a_whole_number(tmp_path):
    source = tmp_path / "calls.csv"
    source.write_text("when,caller,prio\n2026-11-11 09:00:00,c1,2\n2026-11-11 09:01:00,c2,high\n", encoding="utf-8")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("time: {column: when, format: '%Y-%m-%d %H:%M:%S', timezone: Asia/Shanghai}\nshop: s\n"
                       "events:\n  - type: message\n    sender: consumer\n    consumer: {column: caller}\n"
                       "    priority: {column: prio}\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = kefu("import", source, "-m", mapping, "-o", out)
    assert result.exit_code == 0
    assert [json.loads(line)["priority"] for line in out.read_text(encoding="utf-8").splitlines()] == [2]
    assert "'high' is not a whole number" in result.stderr


def test_an_output_that_cannot_be_written_is_named_as_the_output_not_the_export(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "file").write_bytes(b"")
    export = ROOT / "samples" / "open-api-records.json"
    for out, reason in ((tmp_path / "taken", "Is a directory"), (tmp_path / "file" / "log.jsonl", "Not a directory")):
        result = kefu("import", export, "--mapping", OPEN_API, "--out", out)
        assert (result.exit_code, result.stderr) == (2, f"error: cannot write {out}: {reason}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "taken"]


JSONL_MAPPING = """source: {format: jsonl}
time: {column: time, format: iso}
shop: s
events:
  - when: {column: direction, in: ["1"]}
    type: message
    sender: consumer
    consumer: {column: buyer}
  - when: {column: direction, in: ["2"]}
    type: message
    sender: agent
    agent: {column: staff}
    consumer: {column: buyer}
"""


def _jsonl(tmp_path, records: list[str]) -> tuple[Path, Path]:
    (tmp_path / "map.yaml").write_text(JSONL_MAPPING, encoding="utf-8")
    (tmp_path / "x.jsonl").write_text("".join(r + "\n" for r in records), encoding="utf-8")
    return tmp_path / "x.jsonl", tmp_path / "map.yaml"


def test_a_jsonl_field_first_seen_in_a_later_record_is_a_column(tmp_path):
    # the consumers' records have no `staff`: it first appears in the third record, the agent's answer
    source, mapping = _jsonl(tmp_path, [
        '{"time": "2026-11-11T01:00:00Z", "direction": 1, "buyer": "c1"}',
        '{"time": "2026-11-11T01:00:30Z", "direction": 1, "buyer": "c2"}',
        '{"time": "2026-11-11T01:01:00Z", "direction": 2, "buyer": "c1", "staff": "lin"}'])
    result = kefu("import", source, "-m", mapping, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[-1].endswith(": 3 rows read = 3 imported + 0 skipped; 3 events written to "
                                                   + str(tmp_path / "out.jsonl"))
    assert [(e["sender"], e["consumer"], e.get("agent")) for e in _events(tmp_path / "out.jsonl")] == [
        ("consumer", "c1", None), ("consumer", "c2", None), ("agent", "c1", "lin")]
    guessed = kefu("import", source, "--guess")
    assert guessed.exit_code == 0 and "staff" in guessed.stdout   # --guess sees it too


def test_a_jsonl_column_no_record_has_is_still_a_located_error(tmp_path):
    source, mapping = _jsonl(tmp_path, [
        '{"time": "2026-11-11T01:00:00Z", "direction": 1, "buyer": "c1"}',
        '{"time": "2026-11-11T01:01:00Z", "direction": 2, "buyer": "c1", "agent": "lin"}'])
    result = kefu("import", source, "-m", mapping, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 1 and not (tmp_path / "out.jsonl").exists()
    # the columns are every record's fields, sorted: `agent` from the second record among them
    assert result.stderr == (f"{mapping.as_posix()}:12:13: error: {source.as_posix()} has no column 'staff' "
                             "(its columns: agent, buyer, direction, time)\n")


def test_a_jsonl_first_line_that_is_not_an_object_is_a_bad_row_not_the_end(tmp_path):
    source, mapping = _jsonl(tmp_path, [
        '{"time": "2026-11-11T01:00:00Z", "direction": 1',   # cut short
        '["time", "direction"]',
        '{"time": "2026-11-11T01:01:00Z", "direction": 2, "buyer": "c1", "staff": "lin"}'])
    result = kefu("import", source, "-m", mapping, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{source.as_posix()}:1: skipped: not JSON: ")
    assert lines[1:] == [f"{source.as_posix()}:2: skipped: the record is a JSON list, not an object",
                         f"{source.as_posix()}: 3 rows read = 1 imported + 2 skipped; 1 events written to "
                         + str(tmp_path / "out.jsonl")]


def test_a_jsonl_record_without_a_field_its_event_needs_is_a_bad_row(tmp_path):
    source, mapping = _jsonl(tmp_path, [
        '{"time": "2026-11-11T01:00:00Z", "direction": 2, "buyer": "c1"}',   # an agent's record without staff
        '{"time": "2026-11-11T01:01:00Z", "direction": 2, "buyer": "c1", "staff": "lin"}'])
    result = kefu("import", source, "-m", mapping, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 0 and result.stderr.splitlines() == [
        f"{source.as_posix()}:1: column 'staff': skipped: no agent: the column is empty",
        f"{source.as_posix()}: 2 rows read = 1 imported + 1 skipped; 1 events written to {tmp_path / 'out.jsonl'}"]
