"""Economics: NPV arithmetic against hand-computed cases, properties, pricing validation, gauges, and the
recommendations on a simulated fleet."""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gpuhealth.analyzers.economics.pricing import DEFAULT_PATH, PricingError, load_pricing, parse_pricing
from gpuhealth.analyzers.economics.valuation import (
    ACTIONS,
    GpuEconInput,
    economics_metric_families,
    value_fleet,
    value_gpu,
)
from gpuhealth.catalog import Asset

H100 = "NVIDIA H100 80GB HBM3"
YEAR_DAYS = 365.25
DEFAULT = load_pricing()


def simple_pricing(**over) -> dict:
    """A pricing with round numbers, for hand computation (no discounting, no baseline failures)."""
    data = {
        "discount_rate": 0.0, "horizon_years": 1.0, "step_days": 30, "hours_per_year": 8766,
        "power": {"price_per_kwh": 0.1, "pue": 1.5}, "opex_per_year": 1000, "unplanned_failure_cost": 2000,
        "sale": {"transaction_cost_fraction": 0.1, "transaction_cost_dollars": 100},
        "decommission_cost_dollars": 50, "decision": {"margin_dollars": 500, "margin_fraction": 0.0},
        "health": {"retired_page_haircut": 0.01, "retired_page_haircut_max": 0.2, "row_remap_budget": 500,
                   "row_remap_haircut_at_budget": 0.5},
        "failure_modes": {"memory": {"repair_cost_dollars": 3000, "success_rate": 0.5, "downtime_days": 36.525,
                                     "condition_factor": 0.6},
                          "unknown": {"repair_cost_dollars": 1000, "success_rate": 0.8, "downtime_days": 7}},
        "rma": {"handling_cost_dollars": 200, "success_rate": 0.9, "downtime_days": 36.525},
        "models": {"GPU-X": {"new_price": 20000, "rental_per_hour": 2.0, "rental_decline_per_year": 0.0,
                             "value_curve": {0: 1.0, 2: 0.5, 4: 0.1}, "salvage_dollars": 1000,
                             "warranty_years": 2, "failure_rate_at_2y": 0.0, "weibull_shape": 1.0},
                   "default": {"new_price": 1000, "rental_per_hour": 0.1, "value_curve": {0: 1.0},
                               "salvage_dollars": 10, "failure_rate_at_2y": 0.0}},
    }
    for key, value in over.items():
        data[key] = value
    return data


def gpu(model: str = "GPU-X", age_days: float = YEAR_DAYS, u: float = 0.5, watts: float = 500.0, p7: float = 0.0,
        p30: float = 0.0, mode: str | None = None, pages: float = 0.0, rows: float = 0.0, uuid: str = "GPU-1"):
    return GpuEconInput(uuid=uuid, model=model, age_days=age_days, utilization=u, power_watts=watts,
                        failure_probability_7d=p7, failure_probability_30d=p30, failure_mode=mode,
                        retired_pages=pages, remapped_rows=rows)


def test_hand_computed_npv_of_each_action():
    pricing = parse_pricing(simple_pricing())
    v = value_gpu(gpu(), pricing)
    # earnings: (2.0 $/h * 0.5 - 0.5 kW * 1.5 * 0.1 $/kWh) * 8766 h = 0.925 * 8766 per year, for one year
    margin = 0.925 * 8766
    mv_end = 0.5 * 20000  # age 2 y at the horizon
    assert v.npv_dollars["keep"] == pytest.approx(margin - 1000 + mv_end, rel=1e-9)
    # sell now: age 1 y -> 75 % of 20,000, less 10 % and $100
    assert v.market_value_dollars == pytest.approx(15000)
    assert v.npv_dollars["sell"] == pytest.approx(15000 * 0.9 - 100)
    assert v.npv_dollars["decommission"] == pytest.approx(1000 - 50)
    # repair in warranty: RMA $200, 0.1 y down, 90 % success, salvage otherwise
    repaired = 0.9 * margin + mv_end
    assert v.npv_dollars["repair"] == pytest.approx(-200 - 1000 + 0.9 * repaired + 0.1 * 1000, rel=1e-9)
    assert v.recommended_action == "keep"


