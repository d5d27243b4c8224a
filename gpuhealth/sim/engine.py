"""The vectorised simulation core: one step advances every GPU of the fleet at once.

Signals are physically coupled: utilisation follows each node's workload (training at high
utilisation, idle gaps, inference with a daily cycle); power follows utilisation and is capped at
the power limit (setting the power-cap clock-event reason and growing power-violation time);
temperature follows power and the rack's ambient with thermal inertia (first-order, 60 s time
constant) and throttles clocks above the slowdown temperature; energy is the integral of power;
counters only grow, except across a simulated driver reload, which is recorded.

Faults act through a *progress* p in 0..1 from the precursor's onset to the failure (fleet.py):
- memory: correctable (SBE) ECC rate grows as p^2, then correctable row remaps (p > 0.3), then
  DBEs with uncorrectable remaps / retired pages (p > 0.6), with XIDs 92, 63, 48, 94; at failure
  a row-remap failure with XIDs 64 and 95 (terminal; the GPU is drained);
- thermal: thermal resistance grows up to 40 % (temperature at equal power creeps up), so the GPU
  crosses its slowdown temperature, throttles and accumulates thermal-violation time; at failure
  it shuts down and falls off the bus (XID 79);
- power: power-draw spikes and oscillation, power-brake slowdowns, violation time, XIDs 61, 62;
  at failure XID 79;
- interconnect: PCIe replays and NVLink CRC/replay/recovery errors grow, the PCIe link trains
  down in width then generation, XID 74; at failure XID 79;
- sudden: nothing until the failure (XID 79 or 119).
Rates (per hour) are set so that a failing GPU's precursor in its last week stands far above the
fleet's healthy median (docs/simulator.md states the factors, tests/test_sim.py checks them).
"""

from __future__ import annotations

import numpy as np

