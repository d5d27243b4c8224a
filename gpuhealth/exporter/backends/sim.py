"""The simulated backend: the simulator's live mode behind the same NVML interface as a real GPU.

The nvml backend runs over ``gpuhealth.sim.nvml.SimNvml`` (the fleet answering NVML's calls), so every
collector reads the simulated GPUs exactly as it reads real ones and its success and duration are its
own. Two things differ from a machine's NVML: the GPUs carry the simulated fleet's identities (several
hosts in one exporter), and XIDs come from the fleet's counts rather than from NVML's event API.
"""

from __future__ import annotations

import time

import numpy as np

from gpuhealth.catalog import XID_CODES, GpuIdentity
from gpuhealth.exporter.backends.nvml import NvmlBackend
from gpuhealth.exporter.reading import Reading
from gpuhealth.sim.live import LiveFleet
from gpuhealth.sim.nvml import SimNvml


class SimBackend(NvmlBackend):
    """Reads a LiveFleet through the collectors; failed GPUs read as down (NVML_ERROR_GPU_IS_LOST)."""

    def __init__(self, gpus: int = 64, seed: int = 0, speedup: float = 1.0, degrading: int | None = None,
                 history: tuple[float, float, float] | None = None) -> None:
        self.fleet = LiveFleet(gpus=gpus, seed=seed, speedup=speedup, degrading=degrading, history=history)
        super().__init__(nvml=SimNvml(self.fleet))
        self.identities: list[GpuIdentity] = self.fleet.identities  # several hosts, where NVML knows one
        for i, state in enumerate(self.states):  # the PCIe byte counters go on from the fleet's, not from 0
            for key in ("pcie_tx_throughput", "pcie_rx_throughput"):
                state.pcie_bytes[key] = float(np.nan_to_num(self.nvml.counters(key)[i]))

    def read(self, enabled: set[str]) -> Reading:
        """The fleet's values now, read by the enabled collectors."""
        now = time.monotonic()
        dt, self._last_read = now - self._last_read, now
        self.nvml.refresh(dt)
        snap = self.nvml.snap
        with self._lock:  # the XIDs as NVML's event thread would have counted them
            self.xids[:] = 0
            self.xid_extra = {}
            for code, counts in snap.xid_counts.items():
                if code in XID_CODES:
                    self.xids[:, XID_CODES.index(code)] = counts
                else:
                    self.xid_extra[code] = np.asarray(counts, dtype=np.int64)
            last = snap.values.get("xid_errors")
            for i, state in enumerate(self.states):
                if last is not None and not np.isnan(last[i]):
                    state.last_xid = int(last[i])
        reading = self.read_over(enabled, dt)
        reading.timestamp = snap.timestamp
        return reading
