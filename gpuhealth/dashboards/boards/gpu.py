"""GPU detail: one GPU's verdict (five dimension scores, prediction with factors, anomalies, value and NPV per
action) above every family of the metric contract it reports."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models import common

from gpuhealth.dashboards.base import new_dashboard, with_prometheus_variables
from gpuhealth.dashboards.config import DashboardConfig
from gpuhealth.dashboards.families import per_gpu_families
from gpuhealth.dashboards.panels import (
    GPU_FILTER,
    bars,
    graph,
    on_gpus,
    probability_thresholds,
    prom,
    row,
    score_thresholds,
    single,
    thresholds,
)

NAME = "gpu"
DIMENSIONS = ("memory", "thermal", "power", "performance", "reliability")
GROUP_TITLES = {"clocks": "Clocks", "temperature": "Temperature", "clock_events": "Clock events (throttling)",
                "power": "Power and energy", "memory": "Framebuffer", "utilization": "Utilization",
                "ecc": "ECC and retired pages", "row_remap": "Row remapping", "pcie": "PCIe", "nvlink": "NVLink",
                "xid": "XID errors", "info": "Identity and state",
                "profiling": "Profiling (DCP: engine, SM, tensor and FP pipes, DRAM, PCIe and NVLink traffic)"}


def build(config: DashboardConfig) -> dashboard.Dashboard:
    """The GPU detail dashboard."""
    spec = config.spec
    warn, crit = spec.scores["low_warning"], spec.scores["low_critical"]
    primary = spec.prediction_model
    pth = probability_thresholds(spec.alerts["failure_probability_warning"],
                                 spec.alerts["failure_probability_critical"])
    d = new_dashboard(config, NAME, "GPU detail", "One GPU: its five health dimensions, failure prediction with "
                      "the factors behind it, anomaly scores, market value and NPV per action, and every family "
                      "it reports.")
    d = with_prometheus_variables(d, config, one_gpu=True)
    d = d.with_row(row("Verdict"))
    d = d.with_panel(single("Health score", "Overall health score (1 healthy, 0 failed): the weighted geometric "
                            "combination of the five dimensions.", "percentunit",
                            prom(f"gpu:health:score{{{GPU_FILTER}}}", "{{UUID}}", instant=True),
                            th=score_thresholds(crit, warn)))
    d = d.with_panel(bars("Health dimensions", "The five dimension scores; the worst dominates the overall score.",
                          "percentunit", *(prom(f"gpu:health_{dim}:score{{{GPU_FILTER}}}", dim, chr(65 + i),
                                                instant=True) for i, dim in enumerate(DIMENSIONS)),
                          width=8, height=4, lo=0, hi=1, th=score_thresholds(crit, warn)))
    d = d.with_panel(single("Failure probability", f"Probability that the GPU fails within 7 and 30 days "
                            f"({primary}, the primary model).", "percentunit",
                            prom(on_gpus(f'gpuhealth_failure_probability{{model="{primary}"}}'), "{{horizon}}",
                                 instant=True), th=pth))
    d = d.with_panel(single("Remaining useful life", "Median remaining useful life from the primary model.", "d",
                            prom(on_gpus("gpuhealth_remaining_useful_life_days"), "{{UUID}}", instant=True)))
    d = d.with_panel(single("Recommended action", "What the economics advise for this GPU.", "none",
                            prom(on_gpus("gpuhealth_recommended_action == 1"), "{{action}}", instant=True),
                            th=thresholds((None, "text"))).text_mode(common.BigValueTextMode.NAME))
    d = d.with_row(row("Prediction and value"))
    d = d.with_panel(bars("Failure factors", "The factors that weigh most in the GPU's predicted failure (top 3).",
                          "short", prom(on_gpus("gpuhealth_failure_factor"), "{{factor}}", instant=True), width=8))
    d = d.with_panel(graph("Failure probability by model", "Each model's 30-day failure probability over time "
                           "(the heuristic is a baseline, not calibrated).", "percentunit",
                           prom(on_gpus('gpuhealth_failure_probability{horizon="30d"}'), "{{model}}"),
                           width=8, lo=0, hi=1, th=pth))
    d = d.with_panel(graph("Anomaly scores", "Robust z-score of each signal against the GPU's own baseline and its "
                           "peers; above 3 is unusual.", "short",
                           prom(on_gpus("gpuhealth_anomaly_score"), "{{signal}}"), width=8,
                           th=thresholds((None, "green"), (3, "orange"))))
    d = d.with_panel(single("Market value", "Estimated used-market value of the GPU.", "currencyUSD",
                            prom(on_gpus("gpuhealth_market_value_dollars"), "{{UUID}}", instant=True)))
    d = d.with_panel(bars("NPV per action", "Net present value of each action over the planning horizon.",
                          "currencyUSD", prom(on_gpus("gpuhealth_npv_dollars"), "{{action}}", instant=True), width=10,
                          height=4))
    d = d.with_panel(bars("Trends", "Change per day of the signals the analyzer follows.", "short",
                          prom(on_gpus("gpuhealth_trend_per_day"), "{{signal}}", instant=True), width=10, height=4))
    group = None
    for fp in per_gpu_families():
        if fp.group != group:
            group = fp.group
            d = d.with_row(row(GROUP_TITLES.get(group, group)))
        panel = graph(fp.name, f"{fp.name} of the selected GPU (counters as per-second rates).", fp.unit,
                      prom(fp.expr, fp.legend), width=8, height=6)
        d = d.with_panel(panel.no_value(fp.no_value) if fp.no_value else panel)
    return d
