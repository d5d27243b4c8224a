"""The deployment examples under deploy/: promtool, systemd-analyze and the manifests' shape."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gpuhealth.rules.spec import load_spec

ROOT = Path(__file__).parents[1]
DEPLOY = ROOT / "deploy"
PROM = DEPLOY / "prometheus" / "prometheus.yml"
UNIT = DEPLOY / "systemd" / "gpuhealth-exporter.service"
K8S = DEPLOY / "kubernetes" / "daemonset.yaml"


def _selected_jobs() -> re.Pattern:
    match = re.search(r'job=~"([^"]+)"', load_spec().selector)
    assert match, "the rule spec's selector names no job"
    return re.compile(f"^(?:{match.group(1)})$")


def test_prometheus_config_passes_promtool_with_the_generated_rules(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: install the Debian package prometheus")
    # promtool resolves rule paths against the config's folder; check the copy the way it ships
    out = subprocess.run([promtool, "check", "config", str(PROM)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 2 rule files found" in out.stdout
    for name in ("recording_rules/gpuhealth.yml", "alert_rules/gpuhealth.yml"):
        assert name in out.stdout + out.stderr, name


def test_prometheus_config_wires_exporter_analyzer_sink_and_alertmanager():
    cfg = yaml.safe_load(PROM.read_text())
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    selected = _selected_jobs()
    exporter_jobs = [j for name, j in jobs.items() if selected.match(name)]
    assert exporter_jobs, f"no scrape job matches the rules' selector {selected.pattern}"
    targets = [t for j in exporter_jobs for sc in j["static_configs"] for t in sc["targets"]]
    assert targets and all(t.endswith(":9494") for t in targets)
    analyzer = [t for j in jobs.values() for sc in j.get("static_configs", []) for t in sc["targets"]
                if t.endswith(":9496")]
    assert analyzer
    assert [rw["url"] for rw in cfg["remote_write"]] == ["http://localhost:9495/api/v1/write"]
    assert cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    for pattern in cfg["rule_files"]:
        assert list((PROM.parent).glob(pattern)), f"rule_files entry {pattern} matches no file"


def test_systemd_unit_verifies(tmp_path):
    text = UNIT.read_text()
    exec_start = re.search(r"^ExecStart=(\S+) exporter ", text, re.M)
    assert exec_start, "ExecStart does not run `gpuhealth exporter`"
    assert "--web.listen-address=:9494" in text and "--backend nvml" in text
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # parse the sections instead
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str
        parser.read_string(text)
        assert {"Unit", "Service", "Install"} <= set(parser.sections())
        assert parser["Install"]["WantedBy"] == "multi-user.target"
        return
    # verify a copy whose ExecStart is this checkout's gpuhealth (the unit's /opt path is not here)
    local = Path(sys.executable).parent / "gpuhealth"
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(exec_start.group(1), str(local)))
    out = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Unknown key" not in out.stderr and "Unknown section" not in out.stderr, out.stderr


def _docs() -> dict[str, dict]:
    docs = [d for d in yaml.safe_load_all(K8S.read_text()) if d]
    for d in docs:
        for key in ("apiVersion", "kind", "metadata"):
            assert key in d, f"{K8S.name}: a document lacks {key}"
        assert d["metadata"].get("name"), f"{d['kind']} has no metadata.name"
        assert d["kind"] == "Namespace" or "spec" in d, f"{d['kind']} has no spec"
    kinds = [d["kind"] for d in docs]
    assert len(kinds) == len(set(kinds)), kinds
    return {d["kind"]: d for d in docs}


def test_kubernetes_daemonset_shape():
    docs = _docs()
    ds = docs["DaemonSet"]
    assert ds["apiVersion"] == "apps/v1"
    template = ds["spec"]["template"]
    selector = ds["spec"]["selector"]["matchLabels"]
    assert selector and selector.items() <= template["metadata"]["labels"].items()
    containers = template["spec"]["containers"]
    ports = [p for c in containers for p in c.get("ports", [])]
    assert [(p["name"], p["containerPort"]) for p in ports] == [("metrics", 9494)]
    args = containers[0]["args"]
    assert args[0] == "exporter" and "--backend=nvml" in args
    for probe, path in (("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready")):
        assert containers[0][probe]["httpGet"]["path"] == path
    namespace = docs["Namespace"]["metadata"]["name"]
    assert all(d["metadata"].get("namespace") == namespace for k, d in docs.items() if k != "Namespace")


def test_service_selects_the_pods_and_servicemonitor_selects_the_service():
    docs = _docs()
    pod_labels = docs["DaemonSet"]["spec"]["template"]["metadata"]["labels"]
    svc = docs["Service"]
    assert svc["apiVersion"] == "v1"
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    port = svc["spec"]["ports"][0]
    assert port["port"] == 9494 and port["targetPort"] == "metrics"
    sm = docs["ServiceMonitor"]
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert svc["metadata"]["namespace"] in sm["spec"]["namespaceSelector"]["matchNames"]
    assert {e["port"] for e in sm["spec"]["endpoints"]} <= {p["name"] for p in svc["spec"]["ports"]}
    # the job label the rules select comes from the Service label named by jobLabel
    job = svc["metadata"]["labels"][sm["spec"]["jobLabel"]]
    assert _selected_jobs().match(job), job


def test_nvml_check_script_parses():
    script = ROOT / "scripts" / "nvml_check.sh"
    out = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    text = script.read_text()
    assert "--backend nvml" in text and "gpuhealth_exporter_collector_duration_seconds" in text
