"""Training and evaluating the failure predictors on labelled history.

Rows are (GPU, instant) pairs: the features a GPU had at that instant (from PromQL on a
Prometheus that holds the history, or from SQL on the sink's rollups) and whether it failed within
7 and 30 days after. GPUs are split into training and held-out sets by a hash of their UUID, never
by time within one GPU. Labels come from the simulator's ground_truth.csv or from gpu_failures.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gpuhealth.analyzers.economics.decisions import (
    ECON_FEATURES,
    MIN_UTILIZATION_DAYS,
    attributable_throttling,
    decision_quality,
    econ_input,
    economic_utilization,
)
from gpuhealth.analyzers.predict.features import FEATURES, MODEL_FEATURES, FeatureFrame, derive, group_rows
from gpuhealth.analyzers.predict.lives import Life, life_at, lives
from gpuhealth.analyzers.predict.models import HORIZONS, MODEL_KINDS, Prediction
from gpuhealth.catalog import age_days

DAY = 86400.0
ECON_COLUMNS = ("utilization", "power_1d", "history_days", "throttled")  # Dataset.econ's columns
RAW_COLUMNS = (*(f.name for f in FEATURES), "age_days")  # Dataset.raw's columns
SIM_END = datetime(2026, 11, 1, tzinfo=UTC).timestamp()  # where simulated training histories end
SIM_PART_GPUS = 320  # the most GPUs simulated in one history (its OpenMetrics text fills tens of GB)


@dataclass
class Dataset:
    """Feature rows with labels, durations and the GPU and instant of each row.

    Beside the model features, a row keeps its raw features (``RAW_COLUMNS``: the model features are
    derived again from them by ``rederive``, with the peers of the same instant, without rebuilding
    the rows) and what validation splits by: the GPU's host, its fleet and family set, and the
    shape and length of its failure's precursor."""

    x: np.ndarray
    y: dict[str, np.ndarray]
    duration_days: np.ndarray
    event: np.ndarray
    uuid: np.ndarray
    at: np.ndarray
    failed_at: np.ndarray  # per row: the GPU's failure time, inf when it did not fail
    precursor: np.ndarray  # per row: whether the GPU's failure had a precursor
    # what the economics needs beyond the model features, per row: ECON_COLUMNS, and the GPU's model
    econ: np.ndarray | None = None
    model_name: np.ndarray | None = None
    raw: np.ndarray | None = None  # RAW_COLUMNS per row
    host: np.ndarray | None = None
    fleet: np.ndarray | None = None  # which history the row is of (peers are of one fleet and instant)
    families: np.ndarray | None = None  # the history's family set (full, dcgm-default)
    shape: np.ndarray | None = None  # the precursor's shape ("" when none)
    lead_days: np.ndarray | None = None  # the precursor's length in days (NaN when none)

    def _arrays(self) -> dict[str, np.ndarray]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "y"}
        out.update({f"y{h[:-1]}": v for h, v in self.y.items()})
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def _from_arrays(cls, a: dict[str, np.ndarray]) -> Dataset:
        y = {h: a.pop(f"y{h[:-1]}") for h in HORIZONS}
        return cls(y=y, **{f.name: a.get(f.name) for f in fields(cls) if f.name != "y"})

    def subset(self, mask: np.ndarray) -> Dataset:
        """The rows where mask is true."""
        return Dataset._from_arrays({k: v[mask] for k, v in self._arrays().items()})

    def save(self, path: Path) -> None:
        """Write the rows to an .npz file (to evaluate again without rebuilding them)."""
        np.savez_compressed(path, **self._arrays())

    @classmethod
    def load(cls, path: Path) -> Dataset:
        """Rows written by save(), their model features derived again from their raw ones where they keep
        them; ValueError when neither fits the features defined now (a stale cache)."""
        with np.load(path) as d:
            arrays = {k: d[k] for k in d.files}
        if "raw" in arrays and arrays["raw"].shape[1] == len(RAW_COLUMNS):
            return rederive(cls._from_arrays(arrays))
        if arrays["x"].shape[1] != len(MODEL_FEATURES):
            raise ValueError(f"{path}: {arrays['x'].shape[1]} features, expected {len(MODEL_FEATURES)} (stale cache)")
        return cls._from_arrays(arrays)

    @classmethod
    def concat(cls, parts: list[Dataset]) -> Dataset:
        """The rows of several datasets (of different fleets) together; the optional arrays only where
        every part has them."""
        arrays = [p._arrays() for p in parts]
        keys = set.intersection(*(set(a) for a in arrays))
        return cls._from_arrays({k: np.concatenate([a[k] for a in arrays]) for k in keys})

    def with_meta(self, fleet: str, families: str, truth: dict[str, tuple[str, float]]) -> Dataset:
        """The rows labelled with their fleet, family set and each GPU's precursor {uuid: (shape, lead days)}."""
        n = len(self.uuid)
        shapes = np.array([truth.get(u, ("", np.nan))[0] for u in self.uuid], dtype=str).reshape(n)
        leads = np.array([truth.get(u, ("", np.nan))[1] for u in self.uuid], dtype=float).reshape(n)
        return dataclasses.replace(self, fleet=np.full(n, fleet), families=np.full(n, families), shape=shapes,
                                   lead_days=leads)


