"""The engine against real contact-centre data: convert, replay, cross-check.

Reads the real data recorded outside this project (../shared/data/real, see its
README and docs/real-data.md), converts each file to the kefu event format
(JSON Lines, written to a temporary directory, or to --out DIR), replays the
logs in-process with engine.replay.replay + report_dict, prints a summary
(events, metrics, decisions, wall time, events/s) and checks the engine's
figures against counts made here, without the engine:

  A  the plain figure from the CSV (e.g. calls that reached an agent and waited
     at most 180 s, by the CSV's own q_time column);
  B  the engine's unit and rules applied to the CSV's columns (every call or
     tweet that asked, unanswered ones missed);
  C  the engine's rules recounted from the converted events.

The engine must equal C exactly. Where it does not, C' (C plus the engine's closing of every
question at the end of its local day, and its reception units by the agent its decisions give
each question, see recount_taobao) is tried: a
difference C' explains is printed as explained, any other is listed as a disagreement. B and A differ
from C for reasons listed call by call (or in counts for the tweets).

    python benchmarks/real_data.py                      # every file
    python benchmarks/real_data.py --only august        # august | one_day | twitter
    python benchmarks/real_data.py --data DIR --out /tmp/kefu-real --json summary.json

Nothing is written into the repository: the converted logs go to a temporary
directory (removed at the end) unless --out names one. Exit codes: 0 done, the
engine equal to the recount (C, or C' where printed as explained); 1 a disagreement
neither explains; 2 the data directory (or every data file) is missing, or a bad option.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import statistics
import sys
import tempfile
import time
from typing import Iterator
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/real"
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from engine.loader import Loader  # noqa: E402
from engine.replay import replay, report_dict  # noqa: E402
from engine.runtime import platform_policy  # noqa: E402

FILES = {
    "august": "callcentre_anonbank_august.csv",
    "one_day": "callcentre_anonbank_one_day.csv",
    "twitter": "twitter_support_head5000.csv",
}
EXAMPLE_POLICY = ROOT / "rulesets/examples/douyin-flagship.kefu"

CN = timezone(timedelta(hours=8))   # the call centre's clock times are read as China time
UTC = timezone.utc
CN_OFFSET = 8 * 3600                # Asia/Shanghai has had no DST since 1991: local = UTC + 8 h
SHOP = "anonbank"
NO_SERVER = "NO_SERVER"
HALF_DAY = 12 * 3600

# order of events sharing a second: agents come online first, then the consumer asks, the agent
# answers, the session ends, and only then does the agent go offline
RANK_ONLINE, RANK_CONSUMER, RANK_AGENT, RANK_END, RANK_OFFLINE = range(5)

# the rules of the platform metrics recounted here (rulesets/platforms/*.kefu), written out again
TAOBAO_WINDOW = (8 * 60, 24 * 60)   # minutes of the local day: questions outside do not count
DEADLINE = 180                      # both platforms: 3 minutes


# ---------------------------------------------------------------------------------------------
# events


@dataclass
class Log:
    """A converted log: events (sorted on write), conversion counts, and what the checks need."""

    name: str
    events: list = field(default_factory=list)     # (ts, rank, seq, record)
    stats: Counter = field(default_factory=Counter)
    seq: int = 0

    def add(self, ts: float, rank: int, record: dict) -> None:
        self.seq += 1
        self.events.append((ts, rank, self.seq, record))

    def sort(self) -> None:
        self.events.sort(key=lambda e: (e[0], e[1], e[2]))

    def write(self, path: Path) -> int:
        """Write the events as JSON Lines in time order; returns the byte count."""
        self.sort()
        dumps = orjson.dumps
        with open(path, "wb") as out:
            data = b"".join(dumps(e[3]) + b"\n" for e in self.events)
            out.write(data)
        return len(data)


def iso(ts: float, tz: timezone) -> str:
    return datetime.fromtimestamp(ts, tz).isoformat()


# ---------------------------------------------------------------------------------------------
# the call centre


@dataclass(slots=True)
class Call:
    """One CSV row of the call centre, with the times the converter gave it (epoch seconds)."""

    line: int                 # line in the CSV (the header is line 1)
    consumer: str
    day: date
    outcome: str
    server: str
    queued: bool
    q_time: int
    q_start_clock: int | None  # seconds after the row's midnight (past 86400 when it wrapped)
    question: float | None     # the consumer message; None: the call never asked for an agent
    answered: bool
    answer: float | None       # the agent message (clamped to >= question)
    service_raw: float | None  # ser_start as recorded (or its fallback), before clamping


def _clock(text: str) -> int | None:
    """'H:MM:SS' as seconds; '0:00:00' is the data's 'not recorded'."""
    h, m, s = text.split(":")
    secs = int(h) * 3600 + int(m) * 60 + int(s)
    return secs or None


