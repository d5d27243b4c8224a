"""No sample lost, none duplicated: a real Prometheus remote-writes to the sink while PostgreSQL and
then the sink itself are stopped and restarted; the stored counts per metric equal Prometheus's own."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
import time

import psycopg
import pytest
import requests

from gpuhealth import stack
from gpuhealth.sink.migrate import migrate

pytestmark = pytest.mark.integration

METRICS = ("DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE", "gpuhealth_gpu_up")


class _Target(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        t = time.time()
        lines = []
        for name in METRICS:
            lines.append(f"# TYPE {name} gauge")
            lines += [f'{name}{{UUID="GPU-{i}",gpu="{i}"}} {t % 97 + i}' for i in range(5)]
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")  # Prometheus 3 requires it
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def _start_sink(dsn: str, port: int, log) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "gpuhealth", "sink", "--db", dsn, "--web.listen-address",
                             f"127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/-/healthy", timeout=1).status_code == 200:
                return proc
        except requests.ConnectionError:
            time.sleep(0.2)
    raise RuntimeError("sink did not start")


def test_database_and_sink_restarts_lose_and_duplicate_nothing(postgres_factory, prometheus_factory, workdir):
    target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    pg = postgres_factory()
    migrate(pg.dsn)
    port = stack.free_port()
    log = open(workdir / "sink.log", "wb")  # noqa: SIM115 - closed at the end
    sink = _start_sink(pg.dsn, port, log)
    prom = prometheus_factory(
        scrape_interval="1s",
        scrape_configs=[{"job_name": "t", "static_configs": [{"targets": [f"127.0.0.1:{target.server_address[1]}"]}]}],
        remote_write=[{"url": f"http://127.0.0.1:{port}/api/v1/write",
                       "queue_config": {"batch_send_deadline": "1s", "min_backoff": "100ms", "max_backoff": "1s",
                                        "max_samples_per_send": 200}}])
    try:
        t_start = time.time()
        time.sleep(6)
        pg.stop()  # database down: the sink answers 503 + Retry-After, Prometheus keeps the samples and retries
        time.sleep(6)
        pg.start()
        time.sleep(6)
        sink.kill()  # the sink crashes
        sink.wait()
        time.sleep(4)
        sink = _start_sink(pg.dsn, port, log)
        time.sleep(6)
        t_end = time.time() - 2
        window = int(t_end - t_start) + 1
        # let the remote-write queue drain (its retries back off up to a second or more)
        deadline = time.monotonic() + 60
        while True:
            with psycopg.connect(pg.dsn) as conn:
                stored = {m: conn.execute(
                    "SELECT count(*) FROM samples s JOIN series r ON r.id = s.series_id "
                    "WHERE r.metric = %s AND r.labels->>'job' = 't' AND s.time > to_timestamp(%s) "
                    "AND s.time <= to_timestamp(%s)", (m, t_end - window, t_end)).fetchone()[0] for m in METRICS}
            truth = {m: int(float(prom.query(f'sum(count_over_time({m}{{job="t"}}[{window}s]))',
                                             at=t_end)[0]["value"][1])) for m in METRICS}
            if stored == truth or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert stored == truth, f"stored {stored}, Prometheus has {truth}"
        assert all(v >= 5 * 20 for v in truth.values()), truth  # the run really covered the outages
        with psycopg.connect(pg.dsn) as conn:
            dup = conn.execute("SELECT count(*) - count(DISTINCT (series_id, time)) FROM samples").fetchone()[0]
        assert dup == 0
    finally:
        sink.terminate()
        sink.wait(10)
        log.close()
        target.shutdown()
