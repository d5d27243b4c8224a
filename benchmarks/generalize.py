"""How the failure predictors do on what they were not trained on: leave-one-out cross-validation by
precursor shape, lead-time range, family set and fleet kind, beside held-out GPUs of the same fleets.

The rows are those `gpuhealth model train` learns from (``training.sim_dataset``: simulated histories
backfilled into a real Prometheus and read back with the analyzer's fleet-wide PromQL feature
queries), of the packaged models' four training fleets of 320 GPUs x 35 days at hazard scale 40
(``training.TRAINING_FLEETS``): two with variety (``FleetConfig.variety``: five precursor shapes, lead
times from hours to three weeks, magnitudes, noise levels, driver reloads and more benign
look-alikes), two of the simulator's own kind, one of each with every family and one with
dcgm-exporter's default families only (the one with variety sampled every 2 minutes, the others
every 5). Each split trains every model on the rows
without the held-out kind and tests on the rows with it (``analyzers/predict/validation.py``); the heuristic
is not trained and is the baseline. Printed per split and model, on failures with a precursor:
PR-AUC 7 d and its ratio to the heuristic's, recall at precision >= 0.8, median lead, and the first two
again without the rows from before the precursor began (nothing to see yet); and on every test row, as
on a real fleet (the trained models' odds shifted to the published base rate, as the analyzer does):
the share of healthy rows advised repair or decommission and of failing ones after a precursor advised
keep, and expected failures (sum of p7, at the test rows' own base rate) against real ones.

    .venv/bin/python benchmarks/generalize.py [--cache DIR] [--kinds heuristic,survival,xgboost]
        [--splits gpus,shape,lead,families,fleet] [--candidates]

``--cache DIR`` keeps each fleet's rows (an .npz per fleet) so that a rerun does not simulate again.
``--candidates`` compares XGBoost's candidate feature sets and settings on the same splits (how the
packaged ones were chosen) and prints the worst and mean PR-AUC of each.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from gpuhealth.analyzers.predict.features import PEER_FEATURES
from gpuhealth.analyzers.predict.models import XGBOOST_FEATURES, XGBoostModel
from gpuhealth.analyzers.predict.training import TRAINING_FLEETS, training_rows
from gpuhealth.analyzers.predict.validation import SPLIT_KINDS, cross_validate


def row(split, kind: str, m: dict, base: dict) -> str:
    """One table row."""
    d = m["decisions"]
    ratio = m["pr_auc_7d"] / base["pr_auc_7d"] if base["pr_auc_7d"] else float("nan")
    real = d.get("failures_7d", 0)
    expected = d.get("expected_failures_7d", float("nan"))
    b = m["precursor_begun"]
    return (f"| {split.name} | {kind} | {m['test_failing_gpus']} | {m['pr_auc_7d']:.3f} | {ratio:.2f} | "
            f"{m['recall_at_precision_0.8']:.3f} | {m['median_lead_days']:.1f} d | {b['pr_auc_7d']:.3f} | "
            f"{b['recall_at_precision_0.8']:.3f} | {d.get('false_action_share', float('nan')):.1%} | "
            f"{d.get('missed_share', float('nan')):.0%} | {expected:.0f} / {real} |")


# XGBoost candidates compared with --candidates: (name, features, parameter overrides)
ABSOLUTE_COUNTS = ("sbe_1d", "sbe_7d", "pcie_replay_1d", "pcie_replay_7d", "nvlink_errors_1d")


def candidates() -> list[tuple[str, tuple[str, ...], dict]]:
    """The feature sets and settings --candidates compares."""
    base = tuple(n for n in XGBOOST_FEATURES if n not in PEER_FEATURES)
    relative = tuple(n for n in XGBOOST_FEATURES if n not in ABSOLUTE_COUNTS)
    return [("without peer features", base, {}), ("with peer features", XGBOOST_FEATURES, {}),
            ("peers, no absolute counts", relative, {}),
            ("with peer features, depth 2", XGBOOST_FEATURES, {"max_depth": 2}),
            ("with peer features, min_child_weight 20", XGBOOST_FEATURES, {"min_child_weight": 20})]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--kinds", default="heuristic,survival,xgboost")
    ap.add_argument("--splits", default=",".join(SPLIT_KINDS))
    ap.add_argument("--candidates", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = ap.parse_args()
    ds = training_rows(TRAINING_FLEETS, cache=args.cache)
    kinds = tuple(args.kinds.split(","))
    split_kinds = tuple(args.splits.split(","))
    failing = np.isfinite(ds.failed_at) & ds.precursor
    print(f"{len(ds.uuid)} rows, {len(np.unique(ds.uuid))} GPUs, {len(np.unique(ds.uuid[failing]))} failing after "
          f"a precursor, fleets {', '.join(sorted(set(ds.fleet)))}", file=sys.stderr)
    if args.candidates:
        print("| candidate | worst PR-AUC 7 d | mean | worst recall at P >= 0.8 | worst x heuristic |")
        print("|---|---|---|---|---|")
        results = cross_validate(ds, ("heuristic",), split_kinds)
        base = {s.name: r["heuristic"]["pr_auc_7d"] for s, r in results}
        for name, features, params in candidates():
            res = cross_validate(ds, ("xgboost",), split_kinds, make=lambda _k, f=features, p=params:
                                 XGBoostModel(features=f, params=p))
            auc = np.array([r["xgboost"]["pr_auc_7d"] for _s, r in res])
            rec = np.array([r["xgboost"]["recall_at_precision_0.8"] for _s, r in res])
            ratio = np.array([r["xgboost"]["pr_auc_7d"] / base[s.name] for s, r in res])
            print(f"| {name} | {auc.min():.3f} | {auc.mean():.3f} | {rec.min():.3f} | {ratio.min():.2f} |", flush=True)
        return
    results = cross_validate(ds, kinds, split_kinds)
    print("| held out | model | failing GPUs tested | PR-AUC 7 d | x heuristic | recall at P >= 0.8 | median lead | "
          "PR-AUC, precursor begun | recall, precursor begun | false actions | missed | expected / real failures |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for split, r in results:
        for kind in kinds:
            print(row(split, kind, r[kind], r.get("heuristic", r[kind])), flush=True)
    if args.json:
        args.json.write_text(json.dumps([{"split": s.name, "kind": s.kind, **r} for s, r in results], indent=1,
                                        default=float))


if __name__ == "__main__":
    main()
