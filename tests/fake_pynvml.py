"""A fake pynvml with scripted devices, errors and XID events, for testing the nvml backend.

Only what the collectors call is here, with the real module's names and constants; a device can be
lost (every call raises NVML_ERROR_GPU_IS_LOST) or lack a feature (NVML_ERROR_NOT_SUPPORTED).
"""

from __future__ import annotations

import ctypes
import queue
import types
from dataclasses import dataclass, field

import pynvml as real

CONSTANTS = [n for n in dir(real) if n.startswith(("NVML_", "nvmlEventType"))]


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


@dataclass
class FakeDevice:
    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    bus_id: str = "00000000:18:00.0"
    serial: str = "1650000000001"
    vbios: str = "96.00.99.00.01"
    temp: int = 61
    memory_temp: int = 70
    power_mw: int = 412_345
    limit_mw: int = 700_000
    energy_mj: int = 123_456_789
    sm_clock: int = 1980
    max_sm_clock: int = 1980
    mem_clock: int = 2619
    util: tuple[int, int] = (97, 41)
    fb: tuple[int, int] = (30 * 1024**3, 50 * 1024**3)  # free, used bytes
    ecc: dict = field(default_factory=lambda: {(0, 0): 12, (1, 0): 0, (0, 1): 40, (1, 1): 1})
    remapped: tuple[int, int, int, int] = (3, 1, 0, 0)
    replay: int = 7
    link: tuple[int, int, int, int] = (5, 16, 5, 16)  # cur gen, cur width, max gen, max width
    nvlinks: int = 2
    nvlink_errors: int = 4  # per link and counter
    reasons: int = 0x4 | 0x20
    violation_ns: int = 5_000_000_000
    fan: int | None = None
    lost: bool = False
    mig: list = field(default_factory=list)  # MIG GPU instances, as FakeDevices named "... MIG <profile>"
    # GPM metric id -> value over the last two samples (percent, MiB/s); None: a GPU without GPM (pre-Hopper)
    gpm: dict | None = field(default_factory=lambda: {
        real.NVML_GPM_METRIC_GRAPHICS_UTIL: 96.0, real.NVML_GPM_METRIC_SM_UTIL: 81.5,
        real.NVML_GPM_METRIC_SM_OCCUPANCY: 40.25, real.NVML_GPM_METRIC_ANY_TENSOR_UTIL: 33.0,
        real.NVML_GPM_METRIC_DRAM_BW_UTIL: 52.0, real.NVML_GPM_METRIC_FP64_UTIL: 0.5,
        real.NVML_GPM_METRIC_FP32_UTIL: 12.0, real.NVML_GPM_METRIC_FP16_UTIL: 20.0,
        real.NVML_GPM_METRIC_PCIE_TX_PER_SEC: 1500.0, real.NVML_GPM_METRIC_PCIE_RX_PER_SEC: 2500.0,
        real.NVML_GPM_METRIC_NVLINK_TOTAL_TX_PER_SEC: 40000.0, real.NVML_GPM_METRIC_NVLINK_TOTAL_RX_PER_SEC: 41000.0})
    gi_id: int = 0


