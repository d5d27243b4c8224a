"""The interconnect fault: PCIe replays and NVLink CRC, replay and recovery errors grow, the PCIe link
trains down in width and then in generation, XID 74. A noisy but stable link (a look-alike) has a high
noise level and no progress."""

from __future__ import annotations

import numpy as np


def step(e, pi: np.ndarray, dt: float) -> None:
    """Advance the interconnect counters, XIDs and link state of engine ``e`` by dt at progress ``pi``."""
    c, n, rng = e.counters, e.n, e.rng
    c["pcie_replay_counter"] += e.poisson(0.05 * e.noise + 40.0 * pi**2, dt)
    nv = e.nvlinks > 0
    c["nvlink_crc_flit_errors"] += e.poisson(np.where(nv, 0.5 * e.noise + 800.0 * pi**2, 0.0), dt)
    c["nvlink_crc_data_errors"] += e.poisson(np.where(nv, 0.1 * e.noise + 80.0 * pi**2, 0.0), dt)
    c["nvlink_replay_errors"] += e.poisson(np.where(nv, 0.05 + 40.0 * pi**2, 0.0), dt)
    c["nvlink_recovery_errors"] += e.poisson(np.where(nv, 2.0 * pi**2, 0.0), dt)
    e.xid(74, e.poisson(np.where(nv, 0.4 * pi**2, 0.0), dt))
    narrow = (pi > 0.5) & (rng.random(n) < dt / (6 * 3600))
    e.link_width = np.where(narrow, np.minimum(e.link_width, e.max_width / 2), e.link_width)
    slow = (pi > 0.75) & (rng.random(n) < dt / (6 * 3600))
    e.link_gen = np.where(slow, np.minimum(e.link_gen, e.max_gen - 1), e.link_gen)
