"""Row remapping (Ampere and later HBM parts)."""

from gpuhealth.exporter.collectors.base import Collector, optional, register


def read(nvml, h, state):
    """Correctable and uncorrectable remapped rows, and whether remapping has failed."""
    rows = optional(nvml, nvml.nvmlDeviceGetRemappedRows, h)
    if rows is None:
        return {}
    corr, unc, _pending, failure = rows
    return {"correctable_remapped_rows": corr, "uncorrectable_remapped_rows": unc, "row_remap_failure": int(failure)}


register(Collector("row_remap", "row remapping", read))
