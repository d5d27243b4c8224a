"""Identity: gpuhealth_gpu_info, and the vGPU license status where meaningful."""

from gpuhealth.catalog import GPU_INFO
from gpuhealth.exporter.collectors.base import Collector, optional, register


def read(nvml, h, ctx):
    """The vGPU license status, only on vGPU guests (where NVML answers)."""
    fn = getattr(nvml, "nvmlDeviceGetVgpuLicenseStatus", None)
    status = optional(nvml, fn, h) if fn else None
    return {} if status is None else {"vgpu_license_status": status}


register(Collector("info", "GPU identity", read, extra_families=(GPU_INFO,)))
