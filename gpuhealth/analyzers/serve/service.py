"""The analyzer as a service: cycles on a timer with backoff, and its HTTP endpoints.

When Prometheus is down or slow the last verdicts stay served with their age, the analyzer reports
itself unhealthy (/-/healthy answers 503, gpuhealth_analyzer_up is 0) and retries with backoff.
"""

from __future__ import annotations

import html
import json
import logging
import threading
from collections.abc import Callable
from urllib.parse import parse_qs, unquote

from gpuhealth.analyzers.cycle import Analyzer, NoGpusMatched
from gpuhealth.analyzers.inventory import InventoryError
from gpuhealth.analyzers.promql import PromQLError
from gpuhealth.analyzers.repairs import Repair, list_repairs
from gpuhealth.analyzers.serve import api
from gpuhealth.analyzers.serve.admin import MAX_FORM_BYTES, AdminPages, Reply, basic_auth_user
from gpuhealth.analyzers.serve.collector import VerdictCollector
from gpuhealth.analyzers.serve.exposition import render
from gpuhealth.analyzers.serve.openapi import openapi_document
from gpuhealth.analyzers.serve.reads import PrometheusReads
from gpuhealth.analyzers.store import store_result
from gpuhealth.web import GuardedHandler, GuardedServer, WebConfig, make_server

log = logging.getLogger("gpuhealth.analyzers")


class AnalyzerService:
    """Runs an Analyzer every interval, backing off (up to 8x) while cycles fail, and stores each result."""

    def __init__(self, analyzer: Analyzer, interval: float, collector: VerdictCollector,
                 dsn: str | None = None) -> None:
        self.analyzer = analyzer
        self.dsn = dsn  # where each cycle's verdicts are stored (failure_predictions, recommendations)
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
        if self.dsn:
            try:
                store_result(self.dsn, self.collector.result)
            except Exception as exc:  # the verdicts are served all the same; the history misses this cycle
                self.collector.store_errors += 1
                log.warning("cannot store the cycle's verdicts: %s", exc)
        return True

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
            f"<p>State: {state}. <a href='metrics'>/metrics</a> <a href='api/v1/verdicts'>/api/v1/verdicts</a> "
            "<a href='admin'>admin</a></p>"
            f"<table border=1 cellpadding=3><tr>{head}</tr>{''.join(rows)}</table></body></html>").encode()


def _api(collector: VerdictCollector, reads: PrometheusReads | None, path: str, query: dict[str, list[str]],
         thresholds: tuple[float, float], repairs: Callable[[str], list[Repair]] | None = None) -> dict:
    """The document of one /api/v1 request; ApiError names what was wrong."""
    if path == "/api/v1/openapi.json":
        return openapi_document()
    r = collector.result
    if r is None:
        raise api.ApiError(503, "no verdicts yet: the analyzer's first cycle has not finished")
    scores = reads.health_scores() if reads is not None else {}
    inventory = collector.inventory
    if path == "/api/v1/gpus":
        return api.list_gpus(api.gpu_rows(r, inventory, scores), api.parse_gpu_filter(query))
    if path.startswith("/api/v1/gpus/"):
        uuid = unquote(path.removeprefix("/api/v1/gpus/"))
        if query:
            raise api.ApiError(400, f"unknown query parameters {sorted(query)}; this endpoint takes none")
        api.find_verdict(r, uuid)  # a UUID the analyzer knows, before anything reads Prometheus with it
        history = reads.history(uuid) if reads is not None else {}
        return api.gpu_detail(r, uuid, inventory, scores, history, _repairs_or_503(repairs, uuid))
    if path == "/api/v1/fleet/summary":
        if query:
            raise api.ApiError(400, f"unknown query parameters {sorted(query)}; this endpoint takes none")
        return api.fleet_summary(r, scores, *thresholds)
    if path == "/api/v1/anomalies":
        return api.anomaly_list(r, query)
    if path == "/api/v1/health-scores":
        return api.health_score_list(r, scores, query)
    raise api.ApiError(404, f"{path}: no such endpoint (see /api/v1/openapi.json)")


def _internal_error(path: str, exc: Exception) -> Reply:
    """The reply to an admin request that failed unexpectedly, logged with its traceback."""
    log.exception("admin request %s failed", path)
    return Reply(500, f"internal error: {type(exc).__name__}\n".encode(), "text/plain; charset=utf-8")


def _repairs_or_503(repairs: Callable[[str], list[Repair]] | None, uuid: str) -> list[Repair]:
    try:
        return repairs(uuid) if repairs is not None else []
    except InventoryError as exc:  # the database is down: the rest of the record is still known, but say so
        raise api.ApiError(503, f"cannot read gpu_repairs: {exc}") from None


def serve(collector: VerdictCollector, listen: str, web_config: WebConfig | None = None,
          reads: PrometheusReads | None = None, thresholds: tuple[float, float] = (0.5, 0.5),
          admin: AdminPages | None = None) -> GuardedServer:
    """The analyzer's HTTP server: /, /metrics, the JSON API under /api/v1 (its OpenAPI document at
    /api/v1/openapi.json), the admin page under /admin, /-/healthy, /-/ready. ``thresholds``: the 7-day
    probability that counts a GPU at risk and the health score below which it counts as unhealthy, in the
    fleet summary."""
    repairs = (lambda uuid: list_repairs(admin.dsn, uuid)) if admin is not None and admin.dsn else None

    class Handler(GuardedHandler):
        def _send(self, reply: Reply) -> None:
            self.send_plain(reply.status, reply.body, reply.headers, content_type=reply.content_type)

        def handle_post(self) -> None:
            path = self.path.partition("?")[0]
            if admin is None or not path.startswith("/admin/"):
                self.send_plain(405, b"method not allowed\n")
                return
            try:
                length = int(self.headers.get("Content-Length", "-1"))
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_FORM_BYTES:
                self.send_plain(411 if length < 0 else 413, b"a form needs a Content-Length of at most 8 MiB\n",
                                {"Connection": "close"})
                self.close_connection = True
                return
            body = self.rfile.read(length)
            try:
                reply = admin.post(path, self.headers.get("Content-Type", ""), body,
                                   basic_auth_user(self.headers.get("Authorization")), self.headers.get("Origin"),
                                   self.headers.get("Host"))
            except Exception as exc:  # a bug, or the database down: say so, keep serving
                reply = _internal_error(path, exc)
            self._send(reply)

        def handle_get(self) -> None:
            path, _, qs = self.path.partition("?")
            if admin is not None and (path == "/admin" or path.startswith("/admin/")):
                try:
                    query = parse_qs(qs, keep_blank_values=True, strict_parsing=False)
                    reply = admin.get(path, query, basic_auth_user(self.headers.get("Authorization")))
                except Exception as exc:
                    reply = _internal_error(path, exc)
                self._send(reply)
            elif path.startswith("/api/v1/") and path != "/api/v1/verdicts":
                try:
                    query = parse_qs(qs, keep_blank_values=True, strict_parsing=False)
                    body, status = _api(collector, reads, path, query, thresholds, repairs), 200
                except api.ApiError as exc:
                    body, status = {"error": exc.message}, exc.status
                except Exception as exc:  # a bug must not take the service down: say so, keep serving
                    log.exception("API request %s failed", path)
                    body, status = {"error": f"internal error: {type(exc).__name__}"}, 500
                self.send_plain(status, json.dumps(body, allow_nan=False).encode(), content_type="application/json")
            elif path == "/metrics":
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
