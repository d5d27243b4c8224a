"""Temperature: GPU and memory temperature, fan speed."""

from gpuhealth.exporter.collectors.base import Collector, optional, register


def read(nvml, h, state):
    """GPU and memory temperature (C) and fan speed (%), where the GPU has them."""
    out = {"gpu_temp": nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU)}
    fv = optional(nvml, nvml.nvmlDeviceGetFieldValues, h, [nvml.NVML_FI_DEV_MEMORY_TEMP])
    if fv and fv[0].nvmlReturn == nvml.NVML_SUCCESS:
        out["memory_temp"] = fv[0].value.uiVal
    fan = optional(nvml, nvml.nvmlDeviceGetFanSpeed, h)
    if fan is not None:
        out["fan_speed"] = fan
    return out


register(Collector("temperature", "GPU and memory temperature, fan speed", read))