def convert_callcentre(path: Path, name: str) -> tuple[Log, list[Call]]:
    """Calls to events: consumer message, agent message, session end; agents online per day."""
    log = Log(name)
    st = log.stats
    calls: list[Call] = []
    presence: dict[str, dict[date, list[float]]] = defaultdict(dict)
    midnight: dict[str, float] = {}
    seen_ids: Counter = Counter()
    with open(path, newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            st["rows"] += 1
            day_text = row["date"]
            base = midnight.get(day_text)
            if base is None:
                base = midnight[day_text] = datetime.fromisoformat(day_text).replace(tzinfo=CN).timestamp()
            ref = _clock(row["vru_entry"]) or 0
            wrapped = False

            def at(col: str) -> int | None:
                # a clock time more than 12 h before the call entered the VRU is on the next day
                nonlocal wrapped
                secs = _clock(row[col])
                if secs is not None and secs < ref - HALF_DAY:
                    secs += 86400
                    wrapped = True
                return secs

            vru_exit, q_start, q_exit = at("vru_exit"), at("q_start"), at("q_exit")
            ser_start, ser_exit = at("ser_start"), at("ser_exit")
            st["midnight_wraps"] += wrapped
            outcome, server = row["outcome"], row["server"]
            st[f"outcome_{outcome}"] += 1
            cid = f"{row['vru+line']}-{row['call_id']}@{day_text}"
            seen_ids[cid] += 1
            if seen_ids[cid] > 1:
                cid += f"#{seen_ids[cid]}"
                st["duplicate_ids"] += 1
            answered = outcome == "AGENT" or server != NO_SERVER
            # the consumer asks when the call enters the queue, or when service starts if it never
            # queued; an answered call with neither recorded asks when it leaves the VRU
            question_clock = q_start or ser_start or (vru_exit if answered else None)
            call = Call(line=line, consumer=cid, day=date.fromisoformat(day_text), outcome=outcome,
                        server=server, queued=q_start is not None, q_time=int(row["q_time"] or 0),
                        q_start_clock=q_start, question=None, answered=answered, answer=None,
                        service_raw=None)
            calls.append(call)
            if question_clock is None:
                st["skipped_never_asked"] += 1   # hung up in the VRU: never asked for an agent
                continue
            if q_start is None and ser_start is None:
                st["question_at_vru_exit"] += 1
            question = base + question_clock
            call.question = question
            st["calls"] += 1
            log.add(question, RANK_CONSUMER, {"ts": iso(question, CN), "type": "message", "shop": SHOP,
                                              "sender": "consumer", "consumer": cid})
            if answered:
                st["answered"] += 1
                if server == NO_SERVER:
                    st["answered_no_server_name"] += 1
                service_clock = ser_start
                if service_clock is None:
                    service_clock = q_exit or vru_exit or question_clock
                    st["service_start_fallback"] += 1
                service = base + service_clock
                call.service_raw = service
                answer = max(service, question)
                st["answer_clamped"] += answer > service
                call.answer = answer
                end = base + ser_exit if ser_exit is not None else service + int(row["ser_time"] or 0)
                end = max(end, answer)
                log.add(answer, RANK_AGENT, {"ts": iso(answer, CN), "type": "message", "shop": SHOP,
                                             "sender": "agent", "agent": server, "consumer": cid})
                log.add(end, RANK_END, {"ts": iso(end, CN), "type": "session_end", "shop": SHOP,
                                        "consumer": cid, "agent": server})
                if server != NO_SERVER:
                    served_on = datetime.fromtimestamp(answer, CN).date()
                    span = presence[server].get(served_on)
                    if span is None:
                        presence[server][served_on] = [answer, end]
                    else:
                        span[0] = min(span[0], answer)
                        span[1] = max(span[1], end)
            else:
                st["unanswered"] += 1
                if q_exit is not None:   # the caller left the queue: the chat ends unanswered
                    end = max(base + q_exit, question)
                    log.add(end, RANK_END, {"ts": iso(end, CN), "type": "session_end", "shop": SHOP,
                                            "consumer": cid})
    # agents are online between their first and last service of each day (spans that overlap
    # across midnight are merged, so an agent never goes offline while serving)
    for agent, days in sorted(presence.items()):
        spans = sorted(days.values())
        merged: list[list[float]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        st["agents"] += 1
        for start, end in merged:
            st["agent_shifts"] += 1
            log.add(start, RANK_ONLINE, {"ts": iso(start, CN), "type": "agent_status", "shop": SHOP,
                                         "agent": agent, "status": "online", "max_sessions": 1})
            log.add(end, RANK_OFFLINE, {"ts": iso(end, CN), "type": "agent_status", "shop": SHOP,
                                        "agent": agent, "status": "offline"})
    log.stats["events"] = len(log.events)
    return log, calls


# ---------------------------------------------------------------------------------------------
# Twitter


@dataclass(slots=True)
class Tweet:
    tweet_id: str
    author: str
    inbound: bool
    ts: float
    reply_to: str | None
    text: str
    shop: str | None = None


_MENTION = re.compile(r"@(\w+)")


def read_tweets(path: Path) -> tuple[list[Tweet], int]:
    """The tweets; bare carriage returns inside unquoted texts are made spaces (the export left
    them unquoted, and a CSV reader takes them for line ends). Returns the tweets and that count."""
    with open(path, newline="", encoding="utf-8") as f:   # newline="": keep the \r to see them
        raw = f.read()
    crlf = raw.count("\r\n")
    bare = raw.count("\r") - crlf
    text = raw.replace("\r\n", "\n").replace("\r", " ")
    tweets = []
    for row in csv.DictReader(io.StringIO(text, newline="")):
        created = datetime.strptime(row["created_at"], "%a %b %d %H:%M:%S %z %Y")
        reply_to = row["in_response_to_tweet_id"]
        tweets.append(Tweet(tweet_id=row["tweet_id"], author=row["author_id"], inbound=row["inbound"] == "True",
                            ts=created.timestamp(), reply_to=str(int(float(reply_to))) if reply_to else None,
                            text=row["text"]))
    return tweets, bare


def convert_twitter(path: Path, name: str) -> tuple[Log, list[Tweet], dict[str, list[Tweet]]]:
    """Inbound tweets are consumer messages; a company tweet replying to one is an agent message."""
    log = Log(name)
    st = log.stats
    tweets, bare_cr = read_tweets(path)
    st["rows"] = len(tweets)
    st["bare_carriage_returns_repaired"] = bare_cr
    by_id = {t.tweet_id: t for t in tweets}
    companies = {t.author for t in tweets if not t.inbound}
    st["companies"] = len(companies)
    replies: dict[str, list[Tweet]] = defaultdict(list)   # inbound tweet id -> company replies to it
    for t in tweets:
        if t.inbound:
            continue
        target = by_id.get(t.reply_to) if t.reply_to else None
        if target is None:
            st["company_tweets_skipped_no_target_in_file" if t.reply_to else "company_tweets_skipped_not_a_reply"] += 1
        elif not target.inbound:
            st["company_tweets_skipped_reply_to_company"] += 1
        else:
            replies[target.tweet_id].append(t)
    # the shop of an inbound tweet: the company that replied to it (the earliest reply), else the
    # company whose tweet it answers (up its thread), else the first company @mentioned
    for t in tweets:
        if not t.inbound:
            continue
        answers = replies.get(t.tweet_id)
        if answers:
            t.shop = min(answers, key=lambda r: (r.ts, r.tweet_id)).author
            st["shop_from_reply"] += 1
            continue
        up, hops = t, 0
        while up.reply_to and up.reply_to in by_id and hops < 50:
            up, hops = by_id[up.reply_to], hops + 1
            if not up.inbound:
                t.shop = up.author
                st["shop_from_thread"] += 1
                break
        if t.shop is None:
            for handle in _MENTION.findall(t.text):
                if handle in companies:
                    t.shop = handle
                    st["shop_from_mention"] += 1
                    break
        if t.shop is None:
            st["inbound_skipped_no_company"] += 1
    for t in tweets:
        if t.inbound and t.shop is not None:
            st["consumer_messages"] += 1
            log.add(t.ts, RANK_CONSUMER, {"ts": iso(t.ts, UTC), "type": "message", "shop": t.shop,
                                          "sender": "consumer", "consumer": t.author})
    for target_id, answers in replies.items():
        target = by_id[target_id]
        for r in answers:
            st["agent_messages"] += 1
            if target.shop != r.author:
                st["agent_messages_other_company"] += 1
            if r.ts < target.ts:
                st["agent_messages_before_their_tweet"] += 1
            log.add(r.ts, RANK_AGENT, {"ts": iso(r.ts, UTC), "type": "message", "shop": r.author,
                                       "sender": "agent", "agent": r.author, "consumer": target.author})
    st["events"] = len(log.events)
    return log, tweets, replies


# ---------------------------------------------------------------------------------------------
# replay


@dataclass
class Run:
    dataset: str
    label: str
    report: dict
    wall: float
    decisions: bytes
    rejected: list


def load_policies() -> dict[str, tuple]:
    """name -> (policy, automation, file) for the platforms and the example policy used here."""
    loader = Loader()
    files = loader.available_platforms()
    out = {}
    for name in ("taobao", "douyin"):
        result = loader.load_platform_file(files[name])
        if result.platform is None:
            raise SystemExit(f"error: platform file {name} does not load")
        out[f"--platform {name}"] = (platform_policy(result.platform), False, None)
    result = Loader().load(EXAMPLE_POLICY)
    if result.policy is None:
        raise SystemExit(f"error: {EXAMPLE_POLICY} has errors")
    out[EXAMPLE_POLICY.relative_to(ROOT).as_posix()] = (result.policy, True, EXAMPLE_POLICY.relative_to(ROOT).as_posix())
    return out


def run_replay(dataset: str, label: str, policy_entry: tuple, log_path: Path) -> Run:
    policy, automation, policy_file = policy_entry
    rejected: list = []
    decisions = io.BytesIO()
    start = time.perf_counter()
    with open(log_path, "rb") as stream:
        # a shop policy replays one shop (the call centre's, the only one of its log), as `--shop` does
        result = replay(policy, stream, seed=0, automation=automation, decisions_out=decisions,
                        on_reject=rejected.append, policy_file=policy_file, shop=SHOP if policy_file else None)
    wall = time.perf_counter() - start
    return Run(dataset, label, report_dict(result), wall, decisions.getvalue(), rejected)


def metric_totals(report: dict, metric: str) -> tuple[int, int, dict]:
    """Eligible and met summed over shops and days, and met/eligible per local date."""
    eligible = met = 0
    per_day: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in report["metrics"]:
        if row["metric"] == metric:
            eligible += row["eligible"]
            met += row["met"]
            per_day[row["date"]][0] += row["eligible"]
            per_day[row["date"]][1] += row["met"]
    return eligible, met, per_day


# ---------------------------------------------------------------------------------------------
# counts made without the engine


def _local(ts: float) -> tuple[int, float]:
    """(local day number, minute of the local day) in China time."""
    local = ts + CN_OFFSET
    day = int(local // 86400)
    return day, (local - day * 86400) / 60.0


def _day_text(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


def recount_taobao(log: Log, close_at_day_end: bool = False, decisions: bytes | None = None,
                   ) -> tuple[dict, dict, Counter]:
    """Taobao's response_rate_3min recounted from the events: a question starts with a consumer
    message when none is pending for (shop, consumer) (docs/events.md: later consumer messages belong
    to it), ends at the first agent message; it counts when it started 08:00-24:00 local; met when
    answered within 3 min and before local midnight; unanswered at the end: missed. Units are
    receptions, consumer x agent x day, decided by their first counted question. Without the
    engine's decisions the agent is unknown, so a unit is a (shop, consumer, day): right for the
    call centre, where a call is its own consumer.

    close_at_day_end=True adds what the engine does (engine/runtime/metrics.py, _roll_day): a
    question takes in the consumer's messages only until the end of its local day; at the first
    message or session decision of a new local day every pending question is closed, counted as
    missed (its natural-day deadline has passed), so that consumer's next message starts a new
    question. decisions (the engine's) give each question its agent as the
    engine's reception unit has it: the consumer's session agent when the question starts, else
    the agent it is next assigned to.

    Returns per (shop, date) totals, per unit its verdict, and counts of what happened."""
    totals: dict = defaultdict(lambda: [0, 0])
    pending: dict = {}     # key -> [start, day, counted, deadline, agent]
    session: dict = {}     # key -> the agent of the consumer's open session (from decisions)
    seen: set = set()
    verdicts: dict = {}
    what: Counter = Counter()
    today = None

    def settle(key, item, met):
        start, day, counted, deadline, agent = item
        if not counted:
            return
        unit = (key[0], day, key[1], agent)
        if unit in seen:
            what["counted questions merged into an earlier unit (dedup_per_agent)"] += 1
            return
        seen.add(unit)
        verdicts[unit] = met
        tally(totals, key[0], day, met)

    for step in in_engine_order(log, decisions):
        if close_at_day_end and pending:
            day = _local(step[1])[0]
            if day != today:
                today = day
                for k, item in pending.items():
                    if item[1] < day:
                        what["questions closed at the end of their day, unanswered"] += 1
                        settle(k, item, False)
                pending = {k: item for k, item in pending.items() if item[1] >= day}
        if step[0] == "act":
            assigned = follow_session(step, session, pending)
            if assigned and assigned[1][4] is None:
                assigned[1][4] = assigned[3]   # the question's agent: the first it is assigned to
            continue
        _, ts, rec = step
        key = (rec["shop"], rec["consumer"])
        if rec["sender"] == "consumer":
            day, minute = _local(ts)
            if key in pending:
                what["consumer messages joining a pending question"] += 1
                continue
            counted = TAOBAO_WINDOW[0] <= minute < TAOBAO_WINDOW[1]
            what["questions started"] += 1
            what["questions started in the window"] += counted
            midnight = (day + 1) * 86400 - CN_OFFSET
            pending[key] = [ts, day, counted, min(ts + DEADLINE, midnight), session.get(key)]
        elif rec["sender"] in ("agent", "robot"):   # Taobao's effective senders
            item = pending.get(key)
            if item is not None and ts >= item[0]:
                del pending[key]
                settle(key, item, ts <= item[3])
    for key, item in sorted(pending.items(), key=lambda kv: kv[1][0]):
        settle(key, item, False)
    return dict(totals), verdicts, what


def in_engine_order(log: Log, decisions: bytes | None) -> Iterator[tuple]:
    """The log's messages, each as ("event", ts, rec), with the engine's own session decisions
    (assign, offline_route, close_session, transfer) as ("act", ts, action, consumer, shop,
    agent) where the engine made them: timers before the event they precede; the routing of a
    message (a consumer message routed, an agent taking a consumer the policy still queues)
    before the metric sees it; what an event drains after it."""
    events = sorted(log.events, key=lambda e: (e[0], e[1], e[2]))
    acts = []   # (line or None, ts, action, consumer, shop, agent)
    for raw in (decisions or b"").splitlines():
        d = orjson.loads(raw)
        if d["action"] in ("assign", "offline_route", "close_session", "transfer"):
            ts = datetime.fromisoformat(d["ts"]).timestamp()
            acts.append((d["line"], ts, d["action"], d["consumer"], d["shop"], d["agent"]))
    i, n = 0, len(acts)
    for line, (ts, _, _, rec) in enumerate(events, start=1):
        while i < n and acts[i][0] is None and acts[i][1] <= ts:   # timers due by this event fire first
            yield ("act",) + acts[i][1:]
            i += 1
        if rec["type"] == "message":
            while i < n and acts[i][0] == line:
                yield ("act",) + acts[i][1:]
                i += 1
        if rec["type"] == "message":   # the recounts look at messages only
            yield ("event", ts, rec)
        while i < n and acts[i][0] == line:   # a session end or an agent coming online drains the queue
            yield ("act",) + acts[i][1:]
            i += 1
        if i < n and acts[i][0] is not None and acts[i][0] < line:
            raise RuntimeError(f"decision for line {acts[i][0]} left behind at line {line}")
    while i < n:   # timers fired at the end of the log
        yield ("act",) + acts[i][1:]
        i += 1


def tally(totals: dict, shop: str, day: int, met: bool) -> None:
    """One more eligible unit (and met, if met) for the shop on its local day."""
    t = totals[(shop, _day_text(day))]
    t[0] += 1
    t[1] += met


def follow_session(act: tuple, session: dict, pending: dict) -> tuple | None:
    """Apply one of in_engine_order's acts to session ((shop, consumer) -> agent of the open
    session); when it assigns a consumer whose question waits in pending, (key, question, ts, agent)."""
    _, ts, action, consumer, shop, agent = act
    key = (shop, consumer)
    if action == "close_session":
        session.pop(key, None)
        return None
    session[key] = agent
    item = pending.get(key)
    if action == "transfer" or item is None:
        return None
    return key, item, ts, agent


def recount_douyin(log: Log, decisions: bytes) -> dict:
    """Douyin's response_rate_3min recounted from the events plus the engine's own assignments
    (the clock starts at assignment to a human agent, so this checks the metric's bookkeeping,
    not the routing): all day, 3 min from the assignment (or from the message when the consumer
    already has a session); a question never assigned is not measured."""
    totals: dict = defaultdict(lambda: [0, 0])
    pending: dict = {}
    session: dict = {}
    what: Counter = Counter()

    def settle(key, item, met):
        tally(totals, key[0], item[1], met)

    for step in in_engine_order(log, decisions):
        if step[0] == "act":
            assigned = follow_session(step, session, pending)
            if assigned and assigned[1][2] is None:
                key, item, ts, _ = assigned
                pending[key] = (item[0], item[1], ts)   # the clock starts at the assignment
            continue
        _, ts, rec = step
        key = (rec["shop"], rec["consumer"])
        if rec["sender"] == "consumer":
            if key not in pending:
                what["questions started"] += 1
                what["questions started with a session open"] += key in session
                pending[key] = (ts, _local(ts)[0], ts if key in session else None)
        else:
            item = pending.get(key)
            if item is not None and ts >= item[0]:
                del pending[key]
                if item[2] is not None:
                    settle(key, item, ts <= item[2] + DEADLINE)
                else:
                    what["answered before the policy assigned them: not measured"] += 1
    for key, item in pending.items():
        if item[2] is not None:
            settle(key, item, False)
        else:
            what["never answered, never assigned: not measured"] += 1
    what["unanswered after assignment: missed"] = sum(1 for item in pending.values() if item[2] is not None)
    return dict(totals), what


def callcentre_checks(calls: list[Call]) -> dict:
    """A and B from the CSV's columns, without the converted events."""
    a_elig = a_met = b_elig = b_met = unanswered = after_midnight = 0
    b_verdict: dict = {}
    for c in calls:
        if c.q_start_clock is not None:
            clock = c.q_start_clock
        elif c.question is not None:   # never queued: asked when service started (or left the VRU)
            clock = c.question - datetime(c.day.year, c.day.month, c.day.day, tzinfo=CN).timestamp()
        else:
            continue
        clock = int(clock)
        in_window = TAOBAO_WINDOW[0] * 60 <= clock < TAOBAO_WINDOW[1] * 60
        if not in_window:
            continue
        wait = c.q_time if c.queued else 0
        met = c.answered and wait <= DEADLINE and clock + wait <= 86400
        b_elig += 1
        b_met += met
        b_verdict[c.consumer] = met
        if c.answered:
            a_elig += 1
            a_met += wait <= DEADLINE
            after_midnight += wait <= DEADLINE and clock + wait > 86400
        else:
            unanswered += 1
    return {"A": (a_elig, a_met), "B": (b_elig, b_met), "B_verdict": b_verdict,
            "unanswered_in_window": unanswered, "in_3_min_but_after_midnight": after_midnight}


def explain_b_vs_c(calls: list[Call], b_verdict: dict, c_verdict: dict) -> Counter:
    """Why a call's verdict from q_time differs from the one from the converted events."""
    reasons: Counter = Counter()
    by_consumer = {c.consumer: c for c in calls}
    c_by_consumer = {unit[2]: met for unit, met in c_verdict.items()}
    for cid in set(b_verdict) | set(c_by_consumer):
        b, cv = b_verdict.get(cid), c_by_consumer.get(cid)
        if b == cv:
            continue
        call = by_consumer[cid]
        if b is None or cv is None:
            reasons["in one count only (window edge)"] += 1
            continue
        gap = call.answer - call.question if call.answer is not None else None
        if call.service_raw is not None and call.q_start_clock is not None and gap is not None:
            recorded = int(round(gap))
            if 0 < call.q_time - recorded <= 2:
                reasons["ser_start 1-2 s before q_exit (the usual clock skew) and q_time 181-182 s: "
                        "ser_start - q_start <= 180 s"] += 1
            elif call.q_time > recorded:
                reasons["ser_start 13 s to 6 min before q_exit (an inconsistent record): "
                        "q_time > 180 s but ser_start - q_start <= 180 s"] += 1
            else:
                reasons["ser_start after q_exit"] += 1
        else:
            reasons["other"] += 1
    return reasons


def twitter_checks(tweets: list[Tweet], replies: dict) -> dict:
    """A: each inbound tweet of a known company, asked 08:00-24:00 China time, answered by a
    company reply pointing at it within 3 min (and before local midnight). Also the same over the
    whole day, as a plain fact about the data."""
    a_elig = a_met = all_elig = all_met = 0
    for t in tweets:
        if not t.inbound or t.shop is None:
            continue
        answers = [r for r in replies.get(t.tweet_id, ()) if r.ts >= t.ts]
        first = min((r.ts for r in answers), default=None)
        quick = first is not None and first - t.ts <= DEADLINE
        all_elig += 1
        all_met += quick
        day, minute = _local(t.ts)
        if TAOBAO_WINDOW[0] <= minute < TAOBAO_WINDOW[1]:
            a_elig += 1
            a_met += quick and first <= (day + 1) * 86400 - CN_OFFSET
    return {"A": (a_elig, a_met), "all_day": (all_elig, all_met)}


# ---------------------------------------------------------------------------------------------
# printing


def pct(met: int, eligible: int) -> str:
    return f"{100 * met / eligible:.1f}%" if eligible else "—"


def fig(pair: tuple[int, int]) -> str:
    elig, met = pair
    return f"{met:>6}/{elig:<6} {pct(met, elig):>6}"


def print_runs(runs: list[Run]) -> None:
    print(f"{'dataset':<9} {'replayed with':<40} {'read':>7} {'acc.':>7} {'rej.':>5} {'wall s':>7} {'events/s':>9}")
    for r in runs:
        ev = r.report["events"]
        rate = ev["accepted"] / r.wall if r.wall else 0
        print(f"{r.dataset:<9} {r.label:<40} {ev['read']:>7} {ev['accepted']:>7} {ev['rejected']:>5} "
              f"{r.wall:>7.2f} {rate:>9,.0f}")
    print()
    print(f"{'dataset':<9} {'replayed with':<40} {'metric':<20} {'rows':>5} {'eligible':>8} {'met':>7} {'rate':>7}")
    for r in runs:
        names = sorted({m["metric"] for m in r.report["metrics"]})
        for name in names:
            rows = [m for m in r.report["metrics"] if m["metric"] == name]
            elig, met, days = metric_totals(r.report, name)
            print(f"{r.dataset:<9} {r.label:<40} {name:<20} {len(rows):>5} {elig:>8} {met:>7} {pct(met, elig):>7}")
            rates = sorted((m / e, day) for day, (e, m) in days.items() if e)
            if len(rates) > 2:
                median = statistics.median(rate for rate, _ in rates)
                print(f"{'':<9} {'':<40} per day: {rates[0][0]:.1%} ({rates[0][1]}) to {rates[-1][0]:.1%} "
                      f"({rates[-1][1]}), median {median:.1%}")
    print()
    for r in runs:
        dec = ", ".join(f"{k} {v}" for k, v in r.report["decisions"].items()) or "none"
        print(f"{r.dataset:<9} {r.label}: decisions {dec}")
        taken = r.decisions.count(b'"reason":"taken_by_agent"')
        if taken:
            print(f"{'':<9} assignments the log's agents made (taken_by_agent): {taken}")
        if r.report["auto_replies"]:
            print(f"{'':<9} auto replies {dict(r.report['auto_replies'])}, "
                  f"suppressed {r.report['suppressed_auto_replies']}")
        a = r.report["assignment"]
        if a["compared"]:
            print(f"{'':<9} assignment vs log: {a['agreed']}/{a['compared']} agree "
                  f"({pct(a['agreed'], a['compared'])})")
        if r.rejected:
            print(f"{'':<9} REJECTED lines: {r.rejected[:3]}")
    print()


def compare_days(engine_days: dict, recount: dict, label: str) -> list[str]:
    """Per (date) differences between the engine's rows and a recount's; empty when equal."""
    mine: dict = defaultdict(lambda: [0, 0])
    for (shop, day), (e, m) in recount.items():
        mine[day][0] += e
        mine[day][1] += m
    out = []
    for day in sorted(set(engine_days) | set(mine)):
        eng, rec = list(engine_days.get(day, [0, 0])), list(mine.get(day, [0, 0]))
        if eng != rec:
            out.append(f"{label} {day}: engine {eng[1]}/{eng[0]}, recount {rec[1]}/{rec[0]}")
    return out


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="directory of the real data CSV files")
    ap.add_argument("--out", type=Path, help="write the converted logs here (default: a temporary directory)")
    ap.add_argument("--only", action="append", choices=sorted(FILES), help="a data set (repeatable; default all)")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    args = ap.parse_args(argv)

    data = args.data
    if not data.is_dir():
        print(f"error: the real data directory {data} does not exist; it is kept outside the repository "
              f"(../shared/data/real); give it with --data DIR", file=sys.stderr)
        return 2
    wanted = args.only or list(FILES)
    present = {k: data / FILES[k] for k in wanted if (data / FILES[k]).is_file()}
    for k in wanted:
        if k not in present:
            print(f"note: {data / FILES[k]} is missing; {k} skipped", file=sys.stderr)
    if not present:
        print(f"error: none of the data files ({', '.join(FILES[k] for k in wanted)}) is in {data}", file=sys.stderr)
        return 2

    policies = load_policies()
    tmp = None
    if args.out is not None:
        out_dir = args.out
        if out_dir.resolve().is_relative_to(ROOT):
            print(f"error: --out {out_dir} is inside the repository; the converted logs are the real data "
                  f"and must stay out of it", file=sys.stderr)
            return 2
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"error: cannot create {out_dir}: {exc}", file=sys.stderr)
            return 2
    else:
        tmp = tempfile.TemporaryDirectory(prefix="kefu-real-")
        out_dir = Path(tmp.name)

    summary: dict = {"data": str(data), "datasets": {}}
    runs: list[Run] = []
    problems: list[str] = []
    surprises: list[str] = []
    checks_text: list[str] = []
    try:
        for key, path in present.items():
            start = time.perf_counter()
            if key == "twitter":
                log, tweets, replies = convert_twitter(path, key)
            else:
                log, calls = convert_callcentre(path, key)
            conv = time.perf_counter() - start
            log_path = out_dir / f"{key}.jsonl"
            size = log.write(log_path)
            print(f"{key}: {path.name} -> {log_path} ({log.stats['events']:,} events, {size / 1e6:.1f} MB, "
                  f"converted in {conv:.2f} s)")
            print("  " + ", ".join(f"{k} {v}" for k, v in sorted(log.stats.items())))
            entry = summary["datasets"][key] = {"conversion": dict(sorted(log.stats.items())), "runs": {}}
            labels = ["--platform taobao"]
            if key != "twitter":
                labels += ["--platform douyin", EXAMPLE_POLICY.relative_to(ROOT).as_posix()]
            ds_runs = {}
            for label in labels:
                run = run_replay(key, label, policies[label], log_path)
                runs.append(run)
                ds_runs[label] = run
                entry["runs"][label] = {
                    "events": run.report["events"], "wall_s": round(run.wall, 3),
                    "events_per_s": round(run.report["events"]["accepted"] / run.wall) if run.wall else None,
                    "metrics": {m: dict(zip(("eligible", "met"), metric_totals(run.report, m)[:2]))
                                for m in sorted({r["metric"] for r in run.report["metrics"]})},
                    "decisions": run.report["decisions"], "auto_replies": run.report["auto_replies"],
                    "assignment": run.report["assignment"],
                }
                if run.report["events"]["rejected"]:
                    problems.append(f"{key} {label}: {run.report['events']['rejected']} lines rejected")

            # ---- cross-checks ----
            tb = ds_runs["--platform taobao"].report
            e_elig, e_met, e_days = metric_totals(tb, "response_rate_3min")
            c_totals, c_verdict, c_what = recount_taobao(log)
            c_pair = (sum(v[0] for v in c_totals.values()), sum(v[1] for v in c_totals.values()))
            day_diffs = compare_days(e_days, c_totals, f"{key} taobao")
            # the same with the engine's overdue rule and reception units by agent (see recount_taobao)
            r_totals, _, r_what = recount_taobao(log, close_at_day_end=True, decisions=ds_runs["--platform taobao"].decisions)
            r_pair = (sum(v[0] for v in r_totals.values()), sum(v[1] for v in r_totals.values()))
            r_diffs = compare_days(e_days, r_totals, f"{key} taobao (closing at day change)")
            lines = [f"cross-check · {key} · Taobao response_rate_3min (window 08:00-24:00 China time, 3 min, "
                     f"natural day)"]
            check = {"engine": (e_elig, e_met), "C": c_pair}
            if key == "twitter":
                tw = twitter_checks(tweets, replies)
                check.update(tw)
                lines += [
                    f"  A  inbound tweets asked in the window, a company reply pointing at it within 3 min   {fig(tw['A'])}",
                    f"     (the same over the whole day, as a fact about the data)                           {fig(tw['all_day'])}",
                ]
            else:
                cc = callcentre_checks(calls)
                check.update({"A": cc["A"], "B": cc["B"]})
                lines += [
                    f"  A  calls that reached an agent, asked in the window, q_time <= 180 s                {fig(cc['A'])}",
                    f"  B  every call that asked in the window (unanswered = missed), by the CSV's q_time   {fig(cc['B'])}",
                    f"     A -> B: + {cc['unanswered_in_window']} calls that asked in the window and were never answered "
                    f"(HANG, PHANTOM), - {cc['in_3_min_but_after_midnight']} answered within 3 min but after midnight",
                ]
                check["A_to_B"] = {"unanswered_in_window": cc["unanswered_in_window"],
                                   "in_3_min_but_after_midnight": cc["in_3_min_but_after_midnight"]}
            lines += [
                f"  C  the engine's rules recounted from the converted events, without the engine      {fig(c_pair)}",
                f"     engine (sum of its rows per day)                                                  {fig((e_elig, e_met))}",
                f"     engine == C: {'yes, on every one of ' + str(len(e_days)) + ' days' if not day_diffs and (e_elig, e_met) == c_pair else 'NO'}",
                "     C: " + ", ".join(f"{k} {v}" for k, v in sorted(c_what.items())),
            ]
            check["C_counts"] = dict(c_what)
            if day_diffs or (e_elig, e_met) != c_pair:
                lines += [
                    f"  C' C, plus questions closed at the end of their day, units by agent              {fig(r_pair)}",
                    f"     engine == C': {'yes, on every one of ' + str(len(e_days)) + ' days' if not r_diffs and (e_elig, e_met) == r_pair else 'NO'}",
                    "     C': " + ", ".join(f"{k} {v}" for k, v in sorted(r_what.items())),
                    "     engine vs C per day: " + "; ".join(d.split(": ", 1)[1].replace("engine ", "").replace(", recount ", " vs ")
                                                          + " on " + d.split(": ")[0].split()[-1] for d in day_diffs),
                ]
                check["C_prime"] = r_pair
                check["C_prime_counts"] = dict(r_what)
                check["engine_vs_C_days"] = day_diffs
                if r_diffs or (e_elig, e_met) != r_pair:
                    problems += day_diffs
                else:
                    surprises.append(f"{key}: the engine closes every question at the end of its local day, "
                                     f"and its receptions are by agent: engine {e_met}/{e_elig} vs "
                                     f"{c_pair[1]}/{c_pair[0]} by events.md's question rule; equal to the recount "
                                     f"with those rules (C', {r_pair[1]}/{r_pair[0]})")
            if key != "twitter":
                reasons = explain_b_vs_c(calls, cc["B_verdict"], c_verdict)
                check["B_vs_C"] = dict(reasons)
                if reasons:
                    lines.append(f"     B vs C, calls whose verdict differs: {sum(reasons.values())}")
                    for why, n in reasons.most_common():
                        lines.append(f"       {n:>5}  {why}")
                # Douyin: the clock starts at the policy's assignment
                for label in ("--platform douyin", EXAMPLE_POLICY.relative_to(ROOT).as_posix()):
                    run = ds_runs[label]
                    d_elig, d_met, d_days = metric_totals(run.report, "response_rate_3min")
                    d_totals, d_what = recount_douyin(log, run.decisions)
                    d_pair = (sum(v[0] for v in d_totals.values()), sum(v[1] for v in d_totals.values()))
                    diffs = compare_days(d_days, d_totals, f"{key} {label}")
                    problems += diffs
                    check[f"douyin {label}"] = {"engine": (d_elig, d_met), "recount": d_pair, "counts": dict(d_what)}
                    lines.append(f"  Douyin response_rate_3min ({label}): engine {fig((d_elig, d_met))}, "
                                 f"recount from events + the engine's assignments {fig(d_pair)} -> "
                                 f"{'equal' if not diffs and d_pair == (d_elig, d_met) else 'DIFFERENT'}")
                    lines.append("     " + ", ".join(f"{k} {v}" for k, v in sorted(d_what.items())))
            entry["cross_check"] = check
            checks_text += lines + [""]
    finally:
        if tmp is not None:
            tmp.cleanup()

    print()
    print_runs(runs)
    print("\n".join(checks_text))
    if "august" in present and "one_day" in present:
        one = [r for r in runs if r.dataset == "one_day" and r.label == "--platform taobao"][0]
        aug_run = [r for r in runs if r.dataset == "august" and r.label == "--platform taobao"][0]
        d1 = metric_totals(aug_run.report, "response_rate_3min")[2].get("2010-08-01")
        o1 = metric_totals(one.report, "response_rate_3min")[2].get("2010-08-01")
        same = d1 == o1
        summary["one_day_equals_august_1st"] = same
        print(f"one-day file vs 2010-08-01 of the August file (Taobao): {o1} vs {d1} -> "
              f"{'equal' if same else 'DIFFERENT'}")
    if surprises:
        print("\nEXPLAINED differences between the engine and the question rule of events.md:")
        for p in surprises:
            print("  " + p)
    summary["explained"] = surprises
    if problems:
        print("\nDISAGREEMENTS between the engine and the recount:")
        for p in problems:
            print("  " + p)
    summary["problems"] = problems
    if args.json:
        args.json.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
