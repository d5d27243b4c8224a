"""Lifetime statistics of a fleet: Kaplan-Meier survival and a right-censored Weibull fit, to check the
hazard the simulator and the economics assume against a real fleet's lifetimes."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize


def kaplan_meier(durations: np.ndarray, died: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The share surviving past each time in ``at``, from lifetimes ``durations`` of which those with
    ``died`` false are censored (still alive, or taken out for another reason, when last seen)."""
    d = np.asarray(durations, dtype=float)
    e = np.asarray(died, dtype=bool)
    times = np.unique(d[e])
    if not len(times):
        return np.ones(len(np.atleast_1d(at)))
    at_risk = len(d) - np.searchsorted(np.sort(d), times, side="left")
    deaths = np.bincount(np.searchsorted(times, d[e]), minlength=len(times))
    surv = np.cumprod(1.0 - deaths / at_risk)
    idx = np.searchsorted(times, np.asarray(at, dtype=float), side="right")
    return np.where(idx == 0, 1.0, surv[np.maximum(idx - 1, 0)])


def fit_weibull(durations: np.ndarray, died: np.ndarray) -> tuple[float, float]:
    """Weibull shape and scale (in the durations' unit) by maximum likelihood on right-censored lifetimes."""
    d = np.maximum(np.asarray(durations, dtype=float), 1e-9)
    e = np.asarray(died, dtype=bool)
    if not e.any():
        raise ValueError("lifetimes: no death to fit a hazard to")

    def nll(theta: np.ndarray) -> float:
        k, lam = np.exp(theta)
        z = d / lam
        return float(-(np.log(k / lam) + (k - 1) * np.log(z))[e].sum() + (z ** k).sum())

    res = minimize(nll, np.array([0.0, np.log(np.median(d) * 2)]), method="Nelder-Mead",
                   options={"xatol": 1e-8, "fatol": 1e-8, "maxiter": 4000})
    k, lam = np.exp(res.x)
    return float(k), float(lam)


def weibull_survival(t: np.ndarray, shape: float, scale: float) -> np.ndarray:
    """The share of a Weibull population surviving past each time in ``t``."""
    return np.exp(-(np.asarray(t, dtype=float) / scale) ** shape)
