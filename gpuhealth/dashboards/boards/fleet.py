"""Fleet overview: how many GPUs, how healthy, which are at risk and what to do, what is firing."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from gpuhealth.catalog import FAMILY
from gpuhealth.dashboards.base import new_dashboard, with_prometheus_variables
from gpuhealth.dashboards.config import DashboardConfig
from gpuhealth.dashboards.panels import (
    EXPORTER_FILTER,
    GPU_FILTER,
    bars,
    graph,
    grid,
    on_gpus,
    pie,
    probability_thresholds,
    prom,
    row,
    score_thresholds,
    single,
    table_query,
    thresholds,
)

NAME = "fleet"


def build(config: DashboardConfig) -> dashboard.Dashboard:
    """The fleet overview dashboard."""
    spec = config.spec
    below = spec.scores["fleet_threshold"]
    primary = spec.prediction_model
    p7 = f'gpuhealth_failure_probability{{horizon="7d", model="{primary}"}}'
    d = new_dashboard(config, NAME, "Fleet overview", "Every GPU's health verdict, the GPUs at risk with the "
                      "action advised for each, the alerts firing and the telemetry that failed validation.")
    d = with_prometheus_variables(d, config)
    d = d.with_row(row("Fleet"))
    d = d.with_panel(single("GPUs", "GPUs with an identity recorded by the rules (seen within the inventory "
                            "window).", "short", prom(f"count(gpu:identity:info{{{GPU_FILTER}}})", instant=True)))
    d = d.with_panel(single("GPUs down", "GPUs the exporter reports as not answering NVML (fallen off the bus or "
                            "failing).", "short",
                            prom(f"count({FAMILY.gpu_up}{{{EXPORTER_FILTER}}} == 0) or vector(0)", instant=True),
                            th=thresholds((None, "green"), (1, "red"))))
    d = d.with_panel(single(f"Health below {below:g}", f"GPUs whose overall health score is below {below:g} "
                            "(rule spec scores.fleet_threshold).", "short",
                            prom(f"count(gpu:health:score{{{GPU_FILTER}}} < {below:g}) or vector(0)", instant=True),
                            th=thresholds((None, "green"), (1, "orange"))))
    d = d.with_panel(single("Expected failures, 7 days", f"Sum of the {primary} model's 7-day failure "
                            "probabilities over the selected GPUs.", "short",
                            prom(f"sum({on_gpus(p7)}) or vector(0)", instant=True)))
    d = d.with_panel(single("Alerts firing", "gpuhealth alerts firing now (Prometheus's ALERTS series).", "short",
                            prom('count(ALERTS{alertstate="firing", alertname=~"Gpu.*"}) or vector(0)',
                                 instant=True), th=thresholds((None, "green"), (1, "red"))))
    d = d.with_panel(single("Invalid telemetry", "GPU families whose samples fell outside their physical range "
                            "now (the validation rules).", "short",
                            prom("fleet:telemetry_invalid:sum", instant=True),
                            th=thresholds((None, "green"), (1, "orange"))))
    warn, crit = spec.scores["low_warning"], spec.scores["low_critical"]
    score = f"gpu:health:score{{{GPU_FILTER}}}"
    d = d.with_panel(pie("GPUs by health", f"GPUs by overall health score: healthy (at least {warn:g}), degraded "
                         f"(below {warn:g}), critical (below {crit:g}, or down), and not yet judged by the analyzer "
                         "(too little telemetry).", "short",
                         prom(f"count({score} >= {warn:g}) or vector(0)", "healthy", "A", instant=True),
                         prom(f"count({score} < {warn:g} >= {crit:g}) or vector(0)", "degraded", "B", instant=True),
                         prom(f"count({score} < {crit:g}) or vector(0)", "critical", "C", instant=True),
                         prom(f"count({on_gpus('gpuhealth_gpu_verdict_unknown == 1')}) or vector(0)", "not judged",
                              "D", instant=True),
                         width=8))
    return _rest(d, config, p7)


def _rest(d: dashboard.Dashboard, config: DashboardConfig, p7: str) -> dashboard.Dashboard:
    spec = config.spec
    d = d.with_panel(bars("GPUs by recommended action", "How many of the selected GPUs the analyzer advises to keep, "
                          "repair, sell or decommission.", "short",
                          prom(f"sum by (action) ({on_gpus('gpuhealth_recommended_action == 1')})", "{{action}}",
                               instant=True), width=8, height=8))
    d = d.with_panel(graph("Fleet health score", "Average overall health score of the fleet and of the selected "
                           "GPUs (1 healthy, 0 failed).", "percentunit",
                           prom("fleet:gpu_health_score:avg", "fleet"),
                           prom(f"avg(gpu:health:score{{{GPU_FILTER}}})", "selected", "B"),
                           width=8, height=8, lo=0, hi=1,
                           th=score_thresholds(spec.scores["low_critical"], spec.scores["low_warning"])))
    d = d.with_row(row("At risk"))
    top = f"topk(20, {on_gpus(p7)})"
    d = d.with_panel(grid("GPUs most likely to fail within 7 days", "The 20 selected GPUs with the highest 7-day "
                          "failure probability, with the advised action and the factor that weighs most.",
                          "percentunit",
                          table_query(top, "A"),
                          table_query(on_gpus("gpuhealth_recommended_action == 1") + " * 0", "B"),
                          table_query(on_gpus("topk by (UUID) (1, gpuhealth_failure_factor)") + " * 0", "C"),
                          rename={"Value #A": "p(fail 7d)", "Hostname": "host", "modelName": "model"},
                          hide=("Time", "Value #B", "Value #C", "horizon", "model", "datacenter", "rack", "owner"),
                          sort_by="p(fail 7d)",
                          th=probability_thresholds(spec.alerts["failure_probability_warning"],
                                                    spec.alerts["failure_probability_critical"])))
    d = d.with_row(row("Health by placement"))
    d = d.with_panel(bars("Health by rack", "Average health score of each rack's GPUs.", "percentunit",
                          prom("rack:gpu_health_score:avg", "{{datacenter}}/{{rack}}", instant=True), lo=0, hi=1,
                          th=score_thresholds(spec.scores["low_critical"], spec.scores["low_warning"])))
    d = d.with_panel(bars("Health by model", "Average health score of each GPU model's GPUs.", "percentunit",
                          prom("model:gpu_health_score:avg", "{{modelName}}", instant=True), lo=0, hi=1,
                          th=score_thresholds(spec.scores["low_critical"], spec.scores["low_warning"])))
    d = d.with_row(row("Alerts and telemetry"))
    d = d.with_panel(grid("Alerts firing and pending", "Every gpuhealth alert firing or pending now, with its GPU and "
                          "severity.", "short", table_query('ALERTS{alertname=~"Gpu.*"}'),
                          hide=("Time", "Value"), width=16).no_value("No gpuhealth alert firing or pending"))
    d = d.with_panel(graph("Invalid telemetry over time", "Samples outside their family's physical range, summed "
                           "over the fleet (a broken sensor or exporter, not a hot GPU).", "short",
                           prom("fleet:telemetry_invalid:sum", "invalid"), width=8))
    return d
