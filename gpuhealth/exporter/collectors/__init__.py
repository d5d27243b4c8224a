"""One collector per NVML area; importing this package registers them all."""

from gpuhealth.exporter.collectors import (  # noqa: F401 - each module registers its collector
    clock_events,
    clocks,
    ecc,
    info,
    memory,
    nvlink,
    pcie,
    power,
    profiling,
    row_remap,
    temperature,
    utilization,
    xid,
)
from gpuhealth.exporter.collectors.base import COLLECTORS, Collector

__all__ = ["COLLECTORS", "Collector"]
