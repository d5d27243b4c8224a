"""promtool unit tests for the generated rules: for every alert a case that fires and one that must not,
and the edges of the scores. Written beside the rules (alert_rules/tests/) and run by `gpuhealth rules check`.

Each case starts from a healthy two-GPU node (A and B) and breaks B; A must stay quiet. Expected
annotations are the generated templates expanded with the case's labels and value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gpuhealth.catalog import FAMILY
from gpuhealth.rules.generate import alert_groups
from gpuhealth.rules.spec import Spec

MODEL = "NVIDIA H100 80GB HBM3"
HOST = "node-1"
GPUS = {"A": "GPU-aaaaaaaa-0000-0000-0000-000000000000", "B": "GPU-bbbbbbbb-0000-0000-0000-000000000000"}


def _labels(gpu: str, own: bool = False, **extra: str) -> str:
    idx = "0" if gpu == "A" else "1"
    labels = {"job": "gpuhealth", "instance": f"{HOST}:9494", "gpu": idx, "UUID": GPUS[gpu],
              "pci_bus_id": f"00000000:{18 + int(idx)}:00.0", "device": f"nvidia{idx}"}
    if not own:
        labels["modelName"] = MODEL
    labels.update({"Hostname": HOST, "DCGM_FI_DRIVER_VERSION": "550.90.07", **extra})
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


HEALTHY = {  # family -> promtool values for a healthy GPU over 60 minutes at 1m
    FAMILY.gpu_temp: "60x60", FAMILY.memory_temp: "66x60", FAMILY.power_usage: "400x60",
    FAMILY.power_mgmt_limit: "700x60", FAMILY.gpu_util: "90x60", FAMILY.sm_clock: "1980x60",
    FAMILY.max_sm_clock: "1980x60",
    FAMILY.pcie_link_gen: "5x60", FAMILY.pcie_max_link_gen: "5x60",
    FAMILY.pcie_link_width: "16x60",
    FAMILY.pcie_max_link_width: "16x60", FAMILY.ecc_sbe_vol: "0x60",
    FAMILY.ecc_dbe_vol: "0x60", FAMILY.correctable_remapped_rows: "0x60",
    FAMILY.uncorrectable_remapped_rows: "0x60", FAMILY.row_remap_failure: "0x60",
    FAMILY.pcie_replay_counter: "0x60", FAMILY.power_violation: "0x60",
    FAMILY.thermal_violation: "0x60",
}
OWN_HEALTHY = {FAMILY.gpu_up: "1x60"}


@dataclass
class Case:
    """One alert scenario: B's families that differ from healthy, and what fires at eval_time."""

    name: str
    alert: str
    broken: dict[str, str] = field(default_factory=dict)  # series (family or family{extra}) -> values
    fires: list[dict] = field(default_factory=list)  # each: severity, value string, extra labels
    eval_time: str = "40m"


def _series(case: Case | None) -> list[dict]:
    out = []
    broken = case.broken if case else {}
    for gpu in ("A", "B"):
        for fam, values in HEALTHY.items():
            v = broken.get(fam, values) if gpu == "B" else values
            if v is not None:
                out.append({"series": f"{fam}{_labels(gpu)}", "values": v})
        for fam, values in OWN_HEALTHY.items():
            v = broken.get(fam, values) if gpu == "B" else values
            out.append({"series": f"{fam}{_labels(gpu, own=True)}", "values": v})
    for key, values in broken.items():
        if key in HEALTHY or key in OWN_HEALTHY:
            continue
        name, _, extra = key.partition("|")
        labels = dict(kv.split("=", 1) for kv in extra.split(",")) if extra else {}
        if name in ("up",):
            out.append({"series": "up{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}", "values": values})
        elif name.startswith("gpuhealth_failure") or name.startswith("gpuhealth_recommended") \
                or name == "gpuhealth_asset_info":
            lab = {"UUID": GPUS["B"], **labels}
            out.append({"series": name + "{" + ",".join(f'{k}="{v}"' for k, v in lab.items()) + "}",
                        "values": values})
        else:
            out.append({"series": f"{name}{_labels('B', own=name.startswith('gpuhealth_'), **labels)}",
                        "values": values})
    return out


