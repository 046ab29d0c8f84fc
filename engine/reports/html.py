"""The replay's report as one self-contained HTML page (`kefu replay --format html`).

The page holds the text report's tables as HTML tables, and charts written as Vega-Lite specs
and drawn in the browser by vega-embed (Vega-Lite and Vega), whose JavaScript is embedded in the
page: it opens from a file, with no network. The bundle comes from the `vl-convert-python`
package (the `kefu[html]` extra), which ships the Vega libraries for offline use. Why Vega and not
plotly (file size): docs/replay.md, "HTML report".

Everything from the log, the policy or a path is escaped: HTML text with html.escape, the charts'
data as JSON in a non-executable <script> block with `<`, `>`, `&` and U+2028/U+2029 written as
\\u escapes, so no value can end the block. Text is passed through diagnostics.visible first, as in
the text report, so a control or bidi character is shown, not acted on.

The page is deterministic: the same report gives the same bytes (no timestamps, chart ids
numbered in order).
"""

from __future__ import annotations

import functools
import html
from typing import Any, Iterable

import orjson

from ..diagnostics import visible
from ..replay import (NO_SHOP, _decision_counts, _pct, _threshold, agent_cells, day_notes, file_lines, history_lines,
                      hour_cells, metric_cells, shop_cells)

MISSING = ("error: --format html needs the chart library: pip install 'kefu[html]' "
           "(it installs vl-convert-python, which bundles Vega for offline use)")
HOURS = [f"{hour:02d}:00" for hour in range(24)]
CHART_WIDTH, CHART_HEIGHT = 560, 200
NOT_DECISIONS = {"differs"}
"""Counts among the decisions that are agreement figures, shown on their own line (as in the text report)."""
CSP = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
       "img-src data:; font-src data:")
"""Nothing may be fetched: the page draws from what it holds. ('unsafe-eval': Vega compiles its expressions.)"""


class RendererMissing(RuntimeError):
    """The `kefu[html]` extra (vl-convert-python) is not installed."""


def require_renderer() -> None:
    """Raise RendererMissing (its message says what to install) unless the chart library can be imported."""
    try:
        import vl_convert  # noqa: F401
    except ImportError:
        raise RendererMissing(MISSING) from None


def render_html(report: dict) -> bytes:
    """The report (engine.replay.report_dict, with its by_hour and by_agent breakdowns) as one HTML page."""
    require_renderer()
    import vl_convert

    charts = _Charts()
    body = [_header(report), _problems_box(), *_shops_overview(report)]
    for shop in _shops(report):
        body += _shop_section(report, shop, charts)
    body += _auto_replies(report.get("auto_replies_by_kind") or {})
    if report.get("runs"):   # --runs N: each metric's mean and interval, as the text report gives them
        from ..whatif.runs import runs_cells
        title, header, rows = runs_cells(report["runs"])
        body += [f"<h2>{_text(title)}</h2>", _table(header, rows, left=3)]
    body += _totals(report)
    body.append(f"<footer>Charts drawn by Vega-Lite {_text(vl_convert.get_vegalite_versions()[-1])} and Vega "
                f"{_text(vl_convert.get_vega_version())}, embedded in this file: it loads nothing from the network."
                "</footer>")
    specs = [[chart_id, spec] for chart_id, spec in charts.specs]
    return _page(_title(report), "\n".join(body), _bundle(), specs)


_BUNDLE_SNIPPET = "window.vegaEmbed = vegaEmbed;"
"""What the bundle exposes: vega-embed alone (it draws Vega-Lite specs; vl-convert's bundle sets window.vega to
null, so Vega is not used directly)."""


@functools.cache
def _bundle() -> str:
    """The libraries' JavaScript (made once a process: vl-convert bundles them anew each call, about a second)."""
    import vl_convert
    return vl_convert.javascript_bundle(_BUNDLE_SNIPPET)


# --- the page ---------------------------------------------------------------------------------------------------

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", sans-serif;
       margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; margin-top: 2em; }
