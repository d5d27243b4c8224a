"""The rules on real components: delivered notifications, a faulty simulated fleet, VictoriaMetrics agreement."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml
from aiosmtpd.controller import Controller

from gpuhealth import stack
from gpuhealth.exporter.backends.sim import SimBackend
from gpuhealth.exporter.collectors import COLLECTORS
from gpuhealth.exporter.exposition import Renderer
from gpuhealth.exporter.poller import Poller
from gpuhealth.exporter.server import serve
from gpuhealth.rules import expressions as ex
from gpuhealth.rules.generate import VALIDATED, generate_every, recording_groups
from gpuhealth.rules.spec import load_spec

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parent.parent


class _Mailbox:
    def __init__(self):
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content)
        return "250 OK"


def test_alertmanager_delivers_to_webhook_and_email(alertmanager_factory, workdir):
    hooks: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            hooks.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass

    web = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    mailbox = _Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=stack.free_port())
    smtp.start()
    try:
        cfg = yaml.safe_load((REPO / "alertmanager" / "alertmanager.yml").read_text())
        cfg["route"]["group_wait"] = "1s"
        for r in cfg["receivers"]:
            for w in r.get("webhook_configs", []):
                w["url"] = f"http://127.0.0.1:{web.server_address[1]}/alerts"
            for e in r.get("email_configs", []):
                e["smarthost"] = f"127.0.0.1:{smtp.port}"
        d = workdir / "am-config"
        (d / "templates").mkdir(parents=True)
        (d / "templates" / "gpuhealth.tmpl").write_text((REPO / "alertmanager/templates/gpuhealth.tmpl").read_text())
        (d / "alertmanager.yml").write_text(yaml.safe_dump(cfg))
        am = alertmanager_factory(config_path=d / "alertmanager.yml")
        now = datetime.now(UTC).isoformat()
        labels = {"UUID": "GPU-1234", "Hostname": "node-7", "modelName": "NVIDIA H100 80GB HBM3"}
        alerts = [{"labels": {"alertname": "GpuRowRemapFailure", **labels}, "startsAt": now,
                   "annotations": {"description": "row remap failed", "runbook_url": "https://x/runbooks#r"}},
                  {"labels": {"alertname": "GpuActionRecommended", "severity": "info", "action": "sell", **labels},
                   "startsAt": now, "annotations": {"description": "sell it", "runbook_url": "https://x/runbooks#a"}}]
        requests.post(f"{am.url}/api/v2/alerts", json=alerts, timeout=5).raise_for_status()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (hooks and mailbox.messages):
            time.sleep(0.3)
        assert hooks and hooks[0]["alerts"][0]["labels"]["alertname"] == "GpuRowRemapFailure"
        assert mailbox.messages, "no e-mail delivered"
        mail = mailbox.messages[0].decode(errors="replace")
        assert "GpuActionRecommended" in mail and "GPU-1234" in mail and "node-7" in mail
        assert "https://x/runbooks#a" in mail
    finally:
        smtp.stop()
        web.shutdown()


@pytest.fixture
def faulty_exporter():
    backend = SimBackend(gpus=16, seed=4, speedup=1200, degrading=0)
    faults = {1: "memory", 2: "thermal", 3: "power", 4: "interconnect"}
    for i, mode in faults.items():
        backend.fleet.force_fault(i, mode)
    poller = Poller(backend, Renderer(backend.fleet.identities, "sim"), set(COLLECTORS), interval=1.0)
    poller.start()
    server = serve(poller, "127.0.0.1:0", None, 8)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, backend, faults
    server.shutdown()
    poller.stop()


def test_faulty_gpus_alert_and_rank_below_healthy_ones(faulty_exporter, prometheus_factory, workdir):
    server, backend, faults = faulty_exporter
    rules = generate_every(load_spec(), workdir, "1s")  # the committed rules, every group every second
    prom = prometheus_factory(scrape_interval="1s", evaluation_interval="1s", rule_files=rules,
                              scrape_configs=[{"job_name": "gpuhealth",
                                               "static_configs": [{"targets": [server.url.split("//")[1]]}]}])
    uuids = [i.uuid for i in backend.fleet.identities]
    fleet = backend.fleet.fleet
    healthy = [uuids[i] for i in range(16) if i not in faults and fleet.mode[i] == 0]  # benign look-alikes too
    faulty = [uuids[i] for i in faults]
    deadline = time.monotonic() + 90
    critical: set[str] = set()
    while time.monotonic() < deadline:
        time.sleep(3)
        alerts = requests.get(f"{prom.url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        # firing only: a healthy GPU's score may dip while it is hot at its load peak (a pending alert
        # whose `for:` would not pass), which is what `for:` is for
        critical = {a["labels"].get("UUID") for a in alerts
                    if a["labels"]["severity"] == "critical" and a["state"] == "firing"}
        if set(faulty) <= critical:
            break
    assert set(faulty) <= critical, f"critical alerts for {sorted(critical)}"
    assert not critical & set(healthy), "a healthy GPU raised a critical alert"
    scores = {r["metric"]["UUID"]: float(r["value"][1]) for r in prom.query("gpu:health:score")}
    # a healthy GPU's median over the last minute (more than a simulated half-day), so that a GPU at
    # its load peak now does not decide; a faulty GPU that fell off the bus has no score now
    usual = {r["metric"]["UUID"]: float(r["value"][1])
             for r in prom.query("quantile_over_time(0.5, gpu:health:score[1m])")}
    dims = {(r["metric"]["UUID"], r["metric"]["__name__"]): round(float(r["value"][1]), 3)
            for r in prom.query('{__name__=~"gpu:health_[a-z]+:score"}')}
    faulty_dims = {faults[i]: {name: v for (u, name), v in dims.items() if u == uuids[i]} for i in faults}
    assert max(scores[u] for u in faulty if u in scores) < min(usual[u] for u in healthy), faulty_dims
    assert all(scores.get(u, 0.0) < 0.5 for u in faulty if u in scores)


def _inline(expr: str, definitions: dict) -> str:
    """Replace recorded series names by their defining expressions (VictoriaMetrics runs no rules here).

    A definition is an expression, or a function of the reference's label matchers that pushes them
    into the expression's own selector."""
    def body(m: re.Match, b) -> str:
        text = b(m.group(1)[1:-1]) if callable(b) else b
        return f"({text})" + (f"[{m.group(3)}:5s]" if m.group(2) else "")

    for name, b in definitions.items():
        expr = re.sub(rf"{re.escape(name)}(\{{[^}}]*\}})?(\[(\w+)\])?", lambda m, b=b: body(m, b), expr)
    return expr