def _expand(template: str, labels: dict[str, str], value: str) -> str:
    text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), template)
    return re.sub(r"\{\{ \$value[^}]*\}\}", value, text)


def cases(spec: Spec) -> list[Case]:
    """The alert scenarios (B broken, A healthy)."""
    slow = next(m for m in spec.models if re.fullmatch(m.match, MODEL)).slowdown_celsius
    return [
        Case("critical XID appears", "GpuXidCritical", {f"{FAMILY.xid_errors_total}|xid=79": "_x20 1x40"},
             [{"severity": "critical", "xid": "79"}], "25m"),
        Case("warning XID grows", "GpuXidWarning", {f"{FAMILY.xid_errors_total}|xid=63": "0x30 2x30"},
             [{"severity": "warning", "xid": "63"}], "32m"),
        Case("double-bit ECC error", "GpuDoubleBitEccError", {FAMILY.ecc_dbe_vol: "0x30 2x30"},
             [{"severity": "critical"}], "32m"),
        Case("uncorrectable row remap", "GpuUncorrectableRowRemap",
             {FAMILY.uncorrectable_remapped_rows: "0x70 1x20"}, [{"severity": "warning"}], "75m"),
        Case("row remap failure", "GpuRowRemapFailure", {FAMILY.row_remap_failure: "0x30 1x30"},
             [{"severity": "critical"}], "32m"),
        Case("fallen off the bus", "GpuFallenOffBus", {FAMILY.gpu_up: "1x30 0x30"},
             [{"severity": "critical"}], "35m"),
        Case("hot GPU near slowdown", "GpuTemperatureHigh", {FAMILY.gpu_temp: f"{slow - 3:g}x60"},
             [{"severity": "warning", "value": f"{slow - 3:g}"}]),
        Case("GPU above slowdown", "GpuTemperatureHigh", {FAMILY.gpu_temp: f"{slow + 2:g}x60"},
             [{"severity": "warning", "value": f"{slow + 2:g}"}, {"severity": "critical", "value": f"{slow + 2:g}"}]),
        Case("power over the limit", "GpuPowerAboveLimit", {FAMILY.power_usage: "728x60"},
             [{"severity": "warning", "value": "104%"}]),
        Case("power far over the limit", "GpuPowerAboveLimit", {FAMILY.power_usage: "756x60"},
             [{"severity": "warning", "value": "108%"}, {"severity": "critical", "value": "108%"}]),
        Case("power brake", "GpuPowerBrakeSlowdown", {f"{FAMILY.clock_event_active}|reason=hw_power_brake": "1x60"},
             [{"severity": "warning", "value": "100%"}]),
        Case("failing memory drags the score down", "GpuHealthScoreLow",
             {FAMILY.row_remap_failure: "1x60"},
             [{"severity": "warning", "value": "0.00"}, {"severity": "critical", "value": "0.00"}]),
        Case("impossible temperature", "GpuTelemetryInvalid", {FAMILY.gpu_temp: "250x60"},
             [{"severity": "warning", "value": "1"}]),
        Case("telemetry stops", "GpuTelemetryAbsent", {FAMILY.gpu_temp: "60x5"},
             [{"severity": "warning"}], "25m"),
        Case("exporter down", "GpuExporterDown", {"up|job=gpuhealth,instance=node-1:9494": "1x20 0x40"},
             [{"severity": "critical", "_exporter": True}]),
        Case("failure predicted", "GpuFailurePredicted",
             {"gpuhealth_failure_probability|horizon=7d,model=xgboost": "0.9x60"},
             [{"severity": "warning", "value": "90%"}, {"severity": "critical", "value": "90%"}]),
        Case("action recommended", "GpuActionRecommended", {"gpuhealth_recommended_action|action=sell": "1x120"},
             [{"severity": "info", "action": "sell"}], "90m"),
    ]


