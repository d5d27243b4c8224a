"""The metric contract shared by every part of gpuhealth.

Everything in gpuhealth meets at metric names and labels. This module is the one
place that lists them: the DCGM field names the exporter speaks (so NVIDIA's dcgm-exporter and
ours are interchangeable), their Prometheus types, units and help texts, the per-GPU label names,
the NVML clock-event (throttle) reason bits and the XID codes with their severity class.

The simulator produces values keyed by :attr:`Field.key`; the exporter and the history writer
render them under :attr:`Field.name`; the rules and analyzers query :attr:`Field.name`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from types import SimpleNamespace


class MetricType(StrEnum):
    """Prometheus metric types used by the catalog."""

    GAUGE = "gauge"
    COUNTER = "counter"


@dataclass(frozen=True)
class Field:
    """One per-GPU telemetry field, as dcgm-exporter names it.

    ``key`` is the short name the simulator and backends use; ``name`` is the exposed metric
    name; ``dcgm_default`` says whether dcgm-exporter's default-counters.csv enables it;
    ``collector`` is the exporter collector that serves it; ``nvml`` names the NVML call that
    reads it on a real GPU.
    """

    key: str
    name: str
    type: MetricType
    unit: str
    help: str
    collector: str
    nvml: str
    dcgm_default: bool
    lo: float = 0.0  # physical range, used by validation rules and tests
    hi: float = float("inf")
    validated: bool = False  # the rules keep only samples within [lo, hi] (gpu:<name>:valid)
    anomaly: Anomaly | None = None  # a signal the rules and the analyzer score against its past and peers


@dataclass(frozen=True)
class Anomaly:
    """A gauge family scored for anomalies: the ``signal`` label value (gpuhealth_anomaly_score, and the rule
    groups' names with dashes) and the floor of its z-scores' scale, in the family's unit."""

    signal: str
    floor: float


G, C = MetricType.GAUGE, MetricType.COUNTER

# fmt: off
FIELDS: tuple[Field, ...] = (
    # clocks
    Field("sm_clock", "DCGM_FI_DEV_SM_CLOCK", G, "MHz", "SM clock frequency (in MHz).",
          "clocks", "nvmlDeviceGetClockInfo(NVML_CLOCK_SM)", True, 0, 5000, validated=True),
    Field("mem_clock", "DCGM_FI_DEV_MEM_CLOCK", G, "MHz", "Memory clock frequency (in MHz).",
          "clocks", "nvmlDeviceGetClockInfo(NVML_CLOCK_MEM)", True, 0, 15000),
    Field("max_sm_clock", "DCGM_FI_DEV_MAX_SM_CLOCK", G, "MHz", "Maximum SM clock frequency (in MHz).",
          "clocks", "nvmlDeviceGetMaxClockInfo(NVML_CLOCK_SM)", False, 0, 5000),
    # temperature
    Field("memory_temp", "DCGM_FI_DEV_MEMORY_TEMP", G, "C", "Memory temperature (in C).",
          "temperature", "nvmlDeviceGetFieldValues(NVML_FI_DEV_MEMORY_TEMP)", True, 0, 130, validated=True,
          anomaly=Anomaly("memory_temp", 1.0)),
    Field("gpu_temp", "DCGM_FI_DEV_GPU_TEMP", G, "C", "GPU temperature (in C).",
          "temperature", "nvmlDeviceGetTemperature(NVML_TEMPERATURE_GPU)", True, 0, 130, validated=True,
          anomaly=Anomaly("gpu_temp", 1.0)),
    Field("fan_speed", "DCGM_FI_DEV_FAN_SPEED", G, "%", "Fan speed (in 0-100%).",
          "temperature", "nvmlDeviceGetFanSpeed", False, 0, 100),
    Field("thermal_violation", "DCGM_FI_DEV_THERMAL_VIOLATION", C, "ns",
          "Throttling duration due to thermal constraints (in ns).",
          "clock_events", "nvmlDeviceGetViolationStatus(NVML_PERF_POLICY_THERMAL)", False),
    # power and energy
    Field("power_usage", "DCGM_FI_DEV_POWER_USAGE", G, "W", "Power draw (in W).",
          "power", "nvmlDeviceGetPowerUsage", True, 0, 2000, validated=True, anomaly=Anomaly("power", 10.0)),
    Field("power_mgmt_limit", "DCGM_FI_DEV_POWER_MGMT_LIMIT", G, "W", "Power management limit (in W).",
          "power", "nvmlDeviceGetPowerManagementLimit", False, 0, 2000),
    Field("total_energy", "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", C, "mJ",
          "Total energy consumption since boot (in mJ).",
          "power", "nvmlDeviceGetTotalEnergyConsumption", True),
    Field("power_violation", "DCGM_FI_DEV_POWER_VIOLATION", C, "ns",
          "Throttling duration due to power constraints (in ns).",
          "clock_events", "nvmlDeviceGetViolationStatus(NVML_PERF_POLICY_POWER)", False),
    # memory
    Field("fb_free", "DCGM_FI_DEV_FB_FREE", G, "MiB", "Framebuffer memory free (in MiB).",
          "memory", "nvmlDeviceGetMemoryInfo", True, 0, 1e7),
    Field("fb_used", "DCGM_FI_DEV_FB_USED", G, "MiB", "Framebuffer memory used (in MiB).",
          "memory", "nvmlDeviceGetMemoryInfo", True, 0, 1e7),
    # utilization
    Field("gpu_util", "DCGM_FI_DEV_GPU_UTIL", G, "%", "GPU utilization (in %).",
          "utilization", "nvmlDeviceGetUtilizationRates", True, 0, 100, validated=True),
    Field("mem_copy_util", "DCGM_FI_DEV_MEM_COPY_UTIL", G, "%", "Memory utilization (in %).",
          "utilization", "nvmlDeviceGetUtilizationRates", True, 0, 100),
    Field("enc_util", "DCGM_FI_DEV_ENC_UTIL", G, "%", "Encoder utilization (in %).",
          "utilization", "nvmlDeviceGetEncoderUtilization", True, 0, 100),
    Field("dec_util", "DCGM_FI_DEV_DEC_UTIL", G, "%", "Decoder utilization (in %).",
          "utilization", "nvmlDeviceGetDecoderUtilization", True, 0, 100),
    # ECC and retired pages
    Field("ecc_sbe_vol", "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", C, "errors",
          "Total number of single-bit volatile ECC errors.",
          "ecc", "nvmlDeviceGetTotalEccErrors(CORRECTED, VOLATILE_ECC)", False),
    Field("ecc_dbe_vol", "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", C, "errors",
          "Total number of double-bit volatile ECC errors.",
          "ecc", "nvmlDeviceGetTotalEccErrors(UNCORRECTED, VOLATILE_ECC)", False),
    Field("ecc_sbe_agg", "DCGM_FI_DEV_ECC_SBE_AGG_TOTAL", C, "errors",
          "Total number of single-bit persistent ECC errors.",
          "ecc", "nvmlDeviceGetTotalEccErrors(CORRECTED, AGGREGATE_ECC)", False),
    Field("ecc_dbe_agg", "DCGM_FI_DEV_ECC_DBE_AGG_TOTAL", C, "errors",
          "Total number of double-bit persistent ECC errors.",
          "ecc", "nvmlDeviceGetTotalEccErrors(UNCORRECTED, AGGREGATE_ECC)", False),
    Field("retired_sbe", "DCGM_FI_DEV_RETIRED_SBE", C, "pages",
          "Total number of retired pages due to single-bit errors.",
          "ecc", "nvmlDeviceGetRetiredPages(MULTIPLE_SINGLE_BIT_ECC_ERRORS)", False),
    Field("retired_dbe", "DCGM_FI_DEV_RETIRED_DBE", C, "pages",
          "Total number of retired pages due to double-bit errors.",
          "ecc", "nvmlDeviceGetRetiredPages(DOUBLE_BIT_ECC_ERROR)", False),
    Field("retired_pending", "DCGM_FI_DEV_RETIRED_PENDING", G, "pages",
          "Total number of pages pending retirement.",
          "ecc", "nvmlDeviceGetRetiredPagesPendingStatus", False, 0, 1e6),
    # row remapping
    Field("uncorrectable_remapped_rows", "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", C, "rows",
          "Number of remapped rows for uncorrectable errors",
          "row_remap", "nvmlDeviceGetRemappedRows", True),
    Field("correctable_remapped_rows", "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", C, "rows",
          "Number of remapped rows for correctable errors",
          "row_remap", "nvmlDeviceGetRemappedRows", True),
    Field("row_remap_failure", "DCGM_FI_DEV_ROW_REMAP_FAILURE", G, "bool",
          "Whether remapping of rows has failed",
          "row_remap", "nvmlDeviceGetRemappedRows", True, 0, 1),
    # PCIe
    Field("pcie_tx_throughput", "DCGM_FI_DEV_PCIE_TX_THROUGHPUT", C, "KB",
          "Total number of bytes transmitted through PCIe TX (in KB) via NVML.",
          "pcie", "nvmlDeviceGetPcieThroughput(NVML_PCIE_UTIL_TX_BYTES)", True),
    Field("pcie_rx_throughput", "DCGM_FI_DEV_PCIE_RX_THROUGHPUT", C, "KB",
          "Total number of bytes received through PCIe RX (in KB) via NVML.",
          "pcie", "nvmlDeviceGetPcieThroughput(NVML_PCIE_UTIL_RX_BYTES)", True),
    Field("pcie_replay_counter", "DCGM_FI_DEV_PCIE_REPLAY_COUNTER", C, "retries",
          "Total number of PCIe retries.",
          "pcie", "nvmlDeviceGetPcieReplayCounter", True),
    Field("pcie_link_gen", "DCGM_FI_DEV_PCIE_LINK_GEN", G, "generation", "PCIe current link generation.",
          "pcie", "nvmlDeviceGetCurrPcieLinkGeneration", False, 1, 6),
    Field("pcie_link_width", "DCGM_FI_DEV_PCIE_LINK_WIDTH", G, "lanes", "PCIe current link width.",
          "pcie", "nvmlDeviceGetCurrPcieLinkWidth", False, 1, 32),
    Field("pcie_max_link_gen", "DCGM_FI_DEV_PCIE_MAX_LINK_GEN", G, "generation",
          "PCIe maximum link generation.",
          "pcie", "nvmlDeviceGetMaxPcieLinkGeneration", False, 1, 6),
    Field("pcie_max_link_width", "DCGM_FI_DEV_PCIE_MAX_LINK_WIDTH", G, "lanes", "PCIe maximum link width.",
          "pcie", "nvmlDeviceGetMaxPcieLinkWidth", False, 1, 32),
    # NVLink
    Field("nvlink_bandwidth_total", "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", C, "KiB",
          "Total number of NVLink bandwidth counters for all lanes",
          "nvlink", "nvmlDeviceGetNvLinkUtilizationCounter", True),
    Field("nvlink_crc_flit_errors", "DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL", C, "errors",
          "Total number of NVLink flow-control CRC errors.",
          "nvlink", "nvmlDeviceGetNvLinkErrorCounter(NVML_NVLINK_ERROR_DL_CRC_FLIT)", False),
    Field("nvlink_crc_data_errors", "DCGM_FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL", C, "errors",
          "Total number of NVLink data CRC errors.",
          "nvlink", "nvmlDeviceGetNvLinkErrorCounter(NVML_NVLINK_ERROR_DL_CRC_DATA)", False),
    Field("nvlink_replay_errors", "DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL", C, "errors",
          "Total number of NVLink retries.",
          "nvlink", "nvmlDeviceGetNvLinkErrorCounter(NVML_NVLINK_ERROR_DL_REPLAY)", False),
    Field("nvlink_recovery_errors", "DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL", C, "errors",
          "Total number of NVLink recovery errors.",
          "nvlink", "nvmlDeviceGetNvLinkErrorCounter(NVML_NVLINK_ERROR_DL_RECOVERY)", False),
    # XID and clock events
    Field("xid_errors", "DCGM_FI_DEV_XID_ERRORS", G, "code", "Value of the last XID error encountered.",
          "xid", "nvmlEventSetWait(nvmlEventTypeXidCriticalError)", True, 0, 1000),
    Field("clock_event_reasons", "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", G, "bitmask",
          "Current clock throttle reasons (bitmask of NVML clocks event reasons).",
          "clock_events", "nvmlDeviceGetCurrentClocksEventReasons", False, 0, 4095),
    # profiling (DCP): NVML's GPM metrics on Hopper and later, absent elsewhere
    Field("gr_engine_active", "DCGM_FI_PROF_GR_ENGINE_ACTIVE", G, "ratio",
          "Ratio of time the graphics engine is active.",
          "profiling", "nvmlGpmMetricsGet(NVML_GPM_METRIC_GRAPHICS_UTIL) / 100", True, 0, 1),
    Field("sm_active", "DCGM_FI_PROF_SM_ACTIVE", G, "ratio",
          "The ratio of cycles an SM has at least 1 warp assigned.",
          "profiling", "nvmlGpmMetricsGet(NVML_GPM_METRIC_SM_UTIL) / 100", False, 0, 1),
    Field("sm_occupancy", "DCGM_FI_PROF_SM_OCCUPANCY", G, "ratio",
          "The ratio of number of warps resident on an SM.",
          "profiling", "nvmlGpmMetricsGet(NVML_GPM_METRIC_SM_OCCUPANCY) / 100", False, 0, 1),
    Field("pipe_tensor_active", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", G, "ratio",
          "Ratio of cycles the tensor (HMMA) pipe is active.",
          "profiling", "nvmlGpmMetricsGet(NVML_GPM_METRIC_ANY_TENSOR_UTIL) / 100", True, 0, 1),
    Field("dram_active", "DCGM_FI_PROF_DRAM_ACTIVE", G, "ratio",
          "Ratio of cycles the device memory interface is active sending or receiving data.",
          "profiling", "nvmlGpmMetricsGet(NVML_GPM_METRIC_DRAM_BW_UTIL) / 100", True, 0, 1),
    Field("pipe_fp64_active", "DCGM_FI_PROF_PIPE_FP64_ACTIVE", G, "ratio",
          "Ratio of cycles the fp64 pipes are active.",
          "profiling", "nvmlGpmMetricsGet(NVML_GPM_METRIC_FP64_UTIL) / 100", False, 0, 1),
    Field("pipe_fp32_active", "DCGM_FI_PROF_PIPE_FP32_ACTIVE", G, "ratio",
          "Ratio of cycles the fp32 pipes are active.",
          "profiling", "nvmlGpmMetricsGet(NVML_GPM_METRIC_FP32_UTIL) / 100", False, 0, 1),
    Field("pipe_fp16_active", "DCGM_FI_PROF_PIPE_FP16_ACTIVE", G, "ratio",
          "Ratio of cycles the fp16 pipes are active.",
          "profiling", "nvmlGpmMetricsGet(NVML_GPM_METRIC_FP16_UTIL) / 100", False, 0, 1),
    Field("pcie_tx_bytes", "DCGM_FI_PROF_PCIE_TX_BYTES", G, "B/s",
          "The rate of data transmitted over the PCIe bus - including both protocol headers and data payloads - "
          "in bytes per second.",
          "profiling", "nvmlGpmMetricsGet(NVML_GPM_METRIC_PCIE_TX_PER_SEC) x 2^20", True, 0, 1e12),
    Field("pcie_rx_bytes", "DCGM_FI_PROF_PCIE_RX_BYTES", G, "B/s",
          "The rate of data received over the PCIe bus - including both protocol headers and data payloads - "
          "in bytes per second.",
          "profiling", "nvmlGpmMetricsGet(NVML_GPM_METRIC_PCIE_RX_PER_SEC) x 2^20", True, 0, 1e12),
    Field("nvlink_tx_bytes", "DCGM_FI_PROF_NVLINK_TX_BYTES", G, "B/s",
          "The rate of data transmitted over NVLink, not including protocol headers, in bytes per second.",
          "profiling", "nvmlGpmMetricsGet(NVML_GPM_METRIC_NVLINK_TOTAL_TX_PER_SEC) x 2^20", False, 0, 1e13),
    Field("nvlink_rx_bytes", "DCGM_FI_PROF_NVLINK_RX_BYTES", G, "B/s",
          "The rate of data received over NVLink, not including protocol headers, in bytes per second.",
          "profiling", "nvmlGpmMetricsGet(NVML_GPM_METRIC_NVLINK_TOTAL_RX_PER_SEC) x 2^20", False, 0, 1e13),
    # vGPU
    Field("vgpu_license_status", "DCGM_FI_DEV_VGPU_LICENSE_STATUS", G, "enum", "vGPU License status",
          "info", "nvmlDeviceGetVgpuLicenseStatus (vGPU guests only)", True, 0, 10),
)
# fmt: on

FIELDS_BY_KEY: dict[str, Field] = {f.key: f for f in FIELDS}
FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}

