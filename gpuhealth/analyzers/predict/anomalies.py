"""Anomalies beyond the rules' z-scores: a robust seasonal baseline per GPU, and comparison with peers.

For each signal, one fleet-wide range query over three days at 15-minute steps. A GPU's baseline for
the last hour is the median of the same time of day on the previous days (a robust seasonal-naive
baseline, which follows the daily inference cycle; with under two days of history, the median of what
there is), with the median absolute deviation as its scale. Peers are the GPUs of the same model;
their median and MAD of the last hour give a second score. The anomaly score of a signal is the
larger absolute robust z-score of the two.
"""

from __future__ import annotations

import warnings

import numpy as np

from gpuhealth.analyzers.promql import PromClient
from gpuhealth.catalog import ANOMALY_FIELDS

SIGNALS = {f.anomaly.signal: (f.name, f.anomaly.floor) for f in ANOMALY_FIELDS}  # signal -> (family, floor)
STEP = 900.0
SPAN = 3 * 86400.0
RECENT = 4  # points: the last hour


def robust_z(values: np.ndarray, center: np.ndarray, spread: np.ndarray, floor: float) -> np.ndarray:
    """(values - center) / (1.4826 * MAD), with a floor on the scale."""
    return (values - center) / np.maximum(1.4826 * spread, floor)


def own_baseline(matrix: np.ndarray, per_day: int) -> tuple[np.ndarray, np.ndarray]:
    """(center, spread) of each row's history before its last hour, seasonal when 2+ days exist."""
    history = matrix[:, :-RECENT]
    days = history.shape[1] // per_day
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if days >= 2:
            # the same time of day as the last hour, on each previous day
            idx = np.concatenate([np.arange(matrix.shape[1] - RECENT, matrix.shape[1]) - d * per_day
                                  for d in range(1, days + 1)])
            idx = idx[idx >= 0]
            seasonal = matrix[:, idx]
            center = np.nanmedian(seasonal, axis=1)
            spread = np.nanmedian(np.abs(history - np.nanmedian(history, axis=1, keepdims=True)), axis=1)
        else:
            center = np.nanmedian(history, axis=1)
            spread = np.nanmedian(np.abs(history - center[:, None]), axis=1)
    return center, spread


def scores(client: PromClient, at: float, selector: str, model_of: dict[str, str]) -> dict[str, dict[str, float]]:
    """{UUID: {signal: anomaly score}} for every GPU with data in the last hour."""
    out: dict[str, dict[str, float]] = {}
    per_day = int(86400 / STEP)
    for signal, (metric, floor) in SIGNALS.items():
        _times, series = client.range_by_uuid(f"max by (UUID) ({metric}{{{selector}}})", at - SPAN, at, STEP)
        if not series:
            continue
        uuids = sorted(series)
        m = np.vstack([series[u] for u in uuids])
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: a GPU with no recent data
            recent = np.nanmean(m[:, -RECENT:], axis=1)
            center, spread = own_baseline(m, per_day)
            z_own = robust_z(recent, center, spread, floor)
            z_peer = np.full(len(uuids), np.nan)
            models = np.array([model_of.get(u, "") for u in uuids])
            for name in set(models):
                sel = models == name
                if sel.sum() >= 3:
                    med = np.nanmedian(recent[sel])
                    mad = np.nanmedian(np.abs(recent[sel] - med))
                    z_peer[sel] = robust_z(recent[sel], med, mad, floor)
            score = np.fmax(np.abs(z_own), np.abs(z_peer))
        for u, s in zip(uuids, score, strict=True):
            if not np.isnan(s):
                out.setdefault(u, {})[signal] = float(s)
    return out
