"""Prediction and decision quality on simulated fleets held out from training, through the online
feature path.

Two sections (``--section ranking|decisions|all``).

**ranking**:
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

**decisions**: what the operator is told, judged against what happened. For each held-out fleet (a
realistic failure share: ``--decision-hazard 16`` puts a few percent of the GPUs into a failure over
three weeks, with the simulator's benign look-alikes) — the simulator's own fleet and one with variety
(other precursor shapes, lengths, magnitudes, noise and more look-alikes: ``FleetConfig.variety``), each
with every family and with dcgm-exporter's default families only — it writes the history, backfills it,
and at instants from day 21 on runs the whole analysis cycle (``Analyzer.run``: features, models,
economics) against a real Prometheus that holds only the last 2 hours, 2 days or 3 weeks of it (a
Prometheus deployed that long ago: the blocks of that span, hard-linked into a TSDB of their own). The
analyzer is told the fleet's hazard over the published one (``base_rate_factor``), so that each GPU's
prior is its model's published hazard at its age times that factor, as it is the published one on a
real fleet. It prints, per fleet and age: the share of healthy GPUs (no failure
within 30 days) advised repair or decommission (target <= 5 %), the share of GPUs failing within 7
days after a precursor advised keep (<= 30 %), expected failures (sum of p7) against real ones
(within 2x; beside it, what the GPUs' priors alone expect: how far the fleet's draw of failures is
from its hazard), and PR-AUC 7 d of XGBoost and of the heuristic on failures with a precursor.

    .venv/bin/python benchmarks/predict.py --section decisions [--decision-gpus 256] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gpuhealth.analyzers.economics.decisions import decision_quality
from gpuhealth.analyzers.predict.registry import DEFAULT, load_version
from gpuhealth.analyzers.predict.training import Dataset, average_precision, evaluate, sim_dataset, subset_prediction

DAY = 86400.0
AGES = {"2h": 7200.0, "2d": 2 * DAY, "3w": 21 * DAY}
SCENARIOS = (("simulator", False, "full"), ("simulator", False, "dcgm-default"),
             ("variety", True, "full"), ("variety", True, "dcgm-default"))

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


def ranking(args: argparse.Namespace) -> None:
    """PR-AUC, recall and lead time on rows every 6 hours from day 7 of held-out fleets."""
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


def _history(workdir: Path, gpus: int, days: float, seed: int, hazard: float, variety: bool, families: str,
             end: float) -> tuple[Path, dict, dict]:
    """One held-out fleet's blocks (one per 2-hour window), ground truth and inventory."""
    from gpuhealth.sim.history import HistoryConfig, generate_history

    out = workdir / f"{'variety' if variety else 'simulator'}-{families}-g{gpus}-d{days:g}-s{seed}-h{hazard:g}"
    if not (out / "done").exists():
        shutil.rmtree(out, ignore_errors=True)
        config = HistoryConfig(gpus=gpus, days=days, step_seconds=300, seed=seed, end=end, hazard_scale=hazard,
                               model_mix=MIX, variety=variety, families=families)
        summary = generate_history(config, out / "history", backfill_to=out / "blocks", keep_text=False)
        (out / "done").write_text(json.dumps(summary))
    summary = json.loads((out / "done").read_text())
    truth = {}
    with open(out / "history" / "ground_truth.csv") as fh:
        for r in csv.DictReader(fh):
            failed = (datetime.fromisoformat(r["failed_at"].replace("Z", "+00:00")).timestamp() if r["failed_at"]
                      else np.inf)
            truth[r["UUID"]] = (failed, r["precursor"] == "true")
    return out, summary, truth


def _tsdb_of_span(blocks: Path, into: Path, since: float, until: float) -> Path:
    """A TSDB holding only the blocks of [since, until): a Prometheus deployed at ``since``, read at ``until``."""
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    for block in blocks.iterdir():
        meta = block / "meta.json"
        if meta.exists():
            lo = json.loads(meta.read_text())["minTime"] / 1000.0
            if since <= lo < until:
                shutil.copytree(block, into / block.name, copy_function=os.link)
    return into


