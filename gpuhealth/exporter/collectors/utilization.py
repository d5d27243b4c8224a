"""Utilization: GPU, memory copy, encoder and decoder."""

from gpuhealth.exporter.collectors.base import Collector, optional, register


def read(nvml, h, state):
    """Utilization in percent."""
    rates = nvml.nvmlDeviceGetUtilizationRates(h)
    out = {"gpu_util": rates.gpu, "mem_copy_util": rates.memory}
    enc = optional(nvml, nvml.nvmlDeviceGetEncoderUtilization, h)
    if enc is not None:
        out["enc_util"] = enc[0]
    dec = optional(nvml, nvml.nvmlDeviceGetDecoderUtilization, h)
    if dec is not None:
        out["dec_util"] = dec[0]
    return out


register(Collector("utilization", "GPU, memory, encoder and decoder utilization", read))
