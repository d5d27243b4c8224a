"""Long-term history from TimescaleDB: a GPU's months of temperature, power and error growth, read from the
sink's 1-hour and 5-minute rollups with SQL."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from gpuhealth.catalog import FAMILY
from gpuhealth.dashboards.base import new_dashboard, with_timescaledb_variables
from gpuhealth.dashboards.config import DashboardConfig
from gpuhealth.dashboards.panels import POSTGRES, graph, grid, row, sql

NAME = "history"
SELECTED = "uuid IN ($UUID) AND $__timeFilter(bucket)"


def _rollup(table: str, family: str, column: str) -> str:
    """One series per GPU of a rollup column of one family (the views are the sink's, docs/sink.md)."""
    return (f'SELECT bucket AS "time", uuid AS metric, {column} AS value FROM {table} '
            f"WHERE metric = '{family}' AND {SELECTED} ORDER BY 1")


def _daily_growth(family: str) -> str:
    """A counter's growth per day and GPU from the hourly rollups; a drop is a counter reset (a driver reload),
    so that day's growth is the new value, never negative."""
    return (f"SELECT day AS \"time\", uuid AS metric, CASE WHEN c >= p THEN c - p ELSE c END AS value FROM ("
            f"SELECT day, uuid, c, lag(c) OVER (PARTITION BY uuid ORDER BY day) AS p FROM ("
            f"SELECT time_bucket('1 day', bucket) AS day, uuid, max(last) AS c FROM gpu_samples_1h "
            f"WHERE metric = '{family}' AND {SELECTED} GROUP BY 1, 2) AS daily) AS grown "
            f"WHERE p IS NOT NULL ORDER BY 1")


def build(config: DashboardConfig) -> dashboard.Dashboard:
    """The long-term history dashboard."""
    d = new_dashboard(config, NAME, "Long-term history", "Months of each GPU's telemetry from TimescaleDB (the "
                      "remote-write sink's rollups): temperature, power and the growth of its error counters.")
    d = d.time("now-30d", "now")
    d = with_timescaledb_variables(d, config)
    d = d.with_row(row("Temperature and power, hourly"))
    d = d.with_panel(graph("GPU temperature, hourly average", "Average GPU temperature of each hour.", "celsius",
                           sql(_rollup("gpu_samples_1h", FAMILY.gpu_temp, "avg")), datasource=POSTGRES))
    d = d.with_panel(graph("GPU temperature, hourly maximum", "Hottest sample of each hour.", "celsius",
                           sql(_rollup("gpu_samples_1h", FAMILY.gpu_temp, "max")), datasource=POSTGRES))
    d = d.with_panel(graph("Memory temperature, hourly maximum", "Hottest HBM sample of each hour.", "celsius",
                           sql(_rollup("gpu_samples_1h", FAMILY.memory_temp, "max")), datasource=POSTGRES))
    d = d.with_panel(graph("Power, hourly average", "Average power draw of each hour.", "watt",
                           sql(_rollup("gpu_samples_1h", FAMILY.power_usage, "avg")), datasource=POSTGRES))
    d = d.with_row(row("Error growth, daily"))
    for family, what in ((FAMILY.ecc_sbe_agg, "correctable ECC errors"),
                         (FAMILY.correctable_remapped_rows, "rows remapped for correctable errors"),
                         (FAMILY.pcie_replay_counter, "PCIe replays")):
        d = d.with_panel(graph(f"{what.capitalize()} per day", f"Growth per day of {family} ({what}); a counter "
                               "reset counts as growth from zero.", "short", sql(_daily_growth(family)),
                               datasource=POSTGRES, width=8))
    d = d.with_row(row("Recent detail and coverage"))
    d = d.with_panel(graph("GPU temperature, 5-minute average", "The 5-minute rollup, for the last days in detail.",
                           "celsius", sql(_rollup("gpu_samples_5m", FAMILY.gpu_temp, "avg")), datasource=POSTGRES))
    d = d.with_panel(grid("Samples stored per GPU", "Raw samples behind the hourly rollups in the time range, per "
                          "GPU: how much history the sink holds.", "short",
                          sql("SELECT uuid, sum(count) AS samples, min(bucket) AS first, max(bucket) AS last "
                              f"FROM gpu_samples_1h WHERE {SELECTED} GROUP BY uuid ORDER BY samples DESC",
                              fmt="table"), datasource=POSTGRES, width=12, hide=()))
    return d