# Per-GPU label names, in dcgm-exporter's order (internal/pkg/rendermetrics/render_metrics.go).
# dcgm-exporter releases up to 4.8.2 (the current release) call the host label "Hostname";
# later code calls it "hostname". The exporter's --host-label flag switches.
HOST_LABEL = "Hostname"
DRIVER_LABEL = "DCGM_FI_DRIVER_VERSION"
GPU_LABELS: tuple[str, ...] = ("gpu", "UUID", "pci_bus_id", "device", "modelName", HOST_LABEL, DRIVER_LABEL)


@dataclass(frozen=True)
class GpuIdentity:
    """What identifies one GPU: the source of its labels and of gpuhealth_gpu_info."""

    index: int
    uuid: str
    model_name: str
    pci_bus_id: str
    hostname: str
    driver_version: str
    serial: str = ""
    vbios: str = ""

    def labels(self, host_label: str = HOST_LABEL, model: bool = True) -> dict[str, str]:
        """The per-GPU labels in dcgm-exporter's order and spelling.

        gpuhealth's own families leave out ``modelName`` (model=False): promtool's lint rejects its
        camelCase, and the model is one join away in gpuhealth_gpu_info{model=...}.
        """
        labels = {"gpu": str(self.index), "UUID": self.uuid, "pci_bus_id": self.pci_bus_id,
                  "device": f"nvidia{self.index}"}
        if model:
            labels["modelName"] = self.model_name
        labels[host_label] = self.hostname
        labels[DRIVER_LABEL] = self.driver_version
        return labels

    def info_labels(self, host_label: str = HOST_LABEL) -> dict[str, str]:
        """The labels of gpuhealth_gpu_info."""
        return {"gpu": str(self.index), "UUID": self.uuid, "serial": self.serial, "model": self.model_name,
                "vbios": self.vbios, "driver": self.driver_version, "pci_bus_id": self.pci_bus_id,
                host_label: self.hostname}


