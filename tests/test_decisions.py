"""Decision records: the JSON line of each action has exactly the documented keys, in order."""

import orjson

from engine.runtime.decisions import (
    Assigned, AutoReplied, Closed, Differs, LeftQueue, Queued, RuleRef, Transferred, encode_lines,
)

TS = "2026-11-11T09:00:05+08:00"
RULE = RuleRef("shop.kefu", 12)


def keys(decision) -> list[str]:
    return list(orjson.loads(encode_lines([decision])))


def test_common_fields_come_first_and_nulls_are_kept():
    d = Queued(TS, "enqueue", "s1", "c1", None, 7, None, "at_cap", 2, 3, None)
    assert orjson.loads(encode_lines([d])) == {
        "ts": TS, "action": "enqueue", "shop": "s1", "consumer": "c1", "agent": None, "line": 7, "rule": None,
        "reason": "at_cap", "position": 2, "queue_length": 3, "estimated_wait": None}
    assert keys(d)[:7] == ["ts", "action", "shop", "consumer", "agent", "line", "rule"]


def test_optional_fields_are_left_out_when_unset():
    assert "waited" not in keys(Assigned(TS, "assign", "s1", "c1", "amy", 3, RULE, "new", 1, 12))
    assert orjson.loads(encode_lines([Assigned(TS, "assign", "s1", "c1", "amy", 3, RULE, "dequeue", 1, 12, 40)]))[
        "waited"] == 40
    plain = AutoReplied(TS, "auto_reply", "s1", "c1", None, 3, RULE, "first_message", "hi")
    assert keys(plain)[7:] == ["kind", "text"]
    welcome = AutoReplied(TS, "auto_reply", "s1", "c1", None, 3, RULE, "welcome", "hi", None, ("退货?",))
    assert orjson.loads(encode_lines([welcome]))["faq"] == ["退货?"]


def test_each_action_record_and_to_dict_agree():
    decisions = [
        Closed(TS, "close_session", "s1", "c1", "amy", None, RULE, "auto_end", 960),
        Transferred(TS, "transfer", "s1", "c1", "bob", 9, None, "log", "amy"),
        LeftQueue(TS, "leave_queue", "s1", "c1", None, 9, None, "by_hand"),
        Differs(TS, "differs", "s1", "c1", "amy", 9, None, "bob"),
    ]
    common = {"ts": TS, "shop": "s1", "consumer": "c1"}
    records = [   # docs/replay.md: the common fields, then the action's own
        {**common, "action": "close_session", "agent": "amy", "line": None,
         "rule": {"file": "shop.kefu", "line": 12}, "reason": "auto_end", "duration": 960},
        {**common, "action": "transfer", "agent": "bob", "line": 9, "rule": None, "reason": "log", "from_agent": "amy"},
        {**common, "action": "leave_queue", "agent": None, "line": 9, "rule": None, "reason": "by_hand"},
        {**common, "action": "differs", "agent": "amy", "line": 9, "rule": None, "actual_agent": "bob"},
    ]
    lines = encode_lines(decisions).splitlines()
    assert len(lines) == 4 and encode_lines(decisions).endswith(b"\n")
    assert [orjson.loads(line) for line in lines] == records
    assert [decision.to_dict() for decision in decisions] == records
    assert keys(decisions[1])[7:] == ["reason", "from_agent"]
