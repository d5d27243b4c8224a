"""Clock events (throttle reasons) and power/thermal violation time."""

import numpy as np

from gpuhealth.catalog import CLOCK_EVENT_ACTIVE, CLOCK_EVENT_REASONS
from gpuhealth.exporter.collectors.base import Collector, optional, register
from gpuhealth.exporter.families import own


def read(nvml, h, state):
    """The clock-event reason bitmask and the time throttled by power and by temperature (ns)."""
    fn = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or nvml.nvmlDeviceGetCurrentClocksThrottleReasons
    out = {"clock_event_reasons": fn(h)}
    for key, policy in (("power_violation", nvml.NVML_PERF_POLICY_POWER),
                        ("thermal_violation", nvml.NVML_PERF_POLICY_THERMAL)):
        v = optional(nvml, nvml.nvmlDeviceGetViolationStatus, h, policy)
        if v is not None:
            out[key] = v.violationTime
    return out


def families(reading, labels):
    """gpuhealth_clock_event_active: one series per reason and GPU, 1 while that bit of the mask is set."""
    mask = reading.values["clock_event_reasons"]
    ok = np.flatnonzero(~np.isnan(mask))
    bits = np.nan_to_num(mask).astype(np.int64)
    samples = []
    for reason, bit in CLOCK_EVENT_REASONS.items():
        labs = labels.reason[reason]
        samples += [(labs[i], float((bits[i] & bit) > 0)) for i in ok]
    yield own(CLOCK_EVENT_ACTIVE, samples)


register(Collector("clock_events", "clock-event reasons and violation time", read, families))
