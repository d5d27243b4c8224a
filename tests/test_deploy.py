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


# Kubernetes: the sink, the analyzer, the migration Job, the rules ---------------------------------------------

KUBE = DEPLOY / "kubernetes"


def _manifests() -> list[tuple[str, dict]]:
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    out = []
    for name in kustomization["resources"]:
        path = KUBE / name
        assert path.is_file(), f"kustomization.yaml names {name}, which does not exist"
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                for key in ("apiVersion", "kind", "metadata"):
                    assert key in doc, f"{name}: a document lacks {key}"
                out.append((name, doc))
    listed = {KUBE / n for n in kustomization["resources"]}
    unlisted = [p.name for p in KUBE.rglob("*.y*ml") if p not in listed
                and p.name not in ("kustomization.yaml", "secrets.example.yaml")]
    assert not unlisted, f"manifests that kustomization.yaml does not apply: {unlisted}"
    return out


def _of(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for _, d in _manifests() if d["kind"] == kind}


def _workloads() -> dict[str, dict]:
    return {**_of("Deployment"), **_of("DaemonSet"), **_of("Job")}


def _command(args: list[str]):
    """The click command a container's args run, and the args left for its options."""
    from gpuhealth.cli import main

    ctx = main.make_context("gpuhealth", [], resilient_parsing=True)
    cmd, rest = main, list(args)
    while rest and hasattr(cmd, "get_command") and not rest[0].startswith("-"):
        cmd = cmd.get_command(ctx, rest.pop(0))
        assert cmd is not None, f"gpuhealth {' '.join(args)}: no such command"
    return cmd, rest


