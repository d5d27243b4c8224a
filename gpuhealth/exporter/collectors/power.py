"""Power and energy: draw, management limit, energy since boot."""

from gpuhealth.exporter.collectors.base import Collector, optional, register


def read(nvml, h, state):
    """Power draw and limit (W, NVML reports mW) and total energy (mJ)."""
    out = {"power_usage": nvml.nvmlDeviceGetPowerUsage(h) / 1000.0}
    limit = optional(nvml, nvml.nvmlDeviceGetPowerManagementLimit, h)
    if limit is not None:
        out["power_mgmt_limit"] = limit / 1000.0
    energy = optional(nvml, nvml.nvmlDeviceGetTotalEnergyConsumption, h)
    if energy is not None:
        out["total_energy"] = energy
    return out


register(Collector("power", "power draw, limit and energy", read))
