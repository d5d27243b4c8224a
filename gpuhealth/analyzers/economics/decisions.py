"""From a GPU's features and predicted probabilities to what its economics needs, and how good the
resulting decisions are against what really happened.

Pure functions: the analysis cycle values each GPU through ``econ_input``; training and the
prediction benchmark judge the recommended actions with ``decision_quality``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from gpuhealth.analyzers.economics.valuation import DEFAULT_AGE_DAYS, GpuEconInput

DAY = 86400.0
ACTING = ("repair", "decommission")  # the actions that take a GPU out of service
# the failure mode a GPU's top factor points at, for economics (repair cost and success by mode)
FACTOR_MODE = {
    "sbe_1d": "memory", "sbe_7d": "memory", "sbe_accel": "memory", "corr_remaps_7d": "memory",
    "unc_remaps": "memory", "dbe_7d": "memory", "remap_failure": "memory", "retired_dbe": "memory",
    "thermal_r_1d": "thermal", "thermal_r_trend": "thermal", "thermal_rise_1d": "thermal",
    "thermal_violation_frac": "thermal", "power_violation_frac": "power", "power_peak_ratio": "power",
    "brake_1d": "power",
    "pcie_replay_1d": "interconnect", "pcie_replay_7d": "interconnect", "pcie_accel": "interconnect",
    "nvlink_errors_1d": "interconnect", "downtrained": "interconnect", "xid_critical_1d": None,
    "xid_critical_7d": None, "xid_warning_1d": None, "xid_warning_7d": None,
}
# the features econ_input reads of a GPU
ECON_FEATURES: tuple[str, ...] = ("age_days", "power_1d", "remap_failure", "retired_dbe", "unc_remaps",
                                  "corr_remaps_7d", "xid_critical_1d")
THROTTLED_THERMAL = 0.05  # slowed by heat this share of the day beyond its host: a repair is of its cooling


def failure_mode(factors: Sequence[tuple[str, float]]) -> str | None:
    """The failure mode the first factor with one points at (memory, thermal, power, interconnect)."""
    return next((FACTOR_MODE[n] for n, _ in factors if FACTOR_MODE.get(n)), None)


MIN_UTILIZATION_DAYS = 1.0  # a GPU's own utilisation is read from this much history on


def utilization_measured(util_7d: np.ndarray, history_days: np.ndarray) -> np.ndarray:
    """Whether each GPU's utilisation is its own: known, over at least MIN_UTILIZATION_DAYS of history."""
    return (np.nan_to_num(history_days, nan=0.0) >= MIN_UTILIZATION_DAYS) & np.isfinite(util_7d)


def economic_utilization(util_7d: np.ndarray, history_days: np.ndarray) -> np.ndarray:
    """Each GPU's utilisation (0..1) for its economics: its week's mean; with less than a day of
    history, where one idle hour would read as an idle GPU, the fleet's median instead."""
    util = np.asarray(util_7d, dtype=float) / 100.0
    fleet = float(np.nanmedian(util)) if np.isfinite(util).any() else 0.0
    return np.where(utilization_measured(util, history_days), util, fleet)


def attributable_throttling(share: np.ndarray, hosts: Sequence[str], min_peers: int = 3) -> np.ndarray:
    """Each GPU's share of the day slowed by heat beyond the median of its host's GPUs (a hot room or
    rack slows them all and is not the GPU's own fault); against the fleet's median where a host has
    fewer than ``min_peers`` GPUs reporting it. NaN (not exported) reads as 0."""
    share = np.nan_to_num(np.asarray(share, dtype=float), nan=0.0)
    hosts = np.asarray(hosts, dtype=object)
    baseline = np.full(len(share), float(np.median(share)) if len(share) else 0.0)
    for host in set(hosts.tolist()) - {""}:
        mine = hosts == host
        if mine.sum() >= min_peers:
            baseline[mine] = np.median(share[mine])
    return np.clip(share - baseline, 0.0, 1.0)


