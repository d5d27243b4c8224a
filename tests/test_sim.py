"""The fleet simulator: determinism, physical bounds, coupling, fault precursors, ground truth."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest

from gpuhealth.catalog import CLOCK_EVENT_REASONS, FIELDS, GPU_INFO, GPU_UP, MetricType
from gpuhealth.sim.engine import Engine
from gpuhealth.sim.fleet import DAY, FAULT_MODES, MODE_INDEX, FleetConfig, build_fleet
from gpuhealth.sim.history import HistoryConfig, backfill, generate_history, make_fleet, simulate
from gpuhealth.sim.live import LiveFleet

END = 1_790_000_000.0
COUNTER_KEYS = [f.key for f in FIELDS if f.type is MetricType.COUNTER]


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.iterdir()):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_and_another_seed_differs(tmp_path):
    cfg = HistoryConfig(gpus=16, days=0.25, step_seconds=300, seed=3, end=END, hazard_scale=50)
    generate_history(cfg, tmp_path / "a", progress=False)
    generate_history(cfg, tmp_path / "b", progress=False)
    generate_history(HistoryConfig(gpus=16, days=0.25, step_seconds=300, seed=4, end=END, hazard_scale=50),
                     tmp_path / "c", progress=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


@pytest.fixture(scope="module")
def run():
    """A 24-day history of 128 GPUs with an accelerated hazard, kept in memory as arrays."""
    cfg = HistoryConfig(gpus=128, days=24, step_seconds=600, seed=12, end=END, hazard_scale=60)
    fleet, start = make_fleet(cfg)
    times, values, up = [], {k.key: [] for k in FIELDS}, []
    for t, v, u, _x in simulate(cfg):
        times.append(t)
        up.append(u.copy())
        for k, arr in v.items():
            values[k].append(arr)
    return fleet, start, np.array(times), {k: np.array(v) for k, v in values.items()}, np.array(up)


def test_physical_bounds(run):
    fleet, _start, _t, v, _up = run
    eng = Engine(fleet)
    limit = eng.tdp
    with np.errstate(invalid="ignore"):
        assert np.nanmin(v["power_usage"]) >= 0
        assert np.nanmax(v["power_usage"] / limit) <= 1.1 + 1e-9
        assert np.all((v["gpu_temp"] >= np.floor(fleet.ambient)) | np.isnan(v["gpu_temp"]))
        assert np.all((v["gpu_temp"] <= eng.shutdown) | np.isnan(v["gpu_temp"]))
        assert np.nanmin(v["gpu_util"]) >= 0 and np.nanmax(v["gpu_util"]) <= 100
        assert np.all((v["sm_clock"] <= eng.max_sm) | np.isnan(v["sm_clock"]))


def test_counters_monotone_except_at_marked_reset(run, tmp_path):
    fleet, _start, _t, v, _up = run
    reloaders = {i for i in range(fleet.n) if fleet.benign[i] == "driver_reload"}
    assert reloaders, "the fleet should hold a driver-reload look-alike"
    for key in COUNTER_KEYS:
        d = np.diff(v[key], axis=0)
        decreasing = np.unique(np.argwhere(d < 0)[:, 1])
        assert set(decreasing.tolist()) <= reloaders, key
    energy = np.diff(v["total_energy"], axis=0)
    assert (energy < 0).any(), "a driver reload resets the energy counter"


def test_a_fleet_with_variety_reloads_drivers_also_of_failing_gpus_during_their_precursor():
    """Counter resets are not only the look-alikes': half the GPUs whose errors grow get a driver reload
    during their precursor, and their volatile counters drop then and only then."""
    cfg = HistoryConfig(gpus=64, days=10, step_seconds=1800, seed=5, end=END, hazard_scale=150, variety=True)
    fleet, start = make_fleet(cfg)
    failing = np.isfinite(fleet.fail_at) & (fleet.mode != MODE_INDEX["sudden"])
    during = failing & (fleet.reload_at > fleet.onset) & (fleet.reload_at < fleet.fail_at)
    assert during.any() and np.isfinite(fleet.reload_at[~failing]).any()
    times, pcie = [], []
    for t, v, _u, _x in simulate(cfg):
        times.append(t - start)
        pcie.append(v["pcie_replay_counter"])
    drops = np.diff(np.array(pcie), axis=0) < 0
    reloaders = set(np.flatnonzero(np.isfinite(fleet.reload_at) & (fleet.reload_at <= times[-1]))) | {
        i for i in range(fleet.n) if fleet.benign[i] == "driver_reload"}
    assert set(np.flatnonzero(drops.any(axis=0)).tolist()) <= reloaders
    assert drops[:, during].any(), "a reload during a precursor resets its replay counter"


def test_temperature_follows_power_with_lag():
    fleet = build_fleet(FleetConfig(gpus=8, seed=2, model_mix={"h100": 1.0}, benign_share=0, hot_rack_share=0),
                        start=END, horizon=DAY)
    eng = Engine(fleet)
    eng.node_state[:] = 0
    eng.node_left[:] = 1e9
    for t in range(5, 1200, 5):
        eng.step(float(t))
    cold = eng.temp.copy()
    eng.node_state[:] = 1  # a training job starts: power jumps at once
    temps, powers = [], []
    for t in range(1205, 1800, 5):
        v = eng.step(float(t))
        temps.append(eng.temp.mean())
        powers.append(v["power_usage"].mean())
    assert powers[0] > 5 * powers[0] / 6 and powers[0] > 400  # power follows utilisation in one step
    rise = np.array(temps) - cold.mean()
    assert rise[0] < 0.25 * rise[-1], "temperature must lag the power step"
    assert rise[-1] > 20
    half = int(np.argmax(rise >= 0.5 * rise[-1])) * 5
    assert 20 <= half <= 120, f"half-rise after {half} s, want about tau*ln2 = 42 s"


SIGNALS = {  # mode -> (counter key, extra filter)
    "memory": "ecc_sbe_vol",
    "thermal": "thermal_violation",
    "power": "power_violation",
    "interconnect": "pcie_replay_counter",
}
FACTOR = 10.0


@pytest.mark.parametrize("mode", list(SIGNALS))
def test_precursor_far_above_healthy_median_in_last_week(run, mode):
    fleet, _start, times, v, _up = run
    key = SIGNALS[mode]
    t_rel = times - times[0] + (times[1] - times[0])
    failing = [i for i in range(fleet.n) if fleet.mode[i] == MODE_INDEX[mode]
               and 8 * DAY < fleet.fail_at[i] <= times[-1] - times[0]]
    healthy = [i for i in range(fleet.n) if fleet.mode[i] == 0 and fleet.benign[i] in ("", "hot_rack")]
    assert failing, f"no {mode} failure in the test fleet"
    ratios = []
    for i in failing:
        end = int(np.searchsorted(t_rel, fleet.fail_at[i])) - 1
        begin = int(np.searchsorted(t_rel, fleet.fail_at[i] - 7 * DAY))
        growth = v[key][end, i] - v[key][begin, i]
        peers = np.median([v[key][end, j] - v[key][begin, j] for j in healthy])
        ratios.append((growth + 1) / (peers + 1))
    assert np.median(ratios) >= FACTOR, f"{mode}: precursor/healthy median ratios {ratios}"


def test_benign_lookalikes_carry_no_failure_label_and_do_not_progress(run, tmp_path):
    fleet, _start, _times, v, _up = run
    small = HistoryConfig(gpus=128, days=0.5, step_seconds=600, seed=12, end=END, hazard_scale=60)
    generate_history(small, tmp_path, progress=False)
    small_fleet, _ = make_fleet(small)
    with open(tmp_path / "ground_truth.csv") as fh:
        rows = {r["UUID"]: r for r in csv.DictReader(fh)}
    assert len(rows) == 128
    for i in range(small_fleet.n):
        row = rows[small_fleet.identities[i].uuid]
        if small_fleet.benign[i]:
            assert row["failed_at"] == "" and row["mode"] == small_fleet.benign[i]
        fails = bool(small_fleet.mode[i]) and small_fleet.fail_at[i] <= 0.5 * DAY
        assert (row["failed_at"] != "") == fails
        if small_fleet.mode[i] and not fails and small_fleet.onset[i] < 0.5 * DAY:
            assert row["mode"] in FAULT_MODES and row["onset"], "a fault in progress at the end is censored"
    benign = [i for i in range(fleet.n) if fleet.benign[i]]
    kinds = {fleet.benign[i] for i in benign}
    assert {"power_capped", "sbe_burst", "driver_reload"} <= kinds | {"idle"}
    # power-capped GPUs throttle on power but carry no critical XIDs and keep their temperature
    capped = [i for i in benign if fleet.benign[i] == "power_capped"]
    for i in capped:
        reasons = v["clock_event_reasons"][:, i].astype(int)
        assert ((reasons & CLOCK_EVENT_REASONS["power_cap"]) > 0).any()
        assert v["uncorrectable_remapped_rows"][-1, i] == 0
    # an SBE burst does not progress: no remaps, no DBE
    for i in (i for i in benign if fleet.benign[i] == "sbe_burst"):
        assert v["ecc_dbe_agg"][-1, i] == 0 and v["correctable_remapped_rows"][-1, i] == 0


def test_live_fleet_advances_with_speedup_and_forces_a_fault():
    live = LiveFleet(gpus=16, seed=5, speedup=3600.0, degrading=0, start=END)
    first = live.snapshot(END + 1)
    assert set(first.values) == {f.key for f in FIELDS}
    assert first.up.all()
    live.force_fault(3, "interconnect")
    with pytest.raises(ValueError, match="mode"):
        live.force_fault(3, "gremlins")
    with pytest.raises(ValueError, match="gpu"):
        live.force_fault(99, "memory")
    later = live.snapshot(END + 1 + 6)  # six simulated hours later
    assert later.values["pcie_replay_counter"][3] > 10 * (np.median(later.values["pcie_replay_counter"]) + 1)
    done = live.snapshot(END + 1 + 13)  # past the forced failure (half a simulated day)
    assert not done.up[3] and done.up[np.arange(16) != 3].all()
    assert done.xid_counts[79][3] >= 1
    assert np.isnan(done.values["gpu_temp"][3])


@pytest.mark.integration
def test_prometheus_on_backfilled_blocks_returns_every_family_for_every_gpu(tmp_path, prometheus_factory):
    cfg = HistoryConfig(gpus=16, days=0.5, step_seconds=300, seed=9, hazard_scale=1.0)
    generate_history(cfg, tmp_path / "h", progress=False)
    backfill(tmp_path / "h", tmp_path / "tsdb", progress=False)
    prom = prometheus_factory(storage_path=tmp_path / "tsdb", retention="100y")
    # every family present in every GPU's history (fan speed only exists on GDDR parts with fans)
    fleet, _ = make_fleet(cfg)
    for fld in FIELDS:
        n = len(prom.query(f"count by (UUID) (last_over_time({fld.name}[30m]))"))
        want = sum(1 for s in fleet.specs if not (fld.key == "fan_speed" and s.hbm))
        assert n == want, fld.name
    for name in (GPU_UP, GPU_INFO):
        assert len(prom.query(f"count by (UUID) (last_over_time({name}[30m]))")) == 16
    reasons = prom.query("count by (reason) (last_over_time(gpuhealth_clock_event_active[30m]))")
    assert {r["metric"]["reason"] for r in reasons} == set(CLOCK_EVENT_REASONS)


def test_history_and_live_fleets_of_one_seed_share_identities():
    """So that a live exporter's series continue a backfilled history of the same fleet."""
    live = LiveFleet(gpus=24, seed=4, start=END)
    hist, _ = make_fleet(HistoryConfig(gpus=24, days=2, seed=4, end=END))
    assert live.identities == hist.identities
    assert [a.uuid for a in live.assets] == [i.uuid for i in live.identities]
    other, _ = make_fleet(HistoryConfig(gpus=24, days=2, seed=5, end=END))
    assert {i.uuid for i in other.identities}.isdisjoint({i.uuid for i in live.identities})
