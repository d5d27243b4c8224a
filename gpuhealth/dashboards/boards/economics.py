"""Economics and the secondary market: what the fleet is worth, what following the advice gains, value by
GPU model and age."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from gpuhealth.catalog import ASSET_INFO, ASSET_PURCHASE_TIMESTAMP
from gpuhealth.dashboards.base import new_dashboard, with_prometheus_variables
from gpuhealth.dashboards.config import DashboardConfig
from gpuhealth.dashboards.panels import bars, graph, grid, on_gpus, prom, row, single, table_query

NAME = "economics"


def build(config: DashboardConfig) -> dashboard.Dashboard:
    """The economics / secondary market dashboard."""
    value = on_gpus("gpuhealth_market_value_dollars")
    d = new_dashboard(config, NAME, "Economics and secondary market", "The fleet's used-market value, the NPV "
                      "gained by following the advice, and value by GPU model and age.")
    d = with_prometheus_variables(d, config)
    d = d.with_row(row("Fleet"))
    d = d.with_panel(single("Fleet market value", "Estimated used-market value of the selected GPUs.",
                            "currencyUSD", prom(f"sum({value})", instant=True), width=6))
    d = d.with_panel(single("NPV gain of the advice", "Dollars gained over keeping every GPU by following the "
                            "recommended actions (whole fleet).", "currencyUSD",
                            prom("sum(gpuhealth_fleet_recommended_gain_dollars)", instant=True), width=6))
    d = d.with_panel(single("GPUs to sell", "GPUs the economics advise to sell on the used market (whole fleet).",
                            "short", prom('sum(gpuhealth_fleet_recommended_gpus{action="sell"}) or vector(0)',
                                          instant=True), width=6))
    d = d.with_panel(single("Median GPU value", "Median market value of the selected GPUs.", "currencyUSD",
                            prom(f"quantile(0.5, {value})", instant=True), width=6))
    d = d.with_panel(graph("Fleet market value over time", "Market value by GPU model and datacenter.",
                           "currencyUSD", prom("sum by (model, datacenter) (gpuhealth_fleet_market_value_dollars)",
                                               "{{model}} {{datacenter}}"), width=12, height=8))
    d = d.with_panel(bars("Market value by model", "Market value of each GPU model's GPUs.", "currencyUSD",
                          prom("sum by (model) (gpuhealth_fleet_market_value_dollars)", "{{model}}", instant=True),
                          width=12, height=8))
    d = d.with_row(row("Value by model and age"))
    age_years = f"(time() - {ASSET_PURCHASE_TIMESTAMP}) / (365.25 * 86400)"
    d = d.with_panel(bars("Average value by model", "Average market value of one GPU of each model.", "currencyUSD",
                          prom(f"avg by (model) (gpuhealth_market_value_dollars * on (UUID) group_left (model) "
                               f"max by (UUID, model) ({ASSET_INFO}))", "{{model}}", instant=True), width=8))
    d = d.with_panel(bars("Average age by model", "Average age of each model's GPUs, in years, from their purchase "
                          "dates.", "short",
                          prom(f"avg by (model) ({age_years} * on (UUID) group_left (model) "
                               f"max by (UUID, model) ({ASSET_INFO}))", "{{model}}", instant=True), width=8))
    d = d.with_panel(grid("GPU values", "Each selected GPU's value, age and the NPV of its recommended action.",
                          "currencyUSD", table_query(value, "A"),
                          table_query(on_gpus(f"{age_years}"), "B"),
                          table_query(on_gpus("gpuhealth_npv_dollars * on (UUID, action) "
                                              "(gpuhealth_recommended_action == 1)"), "C"),
                          rename={"Value #A": "market value", "Value #B": "age (years)", "Value #C": "NPV of action",
                                  "Hostname": "host", "modelName": "model"},
                          hide=("Time", "owner", "datacenter", "rack"), sort_by="market value", width=8))
    return d
