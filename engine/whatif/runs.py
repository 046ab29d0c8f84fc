"""`--runs N`: a replay repeated with seeds S, S+1, …, and each metric's mean and 95 % interval across runs.

The interval is Student's t over the runs' rates of a shop, day and metric: mean ± t(0.975, n−1) · s / √n
(s the runs' sample standard deviation). Runs whose metric has no eligible unit are left out of it; with
fewer than two rates there is no interval (null).
"""

from __future__ import annotations

import math
from typing import Any, Optional


T_975 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
         2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
         2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272)
"""The 0.975 quantile of Student's t with 1 to 30 degrees of freedom."""
Z_975 = 1.959964


def t_quantile(df: int) -> float:
    """The 0.975 quantile of Student's t: a table to 30 degrees of freedom, then the Cornish-Fisher series."""
    if df < 1:
        raise ValueError("an interval needs two runs or more")
    if df <= len(T_975):
        return T_975[df - 1]
    z = Z_975
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def t_interval(values: list[float]) -> tuple[Optional[float], Optional[float], Optional[float]]:
    """Mean and 95 % t-interval of values (mean, low, high); no interval from fewer than two values, nothing
    from none (the runs' rates here, the runs' differences in kefu compare)."""
    if not values:
        return None, None, None
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None, None
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def round6(value: Optional[float]) -> Optional[float]:
    """A figure as reports write it: six decimals, never -0.0."""
    return None if value is None else round(value, 6) + 0.0


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
        mean, low, high = t_interval(present)
        metrics.append({"shop": shop, "date": day, "metric": metric, "runs": len(present),
                        "mean": round6(mean), "low": round6(low), "high": round6(high), "rates": rates})
    return {"count": len(reports), "seeds": seeds, "metrics": metrics}


def runs_cells(runs: dict) -> tuple[str, list[str], list[list[str]]]:
    """The runs' section for the text and HTML reports: its title, and a table of each metric's mean and 95 %
    interval in percent (the first three columns left-aligned)."""
    from ..replay import NO_SHOP, _pct

    body = [[r["shop"] or NO_SHOP, r["date"], r["metric"], str(r["runs"]), _pct(r["mean"]),
             "—" if r["low"] is None else f"{_pct(r['low'])} – {_pct(r['high'])}"] for r in runs["metrics"]]
    seeds = runs["seeds"]
    title = f"{runs['count']} runs (seeds {seeds[0]}–{seeds[-1]}): each metric's mean and 95 % interval"
    return title, ["shop", "date", "metric", "runs", "mean", "95% interval"], body


def render_runs(runs: dict) -> list[str]:
    """The runs' section as text lines: a metric per row, its mean and 95 % interval in percent."""
    from ..replay import _table

    title, header, body = runs_cells(runs)
    return [f"== {title} ==", *_table(header, body, left=3), ""]


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
