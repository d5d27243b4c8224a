"""The gpuhealth exporter: NVML and simulated backends, dcgm-exporter compatible metrics."""