NEGATIVE = [  # benign look-alikes on B that must not fire the named alert
    ("power capped at exactly the limit", "GpuPowerAboveLimit", {FAMILY.power_usage: "700x60"}),
    ("warm but below the warning", "GpuTemperatureHigh", {FAMILY.gpu_temp: "80x60"}),
    ("correctable errors only", "GpuDoubleBitEccError", {FAMILY.ecc_sbe_vol: "0+10x60"}),
    ("application XID", "GpuXidCritical", {f"{FAMILY.xid_errors_total}|xid=13": "0+1x60"}),
    ("low failure probability", "GpuFailurePredicted",
     {"gpuhealth_failure_probability|horizon=7d,model=xgboost": "0.1x60"}),
    ("only the uncalibrated baseline is high", "GpuFailurePredicted",
     {"gpuhealth_failure_probability|horizon=7d,model=heuristic": "0.99x60",
      "gpuhealth_failure_probability|horizon=7d,model=xgboost": "0.01x60"}),
    ("recommended keep", "GpuActionRecommended", {"gpuhealth_recommended_action|action=keep": "1x120"}),
    ("a row remapped more than an hour ago", "GpuUncorrectableRowRemap",
     {FAMILY.uncorrectable_remapped_rows: "1x120"}),
]
LATE = ("GpuActionRecommended", "GpuUncorrectableRowRemap")  # negatives judged after an hour and a half


def _expected(spec: Spec, case: Case) -> list[dict]:
    rules = {(r.alert, r.labels["severity"]): r for g in alert_groups(spec) for r in g.rules}
    out = []
    for f in case.fires:
        rule = rules[(case.alert, f["severity"])]
        if f.get("_exporter"):
            labels = {"instance": f"{HOST}:9494", "job": "gpuhealth", "Hostname": HOST}
        else:
            labels = {"UUID": GPUS["B"], "Hostname": HOST, "modelName": MODEL}
        for k in ("xid", "action"):
            if k in f:
                labels[k] = f[k]
        labels["severity"] = f["severity"]
        ann = {k: _expand(v, labels, f.get("value", "")) for k, v in rule.annotations.items()}
        out.append({"exp_labels": labels, "exp_annotations": ann})
    return out


