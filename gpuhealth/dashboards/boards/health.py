"""Health: the five dimensions across the fleet, and the worst GPUs in each."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from gpuhealth.dashboards.base import new_dashboard, with_prometheus_variables
from gpuhealth.dashboards.boards.gpu import DIMENSIONS
from gpuhealth.dashboards.config import DashboardConfig
from gpuhealth.dashboards.panels import GPU_FILTER, bars, graph, grid, prom, row, score_thresholds, table_query

NAME = "health"


def build(config: DashboardConfig) -> dashboard.Dashboard:
    """The health dashboard."""
    spec = config.spec
    th = score_thresholds(spec.scores["low_critical"], spec.scores["low_warning"])
    d = new_dashboard(config, NAME, "Health", "The five health dimensions (memory, thermal, power, performance, "
                      "reliability) across the selected GPUs, and the worst GPUs in each.")
    d = with_prometheus_variables(d, config)
    d = d.with_row(row("Dimensions"))
    d = d.with_panel(graph("Average score per dimension", "Each dimension's average over the selected GPUs.",
                           "percentunit", *(prom(f"avg(gpu:health_{dim}:score{{{GPU_FILTER}}})", dim, chr(65 + i))
                                            for i, dim in enumerate(DIMENSIONS)), width=12, lo=0, hi=1, th=th))
    d = d.with_panel(graph("Lowest score per dimension", "Each dimension's minimum over the selected GPUs: the worst "
                           "GPU's score.", "percentunit",
                           *(prom(f"min(gpu:health_{dim}:score{{{GPU_FILTER}}})", dim, chr(65 + i))
                             for i, dim in enumerate(DIMENSIONS)), width=12, lo=0, hi=1, th=th))
    d = d.with_panel(bars("Health by datacenter", "Average overall health score of each datacenter's GPUs.",
                          "percentunit", prom("datacenter:gpu_health_score:avg", "{{datacenter}}", instant=True),
                          width=12, height=6, lo=0, hi=1, th=th))
    d = d.with_panel(bars("GPUs below the threshold by rack", f"GPUs of each rack whose health is below "
                          f"{spec.scores['fleet_threshold']:g} (0 for racks with none).", "short",
                          prom("rack:gpu_health_score_below_threshold:count or rack:gpus:count * 0",
                               "{{datacenter}}/{{rack}}",
                               instant=True), width=12, height=6))
    d = d.with_row(row("Worst GPUs"))
    for dim in DIMENSIONS:
        d = d.with_panel(grid(f"Worst {dim}", f"The 10 selected GPUs with the lowest {dim} score.", "percentunit",
                              table_query(f"bottomk(10, gpu:health_{dim}:score{{{GPU_FILTER}}})"),
                              rename={"Value": dim, "Hostname": "host", "modelName": "model"}, width=8, height=8,
                              th=th))
    return d
