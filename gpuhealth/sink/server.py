"""The sink's HTTP endpoints: POST /api/v1/write (remote write 1.0 and 2.0), /-/healthy, /-/ready, /metrics."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gpuhealth.sink.decode import Limits, RequestError, decode, decompress, protocol_version
from gpuhealth.sink.writer import DatabaseUnavailable, Writer
from gpuhealth.web import GuardedHandler, GuardedServer, WebConfig, make_server

log = logging.getLogger("gpuhealth.sink")


@dataclass
class SinkMetrics:
    """The sink's own metrics."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter("gpuhealth_sink_requests_total", "Remote-write requests, by HTTP status.",
                                ["code"], registry=r)
        self.samples = Counter("gpuhealth_sink_samples_written_total", "Samples newly stored.", registry=r)
        self.duplicates = Counter("gpuhealth_sink_samples_duplicate_total",
                                  "Samples received again (a re-sent batch) and not stored twice.", registry=r)
        self.stale = Counter("gpuhealth_sink_stale_markers_total", "Stale markers received (not stored).",
                             registry=r)
        self.latency = Histogram("gpuhealth_sink_request_duration_seconds", "Time to decode and commit a request.",
                                 registry=r, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.db_up = Gauge("gpuhealth_sink_database_up", "Whether the database answered the last request.",
                           registry=r)


def make_handler(writer: Writer, limits: Limits, metrics: SinkMetrics, retry_after: int = 5):
    """The request handler class of a sink."""

    class SinkHandler(GuardedHandler):
        def handle_get(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/-/healthy":
                self.send_plain(200, b"OK\n")
            elif path == "/-/ready":
                ok = writer.ping()
                metrics.db_up.set(1 if ok else 0)
                self.send_plain(200 if ok else 503, b"OK\n" if ok else b"database unavailable\n")
            elif path == "/metrics":
                self.send_plain(200, generate_latest(metrics.registry), content_type="text/plain; version=0.0.4")
            elif path == "/":
                self.send_plain(200, b"gpuhealth sink: POST Prometheus remote write to /api/v1/write\n")
            else:
                self.send_plain(404, b"not found\n")

        def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            metrics.requests.labels(str(status)).inc()
            self.send_plain(status, body, headers)

        def handle_post(self) -> None:
            if self.path.split("?", 1)[0] != "/api/v1/write":
                self.send_plain(404, b"not found\n")
                return
            t0 = time.perf_counter()
            written = {"X-Prometheus-Remote-Write-Samples-Written": "0",
                       "X-Prometheus-Remote-Write-Histograms-Written": "0",
                       "X-Prometheus-Remote-Write-Exemplars-Written": "0"}
            length = int(self.headers.get("Content-Length") or 0)
            if length > limits.max_body_bytes:
                self.rfile.read(min(length, 64 * 1024 * 1024))  # drain a bounded amount, then refuse
                self.close_connection = True
                self._reply(413, f"body of {length} bytes exceeds {limits.max_body_bytes}\n".encode(), written)
                return
            body = self.rfile.read(length)
            try:
                version = protocol_version(self.headers.get("Content-Type"))
                batch = decode(decompress(body, self.headers.get("Content-Encoding"), limits), version, limits,
                               writer.cache)
            except RequestError as exc:
                self._reply(exc.status, (exc.message + "\n").encode(), written)
                return
            try:
                stored = writer.write(batch)
            except DatabaseUnavailable as exc:
                metrics.db_up.set(0)
                log.warning("database unavailable, asking the sender to retry: %s", exc)
                self._reply(503, b"database unavailable; retry later\n", {**written, "Retry-After": str(retry_after)})
                return
            metrics.db_up.set(1)
            metrics.samples.inc(stored)
            metrics.duplicates.inc(batch.sample_count - stored)
            metrics.stale.inc(batch.stale)
            metrics.latency.observe(time.perf_counter() - t0)
            written["X-Prometheus-Remote-Write-Samples-Written"] = str(batch.sample_count)
            if batch.histograms or batch.exemplars:
                # a partial write must not be acknowledged with 2xx: the floats are stored, the rest is not
                msg = (f"stored {batch.sample_count} float samples; {batch.histograms} native histograms and "
                       f"{batch.exemplars} exemplars are not supported and were not stored\n")
                self._reply(400, msg.encode(), written)
                return
            self._reply(204, b"", written)

    return SinkHandler


def serve(writer: Writer, listen_address: str, web_config: WebConfig | None = None, limits: Limits | None = None,
          max_requests: int = 64) -> tuple[GuardedServer, SinkMetrics]:
    """A sink HTTP server (call serve_forever) and its metrics."""
    metrics = SinkMetrics()
    server = make_server(make_handler(writer, limits or Limits(), metrics), listen_address, web_config, max_requests)
    return server, metrics


def serve_in_thread(server: GuardedServer) -> threading.Thread:
    """Run a server on a daemon thread."""
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    return t
