"""`kefu compare`'s output: the comparison (engine/whatif/compare.py, compare_dict) as text, JSON or an HTML page.

The text and the page show the same tables, built once as `Section`s: the text through the replay
report's aligned tables, the page through the HTML report's escaped tables, with a chart per metric of
the rate by hour under A and B against the platform's threshold. Everything from a log, a policy or a
path is made visible (diagnostics.visible) and, on the page, HTML-escaped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import orjson

from ..diagnostics import visible
from ..replay import NO_SHOP, _rate_cell, _pct, _table, _threshold, _verdict

SIDES = ("a", "b")

AGENTS_SAY = {"log": "the log's people act as they did", "model": "agents answer as the agent model says"}
"""What the text says of each actor."""


@dataclass
class Section:
    """A titled table, with lines of text before it."""

    title: str
    header: list[str]
    rows: list[list[str]]
    lines: list[str] = field(default_factory=list)
    left: int = 1


def compare_json(data: dict) -> bytes:
    """The comparison as indented JSON bytes (deterministic)."""
    return orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n"


def shown(data: dict, by: list[str]) -> dict:
    """The comparison with only the breakdowns asked for (`--by agent`, `--by hour`)."""
    return {key: value for key, value in data.items()
            if not (key == "by_agent" and "agent" not in by) and not (key == "by_hour" and "hour" not in by)}


# --- cells ------------------------------------------------------------------------------------------------------

def signed(value: Optional[float]) -> str:
    """Points of difference: signed, one decimal; exactly 0 as 0.0; None as —."""
    if value is None:
        return "—"
    return "0.0" if round(value, 1) == 0 else f"{value:+.1f}"


def interval(diff: dict) -> str:
    """A difference's 95 % interval as [low, high] in points, or — without one."""
    if diff["low"] is None or diff["high"] is None:
        return "—"
    return f"[{signed(diff['low'])}, {signed(diff['high'])}]"


def units(figures: Optional[dict]) -> str:
    """A metric's rate with its units (met/eligible), or — when none is eligible."""
    return _rate_cell(figures) if figures else "—"


def seconds(value: Optional[float]) -> str:
    """Whole seconds with an s, or —."""
    return "—" if value is None else f"{value:.0f}s"


def count_difference(a: int, b: int) -> str:
    """B − A of two counts, signed (0 when equal)."""
    return "0" if a == b else f"{b - a:+d}"


def load_cell(side: dict) -> str:
    """An agent's peak load over its cap, or — without a cap."""
    return f"{side['peak_load']}/{side['cap']}" if side["cap"] is not None else "—"


# --- sections ---------------------------------------------------------------------------------------------------

def title_lines(data: dict) -> list[str]:
    """The heading: platform, shop, the two policies, the actor, seed and runs, events, replayed time."""
    runs = data["runs"]
    ev = data["events"]
    skipped = f", {ev['skipped']} skipped (other shops)" if ev["skipped"] else ""
    replayed = (f"replayed: {data['replayed']['start']} to {data['replayed']['end']} ({data['replayed']['seconds']} s)"
                if data["replayed"]["start"] else "replayed: nothing (no decision)")
    return [f"kefu compare · platform {data['platform']} · shop {data['shop'] or NO_SHOP}",
            f"  A: {data['a']['file']}",
            f"  B: {data['b']['file']}",
            f"agents: {data['agents']} ({AGENTS_SAY.get(data['agents'], '')}) · seed {data['seed']} · "
            f"{runs} run{'s' if runs != 1 else ''}" + (f" (seeds {data['seed']} to {data['seed'] + runs - 1}, "
                                                       "the same for A and B)" if runs > 1 else ""),
            f"events: {ev['read']} read, {ev['accepted']} accepted, {ev['rejected']} rejected{skipped}",
            replayed]


def _difference_cells(diff: dict, runs: int) -> list[str]:
    cells = [signed(diff["points"])]
    if runs > 1:
        cells += [signed(diff["mean"]), interval(diff)]
    return cells


def _difference_heads(runs: int) -> list[str]:
    return ["B − A", "mean", "95% interval"] if runs > 1 else ["B − A"]


def totals_section(data: dict) -> Section:
    """The whole log's difference of rate per metric."""
    thresholds = {row["metric"]: row["threshold"] for row in data["metrics"]}
    rows = [[t["metric"], _threshold(thresholds.get(t["metric"])), units(t["a"]), units(t["b"]),
             *_difference_cells(t["difference"], data["runs"])] for t in data["totals"]]
    return Section("difference of rate, B − A in points, whole log",
                   ["metric", "threshold", "A", "B", *_difference_heads(data["runs"])], rows)