def test_hand_computed_certain_failure_and_out_of_warranty_repair():
    pricing = parse_pricing(simple_pricing(horizon_years=28 / YEAR_DAYS, step_days=7))
    v = value_gpu(gpu(age_days=3 * YEAR_DAYS, p7=1.0, p30=1.0, mode="memory"), pricing)
    margin = 0.925 * 8766
    # survival falls linearly to 0 over the first week: half a week of earnings, one unplanned failure,
    # 4 weeks of opex, and a dead GPU worth its salvage at the horizon
    keep = 0.5 * margin * 7 / YEAR_DAYS - 2000 - 1000 * 28 / YEAR_DAYS + 1000
    assert v.npv_dollars["keep"] == pytest.approx(keep, rel=1e-9)
    # market value: age 3 y -> 30 % of 20,000, condition 1 - 1.0 * (1 - 0.6) for the memory fault in progress
    assert v.market_value_dollars == pytest.approx(20000 * 0.3 * 0.6)
    # out of warranty: memory repair $3000, 36.5 days down (> the 28-day horizon: no earnings), 50 % success;
    # the repaired GPU survives to the horizon at its market value (age 3.08 y)
    mv_end = 20000 * np.interp(3 + 28 / YEAR_DAYS, [0, 2, 4], [1.0, 0.5, 0.1])
    repair = -3000 - 1000 * 28 / YEAR_DAYS + 0.5 * mv_end + 0.5 * 1000
    assert v.npv_dollars["repair"] == pytest.approx(repair, rel=1e-9)
    assert v.recommended_action == "sell"
    assert v.drivers[0].startswith("sell beats keep by $")
    assert any("100%" in d and "memory" in d for d in v.drivers)


def test_a_failed_gpu_is_repaired_in_warranty_and_decommissioned_when_not_worth_it():
    pricing = parse_pricing(simple_pricing())
    failed = "not reporting since 2026-12-07 10:00 UTC"
    young = value_gpu(dataclasses.replace(gpu(age_days=YEAR_DAYS), failed=failed), pricing)
    # it earns nothing kept, and sells for its salvage only
    assert young.npv_dollars["keep"] == pytest.approx(-1000 + 1000, rel=1e-9)
    assert young.market_value_dollars == pytest.approx(1000)
    assert young.recommended_action == "repair" and young.drivers[0] == failed
    assert any("in warranty" in d for d in young.drivers)
    # out of warranty, a repair that costs more than the GPU will earn: decommission, never keep or sell
    old = value_gpu(dataclasses.replace(gpu(age_days=3.9 * YEAR_DAYS, u=0.05, mode="memory"), failed=failed), pricing)
    assert old.npv_dollars["repair"] < old.npv_dollars["decommission"]
    assert old.recommended_action == "decommission"
    # the same GPU still working is kept or sold, not decommissioned
    assert value_gpu(gpu(age_days=3.9 * YEAR_DAYS, u=0.05, mode="memory"), pricing).recommended_action != "decommission"


def test_discounting_and_health_haircuts():
    pricing = parse_pricing(simple_pricing(discount_rate=0.1, opex_per_year=0))
    v = value_gpu(gpu(u=0.0, watts=0.0, pages=10, rows=250), pricing)
    # no earnings, no costs: the GPU's value at the horizon, discounted a year at 10 %
    health = (1 - 0.1) * (1 - 0.25)
    assert v.npv_dollars["keep"] == pytest.approx(20000 * 0.5 * health / 1.1, rel=1e-9)
    assert v.market_value_dollars == pytest.approx(20000 * 0.75 * health)


def test_margin_keeps_keep_unless_beaten_clearly():
    data = simple_pricing()
    base = value_gpu(gpu(u=0.05), parse_pricing(data))
    gain = base.npv_dollars["sell"] - base.npv_dollars["keep"]
    assert gain > 0, "with 5 % utilization selling should pay"
    data["decision"] = {"margin_dollars": gain + 1, "margin_fraction": 0.0}
    assert value_gpu(gpu(u=0.05), parse_pricing(data)).recommended_action == "keep"
    data["decision"] = {"margin_dollars": gain - 1, "margin_fraction": 0.0}
    assert value_gpu(gpu(u=0.05), parse_pricing(data)).recommended_action == "sell"