def rederive(ds: Dataset) -> Dataset:
    """The rows with their model features derived again from their raw ones (``features.derive``), the
    peers of a row being the rows of the same fleet and instant."""
    if ds.raw is None:
        raise ValueError("dataset: rows without raw features (a cache from an older version; rebuild it)")
    x = np.empty((len(ds.uuid), len(MODEL_FEATURES)))
    fleet = ds.fleet if ds.fleet is not None else np.full(len(ds.uuid), "")
    keys = np.char.add(np.char.add(fleet.astype(str), "@"), ds.at.astype(str))
    names = ds.model_name if ds.model_name is not None else np.full(len(ds.uuid), "")
    hosts = ds.host if ds.host is not None else np.full(len(ds.uuid), "")
    for rows in group_rows(np.zeros(len(keys)), keys):
        raw = {n: ds.raw[rows, j] for j, n in enumerate(RAW_COLUMNS)}
        cols = derive(raw, raw.pop("age_days"), list(names[rows]), list(hosts[rows]))
        x[rows] = np.column_stack([cols[n] for n in MODEL_FEATURES])
    return dataclasses.replace(ds, x=x)


def held_out(uuid: str, share: float = 0.25) -> bool:
    """Whether a GPU belongs to the held-out set (a stable hash of its UUID)."""
    return int(hashlib.sha256(uuid.encode()).hexdigest()[:8], 16) / 2**32 < share


def ages_at(purchase: dict[str, str], at: float) -> dict[str, float]:
    """Each GPU's age in days at ``at`` from YYYY-MM-DD purchase dates (``catalog.age_days``)."""
    return {u: age_days(d, at) for u, d in purchase.items() if d}


