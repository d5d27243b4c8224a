"""Benchmark: simulated history generation and backfill, against named baselines run side by side.

Figures (256 GPUs x 14 days at 300 s by default, about 52 million samples):
- generation: samples/s of `generate_history` (bulk % templates, background writes), against the
  baseline "one f-string per line" writer (the straightforward renderer) on the first windows;
- backfill: samples/s of `backfill` (one promtool per 2-hour window file, two at a time), against
  the baseline "one promtool run on one file" holding the same first windows;
- pipelined: `generate_history(..., backfill_to=...)` (promtool beside the simulation), against
  generation + backfill run one after the other, and against the 180 s target.

    .venv/bin/python benchmarks/sim.py [--gpus 256] [--days 14] [--baseline-windows 4] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from gpuhealth.binaries import find_binary
from gpuhealth.sim import history as h

TARGET_SECONDS = 180.0


class NaiveWriter(h._Writer):
    """The baseline renderer: one Python f-string per sample line."""

    def _family(self, out, name, typ, helptext, sample_name, label_sets, matrix, ts, cache=True):
        out.append(f"# HELP {name} {helptext}\n# TYPE {name} {typ}\n")
        for j, labels in enumerate(label_sets):
            prefix = f"{sample_name}{{{labels}}} "
            col = matrix[:, j]
            lines = [f"{prefix}{v:.17g} {t}\n" for v, t in zip(col, ts, strict=True) if not np.isnan(v)]
            self.samples += len(lines)
            out.append("".join(lines))


def render_windows(config: h.HistoryConfig, windows: int, writer_cls: type, out: Path) -> tuple[float, int]:
    """Simulate and render the first ``windows`` windows with writer_cls; returns (render seconds, samples)."""
    fleet, start = h.make_fleet(config)
    engine = h.Engine(fleet)
    writer = writer_cls(fleet)
    per = h.WINDOW // config.step_seconds
    out.mkdir(parents=True, exist_ok=True)
    spent = 0.0
    k = 0
    for w in range(windows):
        buf_t, buf_v, buf_up, buf_x = [], {f.key: [] for f in h.FIELDS}, [], []
        for _ in range(per):
            k += 1
            t = start + k * config.step_seconds
            values = engine.step(float(k * config.step_seconds))
            buf_t.append(t)
            for key, v in values.items():
                buf_v[key].append(v)
            buf_up.append(engine.up.astype(float))
            buf_x.append(engine.xid_counts.copy())
        t0 = time.perf_counter()
        text = writer.render(buf_t, {key: np.array(v) for key, v in buf_v.items()}, np.array(buf_up),
                             np.array(buf_x))
        (out / f"window-{w:04d}.om").write_text(text)
        spent += time.perf_counter() - t0
    return spent, writer.samples


def main() -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gpus", type=int, default=256)
    ap.add_argument("--days", type=float, default=14.0)
    ap.add_argument("--step", type=int, default=300)
    ap.add_argument("--baseline-windows", type=int, default=4)
    ap.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = ap.parse_args()
    scratch = args.dir or Path(tempfile.mkdtemp(prefix="gpuhealth-bench-sim-"))
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    cfg = h.HistoryConfig(gpus=args.gpus, days=args.days, step_seconds=args.step, seed=7)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start (shared machine)")
    print(f"history: {args.gpus} GPUs x {args.days:g} days at {args.step} s")

    # 1. generation, and the naive writer on the first windows
    t0 = time.perf_counter()
    summary = h.generate_history(cfg, scratch / "hist", progress=False)
    gen_s = time.perf_counter() - t0
    gen_rate = summary["samples"] / gen_s
    fast_s, fast_n = render_windows(cfg, args.baseline_windows, h._Writer, scratch / "fast")
    naive_s, naive_n = render_windows(cfg, args.baseline_windows, NaiveWriter, scratch / "naive")
    print(f"generation: {summary['samples']:,} samples in {gen_s:.1f} s = {gen_rate:,.0f} samples/s "
          f"({summary['files']} files, {summary['failures']} failures)")
    print(f"  render+write of {args.baseline_windows} windows: templates {fast_n / fast_s:,.0f} samples/s, "
          f"baseline one f-string per line {naive_n / naive_s:,.0f} samples/s: {naive_s / fast_s:.1f}x faster")

    # 2. backfill, and promtool on one file holding the same first windows
    t0 = time.perf_counter()
    blocks = h.backfill(scratch / "hist", scratch / "tsdb", progress=False)
    bf_s = time.perf_counter() - t0
    bf_rate = summary["samples"] / bf_s
    first = sorted((scratch / "hist").glob("window-*.om"))[: args.baseline_windows]
    sub = scratch / "sub"
    sub.mkdir()
    for p in first:
        os.link(p, sub / p.name)
    t0 = time.perf_counter()
    h.backfill(sub, scratch / "tsdb-sub", progress=False)
    per_window_s = time.perf_counter() - t0
    one = scratch / "one.om"
    with open(one, "w") as fh:
        for p in first:
            fh.write(p.read_text().removesuffix("# EOF\n"))
        fh.write("# EOF\n")
    promtool = find_binary("promtool", "/usr/bin/promtool")
    t0 = time.perf_counter()
    subprocess.run([str(promtool), "tsdb", "create-blocks-from", "openmetrics", str(one), str(scratch / "tsdb-one")],
                   check=True, capture_output=True)
    one_s = time.perf_counter() - t0
    print(f"backfill: {blocks} blocks in {bf_s:.1f} s = {bf_rate:,.0f} samples/s")
    print(f"  {len(first)} windows: one file per window, two at a time {per_window_s:.1f} s; baseline one file "
          f"{one_s:.1f} s: {one_s / per_window_s:.1f}x faster")

    # 3. pipelined history + backfill, against the sequential sum and the target
    shutil.rmtree(scratch / "tsdb-sub", ignore_errors=True)
    shutil.rmtree(scratch / "tsdb-one", ignore_errors=True)
    t0 = time.perf_counter()
    h.generate_history(cfg, scratch / "hist", progress=False, backfill_to=scratch / "tsdb2")
    pipe_s = time.perf_counter() - t0
    print(f"history+backfill pipelined: {pipe_s:.1f} s = {summary['samples'] / pipe_s:,.0f} samples/s; sequential "
          f"{gen_s + bf_s:.1f} s ({(gen_s + bf_s) / pipe_s:.2f}x); target {TARGET_SECONDS:.0f} s "
          f"({TARGET_SECONDS / pipe_s:.2f}x of it)")
    print(f"load average at end {os.getloadavg()[0]:.2f}; disk: history files "
          f"{sum(p.stat().st_size for p in (scratch / 'hist').glob('*.om')) / 1e9:.1f} GB")
    if args.dir is None:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