from gpuhealth.catalog import CLOCK_EVENT_REASONS, FIELDS, XID_CODES
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

    def _poisson(self, rate_per_hour: np.ndarray, dt: float) -> np.ndarray:
        return self.rng.poisson(np.clip(rate_per_hour, 0, None) * dt / 3600.0).astype(float)

    def _xid(self, code: int, events: np.ndarray) -> None:
        events = events.astype(np.int64)
        hit = events > 0
        if hit.any():
            self.xid_counts[hit, XID_COL[code]] += events[hit]
            self.last_xid[hit] = code

    # -- one step -------------------------------------------------------------------------
    def step(self, t_new: float) -> dict[str, np.ndarray]:
        """Advance to sim time t_new and return every catalog field's value per GPU (NaN = absent)."""
        dt = max(t_new - self.t, 1e-3)
        self.t = t_new
        f, n, rng = self.fleet, self.n, self.rng
        p = np.where(self.failed, 0.0, self.shaped(self.progress(t_new), t_new))  # a failed GPU is drained
        mode = f.mode
        pm = np.where(mode == MODE_INDEX["memory"], p, 0.0)
        pt = np.where(mode == MODE_INDEX["thermal"], p, 0.0)
        pp = np.where(mode == MODE_INDEX["power"], p, 0.0)
        pi = np.where(mode == MODE_INDEX["interconnect"], p, 0.0)
        benign = f.benign

        # workload per node
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
        wall = f.start + t_new
        daily = 40.0 + 30.0 * np.sin(2 * np.pi * (wall / DAY - 0.375))
        util = np.select([state == 1, state == 2], [rng.uniform(92, 100, n), daily + rng.normal(0, 5, n)], 0.0)
        util = np.where(benign == "idle", 0.0, util)
        util = np.where(self.failed, 0.0, np.clip(util, 0, 100))
        intensity = self.node_intensity[f.node] * np.where(benign == "power_capped", 1.3, 1.0)

        # power: demand follows utilisation; thermal throttling lowers clocks and so power
        th_factor = np.clip(1.0 - (self.temp - self.slowdown) / 8.0, 0.45, 1.0)
        demand = self.idle_w + (self.tdp - self.idle_w) * intensity * util / 100.0 * th_factor
        spikes = pp * (rng.normal(0, 0.18, n) + 0.12 * np.sin(t_new / 47.0))
        demand = demand * (1.0 + spikes)
        limit = self.tdp
        capped = demand > limit
        brake = (pp > 0.3) & (rng.random(n) < pp**2 * 0.5)
        power = np.minimum(demand, np.where(pp > 0, limit * 1.08, limit)) * rng.normal(1.0, 0.01, n)
        power = np.where(brake, power * 0.6, power)
        power = np.clip(np.where(util > 0, power, self.idle_w * rng.normal(1, 0.03, n)), 0, limit * 1.1)

        # temperature: first-order response to power and ambient
        mult = 1.0 + 0.4 * pt
        target = f.ambient + self.r_th * power * mult
        self.temp = target + (self.temp - target) * np.exp(-dt / TAU_SECONDS)
        self.temp = np.clip(self.temp, f.ambient, self.shutdown)
        sw_thermal = self.temp > self.slowdown
        hw_thermal = self.temp > self.slowdown + 3.0
        mem_temp = np.minimum(self.temp + 3.0 + 5.0 * util / 100.0, self.shutdown + 5)

        # clocks and clock-event reasons
        power_factor = np.where(capped, limit / np.maximum(demand, 1.0), 1.0)
        busy = util > 0
        sm = np.where(busy, self.max_sm * np.minimum(power_factor, th_factor), 210.0)
        sm = np.where(brake, sm * 0.5, sm)
        mem_clock = np.where(busy | self.hbm, self.max_mem, 405.0)
        reasons = (np.where(~busy, BIT["gpu_idle"], 0) | np.where(capped & busy, BIT["power_cap"], 0)
                   | np.where(sw_thermal, BIT["sw_thermal"], 0) | np.where(hw_thermal, BIT["hw_thermal"], 0)
                   | np.where(brake, BIT["hw_power_brake"], 0) | np.where(hw_thermal | brake, BIT["hw_slowdown"], 0))

        c = self.counters
        c["total_energy"] += power * dt * 1000.0
        c["power_violation"] += np.where((capped & busy) | brake, dt * 1e9, 0.0)
        c["thermal_violation"] += np.where(sw_thermal, dt * 1e9, 0.0)
        c["pcie_tx_throughput"] += util / 100.0 * 4e6 * dt * rng.uniform(0.3, 1.0, n)
        c["pcie_rx_throughput"] += util / 100.0 * 6e6 * dt * rng.uniform(0.3, 1.0, n)
        c["nvlink_bandwidth_total"] += np.where(self.nvlinks > 0, util / 100.0 * 5e7 * dt, 0.0)

        # memory: SBE -> correctable remaps -> DBE / uncorrectable remaps -> remap failure
        sbe = self._poisson(0.002 * self.noise + 60.0 * pm**2, dt)
        burst = (benign == "sbe_burst") & ~self._burst_done & (t_new >= f.benign_at)
        sbe += np.where(burst, rng.integers(50, 200, n), 0)
        self._burst_done |= burst
        corr_remap = self._poisson(np.where((pm > 0.3) & self.hbm, 0.4 * pm**2, 0.0), dt)
        one_off = (benign == "one_off_remap") & ~self._remap_done & (t_new >= f.benign_at)
        if one_off.any():  # a row or two remapped once, with a few SBEs, then nothing more
            corr_remap += np.where(one_off & self.hbm, rng.integers(1, 3, n), 0)
            sbe += np.where(one_off, rng.integers(2, 12, n), 0)
            self._remap_done |= one_off
        dbe = self._poisson(np.where(pm > 0.6, 0.12 * pm**3, 0.0), dt)
        for key, inc in (("ecc_sbe_vol", sbe), ("ecc_sbe_agg", sbe), ("ecc_dbe_vol", dbe), ("ecc_dbe_agg", dbe),
                         ("correctable_remapped_rows", corr_remap),
                         ("uncorrectable_remapped_rows", np.where(self.hbm, dbe, 0.0)),
                         ("retired_dbe", np.where(self.hbm, 0.0, dbe)),
                         ("retired_sbe", np.where(self.hbm, 0.0, self._poisson(0.05 * pm**2, dt)))):
            c[key] += inc
        self._xid(92, (sbe > 30) & (pm > 0))
        self._xid(63, corr_remap + np.where(self.hbm, dbe, 0.0))
        self._xid(48, dbe)
        self._xid(94, np.floor(dbe * 0.7))

        # power delivery
        self._xid(61, self._poisson(0.3 * pp**2, dt))
        self._xid(62, self._poisson(np.where(pp > 0.7, 0.1 * pp**3, 0.0), dt))

        # interconnect: replays, CRC errors, link downtraining
        c["pcie_replay_counter"] += self._poisson(0.05 * self.noise + 40.0 * pi**2, dt)
        nv = self.nvlinks > 0
        c["nvlink_crc_flit_errors"] += self._poisson(np.where(nv, 0.5 * self.noise + 800.0 * pi**2, 0.0), dt)
        c["nvlink_crc_data_errors"] += self._poisson(np.where(nv, 0.1 * self.noise + 80.0 * pi**2, 0.0), dt)
        c["nvlink_replay_errors"] += self._poisson(np.where(nv, 0.05 + 40.0 * pi**2, 0.0), dt)
        c["nvlink_recovery_errors"] += self._poisson(np.where(nv, 2.0 * pi**2, 0.0), dt)
        self._xid(74, self._poisson(np.where(nv, 0.4 * pi**2, 0.0), dt))
        narrow = (pi > 0.5) & (rng.random(n) < dt / (6 * 3600))
        self.link_width = np.where(narrow, np.minimum(self.link_width, self.max_width / 2), self.link_width)
        slow = (pi > 0.75) & (rng.random(n) < dt / (6 * 3600))
        self.link_gen = np.where(slow, np.minimum(self.link_gen, self.max_gen - 1), self.link_gen)

        # application XIDs on busy GPUs: not hardware
        for code in (13, 31, 43):
            self._xid(code, self._poisson(np.where(busy, 0.002, 0.0), dt))

        # failures
        newly = (t_new >= f.fail_at) & ~self.failed
        if newly.any():
            self.failed |= newly
            mem_fail = newly & (mode == MODE_INDEX["memory"])
            self.remap_failure[mem_fail] = 1.0
            self._xid(64, mem_fail.astype(float))
            self._xid(95, mem_fail.astype(float))
            sudden = newly & (mode == MODE_INDEX["sudden"])
            gsp = sudden & (rng.random(n) < 0.4)
            self._xid(119, gsp.astype(float))
            self._xid(79, (newly & ~mem_fail & ~gsp).astype(float))
            self.up &= ~(newly & ~mem_fail)

        # a driver reload (a benign look-alike's, or any GPU's in a fleet with variety): volatile counters restart
        reload = ((benign == "driver_reload") & (t_new >= f.benign_at)
                  | (f.reload_at is not None and t_new >= f.reload_at)) & ~self._reload_done
        if reload.any():
            self._reload_done |= reload
            for key in VOLATILE:
                c[key][reload] = 0.0
            self.xid_counts[reload] = 0
            self.resets.extend((int(i), t_new) for i in np.flatnonzero(reload))

        fb_used = np.where(busy, self.mem_mib * rng.uniform(0.5, 0.9, n), self.mem_mib * 0.005)
        fb_reserved = self.mem_mib * 0.006
        values = {
            "sm_clock": np.round(sm), "max_sm_clock": self.max_sm.copy(), "mem_clock": mem_clock,
            "memory_temp": np.round(mem_temp),
            "gpu_temp": np.round(self.temp), "power_usage": np.round(power, 3),
            "power_mgmt_limit": limit.copy(),
            "fan_speed": np.where(self.hbm, np.nan, np.clip(30 + (self.temp - 30) * 1.2, 30, 100).round()),
            "fb_used": np.round(fb_used), "fb_free": np.round(self.mem_mib - fb_used - fb_reserved),
            "gpu_util": np.round(util), "mem_copy_util": np.round(util * rng.uniform(0.3, 0.7, n)),
            "enc_util": np.zeros(n), "dec_util": np.zeros(n),
            "retired_pending": (np.where(self.hbm, 0.0, dbe) > 0).astype(float),
            "row_remap_failure": self.remap_failure.copy(),
            "pcie_link_gen": self.link_gen.copy(), "pcie_link_width": self.link_width.copy(),
            "pcie_max_link_gen": self.max_gen.copy(), "pcie_max_link_width": self.max_width.copy(),
            "xid_errors": self.last_xid.copy(), "clock_event_reasons": reasons.astype(float),
            "vgpu_license_status": np.zeros(n),
        }
        for key in COUNTERS:
            values[key] = np.floor(c[key])
        missing = {fld.key for fld in FIELDS} - set(values)
        assert not missing, missing
        down = ~self.up
        if down.any():
            for v in values.values():
                v[down] = np.nan
        self.values = values
        return values

    def xid_totals(self) -> dict[int, np.ndarray]:
        """Cumulative XID counts per GPU for every code that has occurred in the fleet."""
        seen = self.xid_counts.sum(axis=0) > 0
        return {code: self.xid_counts[:, j].copy() for code, j in XID_COL.items() if seen[j]}
