"""The simulated fleet as an NVML library: the calls the exporter's collectors make, answered from a
LiveFleet's snapshot in NVML's own units, so that the sim backend runs the same collectors as a real GPU.

Only what the collectors and the nvml backend call is here, with pynvml's names, constants and error
class. A GPU that has failed raises NVML_ERROR_GPU_IS_LOST on every call, as one fallen off the bus does;
a family the simulated GPU lacks (no fan on an HBM part) raises NVML_ERROR_NOT_SUPPORTED. Counters that
integrate over time are divided by the fleet's speed-up, so that their rates stay physical. XIDs are not
events here: the sim backend hands the fleet's counts to the nvml backend as its event thread would.
"""

from __future__ import annotations

import ctypes
import math
import types

import numpy as np
import pynvml as real

from gpuhealth.sim.live import LiveFleet, Snapshot

NVMLError = real.NVMLError
MIB = 1024 * 1024
# counters that integrate over time: divided by the speed-up (a GPU throttled half the time shows a
# violation rate of 0.5 s/s, not 0.5 x speedup)
TIME_INTEGRALS = ("total_energy", "power_violation", "thermal_violation", "pcie_tx_throughput", "pcie_rx_throughput",
                  "nvlink_bandwidth_total")
ECC = {(real.NVML_MEMORY_ERROR_TYPE_CORRECTED, real.NVML_VOLATILE_ECC): "ecc_sbe_vol",
       (real.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, real.NVML_VOLATILE_ECC): "ecc_dbe_vol",
       (real.NVML_MEMORY_ERROR_TYPE_CORRECTED, real.NVML_AGGREGATE_ECC): "ecc_sbe_agg",
       (real.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, real.NVML_AGGREGATE_ECC): "ecc_dbe_agg"}
NVLINK_ERRORS = {real.NVML_NVLINK_ERROR_DL_CRC_FLIT: "nvlink_crc_flit_errors",
                 real.NVML_NVLINK_ERROR_DL_CRC_DATA: "nvlink_crc_data_errors",
                 real.NVML_NVLINK_ERROR_DL_REPLAY: "nvlink_replay_errors",
                 real.NVML_NVLINK_ERROR_DL_RECOVERY: "nvlink_recovery_errors"}
# GPM metric -> (snapshot key, factor from the key's unit to GPM's: percent, MiB/s)
GPM = {real.NVML_GPM_METRIC_GRAPHICS_UTIL: ("gr_engine_active", 100.0),
       real.NVML_GPM_METRIC_SM_UTIL: ("sm_active", 100.0),
       real.NVML_GPM_METRIC_SM_OCCUPANCY: ("sm_occupancy", 100.0),
       real.NVML_GPM_METRIC_ANY_TENSOR_UTIL: ("pipe_tensor_active", 100.0),
       real.NVML_GPM_METRIC_DRAM_BW_UTIL: ("dram_active", 100.0),
       real.NVML_GPM_METRIC_FP64_UTIL: ("pipe_fp64_active", 100.0),
       real.NVML_GPM_METRIC_FP32_UTIL: ("pipe_fp32_active", 100.0),
       real.NVML_GPM_METRIC_FP16_UTIL: ("pipe_fp16_active", 100.0),
       real.NVML_GPM_METRIC_PCIE_TX_PER_SEC: ("pcie_tx_bytes", 1.0 / MIB),
       real.NVML_GPM_METRIC_PCIE_RX_PER_SEC: ("pcie_rx_bytes", 1.0 / MIB),
       real.NVML_GPM_METRIC_NVLINK_TOTAL_TX_PER_SEC: ("nvlink_tx_bytes", 1.0 / MIB),
       real.NVML_GPM_METRIC_NVLINK_TOTAL_RX_PER_SEC: ("nvlink_rx_bytes", 1.0 / MIB)}