def build_dataset(frame_at: Callable[[float], FeatureFrame], instants: list[float],
                  failures: dict[str, tuple[float, bool]], end: float, progress: bool | None = None,
                  lives_of: dict[str, list[Life]] | None = None) -> Dataset:
    """Rows from frame_at(t) for each instant, labelled from failures {uuid: (failed_at, precursor)}, or for a
    GPU in ``lives_of`` (a repaired one) from the life that holds the instant: each life after its first
    is a GPU of its own (UUID "<uuid>/life<k>"), and an instant between lives gives no row."""
    xs, ys7, ys30, durations, events, uuids, ats, fails, precs = [], [], [], [], [], [], [], [], []
    econs, names, raws, hosts = [], [], [], []
    quiet = not sys.stderr.isatty() if progress is None else not progress
    for t in tqdm(instants, desc="features", unit="instant", disable=quiet):
        frame = frame_at(t)
        if not frame.uuids:
            continue
        x = frame.matrix()
        raw = frame.matrix(RAW_COLUMNS)
        c = frame.columns
        econ = np.column_stack([economic_utilization(c["util_7d"], c["history_days"]), c["power_1d"],
                                c["history_days"],
                                attributable_throttling(c["thermal_violation_frac"], frame.hosts or [""] * len(x))])
        for i, u in enumerate(frame.uuids):
            failed_at, precursor = failures.get(u, (np.inf, False))
            censored, name = end, u
            if lives_of and u in lives_of:
                life = life_at(lives_of[u], t)
                if life is None:
                    continue  # failed and not yet repaired, or its windows still reach into its last life
                failed_at = life.end if life.failed else np.inf
                precursor, censored = life.precursor, min(end, life.end)
                k = lives_of[u].index(life)
                name = u if k == 0 else f"{u}/life{k + 1}"
            if failed_at <= t:
                continue  # already failed
            xs.append(x[i])
            ys7.append(failed_at <= t + HORIZONS["7d"] * DAY)
            ys30.append(failed_at <= t + HORIZONS["30d"] * DAY)
            durations.append((min(failed_at, censored) - t) / DAY)
            events.append(failed_at <= censored)
            uuids.append(name)
            ats.append(t)
            fails.append(failed_at)
            precs.append(precursor)
            econs.append(econ[i])
            names.append(frame.model_names[i] if frame.model_names else "")
            raws.append(raw[i])
            hosts.append(frame.hosts[i] if frame.hosts else "")
    n = len(xs)
    return Dataset(np.array(xs).reshape(n, len(MODEL_FEATURES)),
                   {"7d": np.array(ys7, dtype=float), "30d": np.array(ys30, dtype=float)},
                   np.array(durations), np.array(events, dtype=float), np.array(uuids), np.array(ats),
                   np.array(fails, dtype=float), np.array(precs, dtype=bool),
                   np.array(econs, dtype=float).reshape(n, len(ECON_COLUMNS)), np.array(names, dtype=str),
                   np.array(raws, dtype=float).reshape(n, len(RAW_COLUMNS)), np.array(hosts, dtype=str))


