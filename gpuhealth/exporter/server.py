"""The exporter's HTTP endpoints: a landing page, /metrics, /-/healthy and /-/ready."""

from __future__ import annotations

from gpuhealth.exporter.exposition import OPENMETRICS, TEXT
from gpuhealth.exporter.poller import Poller
from gpuhealth.web import GuardedHandler, GuardedServer, WebConfig, make_server

LANDING = b"""<html><head><title>gpuhealth exporter</title></head><body>
<h1>gpuhealth exporter</h1><p>GPU telemetry in NVIDIA dcgm-exporter's metric names, and gpuhealth's
health families.</p><ul><li><a href="metrics">/metrics</a></li><li><a href="-/healthy">/-/healthy</a></li>
<li><a href="-/ready">/-/ready</a></li></ul></body></html>
"""


def make_handler(poller: Poller) -> type[GuardedHandler]:
    """A request handler class serving the poller's latest exposition."""

    class ExporterHandler(GuardedHandler):
        def handle_get(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/":
                self.send_plain(200, LANDING, content_type="text/html; charset=utf-8")
            elif path == "/metrics":
                self._metrics()
            elif path == "/-/healthy":
                self.send_plain(200, b"OK\n")
            elif path == "/-/ready":
                ready = poller.latest is not None
                self.send_plain(200 if ready else 503, b"OK\n" if ready else b"no poll yet\n")
            else:
                self.send_plain(404, b"not found\n")

        def _metrics(self) -> None:
            exp = poller.latest
            if exp is None:
                self.send_plain(503, b"no poll yet\n")
                return
            om = "application/openmetrics-text" in self.headers.get("Accept", "")
            gz = "gzip" in self.headers.get("Accept-Encoding", "")
            body = (exp.openmetrics_gz if gz else exp.openmetrics) if om else (exp.text_gz if gz else exp.text)
            headers = {"Content-Encoding": "gzip"} if gz else {}
            self.send_plain(200, body, headers, content_type=OPENMETRICS if om else TEXT)

    return ExporterHandler


def serve(poller: Poller, listen_address: str, web_config: WebConfig | None, max_requests: int) -> GuardedServer:
    """An HTTP server for the exporter (not yet serving; call serve_forever)."""
    return make_server(make_handler(poller), listen_address, web_config, max_requests)
