"""One analysis cycle: PromQL -> features -> models -> anomalies and trends -> economics -> verdicts.

``Analyzer.read`` does all of a cycle's I/O (PromQL, the repairs table) and ``Analyzer.judge`` turns what
it read into verdicts without any; storing the result (``store.py``) and serving it (``serve/``) consume it.

The cycle asks a small fixed number of fleet-wide queries (one per feature, three range queries for
the anomaly baselines, one for the GPU models), never one per GPU. A GPU that reports too little to
be judged is *unknown*, never healthy.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from gpuhealth.analyzers.economics.decisions import (
    ECON_FEATURES,
    attributable_throttling,
    econ_input,
    economic_utilization,
    utilization_measured,
)
from gpuhealth.analyzers.predict import anomalies
from gpuhealth.analyzers.predict.features import COVERAGE_METRIC, FeatureFrame, default_selector, online
from gpuhealth.analyzers.predict.models import HORIZONS, Model, Prediction
from gpuhealth.analyzers.predict.registry import calibrate, excess_over_prior, fleet_odds
from gpuhealth.analyzers.promql import PromClient
from gpuhealth.catalog import Asset, age_days

log = logging.getLogger("gpuhealth.analyzers")

STATUSES = ("judged", "down", "unknown")


class NoGpusMatched(RuntimeError):
    """The selector matches no GPU's telemetry: the message names the selector and the family read."""


def iso_time(t: float | None) -> str | None:
    """Unix seconds as RFC 3339 in UTC ("...Z"), None kept."""
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Verdict:
    """What the analyzer says of one GPU.

    ``judged``: reporting now, predicted from its telemetry; ``down``: seen within the last week but
    not reporting now (off the bus, its node gone), valued as a failed GPU from its last telemetry and
    the inventory; ``unknown``: in the inventory but never seen, or too little telemetry to judge."""

    uuid: str
    status: str  # one of STATUSES
    model_name: str = ""
    probability: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> horizon -> p
    remaining_useful_life_days: float = float("nan")
    anomaly: dict[str, float] = field(default_factory=dict)  # signal -> score
    trends: dict[str, float] = field(default_factory=dict)  # signal -> change per day
    factors: list[tuple[str, float]] = field(default_factory=list)
    valuation: object | None = None  # economics.Valuation when economics ran
    history_days: float = float("nan")  # how far back its telemetry reaches (at most 7 days)
    down_since: float | None = None  # down: when it last reported (Unix seconds)
    life_since: float | None = None  # repaired within the week: when its current life began (Unix seconds)
    # the primary model's probabilities of failing from what the telemetry shows beyond the prior of the
    # GPU's model and age (registry.excess_over_prior): what the economics reads as the acute risk
    evidence_probability: dict[str, float] = field(default_factory=dict)

    def as_json(self, primary: str) -> dict:
        """The verdict in `analyze --json` form."""
        p = self.probability.get(primary, {})

        def num(v: float | None) -> float | None:
            return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 6)

        out = {"uuid": self.uuid, "status": self.status, "model": self.model_name,
               "failure_probability_7d": num(p.get("7d")), "failure_probability_30d": num(p.get("30d")),
               "remaining_useful_life_days": num(self.remaining_useful_life_days),
               "history_days": num(self.history_days),
               "down_since": iso_time(self.down_since),
               "life_since": iso_time(self.life_since),
               "anomaly_score": num(max(self.anomaly.values())) if self.anomaly else None,
               "anomalies": {k: num(v) for k, v in self.anomaly.items()},
               "trends_per_day": {k: num(v) for k, v in self.trends.items()},
               "factors": [{"factor": n, "weight": num(w)} for n, w in self.factors],
               "models": {m: {h: num(v) for h, v in hp.items()} for m, hp in self.probability.items()}}
        if self.valuation is not None:
            v = self.valuation
            out.update({"market_value_dollars": num(v.market_value_dollars),
                        "npv_dollars": {a: num(x) for a, x in v.npv_dollars.items()},
                        "recommended_action": v.recommended_action, "drivers": list(v.drivers)})
        return out


