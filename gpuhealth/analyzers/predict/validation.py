"""Validation that says how the models will do on a fleet nobody here wrote.

Held-out GPUs and seeds share everything with the training fleets but the random draws. The splits here each
hold out a whole kind of thing the models could have memorised: a precursor shape, a range of lead
times, a family set (what the exporter serves), or the simulator's own fleet against fleets with
variety. A split trains on every GPU without the held-out kind and tests on the GPUs with it, beside a
held-out share of the GPUs that do not fail after a precursor (healthy, benign look-alikes, sudden
failures), which no training set holds either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gpuhealth.analyzers.predict.models import MODEL_KINDS
from gpuhealth.analyzers.predict.training import Dataset, evaluate, held_out, real_fleet_decisions, subset_prediction

# lead-time ranges held out one at a time (days of precursor before the failure)
LEAD_RANGES: tuple[tuple[float, float], ...] = ((0.0, 2.0), (2.0, 7.0), (7.0, 60.0))
SPLIT_KINDS = ("gpus", "shape", "lead", "families", "fleet")
DAY = 86400.0


@dataclass(frozen=True)
class Split:
    """One train/test division of a dataset's rows: what it holds out and the two row masks."""

    kind: str  # gpus | shape | lead | families | fleet
    name: str  # what is held out, e.g. "shape=step"
    train: np.ndarray
    test: np.ndarray


def _lead_name(lo: float, hi: float) -> str:
    return f"lead {lo:g}-{hi:g} d"


def splits(ds: Dataset, kinds: tuple[str, ...] = SPLIT_KINDS, share: float = 0.25) -> list[Split]:
    """The splits of ``kinds`` that the dataset's rows allow (a kind with one value only holds nothing
    out; ValueError when the rows lack what a kind splits by)."""
    if any(k not in SPLIT_KINDS for k in kinds):
        raise ValueError(f"split kinds: {sorted(set(kinds) - set(SPLIT_KINDS))} unknown; known: {SPLIT_KINDS}")
    if ds.shape is None and set(kinds) - {"gpus"}:
        raise ValueError("dataset: rows without fleet, family set and precursor (build them with sim_dataset)")
    hashed = np.array([held_out(u, share) for u in ds.uuid], dtype=bool)
    out = [Split("gpus", "held-out GPUs", ~hashed, hashed)] if "gpus" in kinds else []
    if ds.shape is None:
        return out
    with_precursor = ds.shape != ""
    others_test = ~with_precursor & hashed  # GPUs no precursor warns of: a hashed share tests every split
    variety = np.char.startswith(ds.fleet.astype(str), "variety")
    # the shapes and leads are the fleets with variety's: a fleet of the simulator's own kind of the same
    # seed is their twin (the same GPUs and fates, only the precursors redrawn), so it is left out of
    # those splits, where its twins of the tested GPUs would hold the held-out failures
    scope = variety if variety.any() else np.ones(len(ds.uuid), dtype=bool)

    def held(kind: str, name: str, chosen: np.ndarray) -> Split:
        test = (chosen | others_test) & scope
        return Split(kind, name, ~test & scope & ~np.isin(ds.uuid, ds.uuid[test]), test)

    if "shape" in kinds:
        for s in sorted(set(ds.shape[with_precursor & scope])):
            out.append(held("shape", f"shape={s}", ds.shape == s))
    if "lead" in kinds:
        for lo, hi in LEAD_RANGES:
            chosen = with_precursor & (ds.lead_days >= lo) & (ds.lead_days < hi)
            if chosen.any():
                out.append(held("lead", _lead_name(lo, hi), chosen))
    if "families" in kinds and len(set(ds.families)) > 1:
        for f in sorted(set(ds.families)):
            out.append(Split("families", f"families={f}", ds.families != f, ds.families == f))
    if "fleet" in kinds and variety.any() and (~variety).any():
        out.append(Split("fleet", "trained on the simulator's own fleets, tested on variety", ~variety, variety))
    return out


def before_onset(ds: Dataset) -> np.ndarray:
    """Rows of GPUs failing after a precursor, at instants before the precursor began."""
    if ds.lead_days is None:
        return np.zeros(len(ds.uuid), dtype=bool)
    with np.errstate(invalid="ignore"):
        return ds.precursor & np.isfinite(ds.failed_at) & (ds.at < ds.failed_at - np.nan_to_num(ds.lead_days) * DAY)


def evaluate_split(ds: Dataset, split: Split, kinds: tuple[str, ...], seed: int = 0,
                   make: Callable[[str], object] | None = None) -> dict[str, dict]:
    """Fit each model kind on the split's training rows; its metrics on the test rows' failures with a
    precursor (``training.evaluate``; ``precursor_begun``: without the rows before the precursor began),
    and its decisions on every test row: false actions and missed failures as on a real fleet (the
    trained models' probabilities at each GPU's published base rate: ``training.real_fleet_decisions``),
    expected failures against real ones at the test rows' own base rate."""
    train, test = ds.subset(split.train), ds.subset(split.test)
    sudden = np.isfinite(test.failed_at) & ~test.precursor
    begun = ~sudden & ~before_onset(test)
    out = {}
    for kind in kinds:
        model = (make or (lambda k: MODEL_KINDS[k]()))(kind)
        model.fit(train.x, train.y, duration_days=train.duration_days, event=train.event, seed=seed)
        pred = model.predict(test.x)
        metrics = evaluate(test.subset(~sudden), subset_prediction(pred, ~sudden))
        # the same without the rows of failing GPUs whose precursor had not begun yet (nothing to see)
        metrics["precursor_begun"] = evaluate(test.subset(begun), subset_prediction(pred, begun))
        metrics["decisions"] = real_fleet_decisions(test, pred, model.base_rate) if test.econ is not None else {}
        metrics["test_failing_gpus"] = len(np.unique(test.uuid[np.isfinite(test.failed_at) & ~sudden]))
        out[kind] = metrics
    return out


def cross_validate(ds: Dataset, kinds: tuple[str, ...] = ("heuristic", "survival", "xgboost"),
                   split_kinds: tuple[str, ...] = SPLIT_KINDS, seed: int = 0,
                   make: Callable[[str], object] | None = None) -> list[tuple[Split, dict[str, dict]]]:
    """Every split's metrics for every model kind (``evaluate_split``)."""
    return [(s, evaluate_split(ds, s, kinds, seed, make)) for s in splits(ds, split_kinds)]
