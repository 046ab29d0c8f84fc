"""`--runs N`: a replay repeated with seeds S, S+1, …, and each metric's mean and 95 % interval across runs.

The interval is Student's t over the runs' rates of a shop, day and metric: mean ± t(0.975, n−1) · s / √n
(s the runs' sample standard deviation). Runs whose metric has no eligible unit are left out of it; with
fewer than two rates there is no interval (null).
"""

from __future__ import annotations

from typing import Any


def t975(df: int) -> float:
    """Student's t quantile at 0.975 for df degrees of freedom (the one table of kefu compare)."""
    if df < 1:
        raise ValueError("an interval needs two runs or more")
    from .compare import t_quantile
    return t_quantile(df)


def interval(values: list[float]) -> tuple[float, float | None, float | None]:
    """Mean and 95 % interval (low, high) of values; no interval for fewer than two."""
    from .compare import t_interval
    mean, low, high = t_interval(values)
    assert mean is not None   # values is never empty here (summarise passes the rates present)
    return mean, low, high


def summarise(reports: list[dict], seeds: list[int]) -> dict[str, Any]:
    """The runs' section of the report: per shop, day and metric the rate of each run, its mean and interval."""
    rows: dict[tuple[str, str, str], list[float | None]] = {}
    for i, report in enumerate(reports):
        for row in report["metrics"]:
            key = (row["shop"], row["date"], row["metric"])
            rows.setdefault(key, [None] * len(reports))[i] = row["rate"]
    metrics = []
    for (shop, day, metric), rates in sorted(rows.items()):
        present = [r for r in rates if r is not None]
        mean, low, high = interval(present) if present else (None, None, None)
        metrics.append({"shop": shop, "date": day, "metric": metric, "runs": len(present),
                        "mean": _round(mean), "low": _round(low), "high": _round(high), "rates": rates})
    return {"count": len(reports), "seeds": seeds, "metrics": metrics}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def render_runs(runs: dict) -> list[str]:
    """The runs' section as text lines: a metric per row, its mean and 95 % interval in percent."""
    from ..replay import _table

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value * 100:.1f}%"

    body = [[r["shop"] or "(no shop id)", r["date"], r["metric"], str(r["runs"]), pct(r["mean"]),
             "—" if r["low"] is None else f"{pct(r['low'])} – {pct(r['high'])}"] for r in runs["metrics"]]
    seeds = runs["seeds"]
    head = f"== {runs['count']} runs (seeds {seeds[0]}–{seeds[-1]}): each metric's mean and 95 % interval =="
    return [head, *_table(["shop", "date", "metric", "runs", "mean", "95% interval"], body, left=3), ""]


def replay_report(policy: Any, files: list[str], seed: int, model: Any, by: tuple[str, ...], shop: str | None,
                  staff: Any = None) -> dict:
    """The report of one more run (no decisions written): a worker of `--runs` calls it."""
    from ..replay import replay, report_dict
    from .actor import ModelActor
    actor = ModelActor(model, seed, staff) if model is not None else None
    return report_dict(replay(policy, list(files), seed=seed, by=by, shop=shop, actor=actor))


def more_runs(policy: Any, files: list[str], seeds: list[int], model: Any, by: tuple[str, ...], shop: str | None,
              jobs: int, staff: Any = None) -> list[dict]:
    """The reports of the runs after the first, in seed order, over `jobs` processes (1: in this one)."""
    if jobs <= 1 or len(seeds) <= 1:
        return [replay_report(policy, files, seed, model, by, shop, staff) for seed in seeds]
    from concurrent.futures import ProcessPoolExecutor
    from ..fleet import worker_context
    with ProcessPoolExecutor(max_workers=min(jobs, len(seeds)), mp_context=worker_context()) as pool:
        return list(pool.map(replay_report, *zip(*[(policy, files, seed, model, by, shop, staff) for seed in seeds])))