# NVML clocks-event (throttle) reason bits (nvml.h, nvmlClocksEventReason*), with the label value
# gpuhealth_clock_event_active{reason=...} uses (dcgm-exporter's DCGM_EXP_CLOCK_EVENTS_COUNT names).
CLOCK_EVENT_REASONS: dict[str, int] = {
    "gpu_idle": 0x1,
    "clocks_setting": 0x2,
    "power_cap": 0x4,
    "hw_slowdown": 0x8,
    "sync_boost": 0x10,
    "sw_thermal": 0x20,
    "hw_thermal": 0x40,
    "hw_power_brake": 0x80,
    "display_clocks": 0x100,
}


class XidSeverity(StrEnum):
    """How an XID bears on the GPU's health (NVIDIA's XID catalog, 'Resolution' column)."""

    CRITICAL = "critical"  # hardware fault: drain the node, reset or replace the GPU
    WARNING = "warning"  # may be hardware: watch for repetition
    APPLICATION = "application"  # the user's program, not the GPU


# XID codes gpuhealth knows (docs.nvidia.com/deploy/xid-errors). Others are exported as they come
# and classed "warning" by the rules.
XIDS: dict[int, tuple[XidSeverity, str]] = {
    13: (XidSeverity.APPLICATION, "Graphics engine exception"),
    31: (XidSeverity.APPLICATION, "GPU memory page fault"),
    43: (XidSeverity.APPLICATION, "GPU stopped processing"),
    45: (XidSeverity.APPLICATION, "Preemptive cleanup, due to previous errors"),
    48: (XidSeverity.CRITICAL, "Double-bit ECC error (DBE)"),
    61: (XidSeverity.WARNING, "Internal micro-controller breakpoint/warning"),
    62: (XidSeverity.CRITICAL, "Internal micro-controller halt"),
    63: (XidSeverity.WARNING, "ECC page retirement or row remapping recording event"),
    64: (XidSeverity.CRITICAL, "ECC page retirement or row remapper recording failure"),
    74: (XidSeverity.CRITICAL, "NVLink error"),
    79: (XidSeverity.CRITICAL, "GPU has fallen off the bus"),
    92: (XidSeverity.WARNING, "High single-bit ECC error rate"),
    94: (XidSeverity.WARNING, "Contained ECC error"),
    95: (XidSeverity.CRITICAL, "Uncontained ECC error"),
    119: (XidSeverity.CRITICAL, "GSP RPC timeout"),
    120: (XidSeverity.CRITICAL, "GSP error"),
}
XID_CODES: tuple[int, ...] = tuple(sorted(XIDS))


