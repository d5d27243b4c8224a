"""The model registry: versioned folders of models with their metrics and feature lists."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import numpy as np

from gpuhealth.analyzers.predict import models as m

DEFAULT = Path(str(resources.files("gpuhealth.analyzers.predict").joinpath("trained/default")))


def save_version(registry: Path, trained: dict[str, m.Model], trained_on: str, dsn: str | None = None,
                 hazard_scale: float = 1.0) -> Path:
    """Write each model under registry/<version>/<kind>/ with metrics.json; record it in model_versions."""
    version = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = registry / version
    summary = {}
    for kind, model in trained.items():
        m.save(model, base / kind)
        summary[kind] = model.metrics
    (base / "metrics.json").write_text(json.dumps({"version": version, "trained_on": trained_on,
                                                   "hazard_scale": hazard_scale,
                                                   "features": list(next(iter(trained.values())).features),
                                                   "metrics": summary}, indent=1, default=str))
    if dsn:
        import psycopg

        with psycopg.connect(dsn) as conn:
            for kind, model in trained.items():
                conn.execute("INSERT INTO model_versions (version, kind, trained_on, metrics, features, path) "
                             "VALUES (%s, %s, %s, %s::jsonb, %s::jsonb, %s)",
                             (f"{version}-{kind}", kind, trained_on, json.dumps(model.metrics, default=str),
                              json.dumps(list(model.features)), str(base / kind)))
    return base


def load_version(path: Path) -> dict[str, m.Model]:
    """Every model of a version folder, by kind; ModelError when a folder is missing or corrupt."""
    path = Path(path)
    if not path.is_dir():
        raise m.ModelError(f"{path}: no such model folder")
    kinds = sorted(p.name for p in path.iterdir() if (p / "model.json").exists())
    if not kinds:
        raise m.ModelError(f"{path}: no model in this folder (expected <kind>/model.json)")
    return {k: m.load(path / k) for k in kinds}


def fleet_odds(base_rate: dict[str, float], fleet_prior: np.ndarray, longest: str = "30d") -> np.ndarray:
    """The factor, per GPU, on a trained model's odds that takes its probabilities from the base rate of its
    training rows (``base_rate``: their share failing within each horizon) to the GPU's own before any
    telemetry (``fleet_prior``: its probability of failing within the longest horizon, from its model's
    published hazard at its age; ``valuation.baseline_failure_probability``). For ``calibrate``.

    Training history is accelerated (hazard x k) and of its own mix of models and ages; a fleet has its
    own. One constant for the whole fleet (1/k) would leave an old H200 and a young L40S at the training
    fleet's average rate, and count on the training history holding exactly k times the published rate."""
    r = float(np.clip(base_rate[longest], 1e-9, 1 - 1e-9))
    q = np.clip(np.asarray(fleet_prior, dtype=float), 1e-9, 1 - 1e-9)
    return (q / (1 - q)) / (r / (1 - r))


def calibrate(probability: dict, prior_odds: float, longest: str = "30d") -> dict:
    """Probabilities after a change of base rate: the longest horizon's odds multiplied by prior_odds,
    each shorter horizon keeping its share of the longest one's probability.

    A model trained on accelerated-life history (hazard x k) sees k times as many GPUs on their way to a
    failure as a real fleet; the evidence from precursors is the same, so the odds of failing within the
    longest horizon are divided by k. *When* a GPU on its way fails (its precursor's course) does not
    depend on the base rate, so P(within 7 d | within 30 d) stays: dividing the 7-day odds by k as well
    would take a GPU that shows every sign of failing within days for one that will last the month."""
    def shifted(p: np.ndarray) -> np.ndarray:
        p = np.clip(p, 1e-9, 1 - 1e-9)
        odds = p / (1 - p) * prior_odds
        return odds / (1 + odds)

    if longest not in probability:
        return {h: shifted(p) for h, p in probability.items()}
    raw = np.clip(probability[longest], 1e-9, 1 - 1e-9)
    cal = shifted(raw)
    return {h: cal if h == longest else np.minimum(p, raw) * (cal / raw) for h, p in probability.items()}


def excess_over_prior(probability: dict[str, np.ndarray], prior: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The probability of failing within each horizon from what the telemetry shows, beyond the GPU's prior
    (the base rate for its model and age): with the prior as a competing risk, 1 - p = (1 - A)(1 - q), so
    A = 1 - (1 - p) / (1 - q), never below 0. The economics reads A as the acute risk, since its own
    baseline hazard holds the prior already: a GPU rated at its prior has no acute risk, and counting the
    prior twice would advise repairing old GPUs for nothing but their age."""
    out = {}
    for h, p in probability.items():
        q = np.clip(np.asarray(prior[h], dtype=float), 0.0, 1 - 1e-9)
        out[h] = np.clip(1.0 - (1.0 - np.asarray(p, dtype=float)) / (1.0 - q), 0.0, 1.0)
    return out


def list_versions(registry: Path) -> list[dict]:
    """The versions in a registry folder with their metrics, newest first."""
    out = []
    for p in sorted(Path(registry).glob("*/metrics.json"), reverse=True):
        out.append(json.loads(p.read_text()))
    return out