def test_no_sale_is_advised_on_a_utilisation_not_measured_yet():
    """Under a day of history the fleet's median stands in for a GPU's utilisation: an idle-looking new
    deployment is neither sold nor decommissioned (and told why), while the NPVs are still reported; a
    measured one is sold."""
    from dataclasses import replace

    pricing = parse_pricing(simple_pricing())
    measured = value_gpu(gpu(u=0.05), pricing)
    assert measured.recommended_action == "sell"
    young = value_gpu(replace(gpu(u=0.05), utilization_measured=False), pricing)
    assert young.recommended_action == "keep" and young.npv_dollars == measured.npv_dollars
    assert any("not measured yet" in d for d in young.drivers)
    # a GPU whose energy its earnings do not pay, measured, goes; not measured, it stays
    idle = gpu(u=0.0, watts=900.0)
    assert value_gpu(idle, pricing).recommended_action in ("sell", "decommission")
    assert value_gpu(replace(idle, utilization_measured=False), pricing).recommended_action == "keep"
    # a failing young GPU is still acted on: its own risk argues, not the stand-in earnings
    failing = value_gpu(replace(gpu(u=0.05, p7=0.9, p30=0.95, mode="thermal"), utilization_measured=False), pricing)
    assert failing.recommended_action != "keep"


def test_unknown_model_uses_default_prices_and_says_so():
    v = value_gpu(gpu(model="NVIDIA Quantum 9000"), DEFAULT)
    assert any("default prices" in d for d in v.drivers)
    assert v.market_value_dollars == pytest.approx(
        max(DEFAULT.models["default"].new_price * float(DEFAULT.models["default"].value_share(1.0))
            * DEFAULT.used_condition_factor,
            DEFAULT.models["default"].salvage_dollars))


random_gpu = st.builds(
    gpu, model=st.sampled_from([*DEFAULT.models, "other"]), age_days=st.floats(0, 3000),
    u=st.floats(0, 1), watts=st.floats(0, 1000), p7=st.floats(0, 1), p30=st.floats(0, 1),
    mode=st.sampled_from([None, "memory", "thermal", "power", "interconnect"]), pages=st.floats(0, 100),
    rows=st.floats(0, 600))


@settings(max_examples=60, deadline=None)
@given(g=random_gpu, dp7=st.floats(0, 1), dp30=st.floats(0, 1))
def test_higher_failure_probability_never_raises_keep(g, dp7, dp30):
    worse = dataclasses.replace(g, failure_probability_7d=min(1.0, g.failure_probability_7d + dp7),
                                failure_probability_30d=min(1.0, g.failure_probability_30d + dp30))
    a, b = value_fleet([g, worse], DEFAULT)
    assert b.npv_dollars["keep"] <= a.npv_dollars["keep"] + 1e-6 * max(1.0, abs(a.npv_dollars["keep"]))
    assert b.market_value_dollars <= a.market_value_dollars + 1e-9


@settings(max_examples=60, deadline=None)
@given(g=random_gpu, older=st.floats(0, 2000))
def test_older_gpu_never_worth_more(g, older):
    o = dataclasses.replace(g, age_days=g.age_days + older)
    a, b = value_fleet([g, o], DEFAULT)
    assert b.market_value_dollars <= a.market_value_dollars + 1e-9
    for action in ("keep", "sell"):
        assert b.npv_dollars[action] <= a.npv_dollars[action] + 1e-6 * max(1.0, abs(a.npv_dollars[action]))


@settings(max_examples=40, deadline=None)
@given(g=random_gpu, price=st.floats(0, 1), more=st.floats(0, 2))
def test_higher_power_price_never_raises_keep(g, price, more):
    cheap = dataclasses.replace(DEFAULT, power_price_per_kwh=price)
    dear = dataclasses.replace(DEFAULT, power_price_per_kwh=price + more)
    assert value_gpu(g, dear).npv_dollars["keep"] <= value_gpu(g, cheap).npv_dollars["keep"] + 1e-9


@settings(max_examples=25, deadline=None)
@given(gpus=st.lists(random_gpu, min_size=1, max_size=12))
def test_fleet_equals_one_by_one(gpus):
    fleet = value_fleet(gpus, DEFAULT)
    for g, v in zip(gpus, fleet, strict=True):
        one = value_gpu(g, DEFAULT)
        assert v.uuid == g.uuid and v.recommended_action == one.recommended_action
        assert v.npv_dollars == pytest.approx(one.npv_dollars)
        assert v.recommended_action in ACTIONS
        assert all(math.isfinite(x) for x in v.npv_dollars.values())