class FakeNvml(types.SimpleNamespace):
    """A stand-in for the pynvml module over a list of FakeDevice."""

    def __init__(self, devices: list[FakeDevice], driver: str = "550.90.07", init_error: int | None = None):
        super().__init__()
        for name in CONSTANTS:
            setattr(self, name, getattr(real, name))
        self.NVMLError = NVMLError
        self.devices = devices
        self.driver = driver
        self.init_error = init_error
        self.events: queue.Queue = queue.Queue()
        self.c_nvmlGpmMetricsGet_t = real.c_nvmlGpmMetricsGet_t
        self.gpm_samples: dict[int, FakeDevice] = {}  # live GPM samples by their (fake) address

    # lifecycle
    def nvmlInit(self):
        if self.init_error is not None:
            raise NVMLError(self.init_error)

    def nvmlShutdown(self):
        pass

    def nvmlSystemGetDriverVersion(self):
        return self.driver

    def nvmlDeviceGetCount(self):
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, i):
        return self.devices[i]

    def _dev(self, h: FakeDevice) -> FakeDevice:
        if h.lost:
            raise NVMLError(real.NVML_ERROR_GPU_IS_LOST)
        return h

    # identity
    def nvmlDeviceGetUUID(self, h):
        return h.uuid

    def nvmlDeviceGetName(self, h):
        return h.name

    def nvmlDeviceGetPciInfo(self, h):
        return types.SimpleNamespace(busId=h.bus_id)

    def nvmlDeviceGetSerial(self, h):
        return h.serial

    def nvmlDeviceGetVbiosVersion(self, h):
        return h.vbios

    # readings
    def nvmlDeviceGetClockInfo(self, h, clock):
        d = self._dev(h)
        return d.sm_clock if clock == real.NVML_CLOCK_SM else d.mem_clock

    def nvmlDeviceGetMaxClockInfo(self, h, clock):
        d = self._dev(h)
        return d.max_sm_clock if clock == real.NVML_CLOCK_SM else d.mem_clock

    def nvmlDeviceGetTemperature(self, h, sensor):
        return self._dev(h).temp

    def nvmlDeviceGetFieldValues(self, h, ids):
        d = self._dev(h)
        out = []
        for fid in ids:
            value = types.SimpleNamespace(uiVal=d.memory_temp, ullVal=10_000_000 * d.nvlinks)
            out.append(types.SimpleNamespace(fieldId=fid, nvmlReturn=real.NVML_SUCCESS, value=value))
        return out

    def nvmlDeviceGetFanSpeed(self, h):
        d = self._dev(h)
        if d.fan is None:
            raise NVMLError(real.NVML_ERROR_NOT_SUPPORTED)
        return d.fan

    def nvmlDeviceGetPowerUsage(self, h):
        return self._dev(h).power_mw

    def nvmlDeviceGetPowerManagementLimit(self, h):
        return self._dev(h).limit_mw

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        return self._dev(h).energy_mj

    def nvmlDeviceGetViolationStatus(self, h, policy):
        return types.SimpleNamespace(violationTime=self._dev(h).violation_ns * (1 + policy))

    def nvmlDeviceGetMemoryInfo(self, h):
        d = self._dev(h)
        return types.SimpleNamespace(free=d.fb[0], used=d.fb[1], total=sum(d.fb))

    def nvmlDeviceGetUtilizationRates(self, h):
        d = self._dev(h)
        return types.SimpleNamespace(gpu=d.util[0], memory=d.util[1])

    def nvmlDeviceGetEncoderUtilization(self, h):
        self._dev(h)
        return [0, 167000]

    def nvmlDeviceGetDecoderUtilization(self, h):
        self._dev(h)
        return [0, 167000]

    def nvmlDeviceGetTotalEccErrors(self, h, etype, ctype):
        return self._dev(h).ecc[(etype, ctype)]

    def nvmlDeviceGetRetiredPages(self, h, cause):
        self._dev(h)
        raise NVMLError(real.NVML_ERROR_NOT_SUPPORTED)  # Ampere+ remaps rows instead

    def nvmlDeviceGetRetiredPagesPendingStatus(self, h):
        self._dev(h)
        raise NVMLError(real.NVML_ERROR_NOT_SUPPORTED)

    def nvmlDeviceGetRemappedRows(self, h):
        return self._dev(h).remapped

    def nvmlDeviceGetPcieReplayCounter(self, h):
        return self._dev(h).replay

    def nvmlDeviceGetCurrPcieLinkGeneration(self, h):
        return self._dev(h).link[0]

    def nvmlDeviceGetCurrPcieLinkWidth(self, h):
        return self._dev(h).link[1]

    def nvmlDeviceGetMaxPcieLinkGeneration(self, h):
        return self._dev(h).link[2]

    def nvmlDeviceGetMaxPcieLinkWidth(self, h):
        return self._dev(h).link[3]

    def nvmlDeviceGetPcieThroughput(self, h, counter):
        self._dev(h)
        return 1000  # KB/s

    def nvmlDeviceGetNvLinkState(self, h, link):
        d = self._dev(h)
        if link >= d.nvlinks:
            raise NVMLError(real.NVML_ERROR_INVALID_ARGUMENT)
        return real.NVML_FEATURE_ENABLED

    def nvmlDeviceGetNvLinkErrorCounter(self, h, link, counter):
        return self._dev(h).nvlink_errors

    def nvmlDeviceGetCurrentClocksEventReasons(self, h):
        return self._dev(h).reasons

    # MIG
    def nvmlDeviceGetMigMode(self, h):
        if not h.mig:
            raise NVMLError(real.NVML_ERROR_NOT_SUPPORTED)
        return (1, 1)

    def nvmlDeviceGetMaxMigDeviceCount(self, h):
        return 7

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h, i):
        if i >= len(h.mig):
            raise NVMLError(real.NVML_ERROR_NOT_FOUND)
        return h.mig[i]

    def nvmlDeviceGetGpuInstanceId(self, h):
        return h.gi_id

    # GPM (profiling)
    def nvmlGpmQueryDeviceSupport(self, h):
        return types.SimpleNamespace(isSupportedDevice=1 if self._dev(h).gpm else 0)

    def nvmlGpmSampleAlloc(self):
        address = 0x1000 + 16 * (len(self.gpm_samples) + sum(1 for _ in self.gpm_samples) + 1)
        while address in self.gpm_samples:
            address += 16
        self.gpm_samples[address] = None
        return ctypes.cast(ctypes.c_void_p(address), real.c_nvmlGpmSample_t)

    def nvmlGpmSampleGet(self, h, sample):
        self.gpm_samples[ctypes.cast(sample, ctypes.c_void_p).value] = self._dev(h)
        return sample

    def nvmlGpmSampleFree(self, sample):
        del self.gpm_samples[ctypes.cast(sample, ctypes.c_void_p).value]

    def nvmlGpmMetricsGet(self, request):
        first = self.gpm_samples[ctypes.cast(request.sample1, ctypes.c_void_p).value]
        device = self.gpm_samples[ctypes.cast(request.sample2, ctypes.c_void_p).value]
        assert first is device, "two samples of different GPUs"
        for i in range(request.numMetrics):
            metric = request.metrics[i]
            if metric.metricId in device.gpm:
                metric.value, metric.nvmlReturn = device.gpm[metric.metricId], real.NVML_SUCCESS
            else:
                metric.value, metric.nvmlReturn = 0.0, real.NVML_ERROR_NOT_SUPPORTED
        return request

    # XID events
    def nvmlEventSetCreate(self):
        return object()

    def nvmlDeviceRegisterEvents(self, h, types_, event_set):
        pass

    def nvmlEventSetWait_v2(self, event_set, timeout_ms):
        try:
            device, xid = self.events.get(timeout=timeout_ms / 1000)
        except queue.Empty:
            raise NVMLError(real.NVML_ERROR_TIMEOUT) from None
        return types.SimpleNamespace(device=device, eventData=xid)

    def emit_xid(self, device_index: int, xid: int) -> None:
        self.events.put((self.devices[device_index], xid))
