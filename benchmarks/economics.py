"""Benchmark: the economics step of an analysis cycle at 10,000 GPUs (target: well under 1 s).

Times value_fleet (numpy over GPUs x time steps) plus economics_metric_families, and beside it, in the same
run, the baseline of a per-GPU Python loop of value_gpu. Usage: .venv/bin/python benchmarks/economics.py [--gpus N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gpuhealth.analyzers.economics.pricing import load_pricing
from gpuhealth.analyzers.economics.valuation import GpuEconInput, economics_metric_families, value_fleet, value_gpu
from gpuhealth.catalog import Asset

MODELS = ["NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB", "NVIDIA H200", "NVIDIA L40S"]


def fleet(n: int, seed: int = 0) -> tuple[list[GpuEconInput], dict[str, Asset]]:
    rng = np.random.default_rng(seed)
    gpus, assets = [], {}
    for i in range(n):
        uuid = f"GPU-{i:08x}-0000-0000-0000-000000000000"
        model = MODELS[i % 4]
        p30 = float(rng.beta(0.3, 8))
        gpus.append(GpuEconInput(uuid, model, float(rng.uniform(0, 2000)), float(rng.uniform(0, 1)),
                                 float(rng.uniform(60, 700)), p30 / 3, p30,
                                 ["memory", "thermal", None][i % 3], float(rng.poisson(0.5)), float(rng.poisson(2))))
        assets[uuid] = Asset(uuid, str(i), model, f"node-{i // 8}", f"dc{i % 3}", f"r{i // 32}", "2024-01-01", 1.0)
    return gpus, assets


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpus", type=int, default=10_000)
    ap.add_argument("--baseline-gpus", type=int, default=2_000, help="GPUs in the per-GPU loop (scaled up)")
    args = ap.parse_args()
    pricing = load_pricing()
    gpus, assets = fleet(args.gpus)

    def step():
        vals = value_fleet(gpus, pricing)
        return sum(len(f.samples) for f in economics_metric_families(vals, assets))

    t_value = best_of(lambda: value_fleet(gpus, pricing), 3)
    t_step = best_of(step, 3)
    sub = gpus[: args.baseline_gpus]
    t_loop = best_of(lambda: [value_gpu(g, pricing) for g in sub], 1) * len(gpus) / len(sub)
    print(f"GPUs: {len(gpus)}, samples exported: {step()}")
    print(f"value_fleet: {t_value * 1000:.0f} ms")
    print(f"value_fleet + economics_metric_families: {t_step * 1000:.0f} ms (target < 1000 ms)")
    print(f"baseline, per-GPU loop of value_gpu ({len(sub)} GPUs timed, scaled to {len(gpus)}): "
          f"{t_loop * 1000:.0f} ms -> vectorised is {t_loop / t_value:.0f}x faster")


if __name__ == "__main__":
    main()