@dataclass
class CycleInputs:
    """What one cycle read, as of ``at``: the feature frame, the anomaly scores (UUID -> signal -> score), when
    each GPU that is down last reported, and when each GPU repaired within the week began its life."""

    at: float
    frame: FeatureFrame
    anomaly: dict[str, dict[str, float]]
    last_seen: dict[str, float]
    lives: dict[str, float]
    queries: int
    started: float  # time.monotonic() when the reading began


@dataclass
class CycleResult:
    """A finished cycle."""

    at: float
    finished: float
    duration_seconds: float
    verdicts: list[Verdict]
    primary: str
    queries: int
    frame: FeatureFrame | None = None

    def as_json(self) -> dict:
        """The whole cycle as `analyze --once --json` prints it."""
        return {"generated_at": datetime.fromtimestamp(self.at, UTC).isoformat().replace("+00:00", "Z"),
                "model": self.primary, "cycle_seconds": round(self.duration_seconds, 3),
                "gpus": [v.as_json(self.primary) for v in self.verdicts]}


def remaining_life_days(p30: np.ndarray) -> np.ndarray:
    """Median remaining life under a constant hazard fitted to the 30-day probability (capped at 10 years)."""
    with np.errstate(divide="ignore"):
        rate = -np.log(np.clip(1.0 - p30, 1e-12, 1.0)) / 30.0
        return np.minimum(np.where(rate > 0, math.log(2) / rate, 3650.0), 3650.0)


def trends_per_day(frame: FeatureFrame) -> dict[str, np.ndarray]:
    """Slopes per day from the feature windows (last day against the week)."""
    c = frame.columns
    with np.errstate(invalid="ignore"):
        return {"thermal_resistance": c["thermal_r_trend"] / 3.5,
                "sbe_rate": (c["sbe_1d"] - c["sbe_7d"] / 7.0) / 3.5,
                "correctable_remaps": c["corr_remaps_7d"] / 7.0,
                "pcie_replays": (c["pcie_replay_1d"] - c["pcie_replay_7d"] / 7.0) / 3.5}