def _help_options(words: list[str]) -> set[str]:
    out = subprocess.run([sys.executable, "-m", "gpuhealth", *words, "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return set(re.findall(r"(?:^|\s|,)(--[a-z0-9][a-z0-9.\-]*)", out.stdout))


def test_every_manifest_parses_and_the_sink_and_analyzer_are_deployed():
    kinds = {(d["kind"], d["metadata"]["name"]) for _, d in _manifests()}
    for expected in (("Deployment", "gpuhealth-sink"), ("Deployment", "gpuhealth-analyzer"),
                     ("Service", "gpuhealth-sink"), ("Service", "gpuhealth-analyzer"),
                     ("ServiceMonitor", "gpuhealth-exporter"), ("ServiceMonitor", "gpuhealth-sink"),
                     ("ServiceMonitor", "gpuhealth-analyzer"), ("PrometheusRule", "gpuhealth-recording"),
                     ("PrometheusRule", "gpuhealth-alerting"), ("Job", "gpuhealth-db-migrate")):
        assert expected in kinds, expected
    secrets = [d for d in yaml.safe_load_all((KUBE / "secrets.example.yaml").read_text()) if d]
    assert {s["metadata"]["name"] for s in secrets} == {"gpuhealth-db", "gpuhealth-analyzer-web",
                                                        "gpuhealth-analyzer-scrape"}
    assert all("CHANGE-ME" in json_text or "CHANGE.ME" in json_text
               for json_text in (yaml.safe_dump(s["stringData"]) for s in secrets)), "placeholders only"


def test_every_argument_a_manifest_passes_is_an_option_the_command_accepts():
    for name, w in _workloads().items():
        for c in w["spec"]["template"]["spec"]["containers"]:
            cmd, rest = _command(c["args"])
            words = c["args"][:len(c["args"]) - len(rest)]
            accepted = _help_options(words)
            for arg in rest:
                assert arg.startswith("--"), f"{name}: {arg!r} is not an option"
                assert arg.split("=", 1)[0] in accepted, f"{name}: gpuhealth {' '.join(words)} has no {arg}"
            envvars = {p.envvar for p in cmd.params if getattr(p, "envvar", None)}
            for env in c.get("env", []):
                if env["name"].startswith("GPUHEALTH_"):
                    assert env["name"] in envvars, f"{name}: gpuhealth {' '.join(words)} reads no ${env['name']}"
            required = [p for p in cmd.params if p.required and not (p.envvar and any(
                e["name"] == p.envvar for e in c.get("env", [])))]
            given = {a.split("=", 1)[0] for a in rest}
            for p in required:
                assert set(p.opts) & given, f"{name}: {p.opts} is required and not given"


def _listen_port(cmd, rest: list[str]) -> int | None:
    for arg in rest:
        if arg.startswith("--web.listen-address="):
            return int(arg.rsplit(":", 1)[1])
    for p in cmd.params:
        if "--web.listen-address" in p.opts:
            return int(str(p.default).rsplit(":", 1)[1])
    return None


def test_ports_services_and_service_monitors_match_what_the_services_serve():
    services, monitors = _of("Service"), _of("ServiceMonitor")
    for name, w in {**_of("Deployment"), **_of("DaemonSet")}.items():
        pod = w["spec"]["template"]
        (c,) = pod["spec"]["containers"]
        cmd, rest = _command(c["args"])
        (port,) = c["ports"]
        assert port["containerPort"] == _listen_port(cmd, rest), name
        for probe in ("livenessProbe", "readinessProbe"):
            assert c[probe]["httpGet"]["port"] == port["name"], (name, probe)
        assert c["livenessProbe"]["httpGet"]["path"] == "/-/healthy"
        assert c["readinessProbe"]["httpGet"]["path"] == "/-/ready"
        svc = services[name]
        assert svc["spec"]["selector"].items() <= pod["metadata"]["labels"].items(), name
        assert [p["targetPort"] for p in svc["spec"]["ports"]] == [port["name"]], name
        sm = monitors[name]
        assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items(), name
        assert [e["port"] for e in sm["spec"]["endpoints"]] == [p["name"] for p in svc["spec"]["ports"]], name
        assert sm["spec"]["jobLabel"] in svc["metadata"]["labels"], name
        for key in ("cpu", "memory"):
            assert key in c["resources"]["requests"], (name, key)
    # the job names the dashboards' "gpuhealth itself" board reads
    from gpuhealth.dashboards.config import load_config

    jobs = load_config().jobs
    assert services["gpuhealth-sink"]["metadata"]["labels"]["gpuhealth.io/job"] == jobs["sink"]
    assert services["gpuhealth-analyzer"]["metadata"]["labels"]["gpuhealth.io/job"] == jobs["analyzer"]


def _free_port() -> int:
    from gpuhealth import stack

    return stack.free_port()


def _serve(args: list[str], port: int, env: dict[str, str]) -> subprocess.Popen:
    import os

    local = [a if not a.startswith("--web.listen-address=") else f"--web.listen-address=127.0.0.1:{port}"
             for a in args]
    return subprocess.Popen([sys.executable, "-m", "gpuhealth", *local], env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.integration
def test_the_probe_paths_are_served_without_auth_by_the_deployed_commands(tmp_path, postgres, prometheus_factory):
    """The sink and the analyzer started with their manifests' own arguments (the listen address on a free
    loopback port, the analyzer's web config and Prometheus here) answer their probes, also behind basic auth."""
    import time

    import bcrypt
    import requests

    from gpuhealth.sink.migrate import migrate

    migrate(postgres)
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"basic_auth_users": {"admin": bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()}}))
    prom = prometheus_factory()
    deployments = _of("Deployment")
    procs = []
    try:
        for name, expect_ready in (("gpuhealth-sink", 200), ("gpuhealth-analyzer", 503)):
            (c,) = deployments[name]["spec"]["template"]["spec"]["containers"]
            args = [a.replace("/etc/gpuhealth/web/web.yml", str(web)) for a in c["args"]]
            args = [f"--prometheus={prom.url}" if a.startswith("--prometheus=") else a for a in args]
            port = _free_port()
            procs.append(_serve(args, port, {"GPUHEALTH_DB": postgres}))
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    healthy = requests.get(base + c["livenessProbe"]["httpGet"]["path"], timeout=5)
                    break
                except requests.ConnectionError:
                    assert time.monotonic() < deadline, f"{name} did not start"
                    time.sleep(0.5)
            assert healthy.status_code in (200, 503), (name, healthy.status_code)
            ready = requests.get(base + c["readinessProbe"]["httpGet"]["path"], timeout=5)
            # the analyzer finds no GPU in an empty Prometheus: up, but not ready (no verdicts)
            assert ready.status_code == expect_ready, (name, ready.status_code, ready.text)
            assert requests.get(base + "/no-such-path", timeout=5).status_code in (401, 404)
            if "--web.config.file" in " ".join(args):
                assert requests.get(base + "/metrics", timeout=5).status_code == 401
                assert requests.get(base + "/metrics", auth=("admin", "pw"), timeout=5).status_code == 200
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)


def test_the_prometheus_rules_manifests_are_the_generated_ones(tmp_path):
    from gpuhealth.rules.generate import generate

    for path in generate(load_spec(), tmp_path, "prometheusrule"):
        committed = KUBE / path.relative_to(tmp_path)
        assert committed.read_text() == path.read_text(), f"{committed} drifted: run `make rules`"


def test_the_containerfile_builds_the_wheel_and_runs_gpuhealth_unprivileged():
    text = (ROOT / "Containerfile").read_text()
    assert re.search(r"^RUN pip wheel .* \.$", text, re.M) and "pip install --no-cache-dir /wheels/*.whl" in text
    assert re.search(r'^ENTRYPOINT \["gpuhealth"\]$', text, re.M) and re.search(r"^USER 65534", text, re.M)
    images = {c["image"] for w in _workloads().values() for c in w["spec"]["template"]["spec"]["containers"]}
    from importlib.metadata import version

    assert images == {f"gpuhealth/gpuhealth:{version('gpuhealth')}"}
