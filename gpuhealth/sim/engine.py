"""The vectorised simulation core: one step advances every GPU of the fleet at once.

Signals are physically coupled: utilisation follows each node's workload (training at high
utilisation, idle gaps, inference with a daily cycle); power follows utilisation and is capped at
the power limit (setting the power-cap clock-event reason and growing power-violation time);
temperature follows power and the rack's ambient with thermal inertia (first-order, 60 s time
constant) and throttles clocks above the slowdown temperature; energy is the integral of power;
counters only grow, except across a simulated driver reload, which is recorded.

Faults act through a *progress* p in 0..1 from the precursor's onset to the failure (fleet.py), each
mode in a module of its own (gpuhealth/sim/faults/: memory, thermal, power, interconnect; the
failure itself in ``terminal``). ``Engine.step`` is a handful of stages: workload, power,
temperature, clocks, the counters of work done, the fault modes, the failures, driver reloads.
Rates (per hour) are set so that a failing GPU's precursor in its last week stands far above the
fleet's healthy median (docs/simulator.md states the factors, tests/test_sim.py checks them).
"""

from __future__ import annotations

import numpy as np

from gpuhealth.catalog import CLOCK_EVENT_REASONS, FIELDS, XID_CODES
from gpuhealth.sim import profiling
from gpuhealth.sim.faults import application, interconnect, memory, terminal, thermal
from gpuhealth.sim.faults import power as power_fault
from gpuhealth.sim.fleet import DAY, MODE_INDEX, PRECURSOR_SHAPES, Fleet

TAU_SECONDS = 60.0
XID_COL = {code: j for j, code in enumerate(XID_CODES)}
BIT = CLOCK_EVENT_REASONS

# counters reset by a driver reload (volatile NVML counters and the exporter's own XID counters)
VOLATILE = ("ecc_sbe_vol", "ecc_dbe_vol", "total_energy", "pcie_replay_counter", "pcie_tx_throughput",
            "pcie_rx_throughput", "nvlink_bandwidth_total", "nvlink_crc_flit_errors", "nvlink_crc_data_errors",
            "nvlink_replay_errors", "nvlink_recovery_errors", "power_violation", "thermal_violation")
COUNTERS = (*VOLATILE, "ecc_sbe_agg", "ecc_dbe_agg", "retired_sbe", "retired_dbe",
            "correctable_remapped_rows", "uncorrectable_remapped_rows")