class Analyzer:
    """Runs cycles against one Prometheus-compatible API with a set of loaded models; ``dsn``: the database
    whose gpu_repairs say when repaired GPUs began their current lives."""

    def __init__(self, client: PromClient, models: dict[str, Model], primary: str | None = None,
                 inventory: dict[str, Asset] | None = None, pricing=None, dsn: str | None = None,
                 selector: str | None = None, base_rate_factor: float = 1.0) -> None:
        if not models:
            raise ValueError("models: at least one model is needed")
        self.client = client
        self.models = models
        self.primary = primary or ("xgboost" if "xgboost" in models else next(iter(models)))
        if self.primary not in models:
            raise ValueError(f"primary model {self.primary!r} is not loaded ({sorted(models)})")
        self.inventory = inventory or {}
        self.pricing = pricing
        self.dsn = dsn
        self.selector = selector or default_selector()
        # the fleet's failure rate against the published one, which the priors of young GPUs are read at
        # (1 on a real fleet; a benchmark's accelerated fleet says its own)
        self.base_rate_factor = base_rate_factor
        self._default_pricing = None  # the priors' pricing when the analyzer has none of its own

    def _ages(self, at: float) -> dict[str, float]:
        return {uuid: age_days(a.purchase_date, at) for uuid, a in self.inventory.items() if a.purchase_date}

    def run(self, at: float | None = None) -> CycleResult:
        """One cycle as of ``at`` (default now): read, then judge; NoGpusMatched when the selector finds no GPU.
        Storing the result (store.store_result) and serving it are its consumers' work."""
        return self.judge(self.read(at))

    def read(self, at: float | None = None) -> CycleInputs:
        """Everything a cycle reads, as of ``at``: the features and anomaly scores (PromQL), when the GPUs that
        are down last reported, and when the repaired GPUs' lives began (gpu_repairs)."""
        t0 = time.monotonic()
        q0 = self.client.queries
        at = time.time() if at is None else at
        lives = self._lives_since(at)
        frame = online(self.client, at, self._ages(at), self.selector, lives)
        if not frame.uuids:
            raise NoGpusMatched(f"selector {self.selector}: no GPU's {COVERAGE_METRIC} in the week before "
                                f"{datetime.fromtimestamp(at, UTC).isoformat()} (is the job named otherwise? "
                                "set --selector or the rule spec's selector)")
        model_of = dict(zip(frame.uuids, frame.model_names, strict=True))
        anomaly = anomalies.scores(self.client, at, self.selector, model_of)
        down = [u for u, st in zip(frame.uuids, frame.status(), strict=True) if st == "down"]
        last_seen = self._last_seen(down, at) if down else {}
        return CycleInputs(at=at, frame=frame, anomaly=anomaly, last_seen=last_seen, lives=lives,
                           queries=self.client.queries - q0, started=t0)

    def judge(self, inputs: CycleInputs) -> CycleResult:
        """The verdicts of what a cycle read: predictions by every model, calibrated to each GPU's prior,
        anomalies and trends, and the economics. No I/O."""
        at, frame, lives = inputs.at, inputs.frame, inputs.lives
        model_of = dict(zip(frame.uuids, frame.model_names, strict=True))
        status = frame.status()
        x = frame.matrix()
        priors = self.priors(frame)
        predictions: dict[str, Prediction] = {}
        for name, m in self.models.items():
            pred = m.predict(x)
            if m.base_rate:  # trained: from its training rows' base rate to each GPU's own
                pred.probability = calibrate(pred.probability, fleet_odds(m.base_rate, priors["30d"]))
            predictions[name] = pred
        anomaly = inputs.anomaly
        trends = trends_per_day(frame)
        # what the telemetry says beyond the prior, for the economics: its baseline hazard holds the prior
        evidence = excess_over_prior(predictions[self.primary].probability, priors)
        self._with_prior(predictions, frame, priors)
        primary = predictions[self.primary]
        rul = remaining_life_days(primary.probability["30d"])
        last_seen = inputs.last_seen
        verdicts = []
        for i, uuid in enumerate(frame.uuids):
            v = Verdict(uuid=uuid, status=str(status[i]), model_name=model_of.get(uuid, ""),
                        history_days=float(frame.columns["history_days"][i]), life_since=lives.get(uuid))
            if v.status == "judged":
                v.probability = {name: {h: float(p.probability[h][i]) for h in p.probability}
                                 for name, p in predictions.items()}
                v.evidence_probability = {h: float(p[i]) for h, p in evidence.items()}
                v.remaining_useful_life_days = float(rul[i])
                v.factors = primary.factors[i]
                v.anomaly = anomaly.get(uuid, {})
                v.trends = {k: float(arr[i]) for k, arr in trends.items() if not math.isnan(arr[i])}
            elif v.status == "down":  # it has failed: what its last telemetry pointed at says what failed
                v.probability = {name: {h: 1.0 for h in p.probability} for name, p in predictions.items()}
                v.remaining_useful_life_days = 0.0
                v.factors = primary.factors[i]
                v.down_since = last_seen.get(uuid)
            verdicts.append(v)
        for uuid in sorted(set(self.inventory) - set(frame.uuids)):
            verdicts.append(Verdict(uuid=uuid, status="unknown", model_name=self.inventory[uuid].model))
        if self.pricing is not None:
            self._value(verdicts, frame)
        return CycleResult(at=at, finished=time.time(), duration_seconds=time.monotonic() - inputs.started,
                           verdicts=verdicts, primary=self.primary, queries=inputs.queries, frame=frame)

    def _lives_since(self, at: float) -> dict[str, float]:
        """GPUs repaired within the week: when each one's current life began (from gpu_repairs)."""
        if not self.dsn:
            return {}
        from gpuhealth.analyzers.repairs import lives_since

        try:
            return lives_since(self.dsn, at)
        except Exception as exc:  # the database down must not stop the verdicts: say so in the log
            log.warning("cannot read gpu_repairs, judging repaired GPUs over their whole history: %s", exc)
            return {}

    def priors(self, frame: FeatureFrame) -> dict[str, np.ndarray]:
        """Each GPU's probability of failing within each horizon before any telemetry: its model's
        published hazard at its age (the pricing's; its defaults without one), times base_rate_factor."""
        from gpuhealth.analyzers.economics.pricing import load_pricing
        from gpuhealth.analyzers.economics.valuation import baseline_failure_probability

        if self.pricing is None and self._default_pricing is None:  # the packaged defaults, read once
            self._default_pricing = load_pricing(None)
        pricing = self.pricing or self._default_pricing
        models = [m or "default" for m in frame.model_names] if frame.model_names else ["default"] * len(frame.uuids)
        return {h: baseline_failure_probability(models, frame.columns["age_days"], days, pricing,
                                                self.base_rate_factor) for h, days in HORIZONS.items()}

    def _with_prior(self, predictions: dict[str, Prediction], frame: FeatureFrame,
                    priors: dict[str, np.ndarray]) -> None:
        """Over a young history the models see little evidence either way and read a GPU as healthier than
        the average one; until its windows fill, a GPU's probability is at least the blend of its model's
        with the published base rate for its model and age, by the share of the week its history covers.
        Evidence is never lowered: a GPU with an acute sign keeps its model's probability."""
        covered = np.clip(np.nan_to_num(frame.columns["history_days"], nan=0.0) / 7.0, 0.0, 1.0)
        if covered.min() >= 1.0:
            return
        for pred, m in ((predictions[name], self.models[name]) for name in predictions):
            if not m.base_rate:  # not calibrated (the heuristic): left as it is
                continue
            for h, p in pred.probability.items():
                pred.probability[h] = np.maximum(p, covered * p + (1.0 - covered) * priors[h])

    def _last_seen(self, uuids: list[str], at: float) -> dict[str, float]:
        """When each of these GPUs last reported (to the minute), in one query."""
        pattern = "|".join(re.escape(u) for u in uuids).replace("\\", "\\\\").replace('"', '\\"')
        expr = (f"max by (UUID) (max_over_time(timestamp({COVERAGE_METRIC}{{{self.selector}, "
                f'UUID=~"{pattern}"}})[7d:1m]))')
        return self.client.by_uuid(expr, at)

    def _value(self, verdicts: list[Verdict], frame: FeatureFrame) -> None:
        from gpuhealth.analyzers.economics.valuation import value_fleet

        index = {u: i for i, u in enumerate(frame.uuids)}
        c = frame.columns
        utilization = economic_utilization(c["util_7d"], c["history_days"])
        measured = utilization_measured(c["util_7d"], c["history_days"])
        throttled = attributable_throttling(c["thermal_violation_frac"], frame.hosts or [""] * len(frame.uuids))
        inputs, owners = [], []
        for v in verdicts:
            if v.status not in ("judged", "down"):
                continue
            i = index[v.uuid]
            p = v.evidence_probability or v.probability[self.primary]
            failed = ""
            if v.status == "down":
                since = (datetime.fromtimestamp(v.down_since, UTC).strftime("%Y-%m-%d %H:%M UTC")
                         if v.down_since is not None else "some time within the last week")
                failed = f"not reporting since {since}"
            asset = self.inventory.get(v.uuid)
            inputs.append(econ_input(v.uuid, v.model_name or (asset.model if asset else ""),
                                     {name: float(c[name][i]) for name in ECON_FEATURES}, float(utilization[i]),
                                     p["7d"], p["30d"], v.factors, failed,
                                     float(throttled[i]) if v.status == "judged" else 0.0, bool(measured[i])))
            owners.append(v)
        for v, valuation in zip(owners, value_fleet(inputs, self.pricing), strict=True):
            v.valuation = valuation