def econ_input(uuid: str, model: str, row: Mapping[str, float], utilization: float, p7: float, p30: float,
               factors: Sequence[tuple[str, float]], failed: str = "", throttled: float = 0.0,
               utilization_measured: bool = True) -> GpuEconInput:
    """What the economics needs of one GPU, from its features (``row``: ECON_FEATURES -> value, NaN unknown).

    ``failed`` says how a GPU has already failed ("not reporting since ..."); a row remapping that has
    failed is such a failure too (the GPU is drained until it is reset or repaired), and so is a critical
    XID within the day (a double-bit error, a GPU off the bus, an NVLink or GSP fault: on ORNL Titan
    98 % of the GPUs with a DBE or off-the-bus event were taken out, benchmarks/titan.py; in the
    simulated training fleets 92 % of such GPU-days failed within the week)."""
    def value(name: str) -> float:
        v = row.get(name, math.nan)
        return 0.0 if v is None or math.isnan(v) else float(v)

    if not failed and value("remap_failure") >= 1:
        failed = "row remapping failed: the GPU needs a reset or repair"
    if not failed and value("xid_critical_1d") >= 1:
        failed = f"{value('xid_critical_1d'):.0f} critical XID(s) in the last day: the GPU needs a reset or repair"
    age = row.get("age_days", math.nan)
    mode = failure_mode(factors) or ("thermal" if throttled >= THROTTLED_THERMAL else None)
    return GpuEconInput(
        uuid=uuid, model=model, age_days=DEFAULT_AGE_DAYS if age is None or math.isnan(age) else float(age),
        utilization=float(utilization), power_watts=value("power_1d"), failure_probability_7d=float(p7),
        failure_probability_30d=float(p30),
        failure_mode=mode if (p30 >= 0.2 or failed or throttled >= THROTTLED_THERMAL) else None,
        retired_pages=value("retired_dbe"), remapped_rows=value("unc_remaps") + value("corr_remaps_7d"),
        failed=failed, throttled=float(throttled), utilization_measured=bool(utilization_measured))


def decision_quality(actions: Sequence[str], p7: np.ndarray, failed_at: np.ndarray, precursor: np.ndarray,
                     at: np.ndarray, uuid: np.ndarray | None = None) -> dict:
    """How the recommended actions fared, over GPU-instants not yet failed at their instant ``at``:

    - false actions: the share of healthy ones (no failure within 30 days) advised repair or decommission;
    - missed: the share of those failing within 7 days, after a precursor, that were advised keep;
    - expected against real failures: the sum of the 7-day probabilities against the failures within 7 days.

    With ``uuid``, also how many distinct GPUs those GPU-instants are (one failing GPU counts at each instant).
    """
    actions = np.asarray(actions, dtype=object)
    p7, failed_at, precursor, at = (np.asarray(a) for a in (p7, failed_at, precursor, at))
    live = failed_at > at
    healthy = live & (failed_at > at + 30 * DAY)
    soon = live & (failed_at <= at + 7 * DAY)
    soon_precursor = soon & precursor.astype(bool)
    acting = np.isin(actions, ACTING)
    expected, real = float(np.nansum(p7[live])), int(soon.sum())
    distinct = {} if uuid is None else {
        "gpus_failing_7d": len(set(np.asarray(uuid)[soon].tolist())),
        "gpus_failing_7d_with_precursor": len(set(np.asarray(uuid)[soon_precursor].tolist()))}
    return {"gpu_instants": int(live.sum()), "healthy": int(healthy.sum()),
            "false_actions": int((healthy & acting).sum()),
            "false_action_share": float((healthy & acting).sum() / max(healthy.sum(), 1)),
            "failing_7d_with_precursor": int(soon_precursor.sum()),
            "missed": int((soon_precursor & (actions == "keep")).sum()),
            "missed_share": (float((soon_precursor & (actions == "keep")).sum() / soon_precursor.sum())
                             if soon_precursor.any() else float("nan")),
            "expected_failures_7d": expected, "failures_7d": real,
            "expected_over_real": expected / real if real else float("nan"),
            "acted": int((live & acting).sum()), "sold": int((live & (actions == "sell")).sum()), **distinct}
