"""Identity: gpuhealth_gpu_info, and the vGPU license status where meaningful."""

from gpuhealth.catalog import GPU_INFO, MIG_INSTANCE_INFO
from gpuhealth.exporter.collectors.base import Collector, optional, register
from gpuhealth.exporter.families import own


def read(nvml, h, state):
    """The vGPU license status, only on vGPU guests (where NVML answers)."""
    fn = getattr(nvml, "nvmlDeviceGetVgpuLicenseStatus", None)
    status = optional(nvml, fn, h) if fn else None
    return {} if status is None else {"vgpu_license_status": status}


def families(reading, labels):
    """gpuhealth_mig_instance_info (where MIG is on) and gpuhealth_gpu_info: the identity of each GPU."""
    if reading.mig:
        yield own(MIG_INSTANCE_INFO,
                  [(f'{labels.own[m.parent]},GPU_I_ID="{m.gpu_instance_id}",GPU_I_PROFILE="{m.profile}",'
                    f'mig_uuid="{m.uuid}"', 1.0) for m in reading.mig])
    yield own(GPU_INFO, [(lab, 1.0) for lab in labels.info])


register(Collector("info", "GPU identity", read, families))
