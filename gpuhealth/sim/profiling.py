"""The profiling (DCP) fields of a simulated GPU, derived from the work it does.

DCGM's profiling metrics describe the same work the utilisation and traffic counters count, finer: the
graphics engine is active while a kernel runs (the utilisation), the SMs are busy for part of that, warps
occupy part of the SMs, and the tensor and FP pipes take shares of the SMs' time that depend on the job.
Each GPU's job mix (how much of its SM time goes to tensor cores, FP16, FP32, FP64) is fixed per GPU from
its UUID, so a GPU's profile is stable and peers differ; the traffic rates are the PCIe and NVLink
counters' growth per second. Nothing here draws from the engine's random stream, so adding these fields
changed no other field's values.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

MIB = float(2**20)


@dataclass(frozen=True)
class JobMix:
    """Per GPU: the share of time a busy GPU's SMs are active, their warp occupancy, and the shares of SM
    time each pipe is active (training uses tensor cores most; FP64 is rare)."""

    sm_efficiency: np.ndarray
    occupancy: np.ndarray
    tensor: np.ndarray
    fp16: np.ndarray
    fp32: np.ndarray
    fp64: np.ndarray


def job_mix(uuids: list[str]) -> JobMix:
    """Each GPU's job mix, fixed by its UUID."""
    rng = np.random.default_rng([zlib.crc32(u.encode()) for u in uuids] or [0])
    n = len(uuids)
    return JobMix(sm_efficiency=rng.uniform(0.65, 0.95, n), occupancy=rng.uniform(0.3, 0.75, n),
                  tensor=rng.uniform(0.15, 0.6, n), fp16=rng.uniform(0.05, 0.3, n),
                  fp32=rng.uniform(0.05, 0.25, n), fp64=rng.uniform(0.0, 0.04, n))


def profile(mix: JobMix, util: np.ndarray, mem_copy_util: np.ndarray, clock_ratio: np.ndarray,
            pcie_bytes: tuple[np.ndarray, np.ndarray], nvlink_bytes: np.ndarray) -> dict[str, np.ndarray]:
    """The profiling fields (catalog keys) of every GPU from its utilisation (%), memory-copy utilisation (%),
    SM clock against its maximum, PCIe (TX, RX) and NVLink traffic in bytes per second."""
    gr = np.clip(util / 100.0, 0.0, 1.0)
    sm = gr * mix.sm_efficiency * np.clip(0.5 + 0.5 * clock_ratio, 0.0, 1.0)  # throttled clocks: fewer cycles busy
    return {
        "gr_engine_active": np.round(gr, 4), "sm_active": np.round(sm, 4),
        "sm_occupancy": np.round(sm * mix.occupancy, 4), "pipe_tensor_active": np.round(sm * mix.tensor, 4),
        "pipe_fp16_active": np.round(sm * mix.fp16, 4), "pipe_fp32_active": np.round(sm * mix.fp32, 4),
        "pipe_fp64_active": np.round(sm * mix.fp64, 4),
        "dram_active": np.round(np.clip(mem_copy_util / 100.0, 0.0, 1.0), 4),
        "pcie_tx_bytes": np.round(pcie_bytes[0]), "pcie_rx_bytes": np.round(pcie_bytes[1]),
        "nvlink_tx_bytes": np.round(nvlink_bytes / 2.0), "nvlink_rx_bytes": np.round(nvlink_bytes / 2.0),
    }
