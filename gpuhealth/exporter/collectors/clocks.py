"""Clocks: SM and memory clock frequencies, and the SM clock's maximum (what a GPU under load should reach)."""

from gpuhealth.exporter.collectors.base import Collector, register


def read(nvml, h, state):
    """SM and memory clocks and the maximum SM clock, in MHz."""
    return {"sm_clock": nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_SM),
            "mem_clock": nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_MEM),
            "max_sm_clock": nvml.nvmlDeviceGetMaxClockInfo(h, nvml.NVML_CLOCK_SM)}


register(Collector("clocks", "SM and memory clocks, maximum SM clock", read))
