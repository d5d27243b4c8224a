"""Application XIDs (13, 31, 43) on busy GPUs: the user's program, not a fault of the GPU."""

from __future__ import annotations

import numpy as np


def xids(e, busy: np.ndarray, dt: float) -> None:
    """The step's application XIDs."""
    for code in (13, 31, 43):
        e.xid(code, e.poisson(np.where(busy, 0.002, 0.0), dt))
