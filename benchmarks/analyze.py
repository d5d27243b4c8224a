"""One full analysis cycle (queries, features, all models, anomalies, economics, exposition) against a
Prometheus holding a simulated fleet of 1,000, 10,000 and 50,000 GPUs.

Each size: a short simulated history (3 hours at 300 s, written and backfilled by a child process)
in a fresh Prometheus, then one
cycle of the packaged models with the default pricing and the fleet's inventory, timed, with the
analyzer process's peak RSS, and the exposition of the verdicts. The baseline is the smallest size:
the ratio of time per GPU shows whether cost grows faster than linearly.

Fleets larger than ``--chunk`` GPUs (10,000) are simulated as several fleets of at most that size
(seeds 3, 4, ...; distinct UUIDs) backfilled one after the other into the same Prometheus, with each
chunk's OpenMetrics text deleted once it is in blocks: one 50,000-GPU history would be about 25 GB
of text (505 MB per 1,000 GPUs) and hold 2-hour windows of it in the writer's memory.

    .venv/bin/python benchmarks/analyze.py [--sizes 1000,10000,50000] [--chunk 10000]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gpuhealth import stack
from gpuhealth.analyzers.cycle import Analyzer
from gpuhealth.analyzers.economics.pricing import load_pricing
from gpuhealth.analyzers.inventory import read_inventory_file
from gpuhealth.analyzers.predict.registry import DEFAULT, load_version
from gpuhealth.analyzers.promql import PromClient
from gpuhealth.analyzers.serve.collector import VerdictCollector
from gpuhealth.analyzers.serve.exposition import render


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def history(gpus: int, chunk: int, tmp: Path, end: float) -> dict:
    """Write and backfill the fleet's history in chunks of at most ``chunk`` GPUs; its inventory."""
    inventory: dict = {}
    t0 = time.perf_counter()
    for k, first in enumerate(range(0, gpus, chunk)):
        out = tmp / f"h{k}"
        # in a child process, so that the peak RSS measured here is the analyzer's alone
        subprocess.run([sys.executable, "-m", "gpuhealth", "sim", "history", "--gpus", str(min(chunk, gpus - first)),
                        "--days", "0.125", "--step", "300s", "--seed", str(3 + k), "--end", str(end), "--out",
                        str(out), "--backfill", str(tmp / "tsdb")], check=True, stdout=subprocess.DEVNULL)
        inventory.update(read_inventory_file(out / "assets.csv"))
        for f in out.glob("window-*.om"):
            f.unlink()
    print(f"  {gpus:>6} GPUs: history written and backfilled in {time.perf_counter() - t0:.0f} s")
    return inventory


def blocks_in(tsdb: Path) -> int:
    """The number of persisted blocks in a TSDB folder."""
    return sum(1 for p in tsdb.iterdir() if p.is_dir() and len(p.name) == 26) if tsdb.exists() else 0


def wait_for_compaction(tsdb: Path, chunks: int, limit: float = 1200.0) -> None:
    """Wait until Prometheus has merged the chunks' overlapping blocks (vertical compaction, about once a
    minute): querying one time range through several overlapping blocks costs more than through one."""
    t0 = time.perf_counter()
    start = blocks_in(tsdb)
    while blocks_in(tsdb) > start / chunks and time.perf_counter() - t0 < limit:
        time.sleep(5)
    print(f"         overlapping blocks merged by Prometheus: {start} -> {blocks_in(tsdb)} in "
          f"{time.perf_counter() - t0:.0f} s")


def one(gpus: int, tmp: Path, chunk: int) -> tuple[float, float, float, int]:
    end = float(int(time.time()) // 300 * 300)
    inventory = history(gpus, chunk, tmp, end)
    prom = stack.Prometheus(workdir=tmp / "prom", storage_path=tmp / "tsdb", retention="100y").start()
    try:
        if gpus > chunk:  # chunks overlap in time: let Prometheus merge their blocks first, as it would
            wait_for_compaction(tmp / "tsdb", -(-gpus // chunk))
        analyzer = Analyzer(PromClient(prom.url, timeout=120), load_version(DEFAULT), inventory=inventory,
                            pricing=load_pricing())
        collector = VerdictCollector(inventory)
        t0 = time.perf_counter()
        collector.result = analyzer.run(end)
        t1 = time.perf_counter()
        body = render(collector.collect())  # what the analyzer's /metrics serves
        t2 = time.perf_counter()
        judged = sum(v.status == "judged" for v in collector.result.verdicts)
        print(f"  {gpus:>6} GPUs: cycle {t1 - t0:6.2f} s ({collector.result.queries} queries, {judged} judged), "
              f"exposition {t2 - t1:5.2f} s ({len(body) / 1e6:.1f} MB), peak RSS {rss_mb():.0f} MB, "
              f"load average {os.getloadavg()[0]:.1f}")
        return t2 - t0, rss_mb(), (t2 - t0) / gpus, judged
    finally:
        prom.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--chunk", type=int, default=10000, help="GPUs per simulated history")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    for n in sizes:
        tmp = Path(tempfile.mkdtemp(prefix="gpuhealth-bench-analyze-"))
        try:
            results[n] = one(n, tmp, args.chunk)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    base = results[sizes[0]][2]
    print(f"{'GPUs':>7} {'cycle s':>8} {'peak RSS MB':>11} {'ms/GPU':>7} {'x smallest':>10}")
    for n, (secs, rss, per, _j) in results.items():
        print(f"{n:>7} {secs:8.2f} {rss:11.0f} {per * 1000:7.3f} {per / base:10.2f}")
    print("targets: <= 10 s and <= 1 GB RSS at 10,000 GPUs; time per GPU not growing with the fleet")


if __name__ == "__main__":
    main()
