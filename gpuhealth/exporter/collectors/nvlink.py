"""NVLink: bandwidth and error counters summed over active links."""

from gpuhealth.exporter.collectors.base import Collector, optional, register

ERRORS = (("nvlink_crc_flit_errors", "NVML_NVLINK_ERROR_DL_CRC_FLIT"),
          ("nvlink_crc_data_errors", "NVML_NVLINK_ERROR_DL_CRC_DATA"),
          ("nvlink_replay_errors", "NVML_NVLINK_ERROR_DL_REPLAY"),
          ("nvlink_recovery_errors", "NVML_NVLINK_ERROR_DL_RECOVERY"))


def read(nvml, h, state):
    """NVLink error counters and bandwidth, summed over the links that are up; nothing without NVLink."""
    links = state.nvlinks
    if links is None:
        links = []
        for link in range(nvml.NVML_NVLINK_MAX_LINKS):
            try:
                if nvml.nvmlDeviceGetNvLinkState(h, link) == nvml.NVML_FEATURE_ENABLED:
                    links.append(link)
            except nvml.NVMLError:
                break
        state.nvlinks = links
    if not links:
        return {}
    out = {key: 0 for key, _ in ERRORS}
    for link in links:
        for key, const in ERRORS:
            v = optional(nvml, nvml.nvmlDeviceGetNvLinkErrorCounter, h, link, getattr(nvml, const))
            out[key] += v or 0
    fv = optional(nvml, nvml.nvmlDeviceGetFieldValues, h, [nvml.NVML_FI_DEV_NVLINK_BANDWIDTH_C0_TOTAL])
    if fv and fv[0].nvmlReturn == nvml.NVML_SUCCESS:
        out["nvlink_bandwidth_total"] = fv[0].value.ullVal
    return out


register(Collector("nvlink", "NVLink bandwidth and errors", read))