def decisions(args: argparse.Namespace) -> None:
    """The decision table: false actions, missed failures and expected against real failures, by fleet
    and age of history."""
    from gpuhealth import stack
    from gpuhealth.analyzers.cycle import Analyzer
    from gpuhealth.analyzers.economics.pricing import load_pricing
    from gpuhealth.analyzers.inventory import load_inventory
    from gpuhealth.analyzers.promql import PromClient

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="gpuhealth-decisions-"))
    end = float(int(time.time()) // 7200 * 7200)
    quiet = not sys.stderr.isatty()
    table = []
    for name, variety, families in SCENARIOS:
        if args.fleets and f"{name}-{families}" not in args.fleets.split(","):
            continue
        t0 = time.monotonic()
        out, summary, truth = _history(workdir, args.decision_gpus, args.decision_days, args.decision_seed,
                                       args.decision_hazard, variety, families, end)
        built = time.monotonic() - t0
        inventory = load_inventory(path=out / "history" / "assets.csv")
        models = load_version(args.models)
        # a minute before a block's end: the last 5-minute sample is within an instant query's lookback
        first = np.ceil((summary["start"] + 21 * DAY) / 7200) * 7200 + 7200 - 60
        instants = [first + k * 12 * 3600 for k in range(args.decision_instants)]
        for age, span in AGES.items():
            records = []
            for at in tqdm(instants, desc=f"{name} {families} {age}", disable=quiet):
                # hard links: Prometheus compacts the blocks it is given, and the originals must stay as written
                tsdb = _tsdb_of_span(out / "blocks", out / f"tsdb-{age}", at - span, at)
                prom = stack.Prometheus(workdir=out / f"prom-{age}", storage_path=tsdb, retention="100y").start()
                try:
                    analyzer = Analyzer(PromClient(prom.url), models, "xgboost", inventory, load_pricing(None),
                                        base_rate_factor=args.decision_hazard)
                    result = analyzer.run(at)
                finally:
                    prom.stop()
                prior = dict(zip(result.frame.uuids, analyzer.priors(result.frame)["7d"], strict=True))
                for v in result.verdicts:
                    if v.status == "unknown" or v.uuid not in truth:
                        continue
                    failed_at, precursor = truth[v.uuid]
                    p = v.probability
                    records.append((v.valuation.recommended_action, p["xgboost"]["7d"], p["heuristic"]["7d"],
                                    failed_at, precursor, at, v.uuid, prior[v.uuid]))
            action, p7, p7h, failed_at, precursor, ats, uuids, q7 = (np.array(c) for c in zip(*records, strict=True))
            q = decision_quality(action, p7.astype(float), failed_at.astype(float), precursor.astype(bool),
                                 ats.astype(float), uuids)
            live = failed_at > ats
            label = (failed_at <= ats + 7 * DAY) & live
            keep_rows = live & ~(label & ~precursor.astype(bool))  # failures with a precursor (and the rest)
            # what the GPUs' priors alone expect (no telemetry): how far the fleet's draw is from its hazard
            q["prior_failures_7d"] = float(q7[live].astype(float).sum())
            q["pr_auc_xgboost"] = average_precision(label[keep_rows].astype(float), p7[keep_rows].astype(float))
            q["pr_auc_heuristic"] = average_precision(label[keep_rows].astype(float), p7h[keep_rows].astype(float))
            q.update(fleet=name, families=families, age=age, built_seconds=round(built))
            table.append(q)
            print(f"{name:9s} {families:12s} {age:>3s}  {q['gpu_instants']:5d} GPU-instants  false actions "
                  f"{q['false_actions']:3d}/{q['healthy']:5d} = {q['false_action_share']:6.1%}  missed "
                  f"{q['missed']:2d}/{q['failing_7d_with_precursor']:2d} = {q['missed_share']:6.1%} "
                  f"({q['gpus_failing_7d_with_precursor']} GPUs)  expected "
                  f"{q['expected_failures_7d']:6.2f} vs {q['failures_7d']:3d} real ({q['expected_over_real']:.2f}x; "
                  f"priors alone {q['prior_failures_7d'] / q['failures_7d']:.2f}x)  "
                  f"PR-AUC xgboost {q['pr_auc_xgboost']:.3f} heuristic {q['pr_auc_heuristic']:.3f}", flush=True)
    print(f"fleets: {args.decision_gpus} GPUs x {args.decision_days:g} days, seed {args.decision_seed}, mix {MIX}, "
          f"hazard {args.decision_hazard:g}x the published rate; {args.decision_instants} instants 12 h apart from "
          f"day 21; load average {os.getloadavg()[0]:.1f}")
    print("targets: false actions <= 5 %, missed <= 30 % (3 weeks), expected within 2x of real")
    print(json.dumps(table, default=float))
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--section", choices=("ranking", "decisions", "all"), default="all")
    ap.add_argument("--gpus", type=int, default=256)
    ap.add_argument("--days", type=float, default=31)
    ap.add_argument("--seeds", default="99,101")
    ap.add_argument("--hazard-scale", type=float, default=40.0)
    ap.add_argument("--models", type=Path, default=DEFAULT, help="a model version folder (default: packaged)")
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--decision-gpus", type=int, default=256)
    ap.add_argument("--decision-days", type=float, default=31)
    ap.add_argument("--decision-seed", type=int, default=201)
    ap.add_argument("--decision-hazard", type=float, default=16.0)
    ap.add_argument("--decision-instants", type=int, default=7)
    ap.add_argument("--workdir", type=Path, default=None, help="keep the decision fleets' blocks here for a rerun")
    ap.add_argument("--fleets", default="", help="only these decision fleets, e.g. simulator-full,variety-dcgm-default")
    args = ap.parse_args()
    if args.section in ("ranking", "all"):
        ranking(args)
    if args.section in ("decisions", "all"):
        decisions(args)


if __name__ == "__main__":
    main()
