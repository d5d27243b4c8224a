"""The analyzer's JSON API: filters, sorting and pages, one GPU's whole record with its health scores and
history read from a real Prometheus, the fleet summary, anomalies, errors as JSON, and a property-based run
of every endpoint against the OpenAPI document it serves (schemathesis)."""

from __future__ import annotations

import http.server
import shutil
import threading

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings

from gpuhealth import stack
from gpuhealth.analyzers.promql import PromClient, promql_string
from gpuhealth.analyzers.serve.api import DIMENSIONS
from gpuhealth.analyzers.serve.collector import VerdictCollector
from gpuhealth.analyzers.serve.reads import PrometheusReads
from gpuhealth.analyzers.serve.service import serve
from gpuhealth.catalog import FAMILY
from tests.fleetdata import HOSTS, INVENTORY, UUIDS, result


class _Scores(http.server.BaseHTTPRequestHandler):
    """What the rules would have recorded and the exporter served, for Prometheus to scrape."""

    def do_GET(self):
        lines = []
        for i, u in enumerate(UUIDS[:4]):
            lines.append(f'gpu:health:score{{UUID="{u}",Hostname="{HOSTS[i]}"}} {1 - 0.2 * i}')
            lines += [f'gpu:health_{d}:score{{UUID="{u}"}} {1 - 0.1 * i}' for d in DIMENSIONS]
            lines.append(f'{FAMILY.gpu_temp}{{UUID="{u}",Hostname="{HOSTS[i]}"}} {60 + i}')
            lines.append(f'{FAMILY.power_usage}{{UUID="{u}",Hostname="{HOSTS[i]}"}} {300 + i}')
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def api_url():
    target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Scores)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    wd = stack.scratch_dir("api")
    prom = stack.Prometheus(workdir=wd / "prometheus", scrape_interval="1s", scrape_configs=[
        {"job_name": "gpuhealth", "static_configs": [{"targets": [f"127.0.0.1:{target.server_address[1]}"]}]}])
    prom.start()
    server = None
    try:
        prom.wait_for(f'{FAMILY.gpu_temp}{{job="gpuhealth"}}', min_results=4)
        prom.wait_for("gpu:health_reliability:score", min_results=4)
        collector = VerdictCollector(INVENTORY)
        collector.result = result()
        collector.healthy = True
        reads = PrometheusReads(PromClient(prom.url, timeout=10, retries=0), 'job="gpuhealth"', ttl=0.0)
        server = serve(collector, "127.0.0.1:0", None, reads, (0.1, 0.5))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield server.url.rstrip("/")
    finally:
        if server is not None:
            server.shutdown()
        prom.stop()
        target.shutdown()
        shutil.rmtree(wd, ignore_errors=True)


def _get(url: str, path: str, **params):
    r = requests.get(url + path, params=params, timeout=30)
    assert r.headers["Content-Type"] == "application/json"
    return r.status_code, r.json()


def test_gpus_are_filtered_sorted_and_paged(api_url):
    status, body = _get(api_url, "/api/v1/gpus")
    assert status == 200 and body["total"] == 6
    p7 = [g["failure_probability_7d"] for g in body["gpus"]]
    assert p7[:5] == sorted(p7[:5], reverse=True) and p7[5] is None, "descending, the unknown GPU last"
    _, hosts = _get(api_url, "/api/v1/gpus", host="node-b")
    assert {g["uuid"] for g in hosts["gpus"]} == set(UUIDS[2:4])
    _, sells = _get(api_url, "/api/v1/gpus", action="sell")
    assert [g["uuid"] for g in sells["gpus"]] == [UUIDS[3]]
    _, down = _get(api_url, "/api/v1/gpus", status="down", model="NVIDIA A100")
    assert [g["uuid"] for g in down["gpus"]] == [UUIDS[4]]
    _, page = _get(api_url, "/api/v1/gpus", sort="market_value_dollars", order="asc", limit=2, offset=1)
    assert page["total"] == 6 and [g["uuid"] for g in page["gpus"]] == [UUIDS[3], UUIDS[2]]
    _, scored = _get(api_url, "/api/v1/gpus", sort="health_score", order="asc")
    assert [g["uuid"] for g in scored["gpus"][:4]] == UUIDS[3::-1] and scored["gpus"][0]["health_score"] == 0.4
    assert scored["gpus"][0]["host"] == "node-b" and scored["gpus"][5]["host"] == "node-c"  # from the inventory


