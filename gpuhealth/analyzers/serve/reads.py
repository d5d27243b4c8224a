"""What the API reads from Prometheus beside the cycle's result: the health scores the rules recorded, and a
GPU's recent history of its key signals."""

from __future__ import annotations

import logging
import math
import threading
import time

from gpuhealth.analyzers.promql import PromClient, PromQLError, promql_string
from gpuhealth.analyzers.serve.api import DIMENSIONS
from gpuhealth.catalog import FAMILY

log = logging.getLogger("gpuhealth.analyzers")
HISTORY_HOURS = 6.0
HISTORY_STEP = 60.0


class PrometheusReads:
    """Health scores (cached for ``ttl`` seconds; the last ones kept while Prometheus is down) and histories."""

    def __init__(self, client: PromClient, selector: str, ttl: float = 15.0) -> None:
        self.client = client
        self.selector = selector
        self.ttl = ttl
        self._scores: dict[str, dict[str, float]] = {}
        self._read_at = -math.inf
        self._lock = threading.Lock()

    def health_scores(self) -> dict[str, dict[str, float]]:
        """UUID -> "overall" and each dimension -> its recorded score."""
        with self._lock:
            if time.monotonic() - self._read_at < self.ttl:
                return self._scores
            try:
                scores: dict[str, dict[str, float]] = {}
                for key, expr in (("overall", "gpu:health:score"),
                                  *((d, f"gpu:health_{d}:score") for d in DIMENSIONS)):
                    for uuid, value in self.client.by_uuid(expr).items():
                        scores.setdefault(uuid, {})[key] = value
                self._scores, self._read_at = scores, time.monotonic()
            except PromQLError as exc:
                log.warning("health scores not read, serving the last ones: %s", exc)
            return self._scores

    def history(self, uuid: str, hours: float = HISTORY_HOURS) -> dict[str, list[list[float]]]:
        """The GPU's key signals over the last ``hours``: signal -> [[unix seconds, value], ...]."""
        who = f"{self.selector}, UUID={promql_string(uuid)}"
        signals = {"gpu_temp_celsius": f"{FAMILY.gpu_temp}{{{who}}}",
                   "memory_temp_celsius": f"{FAMILY.memory_temp}{{{who}}}",
                   "power_watts": f"{FAMILY.power_usage}{{{who}}}",
                   "utilization_percent": f"{FAMILY.gpu_util}{{{who}}}",
                   "sbe_per_hour": f"rate({FAMILY.ecc_sbe_agg}{{{who}}}[15m]) * 3600",
                   "pcie_replays_per_hour": f"rate({FAMILY.pcie_replay_counter}{{{who}}}[15m]) * 3600"}
        end = time.time()
        out: dict[str, list[list[float]]] = {}
        for name, expr in signals.items():
            try:
                times, series = self.client.range_by_uuid(f"max by (UUID) ({expr})", end - hours * 3600, end,
                                                          HISTORY_STEP)
            except PromQLError as exc:
                log.warning("history of %s not read: %s", name, exc)
                continue
            values = series.get(uuid)
            if values is not None:
                out[name] = [[float(t), float(v)] for t, v in zip(times, values, strict=True) if math.isfinite(v)]
        return out
