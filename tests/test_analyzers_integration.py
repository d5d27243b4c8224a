"""Analyzers on real components: backfilled simulator history, online vs offline features, outages."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
import time
from datetime import datetime

import numpy as np
import psycopg
import pytest
import requests

from gpuhealth.analyzers.cycle import Analyzer
from gpuhealth.analyzers.predict.features import FEATURES, offline, online
from gpuhealth.analyzers.predict.models import HeuristicModel
from gpuhealth.analyzers.promql import PromClient
from gpuhealth.analyzers.serve.collector import VerdictCollector
from gpuhealth.analyzers.serve.service import AnalyzerService, serve
from gpuhealth.catalog import Asset
from gpuhealth.exporter.backends.sim import SimBackend
from gpuhealth.exporter.collectors import COLLECTORS
from gpuhealth.exporter.exposition import Renderer
from gpuhealth.exporter.poller import Poller
from gpuhealth.exporter.server import serve as serve_exporter
from gpuhealth.sim.history import HistoryConfig, backfill, generate_history
from gpuhealth.sink.maintenance import refresh_rollups
from gpuhealth.sink.migrate import migrate
from gpuhealth.sink.server import serve as serve_sink
from gpuhealth.sink.writer import Writer

pytestmark = pytest.mark.integration
DAY = 86400.0


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """A 12-day history of 32 GPUs with many failures, backfilled into Prometheus blocks."""
    d = tmp_path_factory.mktemp("hist")
    end = float(int(time.time()) // 3600 * 3600)
    summary = generate_history(HistoryConfig(gpus=32, days=12, step_seconds=300, seed=21, end=end, hazard_scale=120),
                               d / "h", progress=False)
    backfill(d / "h", d / "tsdb", progress=False)
    truth = {}
    with open(d / "h" / "ground_truth.csv") as fh:
        for row in csv.DictReader(fh):
            truth[row["UUID"]] = (datetime.fromisoformat(row["failed_at"].replace("Z", "+00:00")).timestamp()
                                  if row["failed_at"] else np.inf, row["mode"])
    return d, summary, truth


def test_cycle_ranks_soon_failing_gpus_high_with_few_fleet_wide_queries(history, prometheus_factory):
    d, summary, truth = history
    prom = prometheus_factory(storage_path=d / "tsdb", retention="100y")
    at = summary["end"] - 5 * DAY
    ghost = Asset("GPU-not-reporting", "s", "NVIDIA H100 80GB HBM3", "n", "dc1", "r1", "2024-01-01", 30000.0)
    analyzer = Analyzer(PromClient(prom.url), {"heuristic": HeuristicModel()}, inventory={ghost.uuid: ghost})
    result = analyzer.run(at)
    # one query per feature, the models, three anomaly baselines, and one for when the GPUs down last reported
    assert result.queries <= len(FEATURES) + 5, "one query per feature, never one per GPU"
    by = {v.uuid: v for v in result.verdicts}
    assert by["GPU-not-reporting"].status == "unknown" and not by["GPU-not-reporting"].probability
    soon = [u for u, (t, mode) in truth.items() if at < t <= at + 5 * DAY and mode != "sudden"]
    healthy = [u for u, (t, _m) in truth.items() if t == np.inf]
    assert soon and healthy
    p = {u: v.probability["heuristic"]["7d"] for u, v in by.items() if v.status == "judged"}
    assert np.mean([p[u] for u in soon if u in p]) > 3 * np.mean([p[u] for u in healthy if u in p])
    gone = [u for u, (t, mode) in truth.items() if at - 6 * DAY < t < at - DAY and mode != "memory"]
    assert gone
    for u in gone:  # off the bus for days: down since its last telemetry, never "healthy"
        assert by[u].status == "down" and by[u].down_since == pytest.approx(truth[u][0], abs=600)
    judged = [v for v in result.verdicts if v.status == "judged"]
    assert any(v.anomaly for v in judged) and any(v.trends for v in judged)


def test_analyze_once_json_at_a_past_moment(history, prometheus_factory):
    d, summary, _truth = history
    prom = prometheus_factory(storage_path=d / "tsdb", retention="100y")
    at = datetime.fromtimestamp(summary["end"] - 3 * DAY).astimezone().isoformat()
    out = subprocess.run([sys.executable, "-m", "gpuhealth", "analyze", "--prometheus", prom.url, "--once", "--json",
                          "--at", at], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    generated = datetime.fromisoformat(doc["generated_at"].replace("Z", "+00:00")).timestamp()
    assert generated == pytest.approx(summary["end"] - 3 * DAY, abs=1) and len(doc["gpus"]) >= 28
    g = next(x for x in doc["gpus"] if x["status"] == "judged")
    for key in ("uuid", "failure_probability_7d", "failure_probability_30d", "remaining_useful_life_days",
                "anomaly_score", "factors", "market_value_dollars", "npv_dollars", "recommended_action"):
        assert key in g, key
    assert 0 <= g["failure_probability_7d"] <= g["failure_probability_30d"] <= 1


def test_prometheus_down_keeps_last_verdicts_and_marks_unhealthy(history, prometheus_factory):
    d, summary, _truth = history
    prom = prometheus_factory(storage_path=d / "tsdb", retention="100y")
    client = PromClient(prom.url, retries=1, backoff=0.05, timeout=2)
    collector = VerdictCollector()
    service = AnalyzerService(Analyzer(client, {"heuristic": HeuristicModel()}), 60, collector)
    service.analyzer.run = lambda at=None, run=service.analyzer.run: run(summary["end"] - DAY)
    assert service.run_once() and collector.healthy
    first = collector.result
    server = serve(collector, "127.0.0.1:0")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert requests.get(f"{server.url}/-/healthy", timeout=5).status_code == 200
        prom.stop()
        assert not service.run_once()
        assert collector.result is first and not collector.healthy
        assert requests.get(f"{server.url}/-/healthy", timeout=5).status_code == 503
        metrics = requests.get(f"{server.url}/metrics", timeout=5).text
        assert "gpuhealth_analyzer_up 0.0" in metrics and "gpuhealth_failure_probability{" in metrics
        assert "gpuhealth_analyzer_verdict_age_seconds" in metrics
    finally:
        server.shutdown()


def _sim_exporter(backend: SimBackend) -> tuple[Poller, object]:
    """The exporter on a simulated backend, polling every second and serving on a free port."""
    poller = Poller(backend, Renderer(backend.fleet.identities, "sim"), set(COLLECTORS), interval=1.0)
    poller.start()
    exporter = serve_exporter(poller, "127.0.0.1:0", None, 8)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    return poller, exporter


def test_online_and_offline_features_agree(prometheus_factory, postgres):
    """The same samples reach Prometheus (scrape) and TimescaleDB (remote write through the sink)."""
    migrate(postgres)
    sink, _ = serve_sink(Writer(postgres), "127.0.0.1:0")
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    poller, exporter = _sim_exporter(SimBackend(gpus=8, seed=2, speedup=60, degrading=2))
    try:
        prom = prometheus_factory(scrape_interval="2s", scrape_configs=[
            {"job_name": "gpuhealth", "static_configs": [{"targets": [exporter.url.split("//")[1]]}]}],
            remote_write=[{"url": f"{sink.url}/api/v1/write", "queue_config": {"batch_send_deadline": "1s"}}])
        now = time.time()
        t_end = (now // 60 + 2) * 60  # two whole minutes of data
        time.sleep(t_end - now + 8)
        with psycopg.connect(postgres, autocommit=True) as conn:
            refresh_rollups(conn)
            off = offline(conn, t_end)
        on = online(PromClient(prom.url), t_end)
        assert on.uuids == off.uuids and len(on.uuids) == 8
        compared = 0
        for f in FEATURES:
            a, b = on.columns[f.name], off.columns[f.name]
            both = ~np.isnan(a) & ~np.isnan(b)
            assert (np.isnan(a) == np.isnan(b)).all() or f.kind == "last", f.name
            if both.any():
                compared += 1
                assert np.allclose(a[both], b[both], rtol=0.02, atol=1e-6), (f.name, a, b)
        assert compared >= 10
    finally:
        exporter.shutdown()
        poller.stop()
        sink.shutdown()


def test_offline_growth_counts_from_a_counter_reset(postgres):
    """The SQL path reads a counter that dropped (a driver reload) as the PromQL path does: the growth
    over a window is the count since the reset, and an old counter's growth is its own."""
    from datetime import UTC

    migrate(postgres)
    at = float(int(time.time()) // 3600 * 3600 - DAY)
    steps = np.arange(at - 8 * DAY, at + 1, 300.0)
    with psycopg.connect(postgres, autocommit=True) as conn:
        ids = {}
        for gpu in ("GPU-r", "GPU-s"):
            for metric in ("DCGM_FI_DEV_ECC_SBE_AGG_TOTAL", "DCGM_FI_DEV_GPU_TEMP"):
                labels = json.dumps({"__name__": metric, "UUID": gpu, "job": "gpuhealth"})
                ids[gpu, metric] = conn.execute("INSERT INTO series (metric, labels, uuid) VALUES (%s, %s, %s) "
                                                "RETURNING id", (metric, labels, gpu)).fetchone()[0]
        rows = []
        for t in steps:
            ts = datetime.fromtimestamp(t, UTC)
            reset = 100 if t < at - 3 * DAY else 2 if t < at - DAY / 2 else 5  # reloaded 3 days ago
            steady = 10 if t < at - 3 * DAY else 14
            rows += [(ts, ids["GPU-r", "DCGM_FI_DEV_ECC_SBE_AGG_TOTAL"], reset),
                     (ts, ids["GPU-s", "DCGM_FI_DEV_ECC_SBE_AGG_TOTAL"], steady),
                     (ts, ids["GPU-r", "DCGM_FI_DEV_GPU_TEMP"], 50.0), (ts, ids["GPU-s", "DCGM_FI_DEV_GPU_TEMP"], 50.0)]
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO samples (time, series_id, value) VALUES (%s, %s, %s)", rows)
        refresh_rollups(conn, now=datetime.fromtimestamp(at + 600, UTC))
        frame = offline(conn, at)
    col = {n: dict(zip(frame.uuids, frame.columns[n], strict=True)) for n in ("sbe_7d", "sbe_1d")}
    assert col["sbe_7d"] == {"GPU-r": 5, "GPU-s": 4} and col["sbe_1d"] == {"GPU-r": 3, "GPU-s": 0}


def test_weekly_xid_counts_include_series_that_appeared_within_the_week(tmp_path, prometheus_factory):
    """The exporter's XID counter series appears with its first event: a week's count must include it,
    while a hardware counter first seen within the week counts only its growth since (not its lifetime total),
    and a counter reset by a driver reload counts from the reset."""
    from gpuhealth.sim.history import backfill

    at = float(int(time.time()) // 3600 * 3600 - DAY)
    base = 'job="gpuhealth",instance="n:9494"'
    lines = ["# TYPE gpuhealth_xid_errors counter"]
    steps = np.arange(at - 8 * DAY, at + 1, 300.0)
    for t in steps:  # GPU-a: first XID 63 two days ago (3 events), two more 12 hours ago
        if t >= at - 2 * DAY:
            lines.append(f'gpuhealth_xid_errors_total{{{base},UUID="GPU-a",xid="63"}} {3 if t < at - DAY / 2 else 5} '
                         f"{t:.0f}")
    for t in steps:  # GPU-b: an old series (4 events 8 days ago), two more 3 days ago
        lines.append(f'gpuhealth_xid_errors_total{{{base},UUID="GPU-b",xid="61"}} {4 if t < at - 3 * DAY else 6} '
                     f"{t:.0f}")
    lines.append("# TYPE DCGM_FI_DEV_ECC_SBE_AGG_TOTAL gauge")
    for t in steps[steps >= at - 2 * DAY]:  # a lifetime counter first seen two days ago, 3 more 12 hours ago
        lines.append(f'DCGM_FI_DEV_ECC_SBE_AGG_TOTAL{{{base},UUID="GPU-c"}} {40 if t < at - DAY / 2 else 43} {t:.0f}')
    for t in steps:  # GPU-d: 100 SBEs, a driver reload 3 days ago (the counter restarts at 2), 3 more 12 hours ago
        v = 100 if t < at - 3 * DAY else 2 if t < at - DAY / 2 else 5
        lines.append(f'DCGM_FI_DEV_ECC_SBE_AGG_TOTAL{{{base},UUID="GPU-d"}} {v} {t:.0f}')
    lines.append("# TYPE DCGM_FI_DEV_GPU_TEMP gauge")
    for t in steps:  # GPU-a's, b's and d's telemetry reaches back 8 days, GPU-c's (a GPU added lately) two
        for gpu in ("GPU-a", "GPU-b", "GPU-c", "GPU-d"):
            if gpu != "GPU-c" or t >= at - 2 * DAY:
                lines.append(f'DCGM_FI_DEV_GPU_TEMP{{{base},UUID="{gpu}"}} 50 {t:.0f}')
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "window-0.om").write_text("\n".join(lines) + "\n# EOF\n")
    backfill(tmp_path / "h", tmp_path / "tsdb", progress=False)
    prom = prometheus_factory(storage_path=tmp_path / "tsdb", retention="100y")
    frame = online(PromClient(prom.url), at)
    col = {name: dict(zip(frame.uuids, frame.columns[name], strict=True))
           for name in ("xid_warning_7d", "xid_warning_1d", "sbe_7d", "sbe_1d", "history_days")}
    assert {u: v for u, v in col["xid_warning_7d"].items() if not np.isnan(v)} == {"GPU-a": 5, "GPU-b": 2}
    assert {u: v for u, v in col["xid_warning_1d"].items() if not np.isnan(v)} == {"GPU-a": 2, "GPU-b": 0}
    assert col["sbe_7d"]["GPU-c"] == 3 and col["sbe_1d"]["GPU-c"] == 3
    # a counter that dropped was reset: the week's growth is the count since the reset, never negative
    assert col["sbe_7d"]["GPU-d"] == 5 and col["sbe_1d"]["GPU-d"] == 3
    assert col["history_days"] == {"GPU-a": 7, "GPU-b": 7, "GPU-c": 2, "GPU-d": 7}


def test_analyze_reads_a_job_named_anything_through_its_selector(prometheus_factory):
    """Users name their scrape jobs freely: with --selector the analyzer judges a job called "dcgm"; with the
    rule spec's default selector it says that nothing matched instead of printing an empty verdict list."""
    poller, exporter = _sim_exporter(SimBackend(gpus=8, seed=3, speedup=1, degrading=0))
    try:
        prom = prometheus_factory(scrape_interval="1s", scrape_configs=[
            {"job_name": "dcgm", "static_configs": [{"targets": [exporter.url.split("//")[1]]}]}])
        deadline = time.time() + 60
        while time.time() < deadline and len(prom.query('DCGM_FI_DEV_POWER_USAGE{job="dcgm"}')) < 8:
            time.sleep(0.5)
        time.sleep(2)
        base = [sys.executable, "-m", "gpuhealth", "analyze", "--prometheus", prom.url, "--once", "--json"]
        out = subprocess.run([*base, "--selector", 'job="dcgm"'], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        gpus = json.loads(out.stdout)["gpus"]
        assert len(gpus) == 8 and all(g["status"] == "judged" for g in gpus)
        # a fresh deployment: seconds of history, and every healthy GPU is kept
        assert all(g["recommended_action"] == "keep" for g in gpus), [g["recommended_action"] for g in gpus]
        assert all(g["history_days"] < 0.01 for g in gpus)
        missed = subprocess.run(base, capture_output=True, text=True, timeout=300)
        assert missed.returncode != 0 and 'selector job=~"gpuhealth|dcgm-exporter"' in missed.stderr
        assert "no GPU" in missed.stderr and missed.stdout == ""
    finally:
        exporter.shutdown()
        poller.stop()
