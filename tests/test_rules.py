"""Rule generator: drift, promtool check and unit tests, spec validation, PrometheusRule, Alertmanager config."""

from __future__ import annotations

import filecmp
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gpuhealth.durations import whole_seconds
from gpuhealth.rules import expressions as ex
from gpuhealth.rules import promtool
from gpuhealth.rules.alertmanager import config as am_config
from gpuhealth.rules.command import alertmanager, rules
from gpuhealth.rules.generate import INVALID_INFO, alert_groups, recording_groups
from gpuhealth.rules.spec import SpecError, load_spec

REPO = Path(__file__).resolve().parent.parent
GENERATED = ["recording_rules/gpuhealth.yml", "alert_rules/gpuhealth.yml", "alert_rules/tests/gpuhealth_test.yml",
             "alertmanager/alertmanager.yml", "alertmanager/templates/gpuhealth.tmpl"]


def test_committed_files_match_the_generator(tmp_path):
    assert CliRunner().invoke(rules, ["generate", "--out", str(tmp_path)]).exit_code == 0
    assert CliRunner().invoke(alertmanager, ["generate", "--out", str(tmp_path)]).exit_code == 0
    drift = [p for p in GENERATED if not filecmp.cmp(tmp_path / p, REPO / p, shallow=False)]
    assert not drift, f"{drift} differ from the generator: run `make rules` and commit"


def test_promtool_checks_and_unit_tests_pass_on_the_committed_rules():
    code, out = promtool.check_rules(REPO)
    assert code == 0, out
    code, out = promtool.test_rules(REPO)
    assert code == 0, out


def test_promtool_unit_tests_can_fail(tmp_path):
    """A broken threshold must make the generated unit tests fail."""
    (tmp_path / "spec.yml").write_text("models:\n  H100:\n    match: '.*H100.*'\n    slowdown_celsius: 99\n"
                                       "    memory_max_celsius: 95\n")
    CliRunner().invoke(rules, ["generate", "--config", str(tmp_path / "spec.yml"), "--out", str(tmp_path)])
    # tests generated from the default spec run against rules from a different spec
    (tmp_path / "alert_rules" / "tests" / "gpuhealth_test.yml").write_text(
        (REPO / "alert_rules" / "tests" / "gpuhealth_test.yml").read_text())
    code, out = promtool.test_rules(tmp_path)
    assert code != 0 and "GpuTemperatureHigh" in out