class Engine:
    """The state of every GPU in a fleet, advanced in vectorised steps of simulated time."""

    def __init__(self, fleet: Fleet, seed: int | None = None) -> None:
        self.fleet = fleet
        n = fleet.n
        self.n = n
        self.rng = np.random.default_rng((fleet.config.seed if seed is None else seed) + 7919)
        f = fleet
        self.tdp = f.spec_array("tdp_watts")
        self.idle_w = f.spec_array("idle_watts")
        self.mem_mib = f.spec_array("memory_mib")
        self.hbm = np.array([s.hbm for s in f.specs])
        self.max_sm = f.spec_array("max_sm_clock_mhz")
        self.max_mem = f.spec_array("max_mem_clock_mhz")
        self.slowdown = f.spec_array("slowdown_celsius")
        self.shutdown = f.spec_array("shutdown_celsius")
        self.nvlinks = f.spec_array("nvlink_links")
        self.max_gen = f.spec_array("pcie_gen")
        self.max_width = f.spec_array("pcie_width")
        self.r_th = (f.spec_array("max_operating_celsius") - 8.0 - 25.0) / self.tdp
        self.r_th = np.where(f.benign == "hot_spot", self.r_th * 1.2, self.r_th)  # a stable hot spot
        self.shape = f.shape if f.shape is not None else np.zeros(n, dtype=int)
        self.magnitude = f.magnitude if f.magnitude is not None else np.ones(n)
        self.noise = f.noise if f.noise is not None else np.ones(n)
        self.noise = np.where(f.benign == "noisy_pcie", self.noise * 100.0, self.noise)  # a noisy, stable link
        self._burst_phase = self.rng.uniform(0, 2 * np.pi, n) if f.shape is not None else np.zeros(n)
        self._remap_done = np.zeros(n, dtype=bool)
        self.t = 0.0
        self.temp = f.ambient + 8.0
        self.counters = {k: np.zeros(n) for k in COUNTERS}
        self.counters["ecc_sbe_agg"] += self.rng.poisson(2.0, n)
        self.xid_counts = np.zeros((n, len(XID_CODES)), dtype=np.int64)
        self.last_xid = np.zeros(n)
        self.link_width = self.max_width.copy()
        self.link_gen = self.max_gen.copy()
        self.failed = np.zeros(n, dtype=bool)
        self.up = np.ones(n, dtype=bool)
        self.remap_failure = np.zeros(n)
        self.resets: list[tuple[int, float]] = []  # (gpu, sim time) of driver reloads
        self._burst_done = np.zeros(n, dtype=bool)
        self._reload_done = np.zeros(n, dtype=bool)
        n_nodes = int(f.node.max()) + 1
        self.node_state = self.rng.choice(3, n_nodes, p=[0.25, 0.45, 0.3])  # 0 idle, 1 train, 2 infer
        self.node_left = self.rng.uniform(0, 12 * 3600, n_nodes)
        self.node_intensity = self.rng.uniform(0.85, 1.0, n_nodes)
        self.values: dict[str, np.ndarray] = {}
        self.mix = profiling.job_mix([ident.uuid for ident in f.identities])
        self.traffic = {k: np.zeros(n) for k in ("pcie_tx", "pcie_rx", "nvlink")}  # bytes per second, last step

    # -- fault progress ---------------------------------------------------------------------
    def progress(self, t: float) -> np.ndarray:
        """Each GPU's fault progress at sim time t: 0 before onset (or no fault), 1 at failure."""
        f = self.fleet
        with np.errstate(invalid="ignore"):
            span = np.maximum(f.fail_at - f.onset, 1.0)
            p = np.clip((t - f.onset) / span, 0.0, 1.0)
        return np.where(np.isfinite(f.onset) & (f.mode != MODE_INDEX["sudden"]), p, 0.0)

    def shaped(self, p: np.ndarray, t: float) -> np.ndarray:
        """The progress as each GPU's precursor shape and magnitude make it act on its error rates."""
        if self.fleet.shape is None:
            return p
        s = PRECURSOR_SHAPES
        shape = self.shape
        out = np.select(
            [shape == s.index("linear"), shape == s.index("step"), shape == s.index("bursty"),
             shape == s.index("intermittent")],
            [np.sqrt(p), np.where(p > 0.6, 0.85, 0.15 * p),
             # active a third of the time, in bursts of hours
             p * (np.sin(t / 14400.0 + self._burst_phase) > 0.5),
             p * (self.rng.random(self.n) < 0.25)],
            p)
        return np.clip(out * np.sqrt(self.magnitude), 0.0, 1.6) * (p > 0)

    def poisson(self, rate_per_hour: np.ndarray, dt: float) -> np.ndarray:
        """Events over dt seconds at each GPU's rate per hour (a Poisson draw)."""
        return self.rng.poisson(np.clip(rate_per_hour, 0, None) * dt / 3600.0).astype(float)

    def xid(self, code: int, events: np.ndarray) -> None:
        """Count each GPU's XIDs of one code, and remember the code as its last."""
        events = events.astype(np.int64)
        hit = events > 0
        if hit.any():
            self.xid_counts[hit, XID_COL[code]] += events[hit]
            self.last_xid[hit] = code

    # -- one step -------------------------------------------------------------------------
    def step(self, t_new: float) -> dict[str, np.ndarray]:
        """Advance to sim time t_new and return every catalog field's value per GPU (NaN = absent).

        The stages run in this order, each drawing from the engine's generator in turn."""
        dt = max(t_new - self.t, 1e-3)
        self.t = t_new
        p = np.where(self.failed, 0.0, self.shaped(self.progress(t_new), t_new))  # a failed GPU is drained
        pm, pt, pp, pi = (np.where(self.fleet.mode == MODE_INDEX[m], p, 0.0)
                          for m in ("memory", "thermal", "power", "interconnect"))
        util, intensity = self._workload(dt, t_new)
        w = self._power(util, intensity, pp, t_new)
        w.update(self._temperature(w["power"], pt, util, dt))
        w.update(self._clocks(w, util))
        self._work_counters(w, util, dt)
        dbe = memory.step(self, pm, dt, t_new)
        power_fault.xids(self, pp, dt)
        interconnect.step(self, pi, dt)
        application.xids(self, util > 0, dt)
        terminal.step(self, t_new)
        self._driver_reload(t_new)
        self.values = self._values(w, util, dbe)
        return self.values

    def _workload(self, dt: float, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Each node's workload (idle, training, inference with a daily cycle) and so each GPU's
        utilisation (0..100) and power intensity."""
        f, n, rng = self.fleet, self.n, self.rng
        self.node_left -= dt
        done = self.node_left <= 0
        if done.any():
            k = int(done.sum())
            self.node_state[done] = rng.choice(3, k, p=[0.25, 0.45, 0.3])
            lo = np.array([0.5, 2.0, 6.0])[self.node_state[done]] * 3600
            hi = np.array([6.0, 48.0, 72.0])[self.node_state[done]] * 3600
            self.node_left[done] = rng.uniform(lo, hi)
            self.node_intensity[done] = rng.uniform(0.85, 1.0, k)
        state = self.node_state[f.node]
        wall = f.start + t
        daily = 40.0 + 30.0 * np.sin(2 * np.pi * (wall / DAY - 0.375))
        util = np.select([state == 1, state == 2], [rng.uniform(92, 100, n), daily + rng.normal(0, 5, n)], 0.0)
        util = np.where(f.benign == "idle", 0.0, util)
        util = np.where(self.failed, 0.0, np.clip(util, 0, 100))
        intensity = self.node_intensity[f.node] * np.where(f.benign == "power_capped", 1.3, 1.0)
        return util, intensity

    def _power(self, util: np.ndarray, intensity: np.ndarray, pp: np.ndarray, t: float) -> dict[str, np.ndarray]:
        """Power: demand follows utilisation, thermal throttling lowers clocks and so power, the limit caps
        it, and a power fault makes it spike and brake."""
        n, rng = self.n, self.rng
        th_factor = np.clip(1.0 - (self.temp - self.slowdown) / 8.0, 0.45, 1.0)
        demand = self.idle_w + (self.tdp - self.idle_w) * intensity * util / 100.0 * th_factor
        demand = demand * (1.0 + power_fault.spikes(self, pp, t))
        limit = self.tdp
        capped = demand > limit
        brake = power_fault.brake(self, pp)
        power = np.minimum(demand, np.where(pp > 0, limit * 1.08, limit)) * rng.normal(1.0, 0.01, n)
        power = np.where(brake, power * 0.6, power)
        power = np.clip(np.where(util > 0, power, self.idle_w * rng.normal(1, 0.03, n)), 0, limit * 1.1)
        return {"th_factor": th_factor, "demand": demand, "capped": capped, "brake": brake, "power": power}

    def _temperature(self, power: np.ndarray, pt: np.ndarray, util: np.ndarray, dt: float) -> dict[str, np.ndarray]:
        """Temperature: a first-order response to power and the rack's ambient (the thermal fault raises the
        resistance between them); memory runs a little hotter."""
        f = self.fleet
        target = f.ambient + self.r_th * power * thermal.resistance_factor(pt)
        self.temp = target + (self.temp - target) * np.exp(-dt / TAU_SECONDS)
        self.temp = np.clip(self.temp, f.ambient, self.shutdown)
        return {"sw_thermal": self.temp > self.slowdown, "hw_thermal": self.temp > self.slowdown + 3.0,
                "mem_temp": np.minimum(self.temp + 3.0 + 5.0 * util / 100.0, self.shutdown + 5)}

    def _clocks(self, w: dict[str, np.ndarray], util: np.ndarray) -> dict[str, np.ndarray]:
        """Clocks and the clock-event reasons that slowed them."""
        busy = util > 0
        capped, brake = w["capped"], w["brake"]
        power_factor = np.where(capped, self.tdp / np.maximum(w["demand"], 1.0), 1.0)
        sm = np.where(busy, self.max_sm * np.minimum(power_factor, w["th_factor"]), 210.0)
        sm = np.where(brake, sm * 0.5, sm)
        mem_clock = np.where(busy | self.hbm, self.max_mem, 405.0)
        sw, hw = w["sw_thermal"], w["hw_thermal"]
        reasons = (np.where(~busy, BIT["gpu_idle"], 0) | np.where(capped & busy, BIT["power_cap"], 0)
                   | np.where(sw, BIT["sw_thermal"], 0) | np.where(hw, BIT["hw_thermal"], 0)
                   | np.where(brake, BIT["hw_power_brake"], 0) | np.where(hw | brake, BIT["hw_slowdown"], 0))
        return {"sm": sm, "mem_clock": mem_clock, "reasons": reasons}

    def _work_counters(self, w: dict[str, np.ndarray], util: np.ndarray, dt: float) -> None:
        """The counters that grow with the work done: energy, violation time, PCIe and NVLink traffic."""
        c, n, rng = self.counters, self.n, self.rng
        busy = util > 0
        c["total_energy"] += w["power"] * dt * 1000.0
        c["power_violation"] += np.where((w["capped"] & busy) | w["brake"], dt * 1e9, 0.0)
        c["thermal_violation"] += np.where(w["sw_thermal"], dt * 1e9, 0.0)
        tx = util / 100.0 * 4e6 * dt * rng.uniform(0.3, 1.0, n)  # KB
        rx = util / 100.0 * 6e6 * dt * rng.uniform(0.3, 1.0, n)
        nvlink = np.where(self.nvlinks > 0, util / 100.0 * 5e7 * dt, 0.0)  # KiB
        c["pcie_tx_throughput"] += tx
        c["pcie_rx_throughput"] += rx
        c["nvlink_bandwidth_total"] += nvlink
        self.traffic = {"pcie_tx": tx * 1e3 / dt, "pcie_rx": rx * 1e3 / dt, "nvlink": nvlink * 1024.0 / dt}

    def _driver_reload(self, t: float) -> None:
        """A driver reload (a benign look-alike's, or any GPU's in a fleet with variety): the volatile
        counters and the exporter's XID counters restart, and the reload is recorded."""
        f = self.fleet
        reload = ((f.benign == "driver_reload") & (t >= f.benign_at)
                  | (f.reload_at is not None and t >= f.reload_at)) & ~self._reload_done
        if reload.any():
            self._reload_done |= reload
            for key in VOLATILE:
                self.counters[key][reload] = 0.0
            self.xid_counts[reload] = 0
            self.resets.extend((int(i), t) for i in np.flatnonzero(reload))

    def _values(self, w: dict[str, np.ndarray], util: np.ndarray, dbe: np.ndarray) -> dict[str, np.ndarray]:
        """Every catalog field's value per GPU; NaN for the GPUs off the bus."""
        n, rng = self.n, self.rng
        busy = util > 0
        fb_used = np.where(busy, self.mem_mib * rng.uniform(0.5, 0.9, n), self.mem_mib * 0.005)
        fb_reserved = self.mem_mib * 0.006
        values = {
            "sm_clock": np.round(w["sm"]), "max_sm_clock": self.max_sm.copy(), "mem_clock": w["mem_clock"],
            "memory_temp": np.round(w["mem_temp"]),
            "gpu_temp": np.round(self.temp), "power_usage": np.round(w["power"], 3),
            "power_mgmt_limit": self.tdp.copy(),
            "fan_speed": np.where(self.hbm, np.nan, np.clip(30 + (self.temp - 30) * 1.2, 30, 100).round()),
            "fb_used": np.round(fb_used), "fb_free": np.round(self.mem_mib - fb_used - fb_reserved),
            "gpu_util": np.round(util), "mem_copy_util": np.round(util * rng.uniform(0.3, 0.7, n)),
            "enc_util": np.zeros(n), "dec_util": np.zeros(n),
            "retired_pending": (np.where(self.hbm, 0.0, dbe) > 0).astype(float),
            "row_remap_failure": self.remap_failure.copy(),
            "pcie_link_gen": self.link_gen.copy(), "pcie_link_width": self.link_width.copy(),
            "pcie_max_link_gen": self.max_gen.copy(), "pcie_max_link_width": self.max_width.copy(),
            "xid_errors": self.last_xid.copy(), "clock_event_reasons": w["reasons"].astype(float),
            "vgpu_license_status": np.zeros(n),
        }
        values.update(profiling.profile(self.mix, util, values["mem_copy_util"], w["sm"] / self.max_sm,
                                        (self.traffic["pcie_tx"], self.traffic["pcie_rx"]), self.traffic["nvlink"]))
        for key in COUNTERS:
            values[key] = np.floor(self.counters[key])
        missing = {fld.key for fld in FIELDS} - set(values)
        assert not missing, missing
        down = ~self.up
        if down.any():
            for v in values.values():
                v[down] = np.nan
        return values

    def xid_totals(self) -> dict[int, np.ndarray]:
        """Cumulative XID counts per GPU for every code that has occurred in the fleet."""
        seen = self.xid_counts.sum(axis=0) > 0
        return {code: self.xid_counts[:, j].copy() for code, j in XID_COL.items() if seen[j]}