@pytest.mark.parametrize("params, expected", [
    ({"status": "broken"}, "status: expected one of judged, down, unknown"),
    ({"limit": "0"}, "limit: expected 1..1000"),
    ({"offset": "x"}, "offset: expected an integer"),
    ({"sort": "colour"}, "sort: expected one of"),
    ({"colour": "red"}, "unknown query parameters ['colour']"),
])
def test_bad_parameters_are_a_400_naming_them(api_url, params, expected):
    status, body = _get(api_url, "/api/v1/gpus", **params)
    assert status == 400 and expected in body["error"]


def test_one_gpu_carries_its_scores_prediction_value_and_history(api_url):
    status, g = _get(api_url, f"/api/v1/gpus/{UUIDS[2]}")
    assert status == 200
    assert g["health_scores"]["overall"] == pytest.approx(0.6)
    assert g["health_scores"]["memory"] == pytest.approx(0.8)
    assert g["prediction"]["xgboost"]["7d"] == pytest.approx(0.09) and g["primary_model"] == "xgboost"
    assert g["recommended_action"] == "repair" and g["npv_dollars"]["repair"] == 1000.0
    assert g["asset"]["rack"] == "r1" and g["drivers"] == ["driver 2"]
    assert g["factors"][0] == {"factor": "sbe_rate", "weight": 0.4}
    temps = g["history"]["gpu_temp_celsius"]
    assert temps and all(v == 62 for _, v in temps), "the GPU's own temperature, read from Prometheus"
    status, body = _get(api_url, "/api/v1/gpus/GPU-nope")
    assert status == 404 and "GPU-nope" in body["error"]


def test_the_fleet_summary_adds_up(api_url):
    _, s = _get(api_url, "/api/v1/fleet/summary")
    assert s["gpus"] == 6 and s["by_status"] == {"judged": 4, "down": 1, "unknown": 1}
    assert s["by_action"] == {"keep": 2, "repair": 1, "sell": 1, "decommission": 1}
    assert s["expected_failures_7d"] == pytest.approx(0.01 + 0.04 + 0.09 + 0.16)
    assert s["at_risk"] == 1 and s["health_below_threshold"] == 1
    assert s["npv_gain_dollars"] == pytest.approx(0 + 0 + 0 + 50.0 + 100.0)  # keep, keep, repair, sell, decommission


def test_anomalies_above_the_floor_and_health_scores(api_url):
    _, a = _get(api_url, "/api/v1/anomalies", min_score="3.5")
    assert [(x["uuid"], x["score"]) for x in a["anomalies"]] == [(UUIDS[4], 5.0), (UUIDS[3], 4.0)]
    status, body = _get(api_url, "/api/v1/anomalies", min_score="lots")
    assert status == 400 and "min_score" in body["error"]
    _, h = _get(api_url, "/api/v1/health-scores", uuid=UUIDS[1])
    assert h["gpus"] == [{"uuid": UUIDS[1], "overall": 0.8, **dict.fromkeys(DIMENSIONS, 0.9)}]
    status, _ = _get(api_url, "/api/v1/health-scores", uuid="GPU-nope")
    assert status == 404
    status, body = _get(api_url, "/api/v1/nothing")
    assert status == 404 and "openapi.json" in body["error"]


def test_before_the_first_cycle_the_api_says_so():
    server = serve(VerdictCollector({}), "127.0.0.1:0")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        status, body = _get(server.url.rstrip("/"), "/api/v1/gpus")
        assert status == 503 and "first cycle" in body["error"]
        status, doc = _get(server.url.rstrip("/"), "/api/v1/openapi.json")
        assert status == 200 and doc["openapi"].startswith("3.")
    finally:
        server.shutdown()


def test_promql_strings_hold_any_uuid_exactly():
    assert promql_string('a"b\\c') == '"a\\"b\\\\c"'


def test_every_endpoint_conforms_to_its_openapi_document(api_url):
    """Generated requests, valid and not, to every operation: each response matches the document the API
    serves, and none is a server error (schemathesis's checks, driven by hypothesis)."""
    schema = schemathesis.openapi.from_url(f"{api_url}/api/v1/openapi.json")
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) == 5
    for operation in operations:
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        @given(case=operation.as_strategy())
        def conforms(case):
            case.call_and_validate()

        conforms()