@pytest.mark.parametrize(("text", "where"), [
    ("weights:\n  memory: -1\n", "weights.memory"),
    ("windows:\n  rate: five minutes\n", "windows.rate"),
    ("models:\n  A100:\n    match: '('\n", "models.A100.match"),
    ("scores:\n  low_critical: 0.9\n", "scores.low_critical"),
    ("selectors: x\n", "unknown fields"),
    ("xids:\n  critical: [48, 79]\n", "catalog.XIDS"),
    ("intervals:\n  scores: every minute\n", "intervals.scores"),
    ("intervals:\n  health: 1m\n", "intervals: unknown groups"),
])
def test_bad_spec_names_file_and_field(tmp_path, text, where):
    path = tmp_path / "bad.yml"
    path.write_text(text)
    with pytest.raises(SpecError, match=where) as info:
        load_spec(path)
    assert str(path) in str(info.value)
    result = CliRunner().invoke(rules, ["generate", "--config", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and where.split(".")[0] in result.output
    assert not (tmp_path / "out").exists()


def test_prometheusrule_wraps_the_same_groups(tmp_path):
    CliRunner().invoke(rules, ["generate", "--format", "prometheusrule", "--out", str(tmp_path)])
    obj = yaml.safe_load((tmp_path / "recording_rules" / "gpuhealth.prometheusrule.yml").read_text())
    plain = yaml.safe_load((REPO / "recording_rules" / "gpuhealth.yml").read_text())
    assert obj["kind"] == "PrometheusRule" and obj["apiVersion"] == "monitoring.coreos.com/v1"
    assert obj["spec"]["groups"] == plain["groups"]


def test_recording_rules_add_at_most_40_series_per_gpu():
    spec = load_spec()
    per_gpu = [r.record for g in recording_groups(spec) for r in g.rules if r.record.startswith("gpu:")]
    # sparse: recorded only for the GPUs with a penalty (a term, a dimension below 1), an active clock
    # event, invalid or absent telemetry; together they get one series per GPU of the budget
    # (benchmarks/rules.py counts what a simulated fleet really records)
    sparse = {ex.terms_series(d) for d in ex.RECORDED_APART} | {ex.min_series(d) for d in ex.DIMENSION_TERMS} | {
        ex.clock_event_series(spec), ex.POWER_OVER_LIMIT, INVALID_INFO, "gpu:telemetry_invalid:count",
        "gpu:telemetry_absent:info"}
    assert sparse <= set(per_gpu)
    dense = [r for r in per_gpu if r not in sparse]
    assert len(dense) + 1 <= 40, dense


def test_alertmanager_config_is_valid_and_routes_as_intended(tmp_path):
    code, out = promtool.amtool("check-config", str(REPO / "alertmanager" / "alertmanager.yml"))
    assert code == 0, out
    table = [({"severity": "critical"}, "pagerduty,slack"), ({"severity": "warning"}, "slack"),
             ({"severity": "info"}, "email"), ({"severity": "critical", "team": "research"}, "team-research-page"),
             ({"severity": "warning", "team": "ml-platform"}, "team-ml-platform"), ({}, "webhook")]
    for labels, want in table:
        cfg = REPO / "alertmanager" / "alertmanager.yml"
        code, out = promtool.amtool("config", "routes", "test", f"--config.file={cfg}",
                                    *[f"{k}={v}" for k, v in labels.items()])
        receivers = [line.strip() for line in out.splitlines() if line.strip() and not line.startswith("Warning")]
        assert receivers == [want], (labels, out)


def test_no_secret_in_the_alertmanager_config():
    cfg = am_config(load_spec())
    text = yaml.safe_dump(cfg)
    assert "api_url:" not in text and "routing_key:" not in text and "auth_password:" not in text
    assert "api_url_file" in text and "routing_key_file" in text


def test_cli_check_reports_failure_on_an_empty_directory(tmp_path):
    result = CliRunner().invoke(rules, ["check", str(tmp_path)])
    assert result.exit_code == 1 and "FAILED" in result.output


def test_generated_rule_groups_load_in_prometheus_check_config(tmp_path):
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(yaml.safe_dump({"rule_files": [str(REPO / "recording_rules" / "gpuhealth.yml"),
                                                  str(REPO / "alert_rules" / "gpuhealth.yml")]}))
    r = subprocess.run(["promtool", "check", "config", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


RANGE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?(\{[^}]*\})?\[(\d+[smhdw])\]")


def _points_read(expr: str, resolution: dict[str, int], raw_step: int) -> int:
    """The most samples per series any range selector in expr reads (its window over its source's step)."""
    worst = 0
    for name, _matchers, window in RANGE.findall(expr):
        step = resolution.get(name, raw_step)
        worst = max(worst, whole_seconds(window) // step)
    return worst


def test_no_rule_reads_more_than_a_few_hundred_points_per_series():
    """Evaluation cost must not grow with history: no day-long windows over raw or per-minute series."""
    spec = load_spec()
    raw_step = 15  # the scrape interval of deploy/prometheus
    groups = recording_groups(spec) + alert_groups(spec)
    resolution = {r.record: whole_seconds(g.interval or "15s") for g in groups for r in g.rules if r.record}
    costs = {(g.name, r.record or r.alert): _points_read(r.expr, resolution, raw_step) for g in groups for r in g.rules}
    assert max(costs.values()) <= 240, sorted(costs.items(), key=lambda kv: -kv[1])[:5]
    # and the check can fail: a day of raw samples is 5,760 points
    assert _points_read("avg_over_time(DCGM_FI_DEV_GPU_TEMP[1d])", resolution, raw_step) == 5760
    assert _points_read("avg_over_time(gpu:DCGM_FI_DEV_GPU_TEMP:avg1h[1d])", resolution, raw_step) == 24
