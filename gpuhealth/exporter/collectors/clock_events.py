"""Clock events (throttle reasons) and power/thermal violation time."""

from gpuhealth.catalog import CLOCK_EVENT_ACTIVE
from gpuhealth.exporter.collectors.base import Collector, optional, register


def read(nvml, h, ctx):
    """The clock-event reason bitmask and the time throttled by power and by temperature (ns)."""
    fn = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or nvml.nvmlDeviceGetCurrentClocksThrottleReasons
    out = {"clock_event_reasons": fn(h)}
    for key, policy in (("power_violation", nvml.NVML_PERF_POLICY_POWER),
                        ("thermal_violation", nvml.NVML_PERF_POLICY_THERMAL)):
        v = optional(nvml, nvml.nvmlDeviceGetViolationStatus, h, policy)
        if v is not None:
            out[key] = v.violationTime
    return out


register(Collector("clock_events", "clock-event reasons and violation time", read,
                   extra_families=(CLOCK_EVENT_ACTIVE,)))
