"""A PromQL client for Prometheus, Thanos/Mimir-style and VictoriaMetrics query APIs.

Instant and range queries with auth headers, timeouts, retries with exponential backoff on
network errors and 5xx/429, and partial responses (Thanos ``partial_response``, VictoriaMetrics
``isPartial``) reported as warnings rather than silently used.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import requests

log = logging.getLogger("gpuhealth.analyzers")


class PromQLError(RuntimeError):
    """A query failed; the message names the query and the server's error."""


class QueryRejected(PromQLError):
    """The server answered and refused the query (a bad expression, a limit): asking again will not help."""


def promql_string(text: str) -> str:
    """A PromQL double-quoted string literal holding ``text`` exactly."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


WARNINGS_KEPT = 100  # the latest warnings a client keeps (each is logged when it comes)


@dataclass
class PromClient:
    """Queries one Prometheus-compatible API."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.5
    queries: int = 0
    errors: int = 0  # queries that failed (after their retries)
    warnings: deque[str] = field(default_factory=lambda: deque(maxlen=WARNINGS_KEPT))  # the latest ones

    def __post_init__(self) -> None:
        self._lock = threading.Lock()  # queries may run from several threads (features.online)
        self.url = self.url.rstrip("/")
        self.session = requests.Session()
        self.session.headers.update(self.headers)

    def _get(self, path: str, params: dict) -> dict:
        delay = self.backoff
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            with self._lock:
                self.queries += 1
            try:
                r = self.session.get(f"{self.url}{path}", params=params, timeout=self.timeout)
                if r.status_code in (429, 502, 503, 504) or r.status_code >= 500:
                    raise PromQLError(f"HTTP {r.status_code}: {r.text[:200]}")
                body = r.json()
                if body.get("status") != "success":
                    with self._lock:
                        self.errors += 1
                    raise QueryRejected(f"query {params.get('query')!r} failed: {body.get('errorType')}: "
                                        f"{body.get('error')}")
                news = list(body.get("warnings", []) or [])
                if body.get("isPartial") or body.get("partial"):
                    news.append(f"partial response for {params.get('query')!r}")
                for w in news:
                    log.warning("query warning: %s", w)
                    self.warnings.append(w)  # deque.append is atomic
                return body["data"]
            except QueryRejected:
                raise
            except (requests.RequestException, ValueError, PromQLError) as exc:
                last = exc
                if attempt < self.retries:
                    time.sleep(delay)
                    delay *= 2
        with self._lock:
            self.errors += 1
        raise PromQLError(f"{self.url}{path} unreachable after {self.retries + 1} tries: {last}")

    def instant(self, expr: str, at: float | None = None) -> list[tuple[dict[str, str], float]]:
        """An instant vector as (labels, value) pairs."""
        params: dict = {"query": expr, "partial_response": "true"}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._get("/api/v1/query", params)
        if data.get("resultType") == "scalar":
            return [({}, float(data["result"][1]))]
        return [(r["metric"], float(r["value"][1])) for r in data.get("result", [])]

    def by_uuid(self, expr: str, at: float | None = None) -> dict[str, float]:
        """An instant vector keyed on its UUID label (series without one are skipped)."""
        out = {}
        for labels, value in self.instant(expr, at):
            uuid = labels.get("UUID")
            if uuid is not None and not math.isnan(value):
                out[uuid] = value
        return out

    def range_by_uuid(self, expr: str, start: float, end: float,
                      step: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """A range query as (timestamps, {UUID: values with NaN where missing})."""
        data = self._get("/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": step})
        times = np.arange(start, end + step / 2, step)
        out = {}
        for r in data.get("result", []):
            uuid = r["metric"].get("UUID")
            if uuid is None:
                continue
            series = np.full(len(times), np.nan)
            for t, v in r["values"]:
                i = round((float(t) - start) / step)
                if 0 <= i < len(times):
                    series[i] = float(v)
            out[uuid] = series
        return times, out

    def healthy(self) -> bool:
        """Whether the server answers a trivial query."""
        try:
            self.instant("vector(1)")
            return True
        except PromQLError:
            return False
