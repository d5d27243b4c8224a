"""The thermal fault: the GPU's thermal resistance grows (up to 40 % at failure), so its temperature at
equal power creeps up, crosses the slowdown temperature and throttles; at failure it shuts down."""

from __future__ import annotations

import numpy as np


def resistance_factor(pt: np.ndarray) -> np.ndarray:
    """The factor on each GPU's thermal resistance at progress ``pt`` (0 where it has no thermal fault)."""
    return 1.0 + 0.4 * pt
