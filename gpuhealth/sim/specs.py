"""Specifications of the GPU models the simulator knows, from NVIDIA's public datasheets.

Sources (each read for TDP, memory, clocks, NVLink and PCIe):
- A100: "NVIDIA A100 Tensor Core GPU" datasheet (A100 80GB SXM: 400 W, 80 GB HBM2e, 2,039 GB/s,
  NVLink 600 GB/s = 12 links, PCIe Gen4); boost clock 1,410 MHz, memory clock 1,593 MHz as
  `nvidia-smi -q` reports them on A100-SXM4-80GB.
- H100: "NVIDIA H100 Tensor Core GPU" datasheet (H100 SXM: up to 700 W, 80 GB HBM3, 3.35 TB/s,
  NVLink 900 GB/s = 18 links, PCIe Gen5); max SM clock 1,980 MHz, memory clock 2,619 MHz.
- H200: "NVIDIA H200 Tensor Core GPU" product page (H200 SXM: up to 700 W, 141 GB HBM3e,
  4.8 TB/s, NVLink 900 GB/s, PCIe Gen5); max SM clock 1,980 MHz, memory clock 3,201 MHz.
- L40S: "NVIDIA L40S" datasheet (350 W, 48 GB GDDR6 with ECC, PCIe Gen4 x16, no NVLink,
  boost clock 2,520 MHz, memory clock 9,001 MHz).
Slowdown and shutdown temperatures are the "GPU Slowdown Temp" / "GPU Shutdown Temp" that
`nvidia-smi -q` prints on these parts (data-center parts: slowdown around 87-90 C, shutdown
around 90-95 C); they are approximate and only need to order the simulator's thresholds.
Idle power is typical of `nvidia-smi` readings on an idle, persistence-mode GPU.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GpuSpec:
    """One GPU model's specification, as the simulator uses it."""

    key: str  # short name used in configuration
    model_name: str  # what NVML reports (modelName label)
    tdp_watts: float
    idle_watts: float
    memory_mib: int
    hbm: bool  # HBM (row remapping, higher memory-failure share) vs GDDR
    max_sm_clock_mhz: float
    max_mem_clock_mhz: float
    slowdown_celsius: float
    shutdown_celsius: float
    max_operating_celsius: float
    nvlink_links: int
    pcie_gen: int
    pcie_width: int = 16
    vbios_prefix: str = "96.00"


SPECS: dict[str, GpuSpec] = {
    "a100": GpuSpec("a100", "NVIDIA A100-SXM4-80GB", 400, 60, 81920, True, 1410, 1593, 89, 92, 85, 12, 4,
                    vbios_prefix="92.00"),
    "h100": GpuSpec("h100", "NVIDIA H100 80GB HBM3", 700, 70, 81559, True, 1980, 2619, 90, 95, 87, 18, 5),
    "h200": GpuSpec("h200", "NVIDIA H200", 700, 75, 143771, True, 1980, 3201, 90, 95, 87, 18, 5),
    "l40s": GpuSpec("l40s", "NVIDIA L40S", 350, 35, 46068, False, 2520, 9001, 88, 93, 86, 0, 4,
                    vbios_prefix="95.02"),
}

MODEL_NAMES: dict[str, str] = {s.model_name: k for k, s in SPECS.items()}
