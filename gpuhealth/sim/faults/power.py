"""The power-delivery fault: draw spikes and oscillation, power-brake slowdowns (and the violation time
they add), XIDs 61 and 62."""

from __future__ import annotations

import numpy as np


def spikes(e, pp: np.ndarray, t: float) -> np.ndarray:
    """The relative excursion of each GPU's power demand at progress ``pp``."""
    return pp * (e.rng.normal(0, 0.18, e.n) + 0.12 * np.sin(t / 47.0))


def brake(e, pp: np.ndarray) -> np.ndarray:
    """Which GPUs engage their power brake this step."""
    return (pp > 0.3) & (e.rng.random(e.n) < pp**2 * 0.5)


def xids(e, pp: np.ndarray, dt: float) -> None:
    """The power fault's XIDs over dt."""
    e.xid(61, e.poisson(0.3 * pp**2, dt))
    e.xid(62, e.poisson(np.where(pp > 0.7, 0.1 * pp**3, 0.0), dt))