class SimNvml(types.SimpleNamespace):
    """A stand-in for the pynvml module over a LiveFleet: ``refresh`` reads the fleet at the start of each poll,
    every call then answers from that one snapshot. A device handle is the GPU's index."""

    def __init__(self, fleet: LiveFleet, driver: str = "550.90.07") -> None:
        super().__init__()
        for name in dir(real):
            if name.startswith(("NVML_", "nvmlEventType", "c_nvml")):
                setattr(self, name, getattr(real, name))
        self.NVMLError = NVMLError
        self.fleet = fleet
        self.driver = driver
        self.snap: Snapshot | None = None
        self.values: dict[str, np.ndarray] = {}
        self._counters: dict[str, np.ndarray] = {}  # the PCIe counters at the previous refresh
        self._rates: dict[str, np.ndarray] = {}
        self._gpm: dict[int, int] = {}  # live GPM samples (their fake addresses) -> GPU index
        self._next_sample = 0x1000
        self.refresh()

    def refresh(self, dt: float = 0.0) -> None:
        """Read the fleet now, ``dt`` seconds after the previous refresh: the values every call answers until the
        next refresh (the PCIe rates are the counters' growth over ``dt``, as a collector integrates them)."""
        snap = self.fleet.snapshot()
        values = dict(snap.values)
        for key in TIME_INTEGRALS:
            values[key] = values[key] / self.fleet.speedup
        for key in ("pcie_tx_throughput", "pcie_rx_throughput"):  # NVML gives a rate, KB/s: the counter's slope
            previous = self._counters.get(key)
            self._rates[key] = (np.zeros_like(values[key]) if previous is None or dt <= 0
                                else np.maximum(values[key] - previous, 0.0) / dt)
            self._counters[key] = values[key]
        self.snap, self.values = snap, values

    def counters(self, key: str) -> np.ndarray:
        """A PCIe counter's value at the last refresh (the sim backend starts its collectors' totals there)."""
        return self._counters[key]

    # lifecycle and identity
    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        pass

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.driver

    def nvmlDeviceGetCount(self) -> int:
        return len(self.fleet.identities)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetUUID(self, h: int) -> str:
        return self.fleet.identities[h].uuid

    def nvmlDeviceGetName(self, h: int) -> str:
        return self.fleet.identities[h].model_name

    def nvmlDeviceGetPciInfo(self, h: int):
        return types.SimpleNamespace(busId=self.fleet.identities[h].pci_bus_id)

    def nvmlDeviceGetSerial(self, h: int) -> str:
        return self.fleet.identities[h].serial

    def nvmlDeviceGetVbiosVersion(self, h: int) -> str:
        return self.fleet.identities[h].vbios

    # readings
    def _get(self, h: int, key: str) -> float:
        if not self.snap.up[h]:
            raise NVMLError(real.NVML_ERROR_GPU_IS_LOST)
        v = float(self.values[key][h])
        if math.isnan(v):
            raise NVMLError(real.NVML_ERROR_NOT_SUPPORTED)
        return v

    def nvmlDeviceGetClockInfo(self, h: int, clock: int) -> float:
        return self._get(h, "sm_clock" if clock == real.NVML_CLOCK_SM else "mem_clock")

    def nvmlDeviceGetMaxClockInfo(self, h: int, clock: int) -> float:
        return self._get(h, "max_sm_clock" if clock == real.NVML_CLOCK_SM else "mem_clock")

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> float:
        return self._get(h, "gpu_temp")

    def nvmlDeviceGetFieldValues(self, h: int, ids: list[int]) -> list:
        out = []
        for fid in ids:
            key = {real.NVML_FI_DEV_MEMORY_TEMP: "memory_temp",
                   real.NVML_FI_DEV_NVLINK_BANDWIDTH_C0_TOTAL: "nvlink_bandwidth_total"}.get(fid)
            try:
                v = self._get(h, key) if key else math.nan
                ret = real.NVML_SUCCESS if key else real.NVML_ERROR_NOT_SUPPORTED
            except NVMLError as exc:
                if exc.value == real.NVML_ERROR_GPU_IS_LOST:
                    raise
                v, ret = math.nan, exc.value
            value = types.SimpleNamespace(uiVal=v, ullVal=v)
            out.append(types.SimpleNamespace(fieldId=fid, nvmlReturn=ret, value=value))
        return out

    def nvmlDeviceGetFanSpeed(self, h: int) -> float:
        return self._get(h, "fan_speed")

    def nvmlDeviceGetPowerUsage(self, h: int) -> float:
        return self._get(h, "power_usage") * 1000.0  # mW

    def nvmlDeviceGetPowerManagementLimit(self, h: int) -> float:
        return self._get(h, "power_mgmt_limit") * 1000.0

    def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> float:
        return self._get(h, "total_energy")

    def nvmlDeviceGetViolationStatus(self, h: int, policy: int):
        key = "power_violation" if policy == real.NVML_PERF_POLICY_POWER else "thermal_violation"
        return types.SimpleNamespace(violationTime=self._get(h, key))

    def nvmlDeviceGetCurrentClocksEventReasons(self, h: int) -> int:
        return int(self._get(h, "clock_event_reasons"))

    def nvmlDeviceGetVgpuLicenseStatus(self, h: int) -> float:
        return self._get(h, "vgpu_license_status")

    def nvmlDeviceGetMemoryInfo(self, h: int):
        free, used = self._get(h, "fb_free") * MIB, self._get(h, "fb_used") * MIB
        return types.SimpleNamespace(free=free, used=used, total=free + used)

    def nvmlDeviceGetUtilizationRates(self, h: int):
        return types.SimpleNamespace(gpu=self._get(h, "gpu_util"), memory=self._get(h, "mem_copy_util"))

    def nvmlDeviceGetEncoderUtilization(self, h: int) -> list:
        return [self._get(h, "enc_util"), 167000]

    def nvmlDeviceGetDecoderUtilization(self, h: int) -> list:
        return [self._get(h, "dec_util"), 167000]

    def nvmlDeviceGetTotalEccErrors(self, h: int, etype: int, ctype: int) -> float:
        return self._get(h, ECC[(etype, ctype)])

    def nvmlDeviceGetRetiredPages(self, h: int, cause: int) -> list:
        key = ("retired_dbe" if cause == real.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR else "retired_sbe")
        return [0] * int(self._get(h, key))

    def nvmlDeviceGetRetiredPagesPendingStatus(self, h: int) -> float:
        return self._get(h, "retired_pending")

    def nvmlDeviceGetRemappedRows(self, h: int) -> tuple:
        return (self._get(h, "correctable_remapped_rows"), self._get(h, "uncorrectable_remapped_rows"), 0,
                self._get(h, "row_remap_failure"))

    def nvmlDeviceGetPcieReplayCounter(self, h: int) -> float:
        return self._get(h, "pcie_replay_counter")

    def nvmlDeviceGetCurrPcieLinkGeneration(self, h: int) -> float:
        return self._get(h, "pcie_link_gen")

    def nvmlDeviceGetCurrPcieLinkWidth(self, h: int) -> float:
        return self._get(h, "pcie_link_width")

    def nvmlDeviceGetMaxPcieLinkGeneration(self, h: int) -> float:
        return self._get(h, "pcie_max_link_gen")

    def nvmlDeviceGetMaxPcieLinkWidth(self, h: int) -> float:
        return self._get(h, "pcie_max_link_width")

    def nvmlDeviceGetPcieThroughput(self, h: int, counter: int) -> float:
        key = "pcie_tx_throughput" if counter == real.NVML_PCIE_UTIL_TX_BYTES else "pcie_rx_throughput"
        self._get(h, key)
        return float(self._rates[key][h])

    def nvmlDeviceGetNvLinkState(self, h: int, link: int) -> int:
        # one link carries the simulated GPU's NVLink totals
        self._get(h, "nvlink_bandwidth_total")
        if link > 0:
            raise NVMLError(real.NVML_ERROR_INVALID_ARGUMENT)
        return real.NVML_FEATURE_ENABLED

    def nvmlDeviceGetNvLinkErrorCounter(self, h: int, link: int, counter: int) -> float:
        return self._get(h, NVLINK_ERRORS[counter])

    def nvmlDeviceGetMigMode(self, h: int):
        raise NVMLError(real.NVML_ERROR_NOT_SUPPORTED)

    # GPM (profiling): the values of the newer of the two samples
    def nvmlGpmQueryDeviceSupport(self, h: int):
        return types.SimpleNamespace(isSupportedDevice=int(not math.isnan(self._get_or_nan(h, "gr_engine_active"))))

    def _get_or_nan(self, h: int, key: str) -> float:
        try:
            return self._get(h, key)
        except NVMLError as exc:
            if exc.value == real.NVML_ERROR_GPU_IS_LOST:
                raise
            return math.nan

    def nvmlGpmSampleAlloc(self):
        self._next_sample += 16
        self._gpm[self._next_sample] = -1
        return ctypes.cast(ctypes.c_void_p(self._next_sample), real.c_nvmlGpmSample_t)

    def nvmlGpmSampleGet(self, h: int, sample):
        self._get_or_nan(h, "gr_engine_active")
        self._gpm[ctypes.cast(sample, ctypes.c_void_p).value] = h
        return sample

    def nvmlGpmSampleFree(self, sample) -> None:
        self._gpm.pop(ctypes.cast(sample, ctypes.c_void_p).value, None)

    def nvmlGpmMetricsGet(self, request):
        h = self._gpm[ctypes.cast(request.sample2, ctypes.c_void_p).value]
        for i in range(request.numMetrics):
            metric = request.metrics[i]
            key, factor = GPM.get(metric.metricId, (None, 0.0))
            v = self._get_or_nan(h, key) if key else math.nan
            if math.isnan(v):
                metric.value, metric.nvmlReturn = 0.0, real.NVML_ERROR_NOT_SUPPORTED
            else:
                metric.value, metric.nvmlReturn = v * factor, real.NVML_SUCCESS
        return request

    # XIDs come from the fleet's counts (the sim backend), not from events
    def nvmlEventSetCreate(self):
        raise NVMLError(real.NVML_ERROR_NOT_SUPPORTED)
