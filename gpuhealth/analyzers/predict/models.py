"""Failure prediction: three models behind one interface.

Each model maps a feature matrix (GPUs x MODEL_FEATURES, NaN = unknown) to the probability of
failing within 7 and 30 days, and names each GPU's top contributing factors.
- ``heuristic``: transparent, hand-set weights on error rates and trends (the baseline).
- ``survival``: a Weibull proportional-hazards model on the same covariates, fitted by maximum
  likelihood (scipy); P(fail within h) = 1 - exp(-(h/scale)^shape * exp(beta . x)).
- ``xgboost``: gradient-boosted trees, one classifier per horizon, monotone in every error count, on
  the precursor features only (not age, not levels that differ by GPU model); factors from SHAP contributions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from scipy.optimize import minimize

from gpuhealth.analyzers.predict.features import MODEL_FEATURES, PEER_FEATURES

HORIZONS = {"7d": 7.0, "30d": 30.0}


@dataclass
class Prediction:
    """Per-GPU probabilities by horizon and top factors (name, contribution)."""

    probability: dict[str, np.ndarray]
    factors: list[list[tuple[str, float]]]


@runtime_checkable
class Model(Protocol):
    """What the analyzer, training and validation need of a model of any kind.

    ``base_rate`` is the share of its training rows failing within each horizon, the base rate its
    probabilities are at (``registry.fleet_odds`` shifts them from it to each GPU's own prior); empty for
    a model that is not trained, whose probabilities are used as they are."""

    kind: str
    features: tuple[str, ...]
    metrics: dict
    base_rate: dict

    def fit(self, x: np.ndarray, y: dict[str, np.ndarray], **kwargs) -> Model:
        """Learn from a MODEL_FEATURES matrix and its labels by horizon; returns the model."""
        ...

    def predict(self, x: np.ndarray) -> Prediction:
        """Probabilities by horizon and the top factors of each row of a MODEL_FEATURES matrix."""
        ...

    def to_dict(self) -> dict:
        """What model.json holds."""
        ...


def select(x: np.ndarray, features: tuple[str, ...]) -> np.ndarray:
    """The columns of a MODEL_FEATURES matrix that a model uses, in its order."""
    if tuple(features) == MODEL_FEATURES:
        return x
    unknown = sorted(set(features) - set(MODEL_FEATURES))
    if unknown:
        raise ValueError(f"features: {unknown} are not model features (known: {', '.join(MODEL_FEATURES)})")
    return x[:, [MODEL_FEATURES.index(n) for n in features]]


def _transform(x: np.ndarray) -> np.ndarray:
    """Counts to log scale, missing to 0: the shared input of the heuristic and survival models."""
    return np.log1p(np.clip(np.nan_to_num(x, nan=0.0), 0, None))


# heuristic weights on log1p(feature): what an operator would write down after reading the runbooks
HEURISTIC_WEIGHTS = {
    "sbe_1d": 0.5, "sbe_accel": 0.6, "corr_remaps_7d": 1.2, "unc_remaps": 1.5, "dbe_7d": 1.5, "remap_failure": 10.0,
    "retired_dbe": 1.0, "thermal_r_trend": 40.0, "thermal_violation_frac": 8.0, "power_violation_frac": 1.0,
    "power_peak_ratio": 0.0, "brake_1d": 8.0, "pcie_replay_1d": 0.5, "nvlink_errors_1d": 0.4, "downtrained": 2.0,
    "xid_critical_7d": 1.5, "xid_warning_7d": 0.6,
}
HEURISTIC_BIAS = -6.0


def _top(contrib: np.ndarray, names: tuple[str, ...], k: int = 3) -> list[list[tuple[str, float]]]:
    out = []
    for row in contrib:
        order = np.argsort(-row)[:k]
        out.append([(names[j], float(row[j])) for j in order if row[j] > 0])
    return out


@dataclass
class HeuristicModel:
    """A transparent score: logistic of weighted log error counts and trends."""

    kind: str = "heuristic"
    features: tuple[str, ...] = MODEL_FEATURES
    metrics: dict = field(default_factory=dict)
    base_rate: dict = field(default_factory=dict)  # not trained, so not at any base rate: never shifted

    def predict(self, x: np.ndarray) -> Prediction:
        """Probabilities for 7 and 30 days and the top factors."""
        w = np.array([HEURISTIC_WEIGHTS.get(n, 0.0) for n in self.features])
        t = _transform(select(x, self.features))
        contrib = t * w
        z = contrib.sum(axis=1) + HEURISTIC_BIAS
        p7 = 1.0 / (1.0 + np.exp(-z))
        p30 = 1.0 - (1.0 - p7) ** 2.5
        return Prediction({"7d": p7, "30d": p30}, _top(contrib, self.features))

    def fit(self, x: np.ndarray, y: dict[str, np.ndarray], **_) -> HeuristicModel:
        """Nothing to fit: the weights are set by hand."""
        return self

    def to_dict(self) -> dict:
        return {"kind": self.kind, "features": list(self.features), "metrics": self.metrics}


@dataclass
class SurvivalModel:
    """Weibull proportional hazards on log-scaled covariates (landmark rows: time to failure or censoring)."""

    kind: str = "survival"
    features: tuple[str, ...] = MODEL_FEATURES
    shape: float = 1.0
    scale_days: float = 1000.0
    beta: np.ndarray | None = None
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    metrics: dict = field(default_factory=dict)
    base_rate: dict = field(default_factory=dict)  # training rows' share failing, by horizon (base_rate_of)

    def _z(self, x: np.ndarray) -> np.ndarray:
        return (_transform(select(x, self.features)) - self.mean) / self.std

    def fit(self, x: np.ndarray, y: dict[str, np.ndarray], duration_days: np.ndarray, event: np.ndarray,
            l2: float = 0.05, **_) -> SurvivalModel:
        """Maximum likelihood with a small ridge penalty."""
        t = _transform(select(x, self.features))
        self.mean = t.mean(axis=0)
        self.std = np.where(t.std(axis=0) > 1e-9, t.std(axis=0), 1.0)
        z = (t - self.mean) / self.std
        d = np.maximum(duration_days, 1e-3)
        p = z.shape[1]

        def nll(theta: np.ndarray) -> float:
            log_k, log_lam, b = theta[0], theta[1], theta[2:]
            k, lam = np.exp(log_k), np.exp(log_lam)
            eta = np.clip(z @ b, -30, 30)
            cum = (d / lam) ** k * np.exp(eta)
            log_h = np.log(k / lam) + (k - 1) * np.log(d / lam) + eta
            return float(-(event * log_h - cum).sum() + l2 * (b @ b))

        theta0 = np.concatenate([[0.0, np.log(np.median(d) * 10 + 1)], np.zeros(p)])
        res = minimize(nll, theta0, method="L-BFGS-B")
        self.shape, self.scale_days = float(np.exp(res.x[0])), float(np.exp(res.x[1]))
        self.beta = res.x[2:]
        self.base_rate = base_rate_of(y)
        return self

    def predict(self, x: np.ndarray) -> Prediction:
        """P(fail within h) = 1 - exp(-(h/scale)^shape exp(beta z))."""
        z = self._z(x)
        eta = np.clip(z @ self.beta, -30, 30)
        probs = {h: 1.0 - np.exp(-((days / self.scale_days) ** self.shape) * np.exp(eta))
                 for h, days in HORIZONS.items()}
        return Prediction(probs, _top(z * self.beta, self.features))

    def to_dict(self) -> dict:
        return {"kind": self.kind, "features": list(self.features), "shape": self.shape, "scale_days": self.scale_days,
                "beta": self.beta.tolist(), "mean": self.mean.tolist(), "std": self.std.tolist(),
                "metrics": self.metrics, "base_rate": self.base_rate}

    @classmethod
    def from_dict(cls, d: dict) -> SurvivalModel:
        return cls(features=tuple(d["features"]), shape=d["shape"], scale_days=d["scale_days"],
                   beta=np.array(d["beta"]), mean=np.array(d["mean"]), std=np.array(d["std"]),
                   metrics=d.get("metrics", {}), base_rate=_base_rate(d))


# XGBoost on the precursors only. Not the GPU's age: on accelerated-life training history age says
# which GPUs fail at all (the Weibull wear-out), not which fail this week, and trees leaned on it. Not
# the absolute thermal resistance or utilisation either: their healthy levels differ by GPU model, so
# trees learnt the training fleet's models. Chosen on the training fleet only (seed 7, PR-AUC 7 d with
# precursor): 4-fold CV by GPU 0.858 with all, 0.895 without age, 0.904 without the three; leaving
# one GPU model out at a time 0.850 with age and 0.910 without the three.
XGBOOST_FEATURES: tuple[str, ...] = tuple(n for n in MODEL_FEATURES if n not in ("age_days", "thermal_r_1d",
                                                                                  "util_1d"))


# Features whose NaN the training history held as a value of its own: no XID series yet (no XIDs), no
# temperature rise when the power hardly swung. Any other feature is NaN only where its family is not
# exported (dcgm-exporter leaves ECC, violations, NVLink and the power limit off by default), which the
# simulated training history never was: such a value is unknown, and the trees average over both sides of
# its splits, weighted by the training rows that went each way (the prediction's expectation over what
# the value could be), instead of following the side XGBoost sends missing values to.
NAN_IS_A_VALUE = frozenset({"xid_critical_1d", "xid_critical_7d", "xid_warning_1d", "xid_warning_7d",
                            "thermal_rise_1d"})


class _Trees:
    """A booster's trees (its JSON dump with the training cover of each node), evaluated with unknown
    features averaged over (see NAN_IS_A_VALUE)."""

    def __init__(self, booster, features: tuple[str, ...]) -> None:
        config = json.loads(booster.save_config())["learner"]["learner_model_param"]
        base = float(str(config["base_score"]).strip("[]"))
        self.base_margin = float(np.log(base / (1.0 - base)))
        self.trees = [json.loads(t) for t in booster.get_dump(dump_format="json", with_stats=True)]
        self.index = {n: i for i, n in enumerate(features)}
        self.marginal = np.array([n not in NAN_IS_A_VALUE for n in features])

    def margin(self, x: np.ndarray) -> np.ndarray:
        """The booster's margin (log odds) for each row."""
        unknown = np.isnan(x) & self.marginal[None, :]
        out = np.full(len(x), self.base_margin)
        for tree in self.trees:
            out += self._walk(tree, x, unknown, np.ones(len(x)))
        return out

    def _walk(self, node: dict, x: np.ndarray, unknown: np.ndarray, weight: np.ndarray) -> np.ndarray:
        if "leaf" in node:
            return weight * node["leaf"]
        j = self.index[node["split"]]
        yes_node, no_node = sorted(node["children"], key=lambda c: c["nodeid"] != node["yes"])
        col = x[:, j]
        with np.errstate(invalid="ignore"):
            goes_yes = np.where(np.isnan(col), node["missing"] == node["yes"], col < node["split_condition"])
        share_yes = yes_node["cover"] / (yes_node["cover"] + no_node["cover"])
        w_yes = weight * np.where(unknown[:, j], share_yes, goes_yes)
        w_no = weight * np.where(unknown[:, j], 1.0 - share_yes, ~goes_yes)
        out = np.zeros(len(x))
        if w_yes.any():
            out += self._walk(yes_node, x, unknown, w_yes)
        if w_no.any():
            out += self._walk(no_node, x, unknown, w_no)
        return out


# The XGBoost features that dcgm-exporter's default counters leave computable (temperature, power,
# PCIe replays, row remaps: catalog.Field.dcgm_default; tests/test_analyzers.py checks the families).
# A GPU whose other features' families are not exported is judged by a second set of boosters trained
# on these alone: what it does export, read by a model that learnt from just that.
REDUCED_FEATURES: tuple[str, ...] = ("corr_remaps_7d", "unc_remaps", "remap_failure", "thermal_r_trend",
                                     "thermal_rise_1d", "pcie_replay_1d", "pcie_replay_7d", "pcie_accel",
                                     "pcie_peer_z", "remaps_peer_z", "thermal_r_peer_z", "thermal_r_host_excess")


XGBOOST_PARAMS = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.1, "subsample": 0.8,
                  "colsample_bytree": 0.8, "min_child_weight": 5, "gamma": 1.0, "eval_metric": "aucpr",
                  "nthread": 2, "rounds": 150}


