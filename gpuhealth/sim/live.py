"""Live mode: the current values of every simulated GPU at wall-clock time.

The exporter's ``sim`` backend reads a :class:`LiveFleet`. Simulated time runs ``speedup`` times
faster than wall time, so that a demo shows degradation in minutes; some GPUs start with a fault
already in progress, and :meth:`LiveFleet.force_fault` starts one on a chosen GPU now.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from gpuhealth.catalog import Asset, GpuIdentity
from gpuhealth.sim.engine import Engine
from gpuhealth.sim.fleet import DAY, FAULT_MODES, MODE_INDEX, PRECURSOR_DAYS, Fleet, FleetConfig, build_fleet

__all__ = ["FAULT_MODES", "LiveFleet", "Snapshot", "continued_fleet"]

MAX_STEP_SECONDS = 60.0  # sim seconds per engine step when catching up
FORCED_PRECURSOR_SECONDS = 0.5 * DAY  # a forced fault reaches failure after half a simulated day
# when the degrading GPUs of a fleet continued from its history fail, in hours after the history's end:
# the first within minutes (something to see), the rest over the next days
CONTINUED_FAILURES_HOURS = (0.07, 0.5, 2.0, 6.0, 12.0, 24.0, 36.0, 60.0)
CONTINUED_MODES = ("thermal", "memory", "power", "interconnect")


def continued_fleet(gpus: int, seed: int, start: float, live_from: float, degrading: int | None = None) -> Fleet:
    """A fleet whose history runs from ``start`` to ``live_from`` (Unix seconds) and goes on live after it.

    Its fates are the simulator's, over a year after the history; besides, ``degrading`` healthy GPUs
    (an eighth by default) are well into a precursor when the history ends and fail at
    CONTINUED_FAILURES_HOURS after it, their precursors as long as the simulator draws for their mode.
    The same arguments give the same fleet, so that a history writer and a live exporter agree."""
    span = live_from - start
    fleet = build_fleet(FleetConfig(gpus=gpus, seed=seed), start=start, horizon=span + 365 * DAY)
    rng = np.random.default_rng(seed + 104729)
    count = gpus // 8 if degrading is None else degrading
    healthy = np.flatnonzero((fleet.mode == 0) & (fleet.benign == ""))
    chosen = rng.choice(healthy, size=min(count, len(healthy)), replace=False)
    for j, i in enumerate(chosen):
        mode = CONTINUED_MODES[j % len(CONTINUED_MODES)]
        lo, hi = PRECURSOR_DAYS[mode]
        fleet.mode[i] = MODE_INDEX[mode]
        fleet.fail_at[i] = span + CONTINUED_FAILURES_HOURS[j % len(CONTINUED_FAILURES_HOURS)] * 3600.0
        fleet.onset[i] = fleet.fail_at[i] - rng.uniform(lo, hi) * DAY
    return fleet


@dataclass
class Snapshot:
    """Every GPU's values at one moment (the exporter's input)."""

    timestamp: float
    values: dict[str, np.ndarray]
    up: np.ndarray
    xid_counts: dict[int, np.ndarray]


class LiveFleet:
    """A simulated fleet advanced to wall-clock time on each snapshot."""

    def __init__(self, gpus: int = 64, seed: int = 0, speedup: float = 1.0, gpus_per_node: int = 8,
                 degrading: int | None = None, start: float | None = None,
                 history: tuple[float, float, float] | None = None) -> None:
        """``history`` = (start, end, step) continues a fleet whose history a writer wrote with
        ``continued_fleet`` over that span: the engine replays it in the writer's steps (so counters
        go on from the values the history ends with), then runs in real time."""
        if speedup <= 0:
            raise ValueError(f"speedup: expected a positive factor, got {speedup}")
        if history is not None and speedup != 1:
            raise ValueError(f"speedup: a fleet continued from its history runs in real time, got {speedup}")
        self.speedup = float(speedup)
        if history is None:
            self.wall0 = time.time() if start is None else float(start)
            # a realistic fleet, over a horizon of a year of simulated time
            config = FleetConfig(gpus=gpus, seed=seed, gpus_per_node=gpus_per_node)
            self.fleet = build_fleet(config, start=self.wall0, horizon=365 * DAY)
            self._degrade(gpus // 8 if degrading is None else degrading, seed)
            self.engine = Engine(self.fleet)
        else:
            h_start, h_end, step = history
            self.wall0 = float(h_start)
            self.fleet = continued_fleet(gpus, seed, h_start, h_end, degrading)
            self.engine = Engine(self.fleet)
            steps = round((h_end - h_start) / step)
            for k in range(1, steps + 1):  # as the history writer stepped
                self.engine.step(float(k * step))
        self._lock = threading.Lock()
        self._last: Snapshot | None = None

    @property
    def identities(self) -> list[GpuIdentity]:
        """One identity per GPU, in index order."""
        return self.fleet.identities

    @property
    def assets(self) -> list[Asset]:
        """One asset record per GPU, in index order."""
        return self.fleet.assets

    def _degrade(self, count: int, seed: int) -> None:
        """Start a precursor fault already in progress on ``count`` GPUs, failing within a few sim days."""
        rng = np.random.default_rng(seed + 104729)
        f = self.fleet
        healthy = np.flatnonzero((f.mode == 0) & (f.benign == ""))
        chosen = rng.choice(healthy, size=min(count, len(healthy)), replace=False)
        for j, i in enumerate(chosen):
            mode = FAULT_MODES[j % 4]
            span = rng.uniform(2.0, 5.0) * DAY
            f.mode[i] = MODE_INDEX[mode]
            f.onset[i] = -span * rng.uniform(0.3, 0.7)
            f.fail_at[i] = f.onset[i] + span

    def sim_time(self, now: float) -> float:
        """Simulated seconds since the start at wall-clock ``now``."""
        return max(0.0, (now - self.wall0) * self.speedup)

    def snapshot(self, now: float | None = None) -> Snapshot:
        """Advance the simulation to wall-clock ``now`` (default: the current time) and read it."""
        now = time.time() if now is None else now
        with self._lock:
            target = self.sim_time(now)
            eng = self.engine
            if self._last is None or target > eng.t:
                t = eng.t
                while True:
                    t = min(target, t + MAX_STEP_SECONDS)
                    values = eng.step(t)
                    if t >= target:
                        break
                self._last = Snapshot(timestamp=now, values={k: v.copy() for k, v in values.items()},
                                      up=eng.up.copy(), xid_counts=eng.xid_totals())
            return self._last

    def force_fault(self, gpu: int | str, mode: str) -> None:
        """Start ``mode`` on a GPU (index or UUID) now; it fails half a simulated day later."""
        if mode not in FAULT_MODES:
            raise ValueError(f"mode: expected one of {', '.join(FAULT_MODES)}, got {mode!r}")
        if isinstance(gpu, str):
            uuids = [ident.uuid for ident in self.identities]
            if gpu not in uuids:
                raise ValueError(f"gpu: no simulated GPU has UUID {gpu!r}")
            i = uuids.index(gpu)
        else:
            if not 0 <= gpu < self.fleet.n:
                raise ValueError(f"gpu: expected an index in 0..{self.fleet.n - 1}, got {gpu}")
            i = gpu
        with self._lock:
            t = self.engine.t
            f = self.fleet
            f.mode[i] = MODE_INDEX[mode]
            f.onset[i] = t
            f.fail_at[i] = t + (1.0 if mode == "sudden" else FORCED_PRECURSOR_SECONDS)