def day_sections(data: dict) -> list[Section]:
    """Per shop and day: each metric under A and under B, and the difference on B's row."""
    days: dict[tuple[str, str], list[dict]] = {}
    for row in data["metrics"]:
        days.setdefault((row["shop"], row["date"]), []).append(row)
    out = []
    for (shop, date), rows in sorted(days.items()):
        body = []
        for row in rows:
            name = f"{row['metric']}  {row['label']}" if row["label"] else row["metric"]
            for side in SIDES:
                figures = row[side]
                penalty = (f"{figures['penalty']} {row['currency']}" if figures and figures["penalty"] else "0")
                cells = ([str(figures["eligible"]), str(figures["met"]), _pct(figures["rate"]),
                          _threshold(row["threshold"]), _verdict(figures["passed"]), penalty] if figures
                         else ["—"] * 6)
                difference = _difference_cells(row["difference"], data["runs"]) if side == "b" \
                    else [""] * len(_difference_heads(data["runs"]))
                body.append([name if side == "a" else "", side.upper(), *cells, *difference])
        out.append(Section(f"{shop or NO_SHOP} · {date}",
                           ["metric", "policy", "eligible", "met", "rate", "threshold", "result", "penalty",
                            *_difference_heads(data["runs"])], body, left=2))
    return out


def changes_section(data: dict) -> Section:
    """What the change did: sessions given to another agent, queue, waits, decisions, automatic replies."""
    changes = data["changes"]
    s = changes["sessions"]
    lines = [f"sessions in both: {s['matched']}; same agent {s['same_agent']}, another agent {s['other_agent']} "
             f"({changes['routed_elsewhere']} consumers routed elsewhere); served in A only {s['served_in_a_only']}, "
             f"in B only {s['served_in_b_only']}; sessions only in A {s['only_in_a']}, only in B {s['only_in_b']}"]
    if data["runs"] > 1:
        lines.append(f"(this table, by agent and by hour: the first run, seed {data['seed']})")
    queued, pooled, waits = changes["queued"], changes["pooled"], changes["waits"]
    rows = [["consumers queued", str(queued["a"]), str(queued["b"]), count_difference(queued["a"], queued["b"])],
            ["  queued in A only / B only", "", "", f"{queued['a_only']} / {queued['b_only']}"],
            ["consumers in the offline pool", str(pooled["a"]), str(pooled["b"]),
             count_difference(pooled["a"], pooled["b"])],
            ["served from the queue or pool", str(waits["a"]["served"]), str(waits["b"]["served"]),
             count_difference(waits["a"]["served"], waits["b"]["served"])],
            ["wait, mean", seconds(waits["a"]["mean"]), seconds(waits["b"]["mean"]), ""],
            ["wait, p90", seconds(waits["a"]["p90"]), seconds(waits["b"]["p90"]), ""]]
    for action, n in changes["decisions"].items():
        rows.append([f"decisions: {action}", str(n["a"]), str(n["b"]), count_difference(n["a"], n["b"])])
    for kind, n in changes["auto_replies"].items():
        rows.append([f"auto reply {kind}: sent", str(n["a"]["sent"]), str(n["b"]["sent"]),
                     count_difference(n["a"]["sent"], n["b"]["sent"])])
        held_a, held_b = sum(n["a"]["suppressed"].values()), sum(n["b"]["suppressed"].values())
        if held_a or held_b:
            rows.append([f"auto reply {kind}: suppressed", str(held_a), str(held_b), count_difference(held_a, held_b)])
    return Section("what the change did", ["", "A", "B", "B − A"], rows, lines)


def agent_sections(data: dict) -> list[Section]:
    """Per shop, each agent's assignments, peak load and occupancy under A and B."""
    out = []
    for shop in dict.fromkeys(r["shop"] for r in data.get("by_agent") or []):
        rows = [[r["agent"], str(r["a"]["assigned"]), str(r["b"]["assigned"]), load_cell(r["a"]), load_cell(r["b"]),
                 _pct(r["a"]["occupancy"]), _pct(r["b"]["occupancy"])]
                for r in data["by_agent"] if r["shop"] == shop]
        out.append(Section(f"by agent · {shop or NO_SHOP}",
                           ["agent", "assigned A", "assigned B", "peak/cap A", "peak/cap B", "occupancy A",
                            "occupancy B"], rows))
    return out