def xid_codes(severity: XidSeverity) -> tuple[int, ...]:
    """The XID codes of one severity class, ascending: what the rules and the analyzer count as critical
    or warning XIDs."""
    return tuple(c for c in XID_CODES if XIDS[c][0] is severity)


VALIDATED: tuple[Field, ...] = tuple(f for f in FIELDS if f.validated)
ANOMALY_FIELDS: tuple[Field, ...] = tuple(f for f in FIELDS if f.anomaly is not None)


# Per-GPU families that dcgm-exporter lacks, served by the exporter and written by the simulator's
# history mode under exactly these names. Their labels are GPU_LABELS without modelName (see
# GpuIdentity.labels) plus the extra label named.
GPU_UP = "gpuhealth_gpu_up"  # gauge: 1 when NVML answers for the GPU, 0 when it does not (off the bus)
XID_ERRORS_TOTAL = "gpuhealth_xid_errors_total"  # counter, + label "xid": XIDs seen, by code
CLOCK_EVENT_ACTIVE = "gpuhealth_clock_event_active"  # gauge, + label "reason": 1 when that bit is set
# gauge = 1; labels: gpu, UUID, serial, model, vbios, driver, pci_bus_id and the host label
GPU_INFO = "gpuhealth_gpu_info"
MIG_INSTANCE_INFO = "gpuhealth_mig_instance_info"
# the exporter's own health (node_exporter's per-collector success and duration)
EXPORTER_BUILD_INFO = "gpuhealth_exporter_build_info"
COLLECTOR_SUCCESS = "gpuhealth_exporter_collector_success"
COLLECTOR_DURATION = "gpuhealth_exporter_collector_duration_seconds"
LAST_POLL = "gpuhealth_exporter_last_poll_timestamp_seconds"
DCGM_PREFIX = "DCGM_FI_DEV_"  # what the device fields' names start with (the profiling fields': DCGM_FI_PROF_)


