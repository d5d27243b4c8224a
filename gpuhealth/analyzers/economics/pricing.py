"""The pricing configuration of the economics: parsed once from YAML into frozen dataclasses, validated.

The packaged defaults (``pricing.yaml`` beside this module) carry their sources in comments; a user's
file replaces them whole (``load_pricing(path)``). A bad file gets a ``PricingError`` naming the file
and the key that is wrong.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

DEFAULT_PATH = Path(__file__).with_name("pricing.yaml")
FAILURE_MODES: tuple[str, ...] = ("memory", "thermal", "power", "interconnect", "unknown")
DEFAULT_MODEL = "default"


class PricingError(ValueError):
    """A pricing file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class ModelPricing:
    """What one GPU model costs, earns and is worth."""

    name: str
    new_price: float
    rental_per_hour: float
    rental_decline_per_year: float
    curve_ages: tuple[float, ...]  # years, increasing, starting at 0
    curve_values: tuple[float, ...]  # share of new_price, non-increasing
    salvage_dollars: float
    warranty_years: float
    failure_rate_at_2y: float
    weibull_shape: float

    def value_share(self, age_years: np.ndarray | float) -> np.ndarray:
        """The used-market value as a share of new_price at these ages (linear, flat at the ends)."""
        return np.interp(np.maximum(age_years, 0.0), self.curve_ages, self.curve_values)


@dataclass(frozen=True)
class RepairPricing:
    """Repair (or RMA) of one failure mode."""

    repair_cost_dollars: float
    success_rate: float
    downtime_days: float
    condition_factor: float = 1.0  # what a buyer pays with this fault in progress, relative to working


@dataclass(frozen=True)
class Pricing:
    """The whole pricing configuration (see pricing.yaml for the meaning and source of each figure)."""

    source: str
    discount_rate: float
    horizon_years: float
    step_days: float
    hours_per_year: float
    power_price_per_kwh: float
    pue: float
    opex_per_year: float
    unplanned_failure_cost: float
    transaction_cost_fraction: float
    transaction_cost_dollars: float
    used_condition_factor: float
    decommission_cost_dollars: float
    margin_dollars: float
    margin_fraction: float
    retired_page_haircut: float
    retired_page_haircut_max: float
    row_remap_budget: float
    row_remap_haircut_at_budget: float
    thermal_throttle_work_lost: float
    failure_modes: dict[str, RepairPricing]
    rma: RepairPricing
    models: dict[str, ModelPricing]

    def model(self, model_name: str) -> ModelPricing:
        """The pricing of a modelName, or the ``default`` entry for a model not listed."""
        return self.models.get(model_name) or self.models[DEFAULT_MODEL]

    def repair(self, mode: str | None) -> RepairPricing:
        """The repair pricing of a failure mode (``unknown`` for None or an unlisted mode)."""
        return self.failure_modes.get(mode or "unknown") or self.failure_modes["unknown"]