def hour_sections(data: dict) -> list[Section]:
    """Per shop, each metric's rate by local hour under A and B."""
    out = []
    rows_of = data.get("by_hour") or []
    metrics = list(dict.fromkeys(m for r in rows_of for m in r["metrics"]))
    for shop in dict.fromkeys(r["shop"] for r in rows_of):
        rows = []
        for r in rows_of:
            if r["shop"] != shop:
                continue
            cells = [f"{r['hour']:02d}:00"]
            for metric in metrics:
                figures = r["metrics"].get(metric)
                cells += ([units(figures["a"]), units(figures["b"]), signed(figures["difference"]["points"])]
                          if figures else ["—", "—", "—"])
            rows.append(cells)
        header = ["hour", *(f"{metric} {side}" for metric in metrics for side in ("A", "B", "B − A"))]
        out.append(Section(f"by hour · {shop or NO_SHOP}", header, rows))
    return out


def sections(data: dict) -> list[Section]:
    """Every table of the comparison, in the order shown."""
    return [totals_section(data), *day_sections(data), changes_section(data), *agent_sections(data),
            *hour_sections(data)]


# --- text -------------------------------------------------------------------------------------------------------

def render_text(data: dict) -> str:
    """The comparison as aligned tables (the replay report's layout)."""
    lines = [*title_lines(data), ""]
    for section in sections(data):
        lines.append(f"== {section.title} ==")
        lines += [f"  {line}" for line in section.lines]
        lines += _table(section.header, section.rows, section.left)
        lines.append("")
    if data["agents"] == "log":
        lines.append(LOG_AGENTS_NOTE)
    return "\n".join(map(visible, lines)) + "\n"


LOG_AGENTS_NOTE = ("note: with --agents log the log's people answer as they did, whoever the policy routes a "
                   "consumer to: a change of routing, caps or queue moves who is assigned, barely the rates.")


# --- HTML -------------------------------------------------------------------------------------------------------

def render_html(data: dict) -> bytes:
    """The comparison as one self-contained page (engine/reports/html.py: offline charts, escaping, CSP): the
    rate by hour under A and B against the threshold, a chart per metric, then the tables."""
    from ..reports import html as page

    page.require_renderer()
    charts = page._Charts()
    head = title_lines(data)
    body = [f"<h1>{page._text(head[0])}</h1>", "<p>" + "<br>".join(page._text(line.strip()) for line in head[1:]) + "</p>",
            page._problems_box()]
    hours = data.get("by_hour") or []
    thresholds = {row["metric"]: row["threshold"] for row in data["metrics"]}
    figures = ['<div class="charts">']
    for metric in dict.fromkeys(m for r in hours for m in r["metrics"]):
        figures.append(charts.add(f"{metric}: rate by hour, A and B", _rate_by_hour(hours, metric, thresholds.get(metric))))
    body += [*figures, "</div>"]
    for section in sections(data):
        body.append(f"<h2>{page._text(section.title)}</h2>")
        body += [f"<p>{page._text(line)}</p>" for line in section.lines]
        body.append(page._table(section.header, section.rows, section.left))
    if data["agents"] == "log":
        body.append(f'<p class="note">{page._text(LOG_AGENTS_NOTE)}</p>')
    body.append("<footer>Charts drawn by Vega-Lite, embedded in this file: it loads nothing from the network.</footer>")
    title = page._text(f"kefu compare · shop {data['shop'] or NO_SHOP}")
    return page._page(title, "\n".join(body), page._bundle(), [[chart_id, spec] for chart_id, spec in charts.specs])


def _rate_by_hour(hours: list[dict], metric: str, threshold: Optional[dict]) -> dict:
    """A metric's rate per local hour under A and B (bars side by side), and its threshold as a dashed line."""
    from ..reports.html import CHART_HEIGHT, CHART_WIDTH, HOURS, rate_bars

    values = [{"hour": HOURS[row["hour"]], "policy": side.upper(), "rate": row["metrics"][metric][side]["rate"],
               "met": row["metrics"][metric][side]["met"], "eligible": row["metrics"][metric][side]["eligible"]}
              for row in hours if metric in row["metrics"] for side in SIDES
              if row["metrics"][metric][side]["rate"] is not None]
    color = {"field": "policy", "type": "nominal", "title": "policy", "scale": {"domain": ["A", "B"]}}
    layers: list[dict] = [rate_bars(values, "policy", color)]
    if threshold:
        layers.append({"mark": {"type": "rule", "strokeDash": [6, 4], "strokeWidth": 2, "color": "#b00020"},
                       "data": {"values": [{"threshold": threshold["value"], "rule": _threshold(threshold)}]},
                       "encoding": {"y": {"field": "threshold", "type": "quantitative"},
                                    "tooltip": [{"field": "rule", "title": "threshold"}]}})
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "layer": layers}
