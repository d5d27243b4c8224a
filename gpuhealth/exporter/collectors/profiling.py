"""Profiling (DCP): graphics engine, SM, tensor and FP pipe activity, DRAM, PCIe and NVLink traffic.

dcgm-exporter reads these from DCGM's profiling module; without DCGM, NVML's GPU Performance Monitoring
(GPM) API gives the same measurements on Hopper and later GPUs, as the change between two samples. On a
GPU without GPM the collector returns nothing and the families are absent, never zero. The first poll
only takes a sample; the values appear from the second.
"""

from gpuhealth.exporter.collectors.base import Collector, register

MIB = float(2**20)


def _metrics(nvml):
    """(catalog key, GPM metric id, factor from the GPM unit to the field's unit) of every profiling field."""
    return (("gr_engine_active", nvml.NVML_GPM_METRIC_GRAPHICS_UTIL, 0.01),
            ("sm_active", nvml.NVML_GPM_METRIC_SM_UTIL, 0.01),
            ("sm_occupancy", nvml.NVML_GPM_METRIC_SM_OCCUPANCY, 0.01),
            ("pipe_tensor_active", nvml.NVML_GPM_METRIC_ANY_TENSOR_UTIL, 0.01),
            ("dram_active", nvml.NVML_GPM_METRIC_DRAM_BW_UTIL, 0.01),
            ("pipe_fp64_active", nvml.NVML_GPM_METRIC_FP64_UTIL, 0.01),
            ("pipe_fp32_active", nvml.NVML_GPM_METRIC_FP32_UTIL, 0.01),
            ("pipe_fp16_active", nvml.NVML_GPM_METRIC_FP16_UTIL, 0.01),
            ("pcie_tx_bytes", nvml.NVML_GPM_METRIC_PCIE_TX_PER_SEC, MIB),
            ("pcie_rx_bytes", nvml.NVML_GPM_METRIC_PCIE_RX_PER_SEC, MIB),
            ("nvlink_tx_bytes", nvml.NVML_GPM_METRIC_NVLINK_TOTAL_TX_PER_SEC, MIB),
            ("nvlink_rx_bytes", nvml.NVML_GPM_METRIC_NVLINK_TOTAL_RX_PER_SEC, MIB))


def _supported(nvml, h, state) -> bool:
    if state.gpm is None:
        try:
            state.gpm = bool(nvml.nvmlGpmQueryDeviceSupport(h).isSupportedDevice)
        except nvml.NVMLError as exc:
            if getattr(exc, "value", None) == nvml.NVML_ERROR_GPU_IS_LOST:
                raise
            state.gpm = False  # an older driver or GPU: no GPM
    return state.gpm


def read(nvml, h, state):
    """The profiling fields from two GPM samples: the one taken now and the previous poll's."""
    if not _supported(nvml, h, state):
        return {}
    sample = nvml.nvmlGpmSampleGet(h, nvml.nvmlGpmSampleAlloc())
    previous, state.gpm_sample = state.gpm_sample, sample
    if previous is None:
        return {}
    try:
        wanted = _metrics(nvml)
        request = nvml.c_nvmlGpmMetricsGet_t()
        request.version = nvml.NVML_GPM_METRICS_GET_VERSION
        request.numMetrics = len(wanted)
        request.sample1, request.sample2 = previous, sample
        for i, (_, metric, _) in enumerate(wanted):
            request.metrics[i].metricId = metric
        nvml.nvmlGpmMetricsGet(request)
    finally:
        nvml.nvmlGpmSampleFree(previous)
    return {key: request.metrics[i].value * factor for i, (key, _, factor) in enumerate(wanted)
            if request.metrics[i].nvmlReturn == nvml.NVML_SUCCESS}


register(Collector("profiling", "DCP profiling: engine, SM, tensor and FP pipe activity, DRAM, PCIe and NVLink "
                   "traffic (NVML GPM, Hopper and later)", read))
