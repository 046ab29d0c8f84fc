"""`kefu import` against `kefu replay` on the same number of events (the issue's target: import at least
half as fast as the replay).

A log of --count events is generated for the Douyin example shop; its messages are written as a 千牛-like
CSV (GB18030) for rulesets/imports/qianniu.yaml. The script times the import of that CSV to a log (best
of --repeat) and the replay of the imported log through the example policy, and prints events per second
of each and their ratio.

    python benchmarks/bench_import.py                  # 200,000 events
    python benchmarks/bench_import.py --count 50000 --repeat 1
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import orjson  # noqa: E402

from bench_decode import make_log  # noqa: E402
from engine.importer import import_rows, load_mapping, rows  # noqa: E402
from engine.loader import Loader  # noqa: E402
from engine.replay import replay  # noqa: E402

POLICY = ROOT / "rulesets" / "examples" / "douyin-flagship.kefu"
MAPPING = ROOT / "rulesets" / "imports" / "qianniu.yaml"
CST = timezone(timedelta(hours=8))


def write_csv(log: Path, out: Path) -> int:
    """The log's messages as a 千牛-like export; returns the rows written."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["时间", "店铺", "买家", "客服", "发送方", "内容", "来源页面"])
    n = 0
    for line in log.read_bytes().splitlines():
        e = orjson.loads(line)
        if e["type"] != "message" or e["sender"] not in ("consumer", "agent"):
            continue
        when = datetime.fromisoformat(e["ts"]).astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")
        writer.writerow([when, e.get("shop", ""), e["consumer"], e.get("agent", ""),
                         "买家" if e["sender"] == "consumer" else "客服", e.get("text", ""), ""])
        n += 1
    out.write_bytes(buffer.getvalue().encode("gb18030"))
    return n


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        log, export, imported = Path(tmp) / "gen.jsonl", Path(tmp) / "export.csv", Path(tmp) / "imported.jsonl"
        make_log(log, args.count, POLICY, 1)
        n = write_csv(log, export)
        mapping = load_mapping(MAPPING, MAPPING.name)

        def run_import() -> int:
            _, records = rows(export, mapping)
            with open(imported, "wb") as out:
                return import_rows(mapping, records, out, lambda *a: None).events

        def run_replay() -> int:
            policy = Loader().load(POLICY).policy
            assert policy is not None
            with open(imported, "rb") as stream:
                return replay(policy, stream).stats.accepted

        best = {}
        for name, work in (("import", run_import), ("replay", run_replay)):
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                events = work()
                times.append(time.perf_counter() - start)
            best[name] = (events, min(times))
        print(f"export: {n:,} rows (the messages of {args.count:,} generated events), GB18030 CSV; best of {args.repeat}")
        for name, (events, seconds) in best.items():
            print(f"{name:<8}{events:>12,} events {seconds:>8.2f} s {events / seconds:>12,.0f} events/s")
        ratio = (best["import"][0] / best["import"][1]) / (best["replay"][0] / best["replay"][1])
        print(f"import / replay throughput: {ratio:.2f} (target ≥ 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