def test_packaged_defaults_cover_the_simulated_models():
    from gpuhealth.sim.specs import SPECS

    for spec in SPECS.values():
        assert spec.model_name in DEFAULT.models


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["models"]["GPU-X"].update(value_curve={0: 0.5, 1: 0.7}), "models.GPU-X.value_curve"),
    (lambda d: d["models"]["GPU-X"].update(value_curve={1: 0.5}), "must start at age 0"),
    (lambda d: d.update(discount_rate=1.5), "discount_rate: 1.5 is outside"),
    (lambda d: d["power"].update(pue="high"), "power.pue: expected a number"),
    (lambda d: d["failure_modes"].pop("unknown"), "failure_modes.unknown: missing"),
    (lambda d: d["failure_modes"].update(gremlins={}), "unknown mode(s) ['gremlins']"),
    (lambda d: d["models"].pop("default"), "models.default: missing"),
    (lambda d: d["rma"].pop("success_rate"), "rma.success_rate: missing"),
    (lambda d: d["failure_modes"]["memory"].update(success_rate=2), "failure_modes.memory.success_rate"),
])
def test_bad_pricing_names_the_key(edit, message):
    data = copy.deepcopy(simple_pricing())
    edit(data)
    with pytest.raises(PricingError, match=__import__("re").escape(message)):
        parse_pricing(data, "my.yaml")