@dataclass(frozen=True)
class OwnFamily:
    """A family of gpuhealth's exporter that dcgm-exporter lacks: its type, unit, help text, the
    collector that serves it ("(always)": every poll) and where its values come from. The exporter,
    the history writer and docs/metrics.md read them here."""

    name: str
    type: MetricType
    unit: str
    help: str
    collector: str
    source: str


OWN_FAMILIES: dict[str, OwnFamily] = {f.name: f for f in (
    OwnFamily(GPU_UP, MetricType.GAUGE, "bool", "Whether NVML answers for the GPU (0: fallen off the bus or failing).",
              "(always)", "any per-GPU NVML call failing with NVML_ERROR_GPU_IS_LOST"),
    OwnFamily(XID_ERRORS_TOTAL, MetricType.COUNTER, "events",
              "XID errors reported by NVML events since the exporter started, by XID code.",
              "xid", "nvmlEventSetWait_v2 on nvmlEventTypeXidCriticalError (event thread)"),
    OwnFamily(CLOCK_EVENT_ACTIVE, MetricType.GAUGE, "bool",
              "Whether a clock-event (throttle) reason is active now (1) or not (0).",
              "clock_events", "nvmlDeviceGetCurrentClocksEventReasons, one series per bit"),
    OwnFamily(MIG_INSTANCE_INFO, MetricType.GAUGE, "info", "MIG GPU instances of each GPU; always 1.",
              "info", "nvmlDeviceGetMigDeviceHandleByIndex, nvmlDeviceGetGpuInstanceId"),
    OwnFamily(GPU_INFO, MetricType.GAUGE, "info", "Identity of each GPU; the value is always 1.",
              "info", "nvmlDeviceGetUUID, GetName, GetSerial, GetVbiosVersion, GetPciInfo; nvmlSystemGetDriverVersion"),
    OwnFamily(EXPORTER_BUILD_INFO, MetricType.GAUGE, "info", "Build of the gpuhealth exporter; always 1.",
              "(always)", "none (the exporter's version and backend)"),
    OwnFamily(COLLECTOR_SUCCESS, MetricType.GAUGE, "bool",
              "Whether the collector's last poll succeeded on every GPU that is up (1) or not (0).",
              "(always)", "none (outcome of each collector's NVML calls)"),
    OwnFamily(COLLECTOR_DURATION, MetricType.GAUGE, "seconds",
              "Time the collector's last poll took, summed over GPUs, in seconds.",
              "(always)", "none (wall time of each collector's NVML calls)"),
    OwnFamily(LAST_POLL, MetricType.GAUGE, "seconds",
              "When the values served were read, in Unix seconds.", "(always)", "none (time of the last poll)"),
)}