def average_precision(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the precision-recall curve (average precision)."""
    if y.sum() == 0:
        return float("nan")
    order = np.argsort(-p, kind="stable")
    y = y[order]
    tp = np.cumsum(y)
    precision = tp / np.arange(1, len(y) + 1)
    return float((precision * y).sum() / y.sum())


def recall_at_precision(y: np.ndarray, p: np.ndarray, target: float = 0.8) -> tuple[float, float]:
    """The best recall with precision >= target, and the threshold that gives it."""
    if y.sum() == 0:
        return float("nan"), float("nan")
    order = np.argsort(-p, kind="stable")
    ys, ps = y[order], p[order]
    tp = np.cumsum(ys)
    precision = tp / np.arange(1, len(ys) + 1)
    recall = tp / ys.sum()
    ok = np.flatnonzero(precision >= target)
    if len(ok) == 0:
        return 0.0, float("nan")
    best = ok[np.argmax(recall[ok])]
    return float(recall[best]), float(ps[best])


def median_lead_days(ds: Dataset, p7: np.ndarray, threshold: float) -> float:
    """Median over failing GPUs of the time from the first prediction above threshold to the failure."""
    leads = []
    for u in np.unique(ds.uuid[np.isfinite(ds.failed_at)]):
        rows = ds.uuid == u
        hits = ds.at[rows][p7[rows] >= threshold]
        if len(hits):
            leads.append((ds.failed_at[rows][0] - hits.min()) / DAY)
    return float(np.median(leads)) if leads else 0.0


def evaluate(ds: Dataset, pred: Prediction) -> dict:
    """Precision, recall, PR-AUC and median lead time for the 7-day horizon (and PR-AUC at 30 days)."""
    y, p = ds.y["7d"], pred.probability["7d"]
    rec80, thr = recall_at_precision(y, p, 0.8)
    threshold = thr if np.isfinite(thr) else 0.5
    flagged = p >= 0.5
    tp = float((flagged & (y == 1)).sum())
    return {"rows": len(y), "positives": int(y.sum()), "pr_auc_7d": average_precision(y, p),
            "pr_auc_30d": average_precision(ds.y["30d"], pred.probability["30d"]),
            "precision_at_0.5": tp / max(flagged.sum(), 1), "recall_at_0.5": tp / max(y.sum(), 1),
            "recall_at_precision_0.8": rec80, "threshold_at_precision_0.8": thr,
            "median_lead_days": median_lead_days(ds, p, threshold)}


def recommended_actions(ds: Dataset, pred: Prediction, pricing=None) -> list[str]:
    """The action the economics recommends for each row, from its features and predicted probabilities."""
    from gpuhealth.analyzers.economics.pricing import load_pricing
    from gpuhealth.analyzers.economics.valuation import value_fleet

    if ds.econ is None:
        raise ValueError("dataset: rows without the economics' inputs (a cache from an older version; rebuild it)")
    columns = {**{n: ds.x[:, MODEL_FEATURES.index(n)] for n in ECON_FEATURES if n in MODEL_FEATURES},
               **{n: ds.econ[:, k] for k, n in enumerate(ECON_COLUMNS)}}
    inputs = []
    for i in range(len(ds.uuid)):
        row = {n: float(columns[n][i]) for n in ECON_FEATURES}
        inputs.append(econ_input(str(ds.uuid[i]), str(ds.model_name[i]), row, float(columns["utilization"][i]),
                                 pred.probability["7d"][i], pred.probability["30d"][i], pred.factors[i],
                                 throttled=float(columns["throttled"][i]),
                                 utilization_measured=bool(columns["history_days"][i] >= MIN_UTILIZATION_DAYS)))
    return [v.recommended_action for v in value_fleet(inputs, pricing or load_pricing())]


def real_fleet_decisions(ds: Dataset, pred: Prediction, base_rate: dict[str, float], pricing=None) -> dict:
    """How the recommended actions over the rows fared (``decisions.decision_quality``) as on a real
    fleet: a trained model's probabilities shifted from its training rows' base rate to each row's
    published one (``registry.fleet_odds``; the heuristic has no base rate and is not shifted) and the
    economics reading what they hold beyond it (``registry.excess_over_prior``), as the analyzer does,
    so that false actions and missed failures are those an operator would see; the expected failures
    are at the rows' own base rate, against their real failures."""
    from gpuhealth.analyzers.economics.pricing import load_pricing
    from gpuhealth.analyzers.economics.valuation import baseline_failure_probability
    from gpuhealth.analyzers.predict.registry import calibrate, excess_over_prior, fleet_odds

    pricing = pricing or load_pricing()
    names, age = [str(n) for n in ds.model_name], ds.x[:, MODEL_FEATURES.index("age_days")]
    prior = {h: baseline_failure_probability(names, age, days, pricing) for h, days in HORIZONS.items()}
    shifted = pred.probability
    if base_rate:
        shifted = calibrate(pred.probability, fleet_odds(base_rate, prior["30d"]))
    acted = recommended_actions(ds, Prediction(excess_over_prior(shifted, prior), pred.factors), pricing)
    d = decision_quality(acted, shifted["7d"], ds.failed_at, ds.precursor, ds.at)
    live = ds.failed_at > ds.at
    d["expected_failures_7d"] = float(pred.probability["7d"][live].sum())
    d["expected_over_real"] = d["expected_failures_7d"] / d["failures_7d"] if d["failures_7d"] else float("nan")
    return d


def dcgm_default_view(x: np.ndarray) -> np.ndarray:
    """A MODEL_FEATURES matrix as a fleet exported by dcgm-exporter's default counters would give it: every
    feature but REDUCED_FEATURES and the day's temperature, power and utilisation (and the age) unknown."""
    from gpuhealth.analyzers.predict.models import REDUCED_FEATURES

    kept = {*REDUCED_FEATURES, "thermal_r_1d", "util_1d", "age_days"}
    out = x.copy()
    out[:, [j for j, n in enumerate(MODEL_FEATURES) if n not in kept]] = np.nan
    return out


def train_and_evaluate(ds: Dataset, kinds: tuple[str, ...] = ("heuristic", "survival", "xgboost"),
                       seed: int = 0) -> dict[str, tuple[object, dict]]:
    """Fit each model on the training GPUs; metrics on the held-out GPUs, with and without the failures
    that have no precursor, and with dcgm-exporter's default families only (failures with a precursor);
    decisions as on a real fleet (``real_fleet_decisions``: at the published base rate of each row's GPU)."""
    test = np.array([held_out(u) for u in ds.uuid], dtype=bool)
    train, hold = ds.subset(~test), ds.subset(test)
    no_sudden = ~(np.isfinite(hold.failed_at) & ~hold.precursor)
    out = {}
    for kind in kinds:
        model = MODEL_KINDS[kind]().fit(train.x, train.y, duration_days=train.duration_days, event=train.event,
                                        seed=seed)
        pred = model.predict(hold.x)
        metrics = {"all": evaluate(hold, pred),
                   "precursor_only": evaluate(hold.subset(no_sudden), subset_prediction(pred, no_sudden)),
                   "decisions": real_fleet_decisions(hold, pred, model.base_rate) if hold.econ is not None
                   else {},
                   "precursor_only_dcgm_default": evaluate(
                       hold.subset(no_sudden),
                       subset_prediction(model.predict(dcgm_default_view(hold.x)), no_sudden)),
                   "train_rows": len(train.uuid), "train_gpus": len(np.unique(train.uuid)),
                   "test_gpus": len(np.unique(hold.uuid))}
        model.metrics = metrics
        out[kind] = (model, metrics)
    return out


def subset_prediction(pred: Prediction, mask: np.ndarray) -> Prediction:
    """The predictions of the rows where mask is true."""
    return Prediction({h: v[mask] for h, v in pred.probability.items()},
                      [f for f, m in zip(pred.factors, mask, strict=True) if m])


def fleet_parts(gpus: int, seed: int) -> list[tuple[int, int]]:
    """(GPUs, seed) of each simulated fleet that ``gpus`` simulated GPUs are built from: fleets of at
    most SIM_PART_GPUS GPUs, seeds seed, seed + 1, ... (the first part of a larger fleet is the fleet
    of SIM_PART_GPUS GPUs with the same seed)."""
    if gpus < 1:
        raise ValueError(f"gpus: {gpus} (expected at least 1)")
    sizes = [SIM_PART_GPUS] * (gpus // SIM_PART_GPUS) + ([gpus % SIM_PART_GPUS] if gpus % SIM_PART_GPUS else [])
    return [(n, seed + k) for k, n in enumerate(sizes)]


@dataclass(frozen=True)
class SimFleet:
    """One simulated training fleet: its kind (the simulator's own, or with variety), family set, seed and
    sampling interval. Written ``variety-full-s7`` or ``variety-dcgm-default-s8@120s``."""

    variety: bool
    families: str
    seed: int
    step_seconds: int = 300

    @property
    def name(self) -> str:
        """The fleet as written on the command line."""
        step = "" if self.step_seconds == 300 else f"@{self.step_seconds}s"
        return f"{'variety' if self.variety else 'simulator'}-{self.families}-s{self.seed}{step}"

    @classmethod
    def parse(cls, text: str) -> SimFleet:
        """A fleet from its name; ValueError naming what is wrong."""
        from gpuhealth.sim.history import FAMILY_SETS

        body, _, step = text.strip().partition("@")
        kind, _, rest = body.partition("-")
        families, _, seed = rest.rpartition("-s")
        if kind not in ("variety", "simulator") or families not in FAMILY_SETS or not seed.isdigit():
            raise ValueError(f"fleet {text!r}: expected KIND-FAMILIES-sSEED[@STEPs], KIND variety or simulator, "
                             f"FAMILIES one of {', '.join(FAMILY_SETS)} (e.g. variety-full-s7@120s)")
        if step and not (step.endswith("s") and step[:-1].isdigit()):
            raise ValueError(f"fleet {text!r}: step {step!r}: expected seconds such as 120s")
        return cls(kind == "variety", families, int(seed), int(step[:-1]) if step else 300)


# the fleets the packaged models learn from: two with variety, two of the simulator's own kind, each pair
# with every family and with dcgm-exporter's defaults; one sampled every 2 minutes, the others every 5
TRAINING_FLEETS: tuple[SimFleet, ...] = (SimFleet(True, "full", 7), SimFleet(True, "dcgm-default", 8, 120),
                                         SimFleet(False, "full", 7), SimFleet(False, "dcgm-default", 8))


def training_rows(fleets: tuple[SimFleet, ...] = TRAINING_FLEETS, gpus: int = SIM_PART_GPUS, days: float = 35.0,
                  hazard_scale: float = 40.0, cache: Path | None = None, progress: bool | None = None,
                  selector: str | None = None) -> Dataset:
    """The rows of several simulated fleets of ``gpus`` GPUs each (``sim_dataset``), from ``cache`` (an .npz
    per fleet, named by its parameters) where it holds them."""
    parts = []
    for f in fleets:
        path = None if cache is None else Path(cache) / f"{f.name}-g{gpus}-d{days:g}-h{hazard_scale:g}.npz"
        if path is not None and path.exists():
            parts.append(Dataset.load(path))
            continue
        ds = sim_dataset(gpus, days, f.seed, hazard_scale, progress=progress, selector=selector, variety=f.variety,
                         families=f.families, step_seconds=f.step_seconds)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            ds.save(path)
        parts.append(ds)
    return parts[0] if len(parts) == 1 else Dataset.concat(parts)


def sim_dataset(gpus: int, days: float, seed: int, hazard_scale: float, step_hours: float = 6.0,
                workdir: Path | None = None, progress: bool | None = None, model_mix: dict | None = None,
                warmup_days: float = 7.0, end: float | None = None, selector: str | None = None,
                variety: bool = False, families: str = "full", step_seconds: int = 300) -> Dataset:
    """Simulate a history, backfill it into a temporary Prometheus and build rows through PromQL:
    the same path the analyzer takes online. Rows start after ``warmup_days`` of history, so that
    every weekly feature window is full (as in a fleet whose Prometheus holds weeks of data), and end
    a week before the history does (so that "fails within 7 days" is known).

    More than SIM_PART_GPUS GPUs are simulated as several fleets (``fleet_parts``), one after the
    other, each history deleted once its rows are built: a history's OpenMetrics text takes over 40 GB
    per 320 GPUs x 35 days, and a single fleet of 640 GPUs filled a 80 GB disk.

    ``variety``, ``families`` and ``step_seconds`` are the history's (``HistoryConfig``); each row is
    labelled with its fleet, family set and precursor (``Dataset.with_meta``)."""
    if days < warmup_days + 7 + step_hours / 24:
        raise ValueError(f"days: {days:g} leaves no labelled rows; expected at least {warmup_days + 8:g} "
                         f"({warmup_days:g} days of warm-up and 7 days of outcome)")
    from gpuhealth.sim.history import HistoryConfig

    parts = []
    for k, (n, part_seed) in enumerate(fleet_parts(gpus, seed)):
        sub = None if workdir is None else Path(workdir) / (f"part{k}" if gpus > SIM_PART_GPUS else "")
        cfg = HistoryConfig(gpus=n, days=days, step_seconds=step_seconds, seed=part_seed, end=end or SIM_END,
                            hazard_scale=hazard_scale, model_mix=model_mix, variety=variety, families=families)
        parts.append(_sim_fleet(cfg, step_hours, sub, progress, warmup_days, selector))
    return parts[0] if len(parts) == 1 else Dataset.concat(parts)


def _sim_fleet(cfg, step_hours: float, workdir: Path | None, progress: bool | None, warmup_days: float,
               selector: str | None = None) -> Dataset:
    import csv

    from gpuhealth import stack
    from gpuhealth.analyzers.predict.features import default_selector, online
    from gpuhealth.analyzers.promql import PromClient
    from gpuhealth.sim.history import generate_history

    tmp = Path(workdir or tempfile.mkdtemp(prefix="gpuhealth-train-"))
    try:
        # each window's text is deleted once its block is written (320 GPUs x 35 days of text is over 40 GB)
        summary = generate_history(cfg, tmp / "history", progress=progress, backfill_to=tmp / "tsdb",
                                   keep_text=workdir is not None)
        failures, purchase, precursors = {}, {}, {}
        with open(tmp / "history" / "ground_truth.csv") as fh:
            for row in csv.DictReader(fh):
                if row["failed_at"]:
                    t = datetime.fromisoformat(row["failed_at"].replace("Z", "+00:00")).timestamp()
                    failures[row["UUID"]] = (t, row["precursor"] == "true")
                    if row["precursor"] == "true":
                        onset = datetime.fromisoformat(row["onset"].replace("Z", "+00:00")).timestamp()
                        precursors[row["UUID"]] = (row.get("shape") or "convex", (t - onset) / DAY)
        with open(tmp / "history" / "assets.csv") as fh:
            purchase = {r["uuid"]: r["purchase_date"] for r in csv.DictReader(fh)}
        prom = stack.Prometheus(workdir=tmp / "prom", storage_path=tmp / "tsdb", retention="100y").start()
        try:
            client = PromClient(prom.url)
            start = summary["start"]
            instants = list(np.arange(start + warmup_days * DAY, summary["end"] - 7 * DAY + 1,
                                      step_hours * 3600.0))
            ds = build_dataset(lambda t: online(client, t, ages_at(purchase, t), selector), instants, failures,
                               summary["end"], progress)
            if not len(ds.uuid):
                raise ValueError(f"selector {selector or default_selector()}: matches none of the simulated "
                                 "history's series "
                                 '(scraped as job="gpuhealth")')
            name = SimFleet(cfg.variety, cfg.families, cfg.seed, cfg.step_seconds).name
            return ds.with_meta(name, cfg.families, precursors)
        finally:
            prom.stop()
    finally:
        if workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)


def timescaledb_dataset(dsn: str, step_hours: float = 6.0, progress: bool | None = None) -> Dataset:
    """Rows from stored history: features by SQL over the sink's rollups, labels from gpu_failures."""
    import psycopg

    from gpuhealth.analyzers.predict.features import offline
    from gpuhealth.analyzers.repairs import repairs_by_gpu

    with psycopg.connect(dsn) as conn:
        first, last = conn.execute("SELECT extract(epoch FROM min(bucket)), extract(epoch FROM max(bucket)) "
                                   "FROM samples_1m").fetchone()
        if first is None:
            raise ValueError("samples_1m is empty: no stored history to train on (is the sink's rollup loop running?)")
        every: dict[str, list[tuple[float, bool]]] = {}
        for u, t, p in conn.execute("SELECT uuid, failed_at, coalesce(precursor, true) FROM gpu_failures "
                                    "ORDER BY uuid, failed_at").fetchall():
            every.setdefault(u, []).append((t.timestamp(), bool(p)))
        failures = {u: f[0] for u, f in every.items()}
        repaired = repairs_by_gpu(dsn)  # a repaired GPU is a new life, labelled by its own failures
        lives_of = {u: lives(every.get(u, []), times) for u, times in repaired.items()}
        purchase = {u: d.isoformat() for u, d in conn.execute("SELECT uuid, purchase_date FROM gpu_assets "
                                                              "WHERE purchase_date IS NOT NULL").fetchall()}
        first, last = float(first), float(last)
        instants = list(np.arange(first + DAY, max(last - 7 * DAY, first + DAY) + 1, step_hours * 3600.0))
        return build_dataset(lambda t: offline(conn, t, ages_at(purchase, t)), instants, failures, last, progress,
                             lives_of)