@dataclass
class XGBoostModel:
    """One gradient-boosted classifier per horizon, and (``reduced``) one on REDUCED_FEATURES for the GPUs
    whose other families are not exported."""

    kind: str = "xgboost"
    features: tuple[str, ...] = XGBOOST_FEATURES
    boosters: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    # the weight given to positive rows in training, by horizon: it multiplies the booster's odds,
    # so predict divides them by it again (probabilities at the training base rate, like the others')
    pos_weight: dict = field(default_factory=dict)
    _trees: dict = field(default_factory=dict, repr=False)  # horizon -> _Trees, parsed on first use
    reduced: XGBoostModel | None = None
    params: dict = field(default_factory=dict)  # overrides of XGBOOST_PARAMS
    base_rate: dict = field(default_factory=dict)  # training rows' share failing, by horizon (base_rate_of)

    def needs_reduced(self, x: np.ndarray) -> np.ndarray:
        """Rows (of a MODEL_FEATURES matrix) that lack a family the full boosters read (a peer feature is
        also unknown where a GPU has too few peers: that says nothing of its families)."""
        full_only = [n for n in self.features
                     if n not in REDUCED_FEATURES and n not in NAN_IS_A_VALUE and n not in PEER_FEATURES]
        return np.isnan(select(x, tuple(full_only))).any(axis=1)

    def fit(self, x: np.ndarray, y: dict[str, np.ndarray], seed: int = 0, **_) -> XGBoostModel:
        """Train both horizons."""
        import xgboost as xgb

        for h, labels in y.items():
            pos = max(labels.sum(), 1.0)
            dtrain = xgb.DMatrix(select(x, self.features), label=labels, feature_names=list(self.features))
            # more errors never mean less risk: monotone constraints keep small fleets from overfitting
            monotone = "(" + ",".join("0" if n == "util_1d" else "1" for n in self.features) + ")"
            self.pos_weight[h] = float(min((len(labels) - pos) / pos, 20.0))
            params = {**XGBOOST_PARAMS, **self.params, "seed": seed, "monotone_constraints": monotone,
                      "scale_pos_weight": self.pos_weight[h]}
            rounds = int(params.pop("rounds"))
            self.boosters[h] = xgb.train(params, dtrain, num_boost_round=rounds)
        self._trees.clear()
        self.base_rate = base_rate_of(y)
        if self.features != REDUCED_FEATURES:
            self.reduced = XGBoostModel(features=REDUCED_FEATURES, params=self.params).fit(x, y, seed=seed)
        return self

    def predict(self, x: np.ndarray) -> Prediction:
        """Probabilities per horizon; factors from the 7-day model's feature contributions."""
        import xgboost as xgb

        xs = select(x, self.features)
        d = xgb.DMatrix(xs, feature_names=list(self.features))
        probs = {}
        for h, b in self.boosters.items():
            if h not in self._trees:
                self._trees[h] = _Trees(b, self.features)
            margin = np.clip(self._trees[h].margin(xs), -30, 30)
            odds = np.exp(margin) / self.pos_weight.get(h, 1.0)
            probs[h] = odds / (1 + odds)
        contrib = self.boosters["7d"].predict(d, pred_contribs=True)[:, :-1]
        factors = _top(contrib, self.features)
        rows = self.needs_reduced(x) if self.reduced is not None else np.zeros(len(x), dtype=bool)
        if rows.any():
            sub = self.reduced.predict(x[rows])
            for h in probs:
                probs[h][rows] = sub.probability[h]
            for k, i in enumerate(np.flatnonzero(rows)):
                factors[i] = sub.factors[k]
        return Prediction(probs, factors)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "features": list(self.features), "metrics": self.metrics,
                "pos_weight": self.pos_weight, "params": self.params, "base_rate": self.base_rate}


