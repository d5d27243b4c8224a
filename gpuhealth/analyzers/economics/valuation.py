"""What each GPU is worth and what to do with it: market value, NPV of keep / repair / sell / decommission.

Pure functions over a ``Pricing`` (pricing.py). ``value_fleet`` is numpy-vectorised over GPUs and a time
grid of ``pricing.step_days``; ``value_gpu`` is the same computation for one GPU. The model, its
assumptions and a worked example are in docs/economics.md.

In short, for a GPU of age a, utilization u, mean power W, 7/30-day failure probabilities p7, p30:

* survival S(t) = (1 - A(t)) * exp(-(Λ(a+t) - Λ(a))), A the predictor's acute failure CDF (linear through
  p7 at 7 days and max(p7, p30) at 30 days, flat after), Λ the model's Weibull baseline cumulative hazard;
* keep = Σ δ(t)·S̄·max(rent(t)·u - energy, 0)·dt - unplanned_cost·Σ δ·ΔF - opex PV
  + δ(H)·[S(H)·MV(a+H) + (1 - S(H))·salvage]   (a failed, kept GPU is worth its salvage at the horizon);
* repair = -cost - opex PV + success·(keep of the repaired GPU, earning from the end of the downtime,
  no acute risk) + (1 - success)·δ(downtime)·salvage; under warranty the vendor's RMA terms apply;
* sell = MV(a)·condition·(1 - transaction share) - transaction cost;  decommission = salvage - cost.

The recommendation is the best NPV, but only if it beats keep by the configured margin.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.samples import Sample

from gpuhealth.analyzers.economics.pricing import DEFAULT_MODEL, Pricing
from gpuhealth.catalog import Asset

ACTIONS: tuple[str, ...] = ("keep", "repair", "sell", "decommission")
# the 30-day failure probability from which a GPU's own risk argues for selling or decommissioning it
# before its utilisation is measured
UNMEASURED_RISK_TO_ACT = 0.2
DAYS_PER_YEAR = 365.25
DEFAULT_AGE_DAYS = 365.0  # a GPU missing from the inventory is valued as a year old
MARKET_VALUE = "gpuhealth_market_value_dollars"
NPV = "gpuhealth_npv_dollars"
RECOMMENDED_ACTION = "gpuhealth_recommended_action"
FLEET_MARKET_VALUE = "gpuhealth_fleet_market_value_dollars"
FLEET_ACTION_GPUS = "gpuhealth_fleet_recommended_gpus"
FLEET_ACTION_GAIN = "gpuhealth_fleet_recommended_gain_dollars"


@dataclass(frozen=True)
class GpuEconInput:
    """What the economics needs to know about one GPU (measured by the analyzer, predicted by the models)."""

    uuid: str
    model: str  # modelName as exported, e.g. "NVIDIA H100 80GB HBM3"
    age_days: float
    utilization: float  # 0..1, measured
    power_watts: float  # measured mean
    failure_probability_7d: float
    failure_probability_30d: float
    failure_mode: str | None  # memory|thermal|power|interconnect|None
    retired_pages: float
    remapped_rows: float
    # set when the GPU has already failed, saying how ("not reporting since 2026-12-07 10:00 UTC", "row
    # remapping failed"): it earns nothing, is worth its salvage as it is, and is repaired (RMA in
    # warranty) or decommissioned
    failed: str = ""
    # the share of the day the GPU ran slowed by heat beyond its host's other GPUs (its own cooling, not
    # the room's): the work it loses until repaired
    throttled: float = 0.0
    # whether ``utilization`` was measured (a day of history) or stands in for it (the fleet's median):
    # a sale or decommission is advised on earnings only when measured (idle hours of a new deployment
    # say nothing yet), on risk (UNMEASURED_RISK_TO_ACT) either way
    utilization_measured: bool = True


@dataclass(frozen=True)
class Valuation:
    """One GPU's market value, the NPV of each action, the recommendation and why."""

    uuid: str
    market_value_dollars: float
    npv_dollars: dict[str, float]  # keys: ACTIONS
    recommended_action: str
    drivers: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        """The fields `analyze --once --json` adds to a GPU's record."""
        return {"market_value_dollars": round(self.market_value_dollars, 2),
                "npv_dollars": {a: round(v, 2) for a, v in self.npv_dollars.items()},
                "recommended_action": self.recommended_action, "drivers": list(self.drivers)}


