"""Prediction quality on simulated fleets held out from training, through the online feature path.

The packaged default models were trained on seeds 7 and 8 with the default model mix. This evaluates
them on other seeds (99 and 101 by default, pooled) and another mix of GPU models and racks: each
history is simulated, backfilled into a real Prometheus and read back with the same fleet-wide
PromQL feature queries that `gpuhealth analyze --at` runs. It prints PR-AUC for "fails within 7
days", recall at precision 0.8 and the median lead time for each model, beside the heuristic (the
baseline), with and without the failures that have no precursor, and a calibration check (mean
predicted probability against the observed rate, by decile of prediction).

    .venv/bin/python benchmarks/predict.py [--gpus 256] [--days 31] [--seeds 99,101] [--cache DIR]

``--cache DIR`` keeps each built fleet's rows (an .npz named by its parameters) so that a rerun
evaluates again without simulating and backfilling again.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from gpuhealth.analyzers.registry import DEFAULT, load_version
from gpuhealth.analyzers.training import Dataset, evaluate, sim_dataset, subset_prediction

MIX = {"a100": 0.45, "h200": 0.3, "l40s": 0.25}  # another mix than training's (h100-heavy)


def fleet(gpus: int, days: float, seed: int, hazard_scale: float, cache: Path | None) -> Dataset:
    """One held-out fleet's rows, from the cache when it holds them."""
    name = f"fleet-g{gpus}-d{days:g}-s{seed}-h{hazard_scale:g}-{'-'.join(f'{k}{v:g}' for k, v in MIX.items())}.npz"
    if cache is not None and (cache / name).exists():
        return Dataset.load(cache / name)
    ds = sim_dataset(gpus, days, seed, hazard_scale, model_mix=MIX)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        ds.save(cache / name)
    return ds


def calibration(y: np.ndarray, p: np.ndarray, bins: int = 10) -> tuple[float, list[tuple[float, float, int]]]:
    """Expected calibration error over deciles of prediction, and (mean predicted, observed, rows) per decile."""
    order = np.argsort(p, kind="stable")
    rows = []
    ece = 0.0
    for chunk in np.array_split(order, bins):
        if len(chunk):
            pred, obs = float(p[chunk].mean()), float(y[chunk].mean())
            rows.append((pred, obs, len(chunk)))
            ece += len(chunk) / len(p) * abs(pred - obs)
    return ece, rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpus", type=int, default=256)
    ap.add_argument("--days", type=float, default=31)
    ap.add_argument("--seeds", default="99,101")
    ap.add_argument("--hazard-scale", type=float, default=40.0)
    ap.add_argument("--models", type=Path, default=DEFAULT, help="a model version folder (default: packaged)")
    ap.add_argument("--cache", type=Path, default=None)
    args = ap.parse_args()
    t0 = time.monotonic()
    seeds = [int(s) for s in args.seeds.split(",")]
    ds = Dataset.concat([fleet(args.gpus, args.days, s, args.hazard_scale, args.cache) for s in seeds])
    failing = np.isfinite(ds.failed_at)
    print(f"held-out fleets: seeds {seeds}, {args.gpus} GPUs x {args.days:g} days each, mix {MIX}, hazard scale "
          f"{args.hazard_scale:g}; {len(ds.uuid)} rows, {int(ds.y['7d'].sum())} positive (7 d), "
          f"{len(np.unique(ds.uuid[failing]))} failing GPUs "
          f"({len(np.unique(ds.uuid[failing & ds.precursor]))} with a precursor); built in "
          f"{time.monotonic() - t0:.0f} s; load average {os.getloadavg()[0]:.1f}")
    models = load_version(args.models)
    no_sudden = ~(failing & ~ds.precursor)
    sub = ds.subset(no_sudden)
    rows, preds = {}, {}
    for kind, model in models.items():
        pred = model.predict(ds.x)  # same accelerated base rate as training: no calibration here
        preds[kind] = pred
        rows[kind] = (evaluate(ds, pred), evaluate(sub, subset_prediction(pred, no_sudden)))
    base = rows["heuristic"]
    print(f"{'model':10s} {'failures':15s} {'PR-AUC 7d':>9s} {'x heur.':>7s} {'recall@P0.8':>11s} "
          f"{'lead (d)':>8s} {'PR-AUC 30d':>10s} {'P@0.5':>6s} {'R@0.5':>6s}")
    for kind, (all_, pre) in rows.items():
        for label, m, b in (("all", all_, base[0]), ("with precursor", pre, base[1])):
            ratio = m["pr_auc_7d"] / b["pr_auc_7d"] if b["pr_auc_7d"] else float("nan")
            print(f"{kind:10s} {label:15s} {m['pr_auc_7d']:9.3f} {ratio:7.2f} {m['recall_at_precision_0.8']:11.3f} "
                  f"{m['median_lead_days']:8.1f} {m['pr_auc_30d']:10.3f} {m['precision_at_0.5']:6.3f} "
                  f"{m['recall_at_0.5']:6.3f}")
    print("calibration, 7 d, all rows (expected calibration error; mean predicted / observed in the top deciles):")
    for kind, pred in preds.items():
        ece, deciles = calibration(ds.y["7d"], pred.probability["7d"])
        top = ", ".join(f"{p:.3f}/{o:.3f}" for p, o, _n in deciles[-3:])
        print(f"  {kind:10s} ECE {ece:.3f}; top deciles {top}")
    print("targets (best model, failures with precursor): PR-AUC >= 0.8, recall >= 0.7 at precision >= 0.8, "
          "median lead >= 3 days")
    print(json.dumps({k: {"all": v[0], "with_precursor": v[1]} for k, v in rows.items()}, default=float))


if __name__ == "__main__":
    main()
