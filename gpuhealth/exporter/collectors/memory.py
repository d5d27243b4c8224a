"""Framebuffer memory: free and used."""

from gpuhealth.exporter.collectors.base import Collector, register

MIB = 1024 * 1024


def read(nvml, h, state):
    """Framebuffer free and used in MiB."""
    info = nvml.nvmlDeviceGetMemoryInfo(h)
    return {"fb_free": info.free // MIB, "fb_used": info.used // MIB}


register(Collector("memory", "framebuffer memory", read))