class _Reader:
    """Reads typed, range-checked values out of the parsed YAML, naming the key path on error."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, why: str) -> PricingError:
        return PricingError(f"{self.source}: {key}: {why}")

    def section(self, data: Any, key: str) -> dict:
        if not isinstance(data, dict):
            raise self.fail(key, f"expected a mapping, got {type(data).__name__}")
        return data

    def number(self, data: dict, key: str, path: str, lo: float = 0.0, hi: float = math.inf,
               default: float | None = None) -> float:
        full = f"{path}.{key}" if path else key
        if key not in data:
            if default is None:
                raise self.fail(full, "missing")
            return default
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(full, f"expected a number, got {value!r}")
        value = float(value)
        if not (lo <= value <= hi) or math.isnan(value):
            raise self.fail(full, f"{value:g} is outside [{lo:g}, {hi:g}]")
        return value


def _repair(r: _Reader, data: Any, path: str) -> RepairPricing:
    d = r.section(data, path)
    cost_key = "handling_cost_dollars" if path == "rma" else "repair_cost_dollars"
    return RepairPricing(repair_cost_dollars=r.number(d, cost_key, path),
                         success_rate=r.number(d, "success_rate", path, 0.0, 1.0),
                         downtime_days=r.number(d, "downtime_days", path, 0.0, 3650.0),
                         condition_factor=r.number(d, "condition_factor", path, 0.0, 1.0, default=1.0))


def _model(r: _Reader, name: str, data: Any) -> ModelPricing:
    path = f"models.{name}"
    d = r.section(data, path)
    curve = r.section(d.get("value_curve"), f"{path}.value_curve")
    try:
        points = sorted((float(a), float(v)) for a, v in curve.items())
    except (TypeError, ValueError):
        raise r.fail(f"{path}.value_curve", "ages and values must be numbers") from None
    if not points or points[0][0] != 0.0:
        raise r.fail(f"{path}.value_curve", "must start at age 0")
    ages, values = zip(*points, strict=True)
    if any(v < 0 or v > 1 for v in values):
        raise r.fail(f"{path}.value_curve", "values are shares of the new price, in [0, 1]")
    if any(b > a for a, b in itertools.pairwise(values)):
        raise r.fail(f"{path}.value_curve", "an older GPU cannot be worth more: values must not increase with age")
    return ModelPricing(
        name=name, new_price=r.number(d, "new_price", path, 0.0), curve_ages=ages, curve_values=values,
        rental_per_hour=r.number(d, "rental_per_hour", path, 0.0, 1000.0),
        rental_decline_per_year=r.number(d, "rental_decline_per_year", path, 0.0, 1.0, default=0.0),
        salvage_dollars=r.number(d, "salvage_dollars", path, 0.0),
        warranty_years=r.number(d, "warranty_years", path, 0.0, 50.0, default=0.0),
        failure_rate_at_2y=r.number(d, "failure_rate_at_2y", path, 0.0, 10.0),
        weibull_shape=r.number(d, "weibull_shape", path, 1.0, 10.0, default=1.0))


def parse_pricing(data: Any, source: str = "<pricing>") -> Pricing:
    """Validate parsed YAML into a Pricing; raises PricingError naming the source and the key."""
    r = _Reader(source)
    d = r.section(data, "top level")
    power = r.section(d.get("power", {}), "power")
    sale = r.section(d.get("sale", {}), "sale")
    decision = r.section(d.get("decision", {}), "decision")
    health = r.section(d.get("health", {}), "health")
    modes_raw = r.section(d.get("failure_modes"), "failure_modes")
    unknown = sorted(set(modes_raw) - set(FAILURE_MODES))
    if unknown:
        raise r.fail("failure_modes", f"unknown mode(s) {unknown}; known: {list(FAILURE_MODES)}")
    modes = {m: _repair(r, modes_raw[m], f"failure_modes.{m}") for m in modes_raw}
    if "unknown" not in modes:
        raise r.fail("failure_modes.unknown", "missing (used when the predictor names no mode)")
    models_raw = r.section(d.get("models"), "models")
    models = {str(name): _model(r, str(name), v) for name, v in models_raw.items()}
    if DEFAULT_MODEL not in models:
        raise r.fail(f"models.{DEFAULT_MODEL}", "missing (used for models not listed)")
    for m in models.values():
        if m.salvage_dollars > m.new_price:
            raise r.fail(f"models.{m.name}.salvage_dollars", "exceeds new_price")
    return Pricing(
        source=source,
        discount_rate=r.number(d, "discount_rate", "", 0.0, 1.0),
        horizon_years=r.number(d, "horizon_years", "", 1 / 52, 20.0),
        step_days=r.number(d, "step_days", "", 1.0, 91.0, default=7.0),
        hours_per_year=r.number(d, "hours_per_year", "", 8760.0, 8784.0, default=8766.0),
        power_price_per_kwh=r.number(power, "price_per_kwh", "power", 0.0, 10.0),
        pue=r.number(power, "pue", "power", 1.0, 5.0),
        opex_per_year=r.number(d, "opex_per_year", "", default=0.0),
        unplanned_failure_cost=r.number(d, "unplanned_failure_cost", "", default=0.0),
        transaction_cost_fraction=r.number(sale, "transaction_cost_fraction", "sale", 0.0, 1.0),
        transaction_cost_dollars=r.number(sale, "transaction_cost_dollars", "sale", default=0.0),
        used_condition_factor=r.number(sale, "used_condition_factor", "sale", 0.0, 1.0, default=1.0),
        decommission_cost_dollars=r.number(d, "decommission_cost_dollars", "", default=0.0),
        margin_dollars=r.number(decision, "margin_dollars", "decision", default=0.0),
        margin_fraction=r.number(decision, "margin_fraction", "decision", 0.0, 1.0, default=0.0),
        retired_page_haircut=r.number(health, "retired_page_haircut", "health", 0.0, 1.0, default=0.0),
        retired_page_haircut_max=r.number(health, "retired_page_haircut_max", "health", 0.0, 1.0, default=0.0),
        row_remap_budget=r.number(health, "row_remap_budget", "health", 1.0, default=512.0),
        row_remap_haircut_at_budget=r.number(health, "row_remap_haircut_at_budget", "health", 0.0, 1.0,
                                             default=0.0),
        thermal_throttle_work_lost=r.number(health, "thermal_throttle_work_lost", "health", 0.0, 1.0,
                                            default=0.0),
        failure_modes=modes, rma=_repair(r, d.get("rma"), "rma"), models=models)


def load_pricing(path: str | Path | None = None) -> Pricing:
    """The pricing from a YAML file, or the packaged defaults when path is None."""
    p = Path(path) if path is not None else DEFAULT_PATH
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PricingError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PricingError(f"{p}: not valid YAML: {exc}") from None
    return parse_pricing(data, str(p))