h3 { font-size: 1em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { padding: .2em .6em; border-bottom: 1px solid #e4e4e4; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; } th:first-child, td:first-child { text-align: left; }
td.fail { color: #b00020; font-weight: bold; } td.pass { color: #1b7a2f; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5em; }
figure { margin: 0; } figcaption { font-weight: bold; margin-bottom: .3em; }
.note { color: #555; font-size: .9em; max-width: 60em; }
#kefu-problems { border: 2px solid #b00020; padding: .5em 1em; color: #b00020; }
footer { margin-top: 3em; color: #777; font-size: .85em; }
"""

_WATCH = """
(function () {
  "use strict";
  window.kefuProblem = function (text) {
    var box = document.getElementById("kefu-problems");
    var item = document.createElement("li");
    item.textContent = text;
    box.querySelector("ul").appendChild(item);
    box.hidden = false;
  };
  document.addEventListener("securitypolicyviolation", function (e) {
    window.kefuProblem("blocked a request to " + e.blockedURI + " (" + e.violatedDirective + ")");
  });
})();
"""

_DRAW = """
(function () {
  "use strict";
  if (typeof vegaEmbed !== "function") {
    window.kefuProblem("the chart library did not load: no chart is drawn");
    return;
  }
  var charts = JSON.parse(document.getElementById("kefu-charts").textContent);
  charts.forEach(function (chart) {
    var box = document.getElementById(chart[0]);
    function failed(err) {
      box.textContent = "this chart could not be drawn: " + err;
      window.kefuProblem(chart[0] + ": " + err);
    }
    vegaEmbed(box, chart[1], {mode: "vega-lite", renderer: "svg", actions: false})
      .then(function () { box.setAttribute("data-drawn", "yes"); }, failed);
  });
})();
"""


def _page(title: str, body: str, bundle: str, charts: list) -> bytes:
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title>",
        f"<style>{_STYLE}</style>",
        f"<script>{_WATCH}</script>",
        "</head>",
        "<body>",
        body,
        f"<script>{bundle}</script>",
        f'<script type="application/json" id="kefu-charts">{script_json(charts)}</script>',
        f"<script>{_DRAW}</script>",
        "</body>",
        "</html>",
        "",
    ]).encode("utf-8")


def script_json(value: Any) -> str:
    """value as JSON that is safe inside a <script> block: no `<`, `>` or `&` (so no `</script>` or `<!--`),
    and no U+2028/U+2029 (line ends to older JavaScript)."""
    text = orjson.dumps(value).decode("utf-8")
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def _text(value: object) -> str:
    """Text from the log, policy or a path, for HTML: controls made visible, then HTML-escaped."""
    return html.escape(visible(str(value)), quote=True)


def _label(value: str) -> str:
    """A label for chart data (escaped later, as JSON): controls made visible, as on the terminal."""
    return visible(value)


def _platform(report: dict) -> str:
    """The title's platform part: one platform, or several (a --policies run over shops of several)."""
    return f"platform {report['platform']}" if report["platform"] else "several platforms"


def _title(report: dict) -> str:
    title = f"kefu replay · {_platform(report)}"
    if report.get("policy"):
        title += f" · shop {report['policy']['shop']}"
    return _text(title)


def _header(report: dict) -> str:
    heading = f"kefu replay · {_text(_platform(report))}"
    policy = report.get("policy")
    if policy:
        heading += f" · shop {_text(policy['shop'])} ({_text(policy['file'])})"
    if report.get("policies"):
        heading += f" · {len(report['policies'])} shop policies"
    ev = report["events"]
    skipped = f", {ev['skipped']} skipped (other shops)" if ev.get("skipped") else ""
    shops = report.get("skipped_shops") or []
    named = ("<p>skipped shops: " + ", ".join(f"{_text(s['shop'] or NO_SHOP)} ({s['events']} events)"
                                              for s in shops) + "</p>") if shops else ""
    files = "".join(f"<li>{_text(line)}</li>" for line in file_lines(ev))
    return (f"<h1>{heading}</h1>\n<p>events: {ev['read']} read, {ev['accepted']} accepted, "
            f"{ev['rejected']} rejected{skipped} · seed {report['seed']}</p>"
            + (f"<ul class=\"files\">{files}</ul>" if files else "") + named)


def _problems_box() -> str:
    return '<div id="kefu-problems" hidden><strong>Problems drawing this page:</strong><ul></ul></div>'


def _table(header: list[str], rows: Iterable[list[str]], left: int = 1) -> str:
    """An HTML table of plain-text cells (each escaped); a pass or FAIL cell is coloured."""
    head = "".join(f"<th>{_text(h)}</th>" for h in header)
    lines = [f"<table><thead><tr>{head}</tr></thead><tbody>"]
    for row in rows:
        cells = "".join(f"<td{_cell_class(cell)}>{_text(cell)}</td>" for cell in row)
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _cell_class(cell: str) -> str:
    return {"FAIL": ' class="fail"', "pass": ' class="pass"'}.get(cell, "")


# --- sections ---------------------------------------------------------------------------------------------------

def _shops(report: dict) -> list[str]:
    """The shops of the report: most at risk first when the report ranks them, else in the order met."""
    order: dict[str, None] = {}
    for summary in report.get("shops") or []:
        order[summary["shop"]] = None
    for key in ("metrics", "days", "by_hour", "by_agent"):
        for row in report.get(key) or []:
            order[row["shop"]] = None
    return list(order)


def _metrics_of(report: dict) -> list[str]:
    return list(dict.fromkeys(row["metric"] for row in report["metrics"]))


def _shops_overview(report: dict) -> list[str]:
    shops = report.get("shops")
    if not shops:
        return []
    return ["<h2>Shops, most at risk first</h2>", _table(*shop_cells(shops, _metrics_of(report)))]


def _shop_section(report: dict, shop: str, charts: _Charts) -> list[str]:
    metrics = _metrics_of(report)
    hours = [row for row in report.get("by_hour") or [] if row["shop"] == shop]
    agents = [row for row in report.get("by_agent") or [] if row["shop"] == shop]
    days = [day for day in report["days"] if day["shop"] == shop]
    out = [f"<h2>{_text(shop or NO_SHOP)}</h2>", '<div class="charts">']
    counted = any(figures["eligible"] for row in hours for figures in row["metrics"].values())
    if counted:
        out.append(charts.add("Response rate by hour", _rate_by_hour(hours, report["metrics"])))
    if hours:
        out.append(charts.add("Queue by hour", _queue_by_hour(hours)))
    if counted:
        out.append(charts.add("Answered within the metric's time, by hour", _met_by_hour(hours)))
    if agents:
        out.append(charts.add("Agent load", _agent_load(agents)))
    if days:
        out.append(charts.add("Decisions by day and action", _decisions_by_day(days)))
    out.append("</div>")
    if hours and not counted:
        out.append('<p class="note">No metric counted a unit of this shop (nothing was eligible): no rate to chart.</p>')
    if counted:
        out.append('<p class="note">The hourly charts sum every day of the log by local hour. The report keeps '
                   "no wait time per question, so the waits are shown as each metric counts them: the units "
                   "answered within the metric's time (met) and those that were not (missed), by the hour they "
                   "started. The queue chart shows the longest queue a decision of that hour saw.</p>")
    out += _days_tables(report, shop)
    if agents:
        out += [f"<h3>By agent · {_text(shop or NO_SHOP)}</h3>", _by_agent_table(agents, metrics)]
    if hours:
        out += [f"<h3>By hour · {_text(shop or NO_SHOP)}</h3>", _by_hour_table(hours, metrics)]
    return out


def _days_tables(report: dict, shop: str) -> list[str]:
    rows_of: dict[str, list[dict]] = {}
    for row in report["metrics"]:
        if row["shop"] == shop:
            rows_of.setdefault(row["date"], []).append(row)
    info = {day["date"]: day for day in report["days"] if day["shop"] == shop}
    out: list[str] = []
    for date in sorted(set(rows_of) | set(info)):
        out.append(f"<h3>{_text(shop or NO_SHOP)} · {_text(date)}</h3>")
        rows = rows_of.get(date, [])
        if rows:
            out.append(_table(*metric_cells(rows)))
        day = info.get(date)
        if day:
            out += [f"<p>{_text(note)}</p>" for note in day_notes(day)]
    return out


def _by_agent_table(rows: list[dict], metrics: list[str]) -> str:
    return _table(*agent_cells(rows, metrics))


def _by_hour_table(rows: list[dict], metrics: list[str]) -> str:
    return _table(*hour_cells(rows, metrics))


def _auto_replies(by_kind: dict[str, dict]) -> list[str]:
    if not by_kind:
        return []
    rows = [[kind, str(counts["sent"]), str(sum(counts["suppressed"].values())),
             ", ".join(f"{reason} {n}" for reason, n in counts["suppressed"].items()) or "—"]
            for kind, counts in by_kind.items()]
    return ["<h2>Automatic replies</h2>", _table(["kind", "sent", "suppressed", "why"], rows)]


def _totals(report: dict) -> list[str]:
    out = ["<h2>Totals</h2>",
           "<p>decisions: " + (_text(_decision_counts(report["decisions"])) if report["decisions"] else "none") + "</p>"]
    total = report["assignment"]
    if total["compared"]:
        out.append(f"<p>assignment agreement: {total['agreed']}/{total['compared']} agree, {total['differs']} "
                   f"differ ({_pct(total['agreement'])})</p>")
    out += [f"<p>{_text(line)}</p>" for line in history_lines(report["decisions"])]
    penalties = sum(r["penalty"] for r in report["metrics"])
    if penalties:
        out.append(f"<p>penalties: {penalties} in total</p>")
    return out


# --- charts (Vega-Lite specs) -----------------------------------------------------------------------------------

class _Charts:
    """The page's charts in order: each a numbered container and its spec (so the ids are the same every run)."""

    def __init__(self) -> None:
        self.specs: list[tuple[str, dict]] = []

    def add(self, caption: str, spec: dict) -> str:
        """A figure holding a new chart's container, as HTML."""
        chart_id = f"chart-{len(self.specs) + 1}"
        self.specs.append((chart_id, spec))
        return f'<figure><figcaption>{_text(caption)}</figcaption><div id="{chart_id}" class="chart"></div></figure>'


def _count_axis(top: int) -> dict:
    """An axis of whole numbers up to top: no tick between two integers."""
    return {"format": "d", "tickCount": max(1, min(5, top))}


def _hour_axis() -> dict:
    return {"field": "hour", "type": "ordinal", "title": "local hour", "scale": {"domain": HOURS},
            "axis": {"labelAngle": -45}}


def _rate_by_hour(hours: list[dict], metric_rows: list[dict]) -> dict:
    """Each metric's rate per hour (bars side by side), and the platform's threshold as a dashed line."""
    values = [{"hour": HOURS[row["hour"]], "metric": name, "rate": figures["rate"], "met": figures["met"],
               "eligible": figures["eligible"]}
              for row in hours for name, figures in row["metrics"].items() if figures["rate"] is not None]
    thresholds: dict[str, dict] = {}
    for row in metric_rows:
        if row["threshold"] and row["metric"] not in thresholds:
            thresholds[row["metric"]] = {"metric": row["metric"], "threshold": row["threshold"]["value"],
                                         "rule": _threshold(row["threshold"])}
    color = {"field": "metric", "type": "nominal", "title": "metric"}
    layers: list[dict] = [rate_bars(values, "metric", color)]
    if thresholds:
        layers.append({"mark": {"type": "rule", "strokeDash": [6, 4], "strokeWidth": 2},
                       "data": {"values": list(thresholds.values())},
                       "encoding": {"y": {"field": "threshold", "type": "quantitative"}, "color": color,
                                    "tooltip": [{"field": "metric"}, {"field": "rule", "title": "threshold"}]}})
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "layer": layers}


def rate_bars(values: list[dict], series: str, color: dict) -> dict:
    """The layer of a rate per local hour, a bar for each value of `series` side by side (values: hour, the
    series field, rate, met, eligible); the replay's page and compare's draw it."""
    return {"mark": {"type": "bar"}, "data": {"values": values},
            "encoding": {"x": _hour_axis(), "xOffset": {"field": series}, "color": color,
                         "y": {"field": "rate", "type": "quantitative", "title": "rate",
                               "scale": {"domain": [0, 1]}, "axis": {"format": ".0%"}},
                         "tooltip": [{"field": series}, {"field": "hour"},
                                     {"field": "rate", "type": "quantitative", "format": ".1%"},
                                     {"field": "met", "type": "quantitative"},
                                     {"field": "eligible", "type": "quantitative"}]}}


def _queue_by_hour(hours: list[dict]) -> dict:
    """The longest queue per hour, with the hour's queued and assigned counts in the tooltip."""
    values = [{"hour": HOURS[row["hour"]], "peak_queue": row["peak_queue"], "queued": row["queued"],
               "assigned": row["assigned"]} for row in hours]
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "data": {"values": values}, "mark": {"type": "bar"},
            "encoding": {"x": _hour_axis(),
                         "y": {"field": "peak_queue", "type": "quantitative", "title": "longest queue",
                               "axis": _count_axis(max((row["peak_queue"] for row in hours), default=0))},
                         "tooltip": [{"field": "hour"}, {"field": "peak_queue", "type": "quantitative"},
                                     {"field": "queued", "type": "quantitative"},
                                     {"field": "assigned", "type": "quantitative"}]}}


def _met_by_hour(hours: list[dict]) -> dict:
    """Per metric (a row each) and hour: the units met and missed, stacked."""
    values = []
    for row in hours:
        for name, figures in row["metrics"].items():
            if figures["eligible"]:
                values.append({"hour": HOURS[row["hour"]], "metric": name, "outcome": "met", "units": figures["met"]})
                values.append({"hour": HOURS[row["hour"]], "metric": name, "outcome": "missed",
                               "units": figures["eligible"] - figures["met"]})
    top = max((f["eligible"] for row in hours for f in row["metrics"].values()), default=0)
    return {"data": {"values": values},
            "facet": {"row": {"field": "metric", "type": "nominal", "title": None}},
            "spec": {"width": CHART_WIDTH, "height": CHART_HEIGHT // 2, "mark": {"type": "bar"},
                     "encoding": {"x": _hour_axis(),
                                  "y": {"field": "units", "type": "quantitative", "title": "units",
                                        "axis": _count_axis(top)},
                                  "color": {"field": "outcome", "type": "nominal",
                                            "scale": {"domain": ["met", "missed"], "range": ["#4c9a5b", "#d1495b"]}},
                                  "order": {"field": "outcome"},
                                  "tooltip": [{"field": "metric"}, {"field": "hour"}, {"field": "outcome"},
                                              {"field": "units", "type": "quantitative"}]}}}


def _agent_load(agents: list[dict]) -> dict:
    """Per agent: the consumers assigned, and the peak load against the cap (a tick)."""
    values = [{"agent": _label(row["agent"]), "assigned": row["assigned"], "peak_load": row["peak_load"],
               "cap": row["cap"], "transfers_in": row["transfers_in"]} for row in agents]
    agent = {"field": "agent", "type": "nominal", "title": None, "sort": None}
    tooltip = [{"field": "agent"}, {"field": "assigned", "type": "quantitative"},
               {"field": "peak_load", "type": "quantitative"}, {"field": "cap", "type": "quantitative"},
               {"field": "transfers_in", "type": "quantitative"}]
    height = max(60, 22 * len(values))
    assigned = {"width": CHART_WIDTH // 2 - 40, "height": height, "mark": {"type": "bar"},
                "encoding": {"y": agent, "x": {"field": "assigned", "type": "quantitative", "title": "assigned",
                                               "axis": _count_axis(max(v["assigned"] for v in values))},
                             "tooltip": tooltip}}
    load = {"width": CHART_WIDTH // 2 - 40, "height": height,
            "layer": [{"mark": {"type": "bar", "color": "#f58518"},
                       "encoding": {"y": agent, "x": {"field": "peak_load", "type": "quantitative",
                                                      "title": "peak load (tick: cap)"},
                                    "tooltip": tooltip}},
                      {"mark": {"type": "tick", "color": "#222", "thickness": 2},
                       "transform": [{"filter": "isValid(datum.cap)"}],
                       "encoding": {"y": agent, "x": {"field": "cap", "type": "quantitative"}, "tooltip": tooltip}}]}
    return {"data": {"values": values}, "hconcat": [assigned, load]}


def _decisions_by_day(days: list[dict]) -> dict:
    """Each day's decisions by action, stacked."""
    values = [{"date": day["date"], "action": action, "count": n}
              for day in days for action, n in day["decisions"].items() if action not in NOT_DECISIONS]
    return {"width": max(120, 60 * len(days)), "height": CHART_HEIGHT, "data": {"values": values},
            "mark": {"type": "bar"},
            "encoding": {"x": {"field": "date", "type": "ordinal", "title": None, "axis": {"labelAngle": 0}},
                         "y": {"field": "count", "type": "quantitative", "title": "decisions"},
                         "color": {"field": "action", "type": "nominal"},
                         "tooltip": [{"field": "date"}, {"field": "action"},
                                     {"field": "count", "type": "quantitative"}]}}
