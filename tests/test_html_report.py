"""`kefu replay --format html`: one self-contained page, drawn in headless Chromium with no network.

The log below is replayed with `--platform pinduoduo` (no shop automation, so only the agent's replies
answer). Worked out by hand from the platform file (rulesets/platforms/pinduoduo.kefu):

- response_rate_5min (a question, answered within 5 min, window 08:00-23:00, threshold > 50%):
  09:00 asked, answered 09:02 (met); 09:10 asked, answered 09:20 (10 min: missed); 10:00 asked, never
  answered (missed). Hour 09: 1 met of 2; hour 10: 0 of 1; the day 1/3 = 33.3%, FAIL.
- effective_reply_1h (a consumer-day, answered within 1 h, threshold >= 50%): 09:00 and 09:10 met (2 of 2
  in hour 09), 10:00 missed (0 of 1 in hour 10); the day 2/3 = 66.7%, pass (no penalty under 100 consumers).
- The one online agent takes all three consumers: assigned 3. The first two are open at 09:10 (Pinduoduo
  ends a session 30 min after the agent's reply: 09:32 and 09:50), so its peak load is 2, then the third
  comes at 10:00 to an agent holding none; its cap is the default reception cap, 10 (runtime/state.py).

The shop, agent and consumer ids and a reply text are markup: the page must show them as text.
"""

from __future__ import annotations

import builtins
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from cli_helpers import kefu
from engine.reports.html import script_json

SHOP = "<script>alert(1)</script>"
AGENT = "</script><script>alert(2)</script>"
CONSUMER = "<img src=x onerror=alert(3)>"
REPLY = "<script>alert(4)</script>"


def _event(ts: str, kind: str, **fields: str) -> dict:
    return {"ts": f"2026-11-11T{ts}+08:00", "type": kind, "shop": SHOP, **fields}


EVENTS = [
    _event("08:59:00", "agent_status", agent=AGENT, status="online"),
    _event("09:00:00", "message", sender="consumer", consumer=CONSUMER, text="在吗"),
    _event("09:02:00", "message", sender="agent", agent=AGENT, consumer=CONSUMER, text=REPLY),
    _event("09:10:00", "message", sender="consumer", consumer="c2", text="发货了吗"),
    _event("09:20:00", "message", sender="agent", agent=AGENT, consumer="c2", text="发了"),
    _event("10:00:00", "message", sender="consumer", consumer="c3", text="能便宜吗"),
]
CHARTS = 5   # response rate, queue, met/missed by hour, agent load, decisions by day
SCRIPTS = 4  # the problem watcher, the Vega bundle, the charts' data (JSON), the drawing code


@pytest.fixture(scope="module")
def log(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("log") / "events.jsonl"
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in EVENTS), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def page(log: Path) -> Path:
    """The page, asked for by its file name alone (no --format, no --by: html adds the breakdowns)."""
    out = log.parent / "report.html"
    result = kefu("replay", "--platform", "pinduoduo", "--events", log, "--report", out)
    assert result.exit_code == 0, result.output
    return out


