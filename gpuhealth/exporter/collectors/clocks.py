"""Clocks: SM and memory clock frequencies."""

from gpuhealth.exporter.collectors.base import Collector, register


def read(nvml, h, ctx):
    """SM and memory clocks in MHz."""
    return {"sm_clock": nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_SM),
            "mem_clock": nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_MEM)}


register(Collector("clocks", "SM and memory clocks", read))
