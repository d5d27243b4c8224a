"""The memory fault: SBE -> correctable remaps -> DBE / uncorrectable remaps -> remap failure, and the
look-alikes that resemble its start (an SBE burst, a one-off remap)."""

from __future__ import annotations

import numpy as np


def step(e, pm: np.ndarray, dt: float, t: float) -> np.ndarray:
    """Advance the memory counters and XIDs of engine ``e`` by dt at progress ``pm`` (0 where the GPU
    has no memory fault); returns the step's DBEs (the pages pending retirement follow them)."""
    f, n, rng, c = e.fleet, e.n, e.rng, e.counters
    benign = f.benign
    sbe = e.poisson(0.002 * e.noise + 60.0 * pm**2, dt)
    burst = (benign == "sbe_burst") & ~e._burst_done & (t >= f.benign_at)
    sbe += np.where(burst, rng.integers(50, 200, n), 0)
    e._burst_done |= burst
    corr_remap = e.poisson(np.where((pm > 0.3) & e.hbm, 0.4 * pm**2, 0.0), dt)
    one_off = (benign == "one_off_remap") & ~e._remap_done & (t >= f.benign_at)
    if one_off.any():  # a row or two remapped once, with a few SBEs, then nothing more
        corr_remap += np.where(one_off & e.hbm, rng.integers(1, 3, n), 0)
        sbe += np.where(one_off, rng.integers(2, 12, n), 0)
        e._remap_done |= one_off
    dbe = e.poisson(np.where(pm > 0.6, 0.12 * pm**3, 0.0), dt)
    for key, inc in (("ecc_sbe_vol", sbe), ("ecc_sbe_agg", sbe), ("ecc_dbe_vol", dbe), ("ecc_dbe_agg", dbe),
                     ("correctable_remapped_rows", corr_remap),
                     ("uncorrectable_remapped_rows", np.where(e.hbm, dbe, 0.0)),
                     ("retired_dbe", np.where(e.hbm, 0.0, dbe)),
                     ("retired_sbe", np.where(e.hbm, 0.0, e.poisson(0.05 * pm**2, dt)))):
        c[key] += inc
    e.xid(92, (sbe > 30) & (pm > 0))
    e.xid(63, corr_remap + np.where(e.hbm, dbe, 0.0))
    e.xid(48, dbe)
    e.xid(94, np.floor(dbe * 0.7))
    return dbe