def base_rate_of(y: dict[str, np.ndarray]) -> dict[str, float]:
    """The share of rows failing within each horizon: the base rate a trained model's probabilities are at,
    from which the analyzer shifts them to a fleet's own (``registry.fleet_odds``)."""
    return {h: float(np.mean(v)) for h, v in y.items()}


def _base_rate(d: dict) -> dict[str, float]:
    if "base_rate" not in d:
        raise ValueError("no base_rate (the training rows' failure share, by horizon): the model was trained "
                         "by an older gpuhealth; train it again with `gpuhealth model train`")
    return {h: float(r) for h, r in d["base_rate"].items()}


MODEL_KINDS = {"heuristic": HeuristicModel, "survival": SurvivalModel, "xgboost": XGBoostModel}


class ModelError(RuntimeError):
    """A model file is missing or corrupt; the message names the file."""


def save(model, directory: Path) -> Path:
    """Write a model into directory (model.json, plus xgboost-<horizon>.ubj for xgboost)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.json").write_text(json.dumps(model.to_dict(), indent=1, sort_keys=True))
    if isinstance(model, XGBoostModel):
        for h, b in model.boosters.items():
            b.save_model(str(directory / f"xgboost-{h}.ubj"))
        if model.reduced is not None:
            save(model.reduced, directory / "reduced")
    return directory


def load(directory: Path) -> Model:
    """Read a model written by save(); ModelError when missing or corrupt."""
    path = Path(directory) / "model.json"
    try:
        d = json.loads(path.read_text())
        kind = d["kind"]
        if kind == "heuristic":
            return HeuristicModel(features=tuple(d["features"]), metrics=d.get("metrics", {}))
        if kind == "survival":
            return SurvivalModel.from_dict(d)
        if kind == "xgboost":
            import xgboost as xgb

            boosters = {}
            for h in HORIZONS:
                b = xgb.Booster()
                b.load_model(str(Path(directory) / f"xgboost-{h}.ubj"))
                boosters[h] = b
            sub = Path(directory) / "reduced"
            reduced = load(sub) if (sub / "model.json").exists() else None
            return XGBoostModel(features=tuple(d["features"]), boosters=boosters, metrics=d.get("metrics", {}),
                                pos_weight={h: float(w) for h, w in d.get("pos_weight", {}).items()},
                                reduced=reduced, params=d.get("params", {}), base_rate=_base_rate(d))
        raise ModelError(f"{path}: unknown model kind {kind!r}")
    except FileNotFoundError as exc:
        raise ModelError(f"{exc.filename}: model file missing (train one with `gpuhealth model train`)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{path}: corrupt model file: {exc}") from None
    except Exception as exc:  # xgboost raises its own XGBoostError on a corrupt booster
        if type(exc).__name__ == "XGBoostError":
            raise ModelError(f"{directory}: corrupt xgboost model: {str(exc).splitlines()[0]}") from None
        raise
