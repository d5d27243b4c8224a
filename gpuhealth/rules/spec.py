"""The rule spec: parsed once from YAML into typed objects, validated, merged over the defaults."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from gpuhealth.catalog import XidSeverity, xid_codes

DIMENSIONS = ("memory", "thermal", "power", "performance", "reliability")
# rule groups' evaluation intervals
INTERVALS = ("inventory", "scores", "clock_events", "anomalies", "baselines", "trends", "fleet", "alerts")
DURATION = re.compile(r"^\d+(ms|s|m|h|d|w|y)$")
BUDGETS = ("temp_warning_margin_celsius", "sbe_per_hour_budget", "correctable_remaps_budget",
           "uncorrectable_remaps_budget", "retired_pages_budget", "nvlink_errors_per_hour_budget",
           "pcie_replays_per_hour_budget", "critical_xids_budget")


class SpecError(ValueError):
    """A rule spec is invalid; the message names the file, the field and what was expected."""


@dataclass(frozen=True)
class ModelThresholds:
    """Thresholds for one GPU model (or the default)."""

    name: str
    match: str
    slowdown_celsius: float
    memory_max_celsius: float
    budgets: dict[str, float]


@dataclass(frozen=True)
class Spec:
    """Everything the generator needs."""

    selector: str
    runbook_url_base: str
    windows: dict[str, str]
    intervals: dict[str, str]
    weights: dict[str, float]
    models: list[ModelThresholds]  # specific models first, default last
    scores: dict[str, float]
    alerts: dict[str, float]
    alertmanager: dict[str, Any] = field(default_factory=dict)
    prediction_model: str = "xgboost"

    @property
    def xids(self) -> dict[str, tuple[int, ...]]:
        """The critical and warning XID codes (the catalog's classes, not the spec's)."""
        return {"critical": xid_codes(XidSeverity.CRITICAL), "warning": xid_codes(XidSeverity.WARNING)}

    @property
    def max_weight(self) -> float:
        """The largest dimension weight (the overall score's exponent base)."""
        return max(self.weights.values())

    def runbook(self, alertname: str) -> str:
        """The runbook URL of an alert."""
        return f"{self.runbook_url_base}#{alertname.lower()}"


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for k, v in override.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def default_spec_text() -> str:
    """The packaged default spec."""
    return resources.files("gpuhealth.rules").joinpath("spec.yaml").read_text()


def load_spec(path: str | Path | None = None) -> Spec:
    """The default spec, with a user file merged over it when given."""
    raw = yaml.safe_load(default_spec_text())
    where = "spec.yaml (packaged)"
    if path is not None:
        where = str(path)
        try:
            user = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SpecError(f"{where}: cannot read: {exc}") from exc
        if not isinstance(user, dict):
            raise SpecError(f"{where}: expected a mapping at the top level")
        if "xids" in user:
            raise SpecError(f"{where}: xids: the XID classes are gpuhealth's metric contract (catalog.XIDS), "
                            "which the rules and the analyzer both read: remove this section")
        unknown = set(user) - set(raw)
        if unknown:
            raise SpecError(f"{where}: unknown fields {sorted(unknown)}; expected some of {sorted(raw)}")
        raw = _merge(raw, user)
    return parse_spec(raw, where)


def _number(where: str, name: str, value: Any, lo: float = 0.0, hi: float = float("inf")) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise SpecError(f"{where}: {name}: expected a number in {lo}..{hi}, got {value!r}")
    return float(value)


def parse_spec(raw: dict, where: str = "spec") -> Spec:
    """Validate a merged spec mapping into a Spec."""
    if not isinstance(raw.get("selector"), str) or not raw["selector"]:
        raise SpecError(f"{where}: selector: expected a PromQL label matcher such as job=\"gpuhealth\"")
    windows = raw.get("windows") or {}
    for k, v in windows.items():
        if not isinstance(v, str) or not DURATION.match(v):
            raise SpecError(f"{where}: windows.{k}: expected a duration like 5m or 1d, got {v!r}")
    intervals = raw.get("intervals") or {}
    for k in INTERVALS:
        v = intervals.get(k)
        if not isinstance(v, str) or not DURATION.match(v):
            raise SpecError(f"{where}: intervals.{k}: expected a duration like 15s or 1m, got {v!r}")
    unknown = set(intervals) - set(INTERVALS)
    if unknown:
        raise SpecError(f"{where}: intervals: unknown groups {sorted(unknown)}; expected some of {list(INTERVALS)}")
    weights = raw.get("weights") or {}
    if set(weights) != set(DIMENSIONS):
        raise SpecError(f"{where}: weights: expected exactly {list(DIMENSIONS)}, got {sorted(weights)}")
    weights = {k: _number(where, f"weights.{k}", v, 0.0, 100.0) for k, v in weights.items()}
    if max(weights.values()) <= 0:
        raise SpecError(f"{where}: weights: at least one weight must be positive")
    budgets = raw.get("budgets") or {}
    for k in BUDGETS:
        if k not in budgets:
            raise SpecError(f"{where}: budgets.{k}: required")
    models_raw = raw.get("models") or {}
    if "default" not in models_raw:
        raise SpecError(f"{where}: models.default: required (thresholds for unlisted GPU models)")
    models = []
    for name, m in sorted(models_raw.items(), key=lambda kv: kv[0] == "default"):
        if not isinstance(m, dict):
            raise SpecError(f"{where}: models.{name}: expected a mapping")
        try:
            re.compile(m.get("match", ""))
        except re.error as exc:
            raise SpecError(f"{where}: models.{name}.match: not a regular expression: {exc}") from exc
        unknown = set(m) - {"match", "slowdown_celsius", "memory_max_celsius", *BUDGETS}
        if unknown:
            raise SpecError(f"{where}: models.{name}: unknown fields {sorted(unknown)}")
        b = {k: _number(where, f"models.{name}.{k}", m.get(k, budgets[k]), 0.0) for k in BUDGETS}
        if min(b[k] for k in BUDGETS if k != "temp_warning_margin_celsius") <= 0:
            raise SpecError(f"{where}: models.{name}: budgets must be positive")
        models.append(ModelThresholds(
            name=name, match=m.get("match", ".*"),
            slowdown_celsius=_number(where, f"models.{name}.slowdown_celsius", m.get("slowdown_celsius"), 30, 130),
            memory_max_celsius=_number(where, f"models.{name}.memory_max_celsius", m.get("memory_max_celsius"),
                                       30, 130),
            budgets=b))
    scores = {k: _number(where, f"scores.{k}", v, 0.0, 1.0) for k, v in (raw.get("scores") or {}).items()}
    if scores.get("low_critical", 0) >= scores.get("low_warning", 1):
        raise SpecError(f"{where}: scores.low_critical: expected below scores.low_warning")
    alerts = {k: _number(where, f"alerts.{k}", v, 0.0, 1.0) for k, v in (raw.get("alerts") or {}).items()}
    prediction_model = raw.get("prediction_model", "xgboost")
    if not isinstance(prediction_model, str) or not re.fullmatch(r"[a-z_]+", prediction_model):
        raise SpecError(f"{where}: prediction_model: expected a model kind such as xgboost, got {prediction_model!r}")
    return Spec(selector=raw["selector"], runbook_url_base=str(raw.get("runbook_url_base", "")).rstrip("#"),
                windows=windows, intervals=intervals, weights=weights, models=models, scores=scores, alerts=alerts,
                alertmanager=raw.get("alertmanager") or {}, prediction_model=prediction_model)