def test_pricing_file_errors(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("discount_rate: [unclosed\n")
    with pytest.raises(PricingError, match="not valid YAML"):
        load_pricing(bad)
    with pytest.raises(PricingError, match="cannot read"):
        load_pricing(tmp_path / "missing.yaml")
    good = tmp_path / "good.yaml"
    data = yaml.safe_load(DEFAULT_PATH.read_text())
    data["power"]["price_per_kwh"] = 0.2
    good.write_text(yaml.safe_dump(data))
    assert load_pricing(good).power_price_per_kwh == 0.2


def test_metric_families_per_gpu_and_fleet_totals():
    assets = {f"GPU-{i}": Asset(uuid=f"GPU-{i}", serial=str(i), model=H100 if i % 2 else "NVIDIA L40S", node="n",
                                datacenter=f"dc{i % 3}", rack="r", purchase_date="2024-01-01",
                                purchase_price_dollars=1.0) for i in range(9)}
    gpus = [gpu(model=assets[u].model, uuid=u, p7=0.8 if i % 4 == 0 else 0.0, p30=0.9 if i % 4 == 0 else 0.01,
                mode="memory", age_days=200 * i) for i, u in enumerate(assets)]
    gpus.append(gpu(model=H100, uuid="GPU-stray"))
    vals = value_fleet(gpus, DEFAULT)

    class Collector:
        def collect(self):
            return economics_metric_families(vals, assets)

    registry = CollectorRegistry()
    registry.register(Collector())
    fams = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    mv = {s.labels["UUID"]: s.value for s in fams["gpuhealth_market_value_dollars"].samples}
    assert mv == pytest.approx({v.uuid: v.market_value_dollars for v in vals})
    rec = fams["gpuhealth_recommended_action"].samples
    for v in vals:
        chosen = [s.labels["action"] for s in rec if s.labels["UUID"] == v.uuid and s.value == 1]
        assert chosen == [v.recommended_action]
        npv = {s.labels["action"]: s.value for s in fams["gpuhealth_npv_dollars"].samples
               if s.labels["UUID"] == v.uuid}
        assert npv == pytest.approx(v.npv_dollars)
    totals = {(s.labels["model"], s.labels["datacenter"]): s.value
              for s in fams["gpuhealth_fleet_market_value_dollars"].samples}
    expect: dict = {}
    for v in vals:
        a = assets.get(v.uuid)
        key = (a.model, a.datacenter) if a else ("unknown", "unknown")
        expect[key] = expect.get(key, 0.0) + v.market_value_dollars
    assert totals == pytest.approx(expect)
    counts = sum(s.value for s in fams["gpuhealth_fleet_recommended_gpus"].samples)
    assert counts == len(vals)


def test_simulated_fleet_failing_gpus_leave_healthy_young_gpus_stay():
    """On a simulated fleet (models, ages, fates from the simulator): GPUs whose fault is in progress and due
    within 30 days, given the high probabilities a working predictor reports for them, are recommended
    repair, sell or decommission; healthy GPUs under two years old are kept."""
    from gpuhealth.sim.fleet import FleetConfig, build_fleet

    day = 86400.0
    fleet = build_fleet(FleetConfig(gpus=2048, seed=11, hazard_scale=8.0), start=0.0, horizon=120 * day)
    now = 30 * day
    rng = np.random.default_rng(1)
    gpus, failing, healthy_young = [], [], []
    for i, asset in enumerate(fleet.assets):
        in_progress = fleet.mode[i] > 0 and fleet.onset[i] <= now < fleet.fail_at[i] < now + 30 * day \
            and fleet.fail_at[i] > fleet.onset[i]
        due = (fleet.fail_at[i] - now) / day
        mode = ("memory", "thermal", "power", "interconnect", "sudden")[fleet.mode[i] - 1] if fleet.mode[i] else None
        age_days = (fleet.age0[i] + now) / day
        u = float(rng.uniform(0.7, 0.95))  # a busy fleet (below ~65 %, a new A100 bought at list sells better)
        gpus.append(gpu(model=asset.model, uuid=asset.uuid, age_days=age_days, u=u,
                        watts=fleet.specs[i].tdp_watts * (0.3 + 0.6 * u),
                        p7=0.85 if in_progress and due <= 7 else (0.3 if in_progress else 0.002),
                        p30=0.9 if in_progress else 0.01, mode=mode if in_progress else None,
                        pages=float(rng.integers(5, 40)) if in_progress and mode == "memory" else 0.0))
        if in_progress:
            failing.append(i)
        elif fleet.mode[i] == 0 and age_days < 2 * YEAR_DAYS:
            healthy_young.append(i)
    assert len(failing) >= 10 and len(healthy_young) >= 100
    vals = value_fleet(gpus, DEFAULT)
    assert [vals[i].uuid for i in failing if vals[i].recommended_action == "keep"] == []
    assert [vals[i].uuid for i in healthy_young if vals[i].recommended_action != "keep"] == []


def test_heat_slowdown_beyond_the_host_costs_work_and_calls_for_a_repair_of_the_cooling():
    from gpuhealth.analyzers.economics.decisions import attributable_throttling, econ_input

    # a hot rack slows every GPU of the host: none of it is one GPU's own
    shares = np.array([0.3, 0.32, 0.3, 0.31, 0.0, 0.02, 0.45, 0.0, 0.0, 0.0])
    hosts = ["hot"] * 4 + ["cool"] * 6
    attributable = attributable_throttling(shares, hosts)
    assert attributable[:4].max() <= 0.02 and attributable[6] == pytest.approx(0.45)
    assert (attributable >= 0).all()
    assert attributable_throttling(np.array([0.5, np.nan]), ["a", "b"])[1] == 0.0  # too few peers: the fleet's
    pricing = load_pricing()
    row = {"age_days": 400.0, "power_1d": 500.0}
    cool = value_gpu(econ_input("GPU-1", H100, row, 0.8, 0.001, 0.004, []), pricing)
    slowed = value_gpu(econ_input("GPU-1", H100, row, 0.8, 0.001, 0.004, [], throttled=0.45), pricing)
    assert cool.recommended_action == "keep"
    assert slowed.npv_dollars["keep"] < cool.npv_dollars["keep"]
    assert slowed.npv_dollars["repair"] == pytest.approx(cool.npv_dollars["repair"], rel=0.05)
    assert slowed.recommended_action == "repair"
    assert any("slowed by heat 45%" in d for d in slowed.drivers)


def test_a_critical_xid_within_the_day_is_acute_whatever_the_probabilities():
    """A GPU that logged a critical XID (a DBE, off the bus, an NVLink or GSP fault) within the day needs a
    reset or repair even where the models read little (on Titan 98 % of such GPUs were taken out): it is
    valued as failed and advised repair, saying why; application XIDs and a clean day leave it alone."""
    from gpuhealth.analyzers.economics.decisions import econ_input

    pricing = load_pricing()
    row = {"age_days": 400.0, "power_1d": 500.0}
    clean = value_gpu(econ_input("GPU-1", H100, {**row, "xid_critical_1d": 0.0}, 0.8, 0.001, 0.004, []), pricing)
    unknown = value_gpu(econ_input("GPU-1", H100, {**row, "xid_critical_1d": float("nan")}, 0.8, 0.001, 0.004, []),
                        pricing)
    xid = econ_input("GPU-1", H100, {**row, "xid_critical_1d": 2.0}, 0.8, 0.001, 0.004, [])
    acute = value_gpu(xid, pricing)
    assert clean.recommended_action == unknown.recommended_action == "keep"
    assert "2 critical XID(s) in the last day" in xid.failed
    assert acute.recommended_action == "repair" and any("critical XID" in d for d in acute.drivers)
