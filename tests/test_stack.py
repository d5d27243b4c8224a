"""The real components start, answer and stop (the foundation every integration test stands on)."""

from __future__ import annotations

import http.server
import threading
import time
from datetime import UTC, datetime

import psycopg
import pytest
import requests

from gpuhealth import stack

pytestmark = pytest.mark.integration


class _Target(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"# TYPE demo_value gauge\ndemo_value{gpu=\"0\"} 42\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def target():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_prometheus_scrapes_a_target_and_answers_promql(prometheus_factory, target):
    prom = prometheus_factory(scrape_configs=[{"job_name": "t", "scrape_interval": "1s",
                                               "static_configs": [{"targets": [target]}]}])
    result = prom.wait_for('demo_value{job="t"} * 2', timeout=30)
    assert float(result[0]["value"][1]) == 84.0
    assert prom.query('up{job="t"}')[0]["value"][1] == "1"


def test_alertmanager_accepts_an_alert(alertmanager):
    alert = {"labels": {"alertname": "GpuTest", "UUID": "GPU-1"}, "annotations": {"summary": "x"},
             "startsAt": datetime.now(UTC).isoformat()}
    r = requests.post(f"{alertmanager.url}/api/v2/alerts", json=[alert], timeout=5)
    assert r.status_code == 200
    deadline = time.monotonic() + 10
    names: list[str] = []
    while time.monotonic() < deadline and "GpuTest" not in names:
        names = [a["labels"]["alertname"] for a in requests.get(f"{alertmanager.url}/api/v2/alerts",
                                                                 timeout=5).json()]
        time.sleep(0.2)
    assert "GpuTest" in names


def test_postgres_creates_a_hypertable(postgres):
    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute("CREATE TABLE m (time timestamptz NOT NULL, v double precision)")
        conn.execute("SELECT create_hypertable('m', 'time', chunk_time_interval => interval '1 day')")
        conn.execute("INSERT INTO m VALUES (now(), 1.5), (now() - interval '3 days', 2.5)")
        n = conn.execute("SELECT count(*) FROM timescaledb_information.chunks "
                         "WHERE hypertable_name = 'm'").fetchone()[0]
        assert n == 2
        bucket = conn.execute("SELECT sum(v) FROM (SELECT time_bucket('1 hour', time) b, avg(v) v "
                              "FROM m GROUP BY b) s").fetchone()[0]
        assert bucket == 4.0


def test_victoriametrics_answers_promql(victoriametrics_factory):
    vm = victoriametrics_factory()
    now_ms = int(time.time() * 1000)
    line = f'{{"metric":{{"__name__":"demo_value","gpu":"0"}},"values":[7],"timestamps":[{now_ms}]}}'
    requests.post(f"{vm.url}/api/v1/import", data=line, timeout=10).raise_for_status()
    vm.flush()
    deadline = time.monotonic() + 15
    result: list = []
    while time.monotonic() < deadline and not result:
        result = vm.query("demo_value * 3")
        time.sleep(0.2)
    assert result and float(result[0]["value"][1]) == 21.0


def test_missing_component_names_bootstrap(tmp_path):
    with pytest.raises(stack.ComponentMissing, match="scripts/bootstrap"):
        stack.find_binary("gpuhealth-no-such-binary", tmp_path / "nope")
