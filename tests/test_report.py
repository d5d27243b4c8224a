"""The fleet report against a real Prometheus scraping the economics gauges from a small HTTP server."""

from __future__ import annotations

import base64
import http.server
import re
import threading
import time
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from gpuhealth.analyzers.economics.pricing import load_pricing
from gpuhealth.analyzers.economics.valuation import GpuEconInput, economics_metric_families, value_fleet
from gpuhealth.analyzers.report import (
    FleetReport,
    GpuReport,
    ReportError,
    build_report,
    expected_failures_by_week,
    fetch_fleet,
    horizon_days,
)
from gpuhealth.catalog import Asset
from gpuhealth.cli import main

MODELS = ["NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB", "NVIDIA H200", "NVIDIA L40S"]


def fleet_exposition(n: int = 24) -> tuple[bytes, dict[str, float], list]:
    """Exposition text of the analyzer's gauges for n GPUs: economics families, failure probabilities from
    two models, and gpu:health:score as the recording rule would give it. Returns (text, p30 by UUID, vals)."""
    assets, gpus, p30s = {}, [], {}
    for i in range(n):
        uuid = f"GPU-{i:08x}-0000-0000-0000-000000000000"
        model = MODELS[i % 4]
        assets[uuid] = Asset(uuid=uuid, serial=str(i), model=model, node=f"node-{i // 8}", datacenter=f"dc{i % 2}",
                             rack="r1", purchase_date="2025-01-01", purchase_price_dollars=20000.0)
        sick = i % 5 == 0
        p30 = 0.9 if sick else 0.02 + 0.01 * (i % 3)
        p30s[uuid] = p30
        gpus.append(GpuEconInput(uuid=uuid, model=model, age_days=100.0 + 60 * i, utilization=0.8, power_watts=400.0,
                                 failure_probability_7d=p30 / 2, failure_probability_30d=p30,
                                 failure_mode="memory" if sick else None, retired_pages=0, remapped_rows=0))
    vals = value_fleet(gpus, load_pricing())
    prob = GaugeMetricFamily("gpuhealth_failure_probability", "p", labels=["UUID", "horizon", "model"])
    score = GaugeMetricFamily("gpu:health:score", "s", labels=["UUID", "Hostname", "modelName"])
    temp = GaugeMetricFamily("DCGM_FI_DEV_GPU_TEMP", "t", labels=["UUID"])
    for g in gpus:
        for model, scale in (("survival", 1.0), ("xgboost", 0.8)):
            prob.add_metric([g.uuid, "7d", model], g.failure_probability_7d * scale)
            prob.add_metric([g.uuid, "30d", model], g.failure_probability_30d * scale)
        score.add_metric([g.uuid, assets[g.uuid].node, g.model], 1.0 - g.failure_probability_30d)
        temp.add_metric([g.uuid], 55.0)

    class Collector:
        def collect(self):
            yield from economics_metric_families(vals, assets)
            yield prob
            yield score
            yield temp

    registry = CollectorRegistry()
    registry.register(Collector())
    return generate_latest(registry), p30s, vals


@pytest.fixture
def exposition_server():
    """A tiny HTTP server serving a fixed exposition on /metrics; yields (port, p30 by UUID, valuations)."""
    body, p30s, vals = fleet_exposition()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], p30s, vals
    server.shutdown()
    server.server_close()


@pytest.mark.integration
def test_report_from_real_prometheus(exposition_server, prometheus_factory, tmp_path):
    port, p30s, vals = exposition_server
    # the same exposition scraped as the analyzer and, for its GPU temperatures, as the exporter's job "dcgm"
    prom = prometheus_factory(scrape_configs=[
        {"job_name": job, "scrape_interval": "1s", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
        for job in ("gpuhealth-analyzer", "dcgm")])
    deadline = time.time() + 60
    while time.time() < deadline and (len(prom.query('gpuhealth_market_value_dollars{job="gpuhealth-analyzer"}'))
                                      < len(p30s) or len(prom.query('DCGM_FI_DEV_GPU_TEMP{job="dcgm"}')) < len(p30s)):
        time.sleep(0.5)
    with pytest.raises(ReportError, match=re.escape('selector job=~"gpuhealth|dcgm-exporter" matches no GPU')):
        fetch_fleet(prom.url)  # the rule spec's default selector names other jobs
    fleet = fetch_fleet(prom.url, selector='job="dcgm"')
    assert set(fleet.gpus) == set(p30s)
    by_uuid = {v.uuid: v for v in vals}
    for uuid, g in fleet.gpus.items():
        v = by_uuid[uuid]
        assert g.action == v.recommended_action
        assert g.market_value == pytest.approx(v.market_value_dollars)
        assert g.probability(30) == pytest.approx(p30s[uuid])  # the highest of the two models
        assert g.impact == pytest.approx(v.npv_dollars[v.recommended_action] - v.npv_dollars["keep"])
        assert g.health_score == pytest.approx(1.0 - p30s[uuid])

    out = tmp_path / "report.html"
    r = CliRunner().invoke(main, ["report", "--prometheus", prom.url, "--out", str(out), "--selector", 'job="dcgm"'])
    assert r.exit_code == 0, r.output
    html = out.read_text()
    risky = {u for u, g in fleet.gpus.items() if g.max_probability >= 0.5 or g.action != "keep"}
    assert len(risky) >= 4
    table = html.split('<table id="at-risk">', 1)[1].split("</table>", 1)[0]
    assert set(re.findall(r"GPU-[0-9a-f-]{36}", table)) == risky
    assert f"wrote {out}: {len(p30s)} GPUs, {len(risky)} at risk" in r.output
    # self-contained: three embedded PNG plots, nothing fetched from elsewhere
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 3 and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert not re.search(r'(src|href)="http', html)


def test_report_tolerates_missing_families_and_escapes():
    gpus = {"GPU-<b>": GpuReport(uuid="GPU-<b>", probabilities={7.0: 0.7, 30.0: 0.9}),
            "GPU-ok": GpuReport(uuid="GPU-ok", probabilities={30.0: 0.01}, action="keep", npv={"keep": 5.0},
                                market_value=100.0)}
    fleet = FleetReport(url="http://x", at=datetime(2026, 1, 1, tzinfo=UTC), gpus=gpus,
                        missing=["gpu:health:score"])
    html = build_report(fleet)
    assert "GPU-&lt;b&gt;" in html and "GPU-<b>" not in html
    assert "No series for: gpu:health:score" in html
    assert expected_failures_by_week(fleet) == pytest.approx([0.7, 0.2 * 7 / 23 + 0.01 * 7 / 23,
                                                              (0.2 + 0.01) * 7 / 23, (0.2 + 0.01) * 7 / 23,
                                                              (0.2 + 0.01) * 2 / 23])


def test_horizons_and_unreachable_prometheus():
    assert (horizon_days("7d"), horizon_days("24h"), horizon_days("2w"), horizon_days("soon")) == (7, 1, 14, None)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ReportError, match=f"127.0.0.1:{port}: cannot query Prometheus"):
        fetch_fleet(f"http://127.0.0.1:{port}")