class _Arrays:
    """The inputs as float arrays, with the model pricing gathered per GPU."""

    def __init__(self, gpus: Sequence[GpuEconInput], pricing: Pricing) -> None:
        def col(name: str) -> np.ndarray:
            return np.array([getattr(g, name) for g in gpus], dtype=float)

        self.age = np.nan_to_num(np.maximum(col("age_days"), 0.0), nan=0.0) / DAYS_PER_YEAR
        self.u = np.clip(np.nan_to_num(col("utilization"), nan=0.0), 0.0, 1.0)
        self.watts = np.maximum(np.nan_to_num(col("power_watts"), nan=0.0), 0.0)
        self.p7 = np.clip(np.nan_to_num(col("failure_probability_7d"), nan=0.0), 0.0, 1.0)
        self.p30 = np.maximum(np.clip(np.nan_to_num(col("failure_probability_30d"), nan=0.0), 0.0, 1.0), self.p7)
        self.pages = np.maximum(np.nan_to_num(col("retired_pages"), nan=0.0), 0.0)
        self.rows = np.maximum(np.nan_to_num(col("remapped_rows"), nan=0.0), 0.0)
        self.down = np.array([bool(g.failed) for g in gpus])
        self.throttled = np.clip(np.nan_to_num(col("throttled"), nan=0.0), 0.0, 1.0)
        self.modes = [pricing.repair(g.failure_mode) for g in gpus]
        self.known_model = np.array([g.model in pricing.models and g.model != DEFAULT_MODEL for g in gpus])
        names = [g.model if ok else DEFAULT_MODEL for g, ok in zip(gpus, self.known_model, strict=True)]
        models = {n: pricing.models[n] for n in set(names)}
        self.model = [models[n] for n in names]

        def per_model(attr: str) -> np.ndarray:
            return np.array([getattr(m, attr) for m in self.model], dtype=float)

        self.new_price = per_model("new_price")
        self.rent = per_model("rental_per_hour")
        self.decline = per_model("rental_decline_per_year")
        self.salvage = per_model("salvage_dollars")
        self.warranty = per_model("warranty_years")
        self.rate2 = per_model("failure_rate_at_2y")
        self.shape = per_model("weibull_shape")
        self.name_index = {n: np.array([x == n for x in names]) for n in models}
        self.models = models

    def value_share(self, age: np.ndarray) -> np.ndarray:
        """The value curve of each GPU's model at the ages given (same shape as self.age)."""
        out = np.empty_like(age)
        for name, mask in self.name_index.items():
            out[mask] = self.models[name].value_share(age[mask])
        return out


