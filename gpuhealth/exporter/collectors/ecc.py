"""ECC errors and retired pages."""

from gpuhealth.exporter.collectors.base import Collector, optional, register


def read(nvml, h, state):
    """Volatile and aggregate SBE/DBE counts, retired pages and pending retirements."""
    out = {}
    for key, etype, ctype in (("ecc_sbe_vol", nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED, nvml.NVML_VOLATILE_ECC),
                              ("ecc_dbe_vol", nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nvml.NVML_VOLATILE_ECC),
                              ("ecc_sbe_agg", nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED, nvml.NVML_AGGREGATE_ECC),
                              ("ecc_dbe_agg", nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nvml.NVML_AGGREGATE_ECC)):
        v = optional(nvml, nvml.nvmlDeviceGetTotalEccErrors, h, etype, ctype)
        if v is not None:
            out[key] = v
    for key, cause in (("retired_sbe", nvml.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS),
                       ("retired_dbe", nvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR)):
        pages = optional(nvml, nvml.nvmlDeviceGetRetiredPages, h, cause)
        if pages is not None:
            out[key] = len(pages)
    pending = optional(nvml, nvml.nvmlDeviceGetRetiredPagesPendingStatus, h)
    if pending is not None:
        out["retired_pending"] = int(pending)
    return out


register(Collector("ecc", "ECC error counts and retired pages", read))