def tests_document(spec: Spec) -> dict:
    """The promtool test file as a mapping."""
    tests = []
    for case in cases(spec):
        tests.append({"name": case.name, "interval": "1m", "input_series": _series(case),
                      "alert_rule_test": [{"eval_time": case.eval_time, "alertname": case.alert,
                                           "exp_alerts": _expected(spec, case)}]})
    for name, alert, broken in NEGATIVE:
        tests.append({"name": f"must not fire: {name}", "interval": "1m",
                      "input_series": _series(Case(name, alert, broken)),
                      "alert_rule_test": [{"eval_time": "90m" if alert in LATE else "40m",
                                           "alertname": alert, "exp_alerts": []}]})
    healthy_alerts = sorted({r.alert for g in alert_groups(spec) for r in g.rules})
    ident = {"UUID": GPUS["A"], "Hostname": HOST, "modelName": MODEL}
    tests.append({"name": "a healthy node fires nothing and scores 1", "interval": "1m", "input_series": _series(None),
                  "alert_rule_test": [{"eval_time": "40m", "alertname": a, "exp_alerts": []} for a in healthy_alerts],
                  "promql_expr_test": [{"expr": f'gpu:health:score{{UUID="{GPUS["A"]}"}}', "eval_time": "40m",
                                        "exp_samples": [{"labels": "gpu:health:score" + _plain(ident), "value": 1}]}]
                  + [{"expr": f'gpu:health_{d}:score{{UUID="{GPUS["A"]}"}}', "eval_time": "40m",
                      "exp_samples": [{"labels": f"gpu:health_{d}:score" + _plain(ident), "value": 1}]}
                     for d in spec.weights]})
    slow = next(m for m in spec.models if re.fullmatch(m.match, MODEL))
    margin = slow.budgets["temp_warning_margin_celsius"]
    edges = [("thermal", FAMILY.gpu_temp, f"{slow.slowdown_celsius:g}x60", 0),
             ("thermal", FAMILY.gpu_temp, f"{slow.slowdown_celsius - margin:g}x60", 1),
             ("thermal", FAMILY.gpu_temp, f"{slow.slowdown_celsius - margin / 2:g}x60", 0.5),
             ("memory", FAMILY.row_remap_failure, "1x60", 0),
             ("reliability", FAMILY.gpu_up, "0x60", 0),
             ("performance", FAMILY.pcie_link_width, "8x60", 0.5),
             ("performance", FAMILY.pcie_link_gen, "4x60", 0.7),
             ("performance", FAMILY.sm_clock, "990x60", 0)]  # half the maximum clock under load
    identb = {"UUID": GPUS["B"], "Hostname": HOST, "modelName": MODEL}
    for dim, fam, values, want in edges:
        tests.append({"name": f"score edge: {dim} = {want} when {fam} is {values}", "interval": "1m",
                      "input_series": _series(Case("edge", "", {fam: values})),
                      "promql_expr_test": [{"expr": f'gpu:health_{dim}:score{{UUID="{GPUS["B"]}"}}', "eval_time": "40m",
                                            "exp_samples": [{"labels": f"gpu:health_{dim}:score" + _plain(identb),
                                                             "value": want}]}]})
    capped = {FAMILY.sm_clock: "990x60", f"{FAMILY.clock_event_active}|reason=power_cap": "1x60"}
    tests.append({"name": "score edge: a clock held down by the power cap is not a performance fault", "interval": "1m",
                  "input_series": _series(Case("capped", "", capped)),
                  "promql_expr_test": [{"expr": f'gpu:health_performance:score{{UUID="{GPUS["B"]}"}}',
                                        "eval_time": "40m", "exp_samples": [
                                            {"labels": "gpu:health_performance:score" + _plain(identb), "value": 1}]}]})
    # NaN, infinity and values outside the range are invalid; the range's own ends are valid
    invalid = {FAMILY.gpu_temp: " ".join(["NaN"] * 61), FAMILY.power_usage: " ".join(["Inf"] * 61),
               FAMILY.gpu_util: "100.5x60", FAMILY.memory_temp: "130x60", FAMILY.sm_clock: "0x60"}
    tests.append({"name": "validation: NaN, Inf and out-of-range samples are counted, the range's ends are not",
                  "interval": "1m", "input_series": _series(Case("invalid", "", invalid)),
                  "promql_expr_test": [
                      {"expr": f'gpu:telemetry_invalid:count{{UUID="{GPUS["B"]}"}}', "eval_time": "40m",
                       "exp_samples": [{"labels": "gpu:telemetry_invalid:count" + _plain(identb), "value": 3}]},
                      {"expr": f'gpu:telemetry_invalid:count{{UUID="{GPUS["A"]}"}}', "eval_time": "40m",
                       "exp_samples": []},
                      {"expr": "fleet:telemetry_invalid:sum", "eval_time": "40m",
                       "exp_samples": [{"labels": "fleet:telemetry_invalid:sum", "value": 3}]}]})
    stopped = {fam: v.split("x")[0] + "x10" for fam, v in HEALTHY.items()}
    tests.append({"name": "a GPU whose telemetry stopped has no scores (unknown), not healthy ones", "interval": "1m",
                  "input_series": _series(Case("stopped", "", {**stopped, FAMILY.gpu_up: "1x10"})),
                  "promql_expr_test": [{"expr": f'{name}{{UUID="{GPUS["B"]}"}}', "eval_time": "40m", "exp_samples": []}
                                       for name in [*(f"gpu:health_{d}:score" for d in spec.weights),
                                                    "gpu:health:score"]]})
    tests.append({"name": "a GPU fallen off the bus scores 0 overall", "interval": "1m",
                  "input_series": _series(Case("off the bus", "", {**stopped, FAMILY.gpu_up: "1x10 0x50"})),
                  "promql_expr_test": [{"expr": f'gpu:health:score{{UUID="{GPUS["B"]}"}}', "eval_time": "40m",
                                        "exp_samples": [{"labels": "gpu:health:score" + _plain(identb), "value": 0}]}]})
    anomaly_series = [{"series": f"{FAMILY.gpu_temp}{_labels(g)}", "values": v}
                      for g, v in (("A", "60x240"), ("B", "60x180 75x60"))]
    tests.append({"name": "a GPU warming against its own day has a high z-score, a steady one 0", "interval": "1m",
                  "input_series": anomaly_series,
                  "promql_expr_test": [
                      {"expr": f'gpu:{FAMILY.gpu_temp}:zscore1d{{UUID="{GPUS["A"]}"}}', "eval_time": "220m",
                       "exp_samples": [{"labels": f"gpu:{FAMILY.gpu_temp}:zscore1d" + _plain(
                           {"UUID": GPUS["A"], "modelName": MODEL, "rack": HOST}), "value": 0}]},
                      {"expr": f'gpu:{FAMILY.gpu_temp}:zscore1d{{UUID="{GPUS["B"]}"}} > bool 1',
                       "eval_time": "220m",
                       "exp_samples": [{"labels": _plain({"UUID": GPUS["B"], "modelName": MODEL, "rack": HOST}),
                                        "value": 1}]}]})
    tests.append({"name": "the worst dimension dominates the overall score", "interval": "1m",
                  "input_series": _series(Case("worst", "", {FAMILY.row_remap_failure: "1x60"})),
                  "promql_expr_test": [{"expr": f'gpu:health:score{{UUID="{GPUS["B"]}"}} < bool 0.01',
                                        "eval_time": "40m", "exp_samples": [{"labels": _plain(identb), "value": 1}]}]})
    placed_b = {FAMILY.row_remap_failure: "1x60", "gpuhealth_asset_info|datacenter=dc1,rack=r2,owner=ml": "1x60"}
    worst = 0.001  # B's overall score: a failed remap makes memory 0, clamped at 0.001
    rollups = [("fleet:gpu_health_score:avg", {}, (1 + worst) / 2), ("fleet:gpus:count", {}, 2),
               ("datacenter:gpu_health_score:avg", {"datacenter": "dc1"}, worst),
               ("datacenter:gpu_health_score:avg", {"datacenter": "unknown"}, 1),
               ("datacenter:gpu_health_score_below_threshold:count", {"datacenter": "dc1"}, 1),
               ("rack:gpus:count", {"datacenter": "unknown", "rack": HOST}, 1),
               ("rack:gpu_health_score_below_threshold:count", {"datacenter": "dc1", "rack": "r2"}, 1)]
    tests.append({"name": "racks, datacenters and the fleet roll up the scores of their GPUs", "interval": "1m",
                  "input_series": _series(Case("rollups", "", placed_b)),
                  "promql_expr_test": [
                      # to 6 decimals: exp(ln(0.001)) is 0.001 only to the last bit
                      {"expr": f"round({name}{_plain(labels) if labels else ''}, 1e-6)", "eval_time": "40m",
                       "exp_samples": [{"labels": _plain(labels) if labels else "{}", "value": value}]}
                      for name, labels, value in rollups]})
    return {"rule_files": ["../../recording_rules/gpuhealth.yml", "../gpuhealth.yml"], "evaluation_interval": "1m",
            "tests": tests}


def _plain(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def write_tests(spec: Spec, out: Path) -> list[Path]:
    """Write alert_rules/tests/gpuhealth_test.yml under out."""
    d = out / "alert_rules" / "tests"
    d.mkdir(parents=True, exist_ok=True)
    path = d / "gpuhealth_test.yml"
    header = "# Generated by `gpuhealth rules generate`; run with `gpuhealth rules check` (promtool test rules).\n"
    path.write_text(header + yaml.safe_dump(tests_document(spec), sort_keys=False, width=200))
    return [path]