def test_victoriametrics_gives_the_same_scores(faulty_exporter, prometheus_factory, victoriametrics_factory):
    server, _backend, _faults = faulty_exporter
    target = [{"job_name": "gpuhealth", "static_configs": [{"targets": [server.url.split("//")[1]]}]}]
    vm = victoriametrics_factory()  # fed by Prometheus's remote write: the very same samples
    prom = prometheus_factory(scrape_interval="1s", scrape_configs=target,
                              remote_write=[{"url": f"{vm.url}/api/v1/write",
                                             "queue_config": {"batch_send_deadline": "1s"}}])
    time.sleep(40)
    vm.flush()
    spec = load_spec()
    rules = {r.record: r.expr for g in recording_groups(spec) for r in g.rules}
    defs = {ex.POWER_OVER_LIMIT: rules[ex.POWER_OVER_LIMIT]}  # before the valid families it reads
    defs |= {f"gpu:{fam}:valid": rules[f"gpu:{fam}:valid"] for fam in VALIDATED}
    # per-model thresholds read the models from the raw family (inlined before the identity)
    for param in ex.PARAMS:
        if ex.varies(spec, param):
            defs[ex.threshold_series(param)] = ex.threshold_rule(spec, param, "DCGM_FI_DEV_GPU_TEMP",
                                                                 spec.selector + ", ")
    temp = f"DCGM_FI_DEV_GPU_TEMP{{{spec.selector}}}"
    defs["gpu:telemetry_absent:info"] = f"gpu:identity:info unless on (UUID) {temp}"
    defs["gpu:identity:info"] = f"max by (UUID, Hostname, modelName) ({temp}) * 0 + 1"
    # the clock-event shares, read for one reason at a time: the reason goes into the raw selector
    events = ex.clock_event_rule(spec)
    defs[ex.clock_event_series(spec)] = lambda m: events.replace("}[", f", {m}}}[") if m else events
    at = time.time() - 5
    for dim, terms in ex.DIMENSION_TERMS.items():
        expr = _inline(ex.with_base(ex.dimension_min(terms(spec))), defs)
        p = {r["metric"]["UUID"]: float(r["value"][1]) for r in prom.query(expr, at=at)}
        v = {r["metric"]["UUID"]: float(r["value"][1]) for r in vm.query(expr, at=at)}
        assert set(p) == set(v) and len(p) == 16, dim
        worst = max(abs(p[u] - v[u]) for u in p)
        if worst > 0.05:
            detail = {}
            for name, term in terms(spec).items():
                tp = {r["metric"]["UUID"]: float(r["value"][1]) for r in prom.query(_inline(term, defs), at=at)}
                tv = {r["metric"]["UUID"]: float(r["value"][1]) for r in vm.query(_inline(term, defs), at=at)}
                detail[name] = max((abs(tp[u] - tv.get(u, -1)) for u in tp), default=0.0), len(tp), len(tv)
            pytest.fail(f"{dim}: Prometheus and VictoriaMetrics differ by {worst:.3f}; per term: {detail}")
