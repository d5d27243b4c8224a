"""Predictions and actions: failure probabilities, expected failures, the actions advised and their dollar
impact, by datacenter and model."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from gpuhealth.dashboards.base import new_dashboard, with_prometheus_variables
from gpuhealth.dashboards.config import DashboardConfig
from gpuhealth.dashboards.panels import (
    bars,
    graph,
    grid,
    on_gpus,
    probability_thresholds,
    prom,
    row,
    single,
    table_query,
)

NAME = "predictions"
PLACED = "Hostname, modelName, datacenter, rack"


def build(config: DashboardConfig) -> dashboard.Dashboard:
    """The predictions and actions dashboard."""
    spec = config.spec
    primary = spec.prediction_model
    pth = probability_thresholds(spec.alerts["failure_probability_warning"],
                                 spec.alerts["failure_probability_critical"])
    p7 = on_gpus(f'gpuhealth_failure_probability{{horizon="7d", model="{primary}"}}', PLACED)
    p30 = on_gpus(f'gpuhealth_failure_probability{{horizon="30d", model="{primary}"}}', PLACED)
    d = new_dashboard(config, NAME, "Predictions and actions", f"Failure probabilities of the {primary} model, "
                      "the failures they expect, and the actions advised with their dollar impact.")
    d = with_prometheus_variables(d, config)
    d = d.with_row(row("Expected failures"))
    d = d.with_panel(single("Expected failures, 7 days", "Sum of the selected GPUs' 7-day failure probabilities.",
                            "short", prom(f"sum({p7}) or vector(0)", instant=True)))
    d = d.with_panel(single("Expected failures, 30 days", "Sum of the selected GPUs' 30-day failure probabilities.",
                            "short", prom(f"sum({p30}) or vector(0)", instant=True)))
    d = d.with_panel(single("At risk", f"GPUs whose 7-day probability is at least "
                            f"{spec.alerts['failure_probability_warning']:g} (the prediction alert's warning).",
                            "short", prom(f"count({p7} >= {spec.alerts['failure_probability_warning']:g}) or vector(0)",
                                          instant=True)))
    d = d.with_panel(graph("Expected failures per week", "Sum of the 7-day probabilities over time, fleet and "
                           "selected GPUs.", "short", prom(f"sum({p7})", "selected"), width=12, height=8))
    d = d.with_panel(bars("Expected failures by datacenter and model", "Sum of the 7-day probabilities per "
                          "datacenter and GPU model.", "short",
                          prom(f"sum by (datacenter, modelName) ({p7})", "{{datacenter}} {{modelName}}", instant=True),
                          width=12, height=8))
    d = d.with_row(row("Probabilities"))
    d = d.with_panel(grid("Failure probabilities", "The 25 selected GPUs most likely to fail within 30 days, with "
                          "both horizons and the median remaining life.", "percentunit",
                          table_query(f"topk(25, {p30})", "A"), table_query(p7, "B"),
                          table_query(on_gpus("gpuhealth_remaining_useful_life_days", PLACED), "C"),
                          rename={"Value #A": "p(fail 30d)", "Value #B": "p(fail 7d)", "Value #C": "RUL (days)",
                                  "Hostname": "host", "modelName": "model"},
                          hide=("Time", "horizon", "model", "owner"), sort_by="p(fail 30d)", width=14, th=pth))
    d = d.with_panel(graph("Models side by side", "Average 30-day probability over the selected GPUs, per model "
                           "(the heuristic is the baseline).", "percentunit",
                           prom("avg by (model) (" + on_gpus('gpuhealth_failure_probability{horizon="30d"}') + ")",
                                "{{model}}"), width=10, height=9))
    d = d.with_row(row("Actions"))
    d = d.with_panel(bars("GPUs by recommended action", "The analyzer's advice, by action, model and datacenter.",
                          "short", prom("sum by (action, model, datacenter) (gpuhealth_fleet_recommended_gpus)",
                                        "{{action}} {{model}} {{datacenter}}", instant=True), width=12, height=8))
    d = d.with_panel(bars("NPV gained by following the advice", "Dollars gained over keeping every GPU, per action, "
                          "model and datacenter.", "currencyUSD",
                          prom("sum by (action, model, datacenter) (gpuhealth_fleet_recommended_gain_dollars)",
                               "{{action}} {{model}} {{datacenter}}", instant=True), width=12, height=8))
    return d
