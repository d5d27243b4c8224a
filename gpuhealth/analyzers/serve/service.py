"""The analyzer as a service: cycles on a timer with backoff, and its HTTP endpoints.

When Prometheus is down or slow the last verdicts stay served with their age, the analyzer reports
itself unhealthy (/-/healthy answers 503, gpuhealth_analyzer_up is 0) and retries with backoff.
"""

from __future__ import annotations

import html
import json
import logging
import threading

from gpuhealth.analyzers.cycle import Analyzer, NoGpusMatched
from gpuhealth.analyzers.promql import PromQLError
from gpuhealth.analyzers.serve.collector import VerdictCollector
from gpuhealth.analyzers.serve.exposition import render
from gpuhealth.web import GuardedHandler, GuardedServer, WebConfig, make_server

log = logging.getLogger("gpuhealth.analyzers")


class AnalyzerService:
    """Runs an Analyzer every interval, backing off (up to 8x) while cycles fail."""

    def __init__(self, analyzer: Analyzer, interval: float, collector: VerdictCollector) -> None:
        self.analyzer = analyzer
        self.interval = interval
        self.collector = collector
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="analyzer", daemon=True)

    def run_once(self) -> bool:
        """One cycle; True when it succeeded."""
        try:
            return self._cycle()
        finally:  # the client counts every query that failed, in any cycle
            self.collector.query_errors = self.analyzer.client.errors

    def _cycle(self) -> bool:
        try:
            self.collector.result = self.analyzer.run()
            self.collector.healthy = True
            return True
        except NoGpusMatched as exc:
            self.collector.cycles_failed += 1
            self.collector.healthy = False
            log.warning("analysis cycle found nothing to judge: %s", exc)
            return False
        except PromQLError as exc:
            self.collector.cycles_failed += 1
            self.collector.healthy = False
            log.warning("analysis cycle failed, serving the previous verdicts: %s", exc)
            return False
        except Exception:
            self.collector.cycles_failed += 1
            self.collector.healthy = False
            log.exception("analysis cycle failed, serving the previous verdicts")
            return False

    def start(self) -> None:
        """Start cycling in the background."""
        self._thread.start()

    def _run(self) -> None:
        delay = self.interval
        while not self._stop.is_set():
            ok = self.run_once()
            delay = self.interval if ok else min(delay * 2, self.interval * 8)
            self._stop.wait(delay)

    def stop(self) -> None:
        """Stop cycling."""
        self._stop.set()


def _page(collector: VerdictCollector) -> bytes:
    r = collector.result
    rows = []
    if r is not None:
        ranked = sorted(r.verdicts, key=lambda v: -v.probability.get(r.primary, {}).get("7d", -1.0))
        for v in ranked:
            p = v.probability.get(r.primary, {})
            action = v.valuation.recommended_action if v.valuation is not None else ""
            rows.append("<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in (
                v.uuid, v.model_name, v.status, f"{p.get('7d', float('nan')):.3f}", f"{p.get('30d', float('nan')):.3f}",
                ", ".join(n for n, _ in v.factors), action)) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("GPU", "model", "status", "p(fail 7d)", "p(fail 30d)", "factors",
                                             "action"))
    state = "healthy" if collector.healthy else "UNHEALTHY (serving the last verdicts)"
    return (f"<html><head><title>gpuhealth analyzer</title></head><body><h1>gpuhealth analyzer</h1>"
            f"<p>State: {state}. <a href='metrics'>/metrics</a> <a href='api/v1/verdicts'>/api/v1/verdicts</a></p>"
            f"<table border=1 cellpadding=3><tr>{head}</tr>{''.join(rows)}</table></body></html>").encode()


def serve(collector: VerdictCollector, listen: str, web_config: WebConfig | None = None) -> GuardedServer:
    """The analyzer's HTTP server: /, /metrics, /api/v1/verdicts, /-/healthy, /-/ready."""
    class Handler(GuardedHandler):
        def handle_get(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self.send_plain(200, render(collector.collect()), content_type="text/plain; version=0.0.4")
            elif path == "/api/v1/verdicts":
                body = json.dumps(collector.result.as_json() if collector.result else {"gpus": []}).encode()
                self.send_plain(200, body, content_type="application/json")
            elif path == "/-/healthy":
                self.send_plain(200 if collector.healthy else 503, b"OK\n" if collector.healthy else b"unhealthy\n")
            elif path == "/-/ready":
                ready = collector.result is not None
                self.send_plain(200 if ready else 503, b"OK\n" if ready else b"no verdicts yet\n")
            elif path == "/":
                self.send_plain(200, _page(collector), content_type="text/html; charset=utf-8")
            else:
                self.send_plain(404, b"not found\n")

    return make_server(Handler, listen, web_config)
