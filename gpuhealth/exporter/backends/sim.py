"""The simulated backend: the simulator's live mode, read as if it were NVML."""

from __future__ import annotations

import time

from gpuhealth.catalog import GpuIdentity
from gpuhealth.exporter.collectors import COLLECTORS
from gpuhealth.exporter.reading import Reading
from gpuhealth.sim.live import LiveFleet

# Counters that integrate over time: divided by the speed-up so that their rates stay physical
# (a GPU throttled half the time shows a violation rate of 0.5 s/s, not 0.5 x speedup).
TIME_INTEGRALS = ("total_energy", "power_violation", "thermal_violation", "pcie_tx_throughput", "pcie_rx_throughput",
                  "nvlink_bandwidth_total")


class SimBackend:
    """Reads a LiveFleet; every collector succeeds, failed GPUs read as down."""

    def __init__(self, gpus: int = 64, seed: int = 0, speedup: float = 1.0, degrading: int | None = None,
                 history: tuple[float, float, float] | None = None) -> None:
        self.fleet = LiveFleet(gpus=gpus, seed=seed, speedup=speedup, degrading=degrading, history=history)
        self.speedup = speedup

    @property
    def identities(self) -> list[GpuIdentity]:
        """The simulated GPUs, in index order."""
        return self.fleet.identities

    def read(self, enabled: set[str]) -> Reading:
        """The fleet's values now."""
        t0 = time.perf_counter()
        snap = self.fleet.snapshot()
        seconds = time.perf_counter() - t0
        values = dict(snap.values)
        for key in TIME_INTEGRALS:
            values[key] = values[key] / self.speedup
        return Reading(timestamp=snap.timestamp, identities=self.identities, values=values, up=snap.up,
                       xid_counts=snap.xid_counts, collector_ok={name: True for name in COLLECTORS if name in enabled},
                       collector_seconds={name: seconds / max(len(enabled), 1) for name in enabled})

    def close(self) -> None:
        """Nothing to release."""