# Every per-GPU family's name by its key (a Field's key; gpu_up, xid_errors_total, clock_event_active,
# gpu_info): how the rules, the analyzer and the simulator name a family (FAMILY.gpu_temp), never by a
# string of their own (tests/test_contract.py fails on one).
FAMILY = SimpleNamespace(**{f.key: f.name for f in FIELDS}, gpu_up=GPU_UP, xid_errors_total=XID_ERRORS_TOTAL,
                         clock_event_active=CLOCK_EVENT_ACTIVE, gpu_info=GPU_INFO)

# Asset inventory families, exported by the analyzer from gpu_assets (or an inventory file).
ASSET_INFO = "gpuhealth_asset_info"  # gauge = 1; labels UUID, serial, model, datacenter, rack, node, owner
ASSET_PURCHASE_PRICE = "gpuhealth_asset_purchase_price_dollars"  # gauge; label UUID
ASSET_PURCHASE_TIMESTAMP = "gpuhealth_asset_purchase_timestamp_seconds"  # gauge; label UUID


@dataclass(frozen=True)
class Asset:
    """One GPU in the asset inventory (the gpu_assets table, assets.csv, gpuhealth_asset_info).

    The CSV form (the simulator's assets.csv, `gpuhealth assets import`) has these field names as
    its header, ``purchase_date`` as YYYY-MM-DD.
    """

    uuid: str
    serial: str
    model: str
    node: str
    datacenter: str
    rack: str
    purchase_date: str  # YYYY-MM-DD
    purchase_price_dollars: float
    status: str = "active"
    owner: str = ""


def age_days(purchase_date: str, at: float) -> float:
    """A GPU's age in days at ``at`` (Unix seconds), from its purchase date (YYYY-MM-DD, midnight UTC);
    NaN without a date. The one age the analyzer, the training rows and the economics read."""
    if not purchase_date:
        return math.nan
    bought = datetime.combine(date.fromisoformat(purchase_date), time(0), UTC).timestamp()
    return (at - bought) / 86400.0


ASSET_COLUMNS: tuple[str, ...] = ("uuid", "serial", "model", "node", "datacenter", "rack", "purchase_date",
                                  "purchase_price_dollars", "status", "owner")