def test_the_page_holds_the_reports_tables_with_the_figures_worked_out_by_hand(page: Path):
    text = page.read_text(encoding="utf-8")
    cells = [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", text)]
    assert ["effective_reply_1h  1小时有效回复率", "3", "2", "66.7%", "&gt;= 50%", "pass", "0"] in cells
    assert ["response_rate_5min  5分钟回复率", "3", "1", "33.3%", "&gt; 50%", "FAIL", "0"] in cells
    assert ["&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;", "3", "0", "2/10", "66.7% (2/3)", "33.3% (1/3)"] in cells
    assert ["09:00", "2", "0", "0", "100.0% (2/2)", "50.0% (1/2)"] in cells
    assert ["10:00", "1", "0", "0", "0.0% (0/1)", "0.0% (0/1)"] in cells
    assert "<p>decisions: assign 3, close_session 2</p>" in text
    assert text.count('class="chart"') == CHARTS


def test_ids_and_texts_from_the_log_are_escaped_everywhere(page: Path):
    text = page.read_text(encoding="utf-8")
    for raw in (SHOP, AGENT, CONSUMER, REPLY, "alert(4)"):
        assert raw not in text
    assert text.count("<script") == SCRIPTS
    assert "<h2>&lt;script&gt;alert(1)&lt;/script&gt;</h2>" in text
    data = re.search(r'<script type="application/json" id="kefu-charts">(.*?)</script>', text, re.S)
    assert data is not None
    assert AGENT in json.loads(data.group(1).replace("\\u003c", "<").replace("\\u003e", ">"))[3][1]["data"]["values"][0]["agent"]


def test_script_json_cannot_end_its_block():
    value = {"a": "</script><!-- & \u2028\u2029"}
    text = script_json(value)
    assert not set(text) & {"<", ">", "&", "\u2028", "\u2029"}
    assert json.loads(text) == value


def test_a_control_character_in_an_id_is_shown_not_passed_on(tmp_path: Path):
    log = tmp_path / "events.jsonl"
    log.write_bytes(b'{"ts":"2026-11-11T09:00:00+08:00","type":"message","sender":"consumer","consumer":"c1",'
                    b'"shop":"evil\\u001b[2J\\u202eshop"}\n')
    out = tmp_path / "r.html"
    assert kefu("replay", "--platform", "douyin", "--events", log, "--report", out).exit_code == 0
    text = out.read_text(encoding="utf-8")
    assert "<h2>evil␛[2J�shop</h2>" in text
    assert "\x1b" not in text and "\u202e" not in text


def test_the_same_inputs_give_the_same_bytes(log: Path, tmp_path: Path):
    first, second = tmp_path / "a.html", tmp_path / "b.HTM"
    for out in (first, second):
        assert kefu("replay", "--platform", "pinduoduo", "--events", log, "--report", out).exit_code == 0
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes().startswith(b"<!DOCTYPE html>")


def test_the_page_counts_each_log_of_several_as_the_text_report_does(tmp_path: Path):
    # two logs: the first 3 events, then the other 3 and a line that is no JSON (1 rejected)
    lines = [json.dumps(e, ensure_ascii=False) for e in EVENTS]
    first, second = tmp_path / "a<b>.jsonl", tmp_path / "second.jsonl"
    first.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    second.write_text("\n".join(lines[3:]) + "\nnot json\n", encoding="utf-8")
    page = tmp_path / "r.html"
    assert kefu("replay", "--platform", "pinduoduo", "--events", first, "--events", second, "--report", page).exit_code == 0
    html = page.read_text(encoding="utf-8")
    assert (f"<li>{str(first).replace('<', '&lt;').replace('>', '&gt;')}: 3 read, 3 accepted, 0 rejected</li>"
            f"<li>{second}: 4 read, 3 accepted, 1 rejected</li>") in html


def test_the_page_of_runs_holds_their_table_as_the_text_report_does(tmp_path: Path):
    root = Path(__file__).resolve().parent.parent
    policy, events = root / "rulesets/examples/taobao-apparel.kefu", root / "samples/taobao-apparel.jsonl"
    model, page = tmp_path / "agents.yaml", tmp_path / "runs.html"
    assert kefu("calibrate", events, "--out", model).exit_code == 0
    runs = ("replay", policy, "--events", events, "--agents", "model", "--model", model, "--runs", "2", "--jobs", "1")
    text = kefu(*runs).stdout
    assert kefu(*runs, "--report", page).exit_code == 0
    html = page.read_text(encoding="utf-8")
    assert "<h2>2 runs (seeds 0–1): each metric&#x27;s mean and 95 % interval</h2>" in html
    row = re.search(r"yishang-apparel +2026-11-11 +response_rate_3min +2 +([\d.]+%) +([\d.]+% – [\d.]+%)", text)
    assert row and f"<td>{row.group(1)}</td><td>{row.group(2)}</td>" in html.replace(' class="num"', "")


def test_html_needs_a_report_file(log: Path):
    result = kefu("replay", "--platform", "pinduoduo", "--events", log, "--format", "html")
    assert result.exit_code == 2
    assert "--format html" in result.output and "--report FILE.html" in result.output
    assert "<html" not in result.stdout


def test_without_the_html_extra_the_user_is_told_what_to_install(log: Path, tmp_path: Path, monkeypatch):
    out = tmp_path / "r.html"
    out.write_text("the previous report", encoding="utf-8")
    real_import = builtins.__import__

    def no_vl_convert(name, *args, **kwargs):
        if name == "vl_convert":
            raise ImportError("No module named 'vl_convert'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_vl_convert)
    result = kefu("replay", "--platform", "pinduoduo", "--events", log, "--report", out)
    assert result.exit_code == 2
    assert "pip install 'kefu[html]'" in result.output
    assert out.read_text(encoding="utf-8") == "the previous report"


def test_explain_and_test_take_no_html_format(log: Path):
    result = kefu("explain", "--platform", "pinduoduo", "--events", log, "--line", "2", "--format", "html")
    assert result.exit_code == 2
    assert "'html' is not one of 'text', 'json'" in " ".join(result.output.replace("│", " ").split())


def test_several_shops_get_the_shops_table_and_a_section_each(tmp_path: Path):
    log = tmp_path / "events.jsonl"
    log.write_text("".join(json.dumps({"ts": f"2026-11-11T09:0{i}:00+08:00", "type": "message", "sender": "consumer",
                                       "consumer": f"c{i}", "shop": shop, "text": "在吗"}) + "\n"
                           for i, shop in enumerate(["a", "b"])), encoding="utf-8")
    out = tmp_path / "r.html"
    assert kefu("replay", "--platform", "douyin", "--events", log, "--report", out).exit_code == 0
    text = out.read_text(encoding="utf-8")
    assert "<h2>Shops, most at risk first</h2>" in text
    assert text.index("<h2>a</h2>") < text.index("<h2>b</h2>")
    # no agent was online: no one was assigned, and no unit was eligible (Douyin's timer starts at assignment)
    assert text.count('class="chart"') == 2 * 2   # each shop's queue and decisions
    assert text.count("No metric counted a unit of this shop") == 2


# --- in a browser ---------------------------------------------------------------------------------------------

CHROMIUM = next((found for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
                 if (found := shutil.which(name))), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary found (CI installs Debian's chromium)")
BROWSER_OWN_HOSTS = {"update.googleapis.com", "accounts.google.com", "clients2.google.com"}
"""Where Chromium itself calls (component updates, sign-in, network time) whatever page it shows: not the page's."""


class _Recorder(http.server.BaseHTTPRequestHandler):
    """A proxy that forwards nothing: it notes each request's host and refuses it."""

    def _record(self) -> None:
        target = self.path.split("://", 1)[-1]
        self.server.hosts.append(target.split("/", 1)[0].rsplit(":", 1)[0])  # type: ignore[attr-defined]
        self.send_error(403)

    do_GET = do_POST = do_HEAD = do_CONNECT = _record

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Open a file in headless Chromium, every request sent to a recording proxy; returns (DOM, hosts asked)."""
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    proxy.hosts = []  # type: ignore[attr-defined]
    threading.Thread(target=proxy.serve_forever, daemon=True).start()

    def open_page(path: Path) -> tuple[str, list[str]]:
        proxy.hosts.clear()  # type: ignore[attr-defined]
        profile = tmp_path_factory.mktemp("chromium-profile")
        args = [CHROMIUM, "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", f"--user-data-dir={profile}",
                f"--proxy-server=http://127.0.0.1:{proxy.server_address[1]}",
                "--virtual-time-budget=10000", "--dump-dom", path.resolve().as_uri()]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")   # Chromium's sandbox refuses root
        done = subprocess.run(args, capture_output=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr.decode("utf-8", "replace")[-2000:]
        return done.stdout.decode("utf-8"), [h for h in proxy.hosts if h not in BROWSER_OWN_HOSTS]  # type: ignore[attr-defined]

    yield open_page
    proxy.shutdown()


def drawn(browser, page: Path) -> tuple[str, list[str]]:
    """The page's DOM once the browser drew it, and its chart containers; nothing fetched, no problem listed."""
    dom, fetched = browser(page)
    assert fetched == []
    problems = re.search(r'<div id="kefu-problems"([^>]*)>.*?<ul>(.*?)</ul>', dom, re.S)
    assert problems is not None and problems.groups() == (' hidden=""', ""), problems and problems.group(2)
    return dom, dom.split('<div id="chart-')[1:]


@needs_chromium
def test_the_browser_draws_every_chart_from_the_file_alone(page: Path, browser):
    dom, charts = drawn(browser, page)
    assert len(charts) == CHARTS
    for chart in charts:   # each container marked drawn by the page's script, holding Vega's SVG
        tag, _, inside = chart.partition(">")
        assert 'data-drawn="yes"' in tag and inside.startswith("<svg"), chart[:300]
    # the bars carry their figures (Vega's aria labels): the hand-worked counts above
    bars = re.findall(r'<path aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="bar"', dom)
    assert "local hour: 09:00; rate: 50%; metric: response_rate_5min; hour: 09:00; met: 1; eligible: 2" in bars
    assert "local hour: 10:00; rate: 0%; metric: effective_reply_1h; hour: 10:00; met: 0; eligible: 1" in bars
    assert "local hour: 09:00; units: 1; outcome: missed; metric: response_rate_5min; hour: 09:00" in bars
    assert ("peak load (tick: cap): 2; agent: &lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;; assigned: 3; "
            "peak_load: 2; cap: 10; transfers_in: 0") in bars
    assert "date: 2026-11-11; decisions: 3; action: assign; count: 3" in bars
    # the markup in the ids stayed text: no script of theirs ran or was added
    assert dom.count("<script") == SCRIPTS
    assert "<td>&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;</td>" in dom


@needs_chromium
def test_the_network_checks_would_see_a_request(page: Path, browser, tmp_path: Path):
    """The detectors work: a page without the CSP reaches the proxy; ours reports what its CSP blocked."""
    bare = tmp_path / "bare.html"
    bare.write_text('<img src="http://example.invalid/probe.png">', encoding="utf-8")
    assert browser(bare)[1] == ["example.invalid"]
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text(encoding="utf-8").replace(
        "</body>", '<img src="http://example.invalid/probe.png">\n</body>'), encoding="utf-8")
    dom, fetched = browser(probed)
    assert fetched == []
    assert "blocked a request to http://example.invalid/probe.png (img-src)" in dom
