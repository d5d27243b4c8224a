"""What a real fleet's lifetimes say of gpuhealth's assumptions: ORNL Titan's ~30,000 K20X GPUs.

Titan's summary (one row per GPU serial, 2013-2019; ../shared/reference/titan/) holds lifetimes, whether
each GPU died, and its double-bit-error (DBE) and off-the-bus (OTB) events. It has no telemetry, so it
cannot score a predictor; it checks three things the predictors and the economics rest on:

1. The wear-out hazard: a censored Weibull fit and Kaplan-Meier survival of the original batch,
   beside the simulator's Weibull shape (``sim.fleet.WEIBULL_SHAPE``) and the pricing's
   (``weibull_shape``, which the economics' baseline failure probability uses).
2. The share of deaths with no DBE before them (taken out off the bus only), beside the simulator's
   share of failures with no precursor (``FleetConfig.sudden_share``).
3. That a DBE or off-the-bus event is acute evidence: the share of GPUs with one that were taken out,
   beside the action the packaged models and the economics give an otherwise healthy GPU with one DBE.

    .venv/bin/python benchmarks/titan.py [--csv PATH]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from gpuhealth.analyzers.predict.lifetimes import fit_weibull, kaplan_meier, weibull_survival

CSV = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "titan" / "gc_summary_loc.csv"
YEARS = (1, 2, 3, 4, 5, 6)


def read(path: Path) -> dict[str, np.ndarray]:
    """The columns the checks use, one entry per GPU serial."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{path}: no rows")
    missing = {"years", "dead", "batch", "dbe", "otb", "dead_dbe", "dead_otb"} - set(rows[0])
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    return {"years": np.array([float(r["years"]) for r in rows]),
            "dead": np.array([r["dead"] == "TRUE" for r in rows]),
            "old": np.array([r["batch"] == "old" for r in rows]),
            "dbe": np.array([int(r["dbe"]) > 0 for r in rows]),
            "otb": np.array([int(r["otb"]) > 0 for r in rows]),
            "dead_dbe": np.array([r["dead_dbe"] == "TRUE" for r in rows])}


def healthy_row_with_one_dbe() -> list[tuple[str, float, str]]:
    """The packaged XGBoost's 7-day probability and the economics' action for a healthy H100 of two years,
    as is, with one DBE this week (as dcgm-exporter with its ECC fields on shows it) and with one DBE and
    its XID 48 within the day (as gpuhealth's exporter shows it)."""
    from gpuhealth.analyzers.economics.decisions import ECON_FEATURES, econ_input
    from gpuhealth.analyzers.economics.pricing import load_pricing
    from gpuhealth.analyzers.economics.valuation import value_fleet
    from gpuhealth.analyzers.predict.features import MODEL_FEATURES
    from gpuhealth.analyzers.predict.registry import DEFAULT, load_version

    cases = {"healthy": {}, "one DBE": {"dbe_7d": 1.0},
             "one DBE and its XID 48": {"dbe_7d": 1.0, "xid_critical_1d": 1.0, "xid_critical_7d": 1.0}}
    model = load_version(DEFAULT)["xgboost"]
    col = {n: i for i, n in enumerate(MODEL_FEATURES)}
    x = np.zeros((len(cases), len(MODEL_FEATURES)))
    for n, v in {"thermal_r_1d": 0.15, "util_1d": 70.0, "age_days": 730.0, "power_peak_ratio": 0.9}.items():
        x[:, col[n]] = v
    for i, extra in enumerate(cases.values()):
        for n, v in extra.items():
            x[i, col[n]] = v
    pred = model.predict(x)
    inputs = []
    for i in range(len(cases)):
        row = {n: float(x[i, col[n]]) for n in ECON_FEATURES if n in col}
        row.update(power_1d=500.0, history_days=7.0)
        inputs.append(econ_input(f"GPU-{i}", "NVIDIA H100 80GB HBM3", row, 0.7, pred.probability["7d"][i],
                                 pred.probability["30d"][i], pred.factors[i]))
    verdicts = value_fleet(inputs, load_pricing())
    return [(name, float(pred.probability["7d"][i]), verdicts[i].recommended_action)
            for i, name in enumerate(cases)]


def main() -> None:
    from gpuhealth.analyzers.economics.pricing import load_pricing
    from gpuhealth.sim.fleet import WEIBULL_SHAPE, FleetConfig

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", type=Path, default=CSV)
    args = ap.parse_args()
    t = read(args.csv)
    old = t["old"]
    k, lam = fit_weibull(t["years"][old], t["dead"][old])
    km = kaplan_meier(t["years"][old], t["dead"][old], np.array(YEARS, dtype=float))
    fit = weibull_survival(np.array(YEARS, dtype=float), k, lam)
    shapes = sorted({m.weibull_shape for m in load_pricing().models.values()})
    print(f"original batch: {old.sum()} GPUs, {t['dead'][old].sum()} died; Weibull fit shape {k:.2f}, "
          f"scale {lam:.2f} years (simulator's shape {WEIBULL_SHAPE}, pricing's {', '.join(f'{s:g}' for s in shapes)})")
    print("| years | Kaplan-Meier survival | Weibull fit |")
    print("|---|---|---|")
    for y, a, b in zip(YEARS, km, fit, strict=True):
        print(f"| {y} | {a:.3f} | {b:.3f} |")
    new = ~old
    exposure = t["years"][new].sum()
    print(f"replacement batch: {new.sum()} GPUs, {t['dead'][new].sum()} deaths in {exposure:,.0f} GPU-years "
          f"= {t['dead'][new].sum() / exposure:.2%} per year")
    dead = t["dead"]
    no_dbe = (dead & ~t["dbe"]).sum() / dead.sum()
    print(f"deaths with no DBE before them (off the bus only): {no_dbe:.1%} of {dead.sum()} "
          f"(simulator's share of failures without a precursor: {FleetConfig().sudden_share:.0%})")
    for name in ("dbe", "otb"):
        had = t[name]
        print(f"GPUs with a {name.upper()} event: {had.sum()}, taken out {dead[had].mean():.1%}; "
              f"without one: taken out {dead[~had].mean():.1%}")
    for name, p7, action in healthy_row_with_one_dbe():
        print(f"an otherwise healthy 2-year-old H100, {name}: packaged XGBoost p7 {p7:.4f} "
              f"(at the training base rate), economics: {action}")


if __name__ == "__main__":
    main()