def _cum_hazard(age: np.ndarray, rate2: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Weibull cumulative hazard whose hazard at age 2 y is rate2 per year."""
    return rate2 * (2.0 / shape) * (np.maximum(age, 0.0) / 2.0) ** shape


def baseline_failure_probability(models: Sequence[str], age_days: np.ndarray, horizon_days: float,
                                  pricing: Pricing, factor: float = 1.0) -> np.ndarray:
    """Each GPU's probability of failing within the horizon from its model's published hazard alone (the
    pricing's Weibull: failure_rate_at_2y, weibull_shape) at its age, times ``factor``: what is known of a
    GPU before any of its telemetry is."""
    specs = [pricing.model(m) for m in models]
    rate2 = np.array([s.failure_rate_at_2y for s in specs], dtype=float) * factor
    shape = np.array([s.weibull_shape for s in specs], dtype=float)
    age = np.nan_to_num(np.asarray(age_days, dtype=float), nan=DEFAULT_AGE_DAYS) / DAYS_PER_YEAR
    gained = _cum_hazard(age + horizon_days / DAYS_PER_YEAR, rate2, shape) - _cum_hazard(age, rate2, shape)
    return 1.0 - np.exp(-gained)


def _operate(x: _Arrays, pricing: Pricing, t: np.ndarray, acute: np.ndarray, start: np.ndarray,
             terminal_value: np.ndarray, work: np.ndarray | None = None) -> np.ndarray:
    """PV of running the GPUs from ``start`` (years, per GPU) to the horizon, before opex.

    work: the share of its rented hours' work each GPU delivers (1 unless slowed by heat).

    acute: (N, K+1) failure CDF of the acute fault; t: (K+1,) grid. Earnings are weighted by survival,
    each failure costs the unplanned-failure cost, and at the horizon a survivor is worth terminal_value,
    a failed GPU its salvage.
    """
    base = np.exp(-(_cum_hazard(x.age[:, None] + t[None, :], x.rate2[:, None], x.shape[:, None])
                    - _cum_hazard(x.age, x.rate2, x.shape)[:, None]))
    surv = (1.0 - acute) * base
    dt = np.diff(t)
    mid = 0.5 * (t[1:] + t[:-1])
    disc_mid = (1.0 + pricing.discount_rate) ** -mid
    disc_end = (1.0 + pricing.discount_rate) ** -t[1:]
    # share of each step after the start (the end of a repair's downtime)
    w = np.clip((t[None, 1:] - np.maximum(t[None, :-1], start[:, None])) / dt[None, :], 0.0, 1.0)
    rent = x.rent[:, None] * (1.0 - x.decline[:, None]) ** mid[None, :]
    energy = x.watts * pricing.pue * pricing.power_price_per_kwh / 1000.0
    delivered = x.u if work is None else x.u * work
    margin = np.maximum(rent * delivered[:, None] - energy[:, None], 0.0) * pricing.hours_per_year
    s_mid = 0.5 * (surv[:, 1:] + surv[:, :-1])
    earn = (disc_mid * dt)[None, :] * s_mid * margin * w
    fails = disc_end[None, :] * (surv[:, :-1] - surv[:, 1:]) * w * pricing.unplanned_failure_cost
    s_end = surv[:, -1]
    end = disc_end[-1] * (s_end * terminal_value + (1.0 - s_end) * x.salvage)
    return earn.sum(axis=1) - fails.sum(axis=1) + end


def _grid(pricing: Pricing) -> np.ndarray:
    step = pricing.step_days / DAYS_PER_YEAR
    k = math.ceil(pricing.horizon_years / step - 1e-9)
    return np.minimum(np.arange(k + 1) * step, pricing.horizon_years)


def _acute_cdf(p7: np.ndarray, p30: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The acute failure CDF: linear from 0 to p7 at 7 days and to p30 at 30 days, flat after."""
    t7, t30 = 7.0 / DAYS_PER_YEAR, 30.0 / DAYS_PER_YEAR
    tt = t[None, :]
    first = p7[:, None] * np.minimum(tt, t7) / t7
    second = (p30 - p7)[:, None] * np.clip((tt - t7) / (t30 - t7), 0.0, 1.0)
    return first + second


def value_fleet(gpus: Sequence[GpuEconInput], pricing: Pricing) -> list[Valuation]:
    """Value every GPU and recommend an action each (vectorised; 10,000 GPUs in well under a second)."""
    if not gpus:
        return []
    x = _Arrays(gpus, pricing)
    t = _grid(pricing)
    horizon = t[-1]
    n = len(gpus)
    zero = np.zeros(n)

    # health haircuts on the market value
    page_cut = np.minimum(pricing.retired_page_haircut * x.pages, pricing.retired_page_haircut_max)
    row_cut = np.minimum(x.rows / pricing.row_remap_budget, 1.0) * pricing.row_remap_haircut_at_budget
    health = (1.0 - page_cut) * (1.0 - row_cut)
    used = pricing.used_condition_factor
    cond_factor = np.array([m.condition_factor for m in x.modes])
    condition = 1.0 - x.p30 * (1.0 - cond_factor)
    share_now = x.value_share(x.age)
    market = np.where(x.down, x.salvage, np.maximum(x.new_price * share_now * used * health * condition, x.salvage))
    mv_end = np.maximum(x.new_price * x.value_share(x.age + horizon) * used * health, x.salvage)

    disc_mid = (1.0 + pricing.discount_rate) ** -(0.5 * (t[1:] + t[:-1]))
    opex_pv = pricing.opex_per_year * float((disc_mid * np.diff(t)).sum())

    acute = np.where(x.down[:, None], 1.0, _acute_cdf(x.p7, x.p30, t))  # a failed GPU earns nothing from now on
    # a GPU slowed by heat more than its host's others delivers less work until its cooling is repaired
    work = 1.0 - pricing.thermal_throttle_work_lost * x.throttled
    keep = _operate(x, pricing, t, acute, zero, mv_end, work) - opex_pv
    keep_no_acute = _operate(x, pricing, t, np.zeros_like(acute), zero, mv_end, work) - opex_pv
    keep_unthrottled = (_operate(x, pricing, t, np.zeros_like(acute), zero, mv_end) - opex_pv
                        if x.throttled.any() else keep_no_acute)

    # repair: vendor RMA (a replacement) in warranty, own repair of the predicted mode after it
    in_warranty = x.age < x.warranty
    rma = pricing.rma
    cost = np.where(in_warranty, rma.repair_cost_dollars, [m.repair_cost_dollars for m in x.modes])
    success = np.where(in_warranty, rma.success_rate, [m.success_rate for m in x.modes])
    downtime = np.where(in_warranty, rma.downtime_days, [m.downtime_days for m in x.modes]) / DAYS_PER_YEAR
    downtime = np.minimum(downtime, horizon)
    mv_end_repaired = np.where(
        in_warranty,
        np.maximum(x.new_price * x.value_share(x.age + horizon) * used, x.salvage),
        mv_end)
    repaired = _operate(x, pricing, t, np.zeros_like(acute), downtime, mv_end_repaired)
    repair = (-cost - opex_pv + success * repaired
              + (1.0 - success) * (1.0 + pricing.discount_rate) ** -downtime * x.salvage)

    sell = market * (1.0 - pricing.transaction_cost_fraction) - pricing.transaction_cost_dollars
    decommission = x.salvage - pricing.decommission_cost_dollars
    npv = np.stack([keep, repair, sell, decommission], axis=1)

    # on a utilisation not measured yet, the earnings that would argue for a sale or a decommission are
    # a stand-in: neither is advised then, unless the GPU's own risk argues for it
    held_back = np.array([not g.utilization_measured for g in gpus]) & (x.p30 < UNMEASURED_RISK_TO_ACT)
    by_earnings = np.isin(np.array(ACTIONS), ("sell", "decommission"))
    best = np.argmax(np.where(held_back[:, None] & by_earnings[None, :], -np.inf, npv), axis=1)
    gain = npv[np.arange(n), best] - keep
    margin = np.maximum(pricing.margin_dollars, pricing.margin_fraction * np.abs(keep))
    chosen = np.where((best != 0) & (gain >= margin), best, 0)
    # a failed GPU is repaired or decommissioned, whichever is worth more: leaving it dead is no verdict
    chosen = np.where(x.down, np.where(npv[:, 1] >= npv[:, 3], 1, 3), chosen)

    energy_h = x.watts * pricing.pue * pricing.power_price_per_kwh / 1000.0
    out = []
    for i, g in enumerate(gpus):
        action = ACTIONS[chosen[i]]
        ctx = _DriverContext(
            action=action, gain=float(npv[i, chosen[i]] - keep[i]), p30=float(x.p30[i]),
            mode=g.failure_mode or "unknown mode", loss=float(keep_no_acute[i] - keep[i]),
            in_warranty=bool(in_warranty[i]), warranty_left=float(x.warranty[i] - x.age[i]),
            repair_cost=float(cost[i]), success=float(success[i]), rent=float(x.rent[i]), u=float(x.u[i]),
            energy_h=float(energy_h[i]), watts=float(x.watts[i]), age=float(x.age[i]), market=float(market[i]),
            share=float(share_now[i]), haircut=float(1.0 - health[i] * condition[i]), pages=float(x.pages[i]),
            rows=float(x.rows[i]), known_model=bool(x.known_model[i]), salvage=float(x.salvage[i]),
            failed=g.failed, throttled=float(x.throttled[i]), unmeasured=bool(held_back[i]),
            throttle_loss=float(keep_unthrottled[i] - keep_no_acute[i]) if x.throttled[i] > 0 else 0.0)
        out.append(Valuation(uuid=g.uuid, market_value_dollars=float(market[i]),
                             npv_dollars=dict(zip(ACTIONS, npv[i].tolist(), strict=True)),
                             recommended_action=action, drivers=_drivers(ctx)))
    return out


def value_gpu(gpu: GpuEconInput, pricing: Pricing) -> Valuation:
    """Value one GPU (the same computation as value_fleet)."""
    return value_fleet([gpu], pricing)[0]


@dataclass(frozen=True)
class _DriverContext:
    action: str
    gain: float
    p30: float
    mode: str
    loss: float
    in_warranty: bool
    warranty_left: float
    repair_cost: float
    success: float
    rent: float
    u: float
    energy_h: float
    watts: float
    age: float
    market: float
    share: float
    haircut: float
    pages: float
    rows: float
    known_model: bool
    salvage: float
    failed: str = ""
    throttled: float = 0.0
    throttle_loss: float = 0.0
    unmeasured: bool = False  # its utilisation is the fleet's median, not yet its own, and its risk is low


def _drivers(c: _DriverContext) -> list[str]:
    """The main reasons for the recommendation, most important first (at most five)."""
    risk = (f"30-day failure probability {c.p30:.0%} ({c.mode}); expected loss from a failure if kept "
            f"${c.loss:,.0f}") if c.p30 >= 0.05 and not c.failed else None
    fix = (f"in warranty ({c.warranty_left:.1f} y left): RMA ${c.repair_cost:,.0f}, {c.success:.0%} success"
           if c.in_warranty else
           f"out of warranty: repair ${c.repair_cost:,.0f} at {c.success:.0%} success")
    earn = (f"rental ${c.rent:.2f}/h at {c.u:.0%} utilization vs energy ${c.energy_h:.3f}/h ({c.watts:.0f} W)"
            if c.rent * c.u > c.energy_h else
            f"rental ${c.rent:.2f}/h at {c.u:.0%} utilization does not pay its energy ${c.energy_h:.3f}/h")
    if c.unmeasured:
        earn = (f"utilization not measured yet (under a day of history): {c.u:.0%}, the fleet's median, "
                "stands in for it, and no sale or decommission is advised on it")
    value = (f"age {c.age:.1f} y: market value ${c.market:,.0f} (used, {c.share:.0%} of new by age"
             + (f", -{c.haircut:.0%} for its condition)" if c.haircut >= 0.005 else ")"))
    wear = (f"{c.pages:g} retired pages, {c.rows:g} remapped rows" if c.pages or c.rows else None)
    heat = (f"slowed by heat {c.throttled:.0%} of the day beyond its host's other GPUs: ${c.throttle_loss:,.0f} of "
            "work lost if not repaired" if c.throttled >= 0.01 else None)
    lead = (f"{c.action} beats keep by ${c.gain:,.0f}" if c.action != "keep" else
            "keep: no other action beats it by the margin")
    order = {"keep": [earn, risk, value, wear, heat],
             "repair": [risk, heat, fix, earn, wear],
             "sell": [risk, value, earn, wear],
             "decommission": [risk, f"salvage ${c.salvage:,.0f}", value, earn]}[c.action]
    out = [lead, *[d for d in order if d]]
    if c.failed:
        out.insert(0, c.failed)
    if not c.known_model:
        out.insert(1, "model not in the pricing: default prices")
    return out[:5]


def _gauge(name: str, doc: str, labels: Sequence[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def economics_metric_families(valuations: Sequence[Valuation], assets: Mapping[str, Asset]) -> Iterable[Metric]:
    """The economics gauges per GPU and the fleet totals by model and datacenter (GPUs missing from the
    inventory count under model and datacenter "unknown")."""
    mv = _gauge(MARKET_VALUE, "Estimated used-market value of the GPU in dollars.", ["UUID"])
    npv = _gauge(NPV, "Net present value of each action for the GPU over the planning horizon, in dollars.",
                 ["UUID", "action"])
    rec = _gauge(RECOMMENDED_ACTION, "1 for the recommended action for the GPU, 0 for the others.",
                 ["UUID", "action"])
    totals: dict[tuple[str, str], float] = {}
    counts: dict[tuple[str, str, str], int] = {}
    gains: dict[tuple[str, str, str], float] = {}
    mv_s, npv_s, rec_s = mv.samples, npv.samples, rec.samples
    for v in valuations:
        mv_s.append(Sample(MARKET_VALUE, {"UUID": v.uuid}, v.market_value_dollars, None, None))
        for action in ACTIONS:
            labels = {"UUID": v.uuid, "action": action}
            npv_s.append(Sample(NPV, labels, v.npv_dollars[action], None, None))
            rec_s.append(Sample(RECOMMENDED_ACTION, labels, 1.0 if action == v.recommended_action else 0.0,
                                None, None))
        asset = assets.get(v.uuid)
        key = (asset.model, asset.datacenter) if asset is not None else ("unknown", "unknown")
        totals[key] = totals.get(key, 0.0) + v.market_value_dollars
        akey = (*key, v.recommended_action)
        counts[akey] = counts.get(akey, 0) + 1
        gains[akey] = gains.get(akey, 0.0) + v.npv_dollars[v.recommended_action] - v.npv_dollars["keep"]
    fleet_mv = _gauge(FLEET_MARKET_VALUE, "Estimated market value of the fleet by model and datacenter.",
                      ["model", "datacenter"])
    for (model, dc), value in sorted(totals.items()):
        fleet_mv.add_metric([model, dc], value)
    fleet_n = _gauge(FLEET_ACTION_GPUS, "GPUs by recommended action, model and datacenter.",
                     ["model", "datacenter", "action"])
    fleet_gain = _gauge(FLEET_ACTION_GAIN, "NPV gained over keeping by following the recommended action, "
                        "summed by action, model and datacenter (dollars).", ["model", "datacenter", "action"])
    for key in sorted(counts):
        fleet_n.add_metric(list(key), counts[key])
        fleet_gain.add_metric(list(key), gains[key])
    return [mv, npv, rec, fleet_mv, fleet_n, fleet_gain]
