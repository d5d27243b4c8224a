"""A GPU's lives for training: a successful repair ends one and starts the next, so a repaired GPU counts
as a new one.

A life's rows begin when its windows hold only that life (a week after the repair that started it: the
analyzer's longest window) and end at its failure, or at the next repair (censored: it did not fail).
Rows after a failure and before its repair belong to no life.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from gpuhealth.analyzers.predict.features import LONGEST_WINDOW_SECONDS

SETTLE_SECONDS = LONGEST_WINDOW_SECONDS  # until a repair is this old, a row's windows mix two lives


@dataclass(frozen=True)
class Life:
    """One life of one GPU: its rows are the instants in [start, end); ``failed``: it ended by failing."""

    start: float
    end: float
    failed: bool
    precursor: bool = False


def lives(failures: Sequence[tuple[float, bool]], repairs: Sequence[float],
          settle: float = SETTLE_SECONDS) -> list[Life]:
    """The lives of one GPU from its failures ``(failed_at, precursor)`` and its successful repairs (Unix seconds)."""
    events = sorted([(t, 0, p) for t, p in failures] + [(t, 1, False) for t in repairs])
    out: list[Life] = []
    start: float | None = -math.inf  # None: failed, waiting for a repair
    for t, is_repair, precursor in events:
        if is_repair:
            if start is not None and t > start:  # a repair before any failure: that life ends, not failed
                out.append(Life(start, t, False))
            start = t + settle
        elif start is not None:
            if t > start:
                out.append(Life(start, t, True, bool(precursor)))
            start = None  # a second failure before a repair belongs to no life
    if start is not None:
        out.append(Life(start, math.inf, False))
    return out


def life_at(gpu_lives: Sequence[Life], t: float) -> Life | None:
    """The life that holds instant ``t``, or None when ``t`` falls between lives."""
    for life in gpu_lives:
        if life.start <= t < life.end:
            return life
    return None
