"""PCIe: throughput counters, replays, link generation and width."""

from gpuhealth.exporter.collectors.base import Collector, optional, register


def read(nvml, h, state):
    """PCIe replay counter, current and maximum link generation and width, and TX/RX counters.

    NVML gives TX/RX as a rate (KB/s over a short sample); the counters integrate it over the
    time between polls, as dcgm-exporter's counters do.
    """
    out = {"pcie_replay_counter": nvml.nvmlDeviceGetPcieReplayCounter(h),
           "pcie_link_gen": nvml.nvmlDeviceGetCurrPcieLinkGeneration(h),
           "pcie_link_width": nvml.nvmlDeviceGetCurrPcieLinkWidth(h),
           "pcie_max_link_gen": nvml.nvmlDeviceGetMaxPcieLinkGeneration(h),
           "pcie_max_link_width": nvml.nvmlDeviceGetMaxPcieLinkWidth(h)}
    for key, counter in (("pcie_tx_throughput", nvml.NVML_PCIE_UTIL_TX_BYTES),
                         ("pcie_rx_throughput", nvml.NVML_PCIE_UTIL_RX_BYTES)):
        rate = optional(nvml, nvml.nvmlDeviceGetPcieThroughput, h, counter)
        if rate is not None:
            state.pcie_bytes[key] = state.pcie_bytes.get(key, 0.0) + rate * state.dt
            out[key] = state.pcie_bytes[key]
    return out


register(Collector("pcie", "PCIe throughput, replays and link state", read))
