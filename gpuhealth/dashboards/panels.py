"""The panel and query vocabulary every gpuhealth dashboard is built from, on grafana-foundation-sdk's builders.

Each helper returns an SDK builder with the conventions of the monitoring mixins already applied: the
panel reads the ``$datasource`` variable, has a title, a description and a unit, its legend shows, and a
stat reduces to the last value. The dashboards only say what to show.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import bargauge, dashboard, piechart, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.runtime import DataqueryConfig, register_dataquery_variant
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models.piechart import PieChartLegendValues, PieChartType
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

PROMETHEUS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
POSTGRES_TYPE = "grafana-postgresql-datasource"
POSTGRES = dm.DataSourceRef(type_val=POSTGRES_TYPE, uid="${tsdb}")

# the filter every per-GPU query carries: the dashboard's GPU variables (all multi-value regexes)
GPU_FILTER = 'Hostname=~"$Hostname", UUID=~"$UUID", modelName=~"$modelName"'
EXPORTER_FILTER = f'job=~"$job", instance=~"$instance", {GPU_FILTER}'


def on_gpus(expr: str, labels: str = "Hostname, modelName") -> str:
    """A per-UUID expression of the analyzer's (which has only UUID) kept to the GPUs the variables select,
    with their host and model (and placement, when asked) joined from the recorded placement."""
    return f"({expr}) * on (UUID) group_left ({labels}) gpu:placement:info{{{GPU_FILTER}}}"


class SqlQuery(cogvariants.Dataquery):
    """A raw-SQL query of Grafana's PostgreSQL datasource (the SDK ships no builder for it)."""

    def __init__(self, raw_sql: str, ref_id: str = "A", fmt: str = "time_series") -> None:
        self.raw_sql = raw_sql
        self.ref_id = ref_id
        self.format = fmt

    def to_json(self) -> dict[str, object]:
        """The query as Grafana stores it in a panel's targets."""
        return {"datasource": POSTGRES.to_json(), "editorMode": "code", "format": self.format, "rawQuery": True,
                "rawSql": self.raw_sql, "refId": self.ref_id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SqlQuery:
        """The query back from a panel's JSON."""
        return cls(data["rawSql"], data.get("refId", "A"), data.get("format", "time_series"))


# so that the SDK's models decode a dashboard's SQL targets into SqlQuery rather than a bag of keys
register_dataquery_variant(DataqueryConfig(identifier=POSTGRES_TYPE, from_json_hook=SqlQuery.from_json))


class _Built(common_builders.DataQuery):
    """Wraps an already built query so that a panel builder accepts it as a target."""

    def __init__(self, query: cogvariants.Dataquery) -> None:
        self._query = query

    def build(self) -> Any:
        return self._query


def sql(raw: str, ref: str = "A", fmt: str = "time_series") -> _Built:
    """A SQL target on the ``$tsdb`` datasource."""
    return _Built(SqlQuery(raw.strip(), ref, fmt))


def prom(expr: str, legend: str = "", ref: str = "A", instant: bool = False,
         fmt: PromQueryFormat = PromQueryFormat.TIME_SERIES) -> prometheus.Dataquery:
    """A PromQL target on the ``$datasource`` variable: a range query, or an instant one for stats and tables."""
    q = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(PROMETHEUS).format(fmt)
    if legend:
        q = q.legend_format(legend)
    return q.instant() if instant else q.range()


def table_query(expr: str, ref: str = "A") -> prometheus.Dataquery:
    """An instant PromQL target formatted as a table (one row per series, labels as columns)."""
    return prom(expr, ref=ref, instant=True, fmt=PromQueryFormat.TABLE)


def thresholds(*steps: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    """Absolute thresholds from (value, colour) pairs; the first value is None (the base colour)."""
    return dashboard.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(
        [dm.Threshold(value=v, color=c) for v, c in steps])


def score_thresholds(critical: float, warning: float) -> dashboard.ThresholdsConfig:
    """Red below the critical score, orange below the warning one, green above (the rule spec's scores)."""
    return thresholds((None, "red"), (critical, "orange"), (warning, "green"))


def probability_thresholds(warning: float, critical: float) -> dashboard.ThresholdsConfig:
    """Green below the warning probability, orange to the critical one, red above (the rule spec's alerts)."""
    return thresholds((None, "green"), (warning, "orange"), (critical, "red"))


def _common(panel: Any, title: str, description: str, unit: str, width: int, height: int,
            datasource: dm.DataSourceRef) -> Any:
    return panel.title(title).description(description).unit(unit).span(width).height(height).datasource(datasource)


def _last() -> common_builders.ReduceDataOptions:
    return common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def _legend(table_legend: bool = False) -> common_builders.VizLegendOptions:
    legend = common_builders.VizLegendOptions().show_legend(True).placement(common.LegendPlacement.BOTTOM)
    if table_legend:
        return legend.display_mode(common.LegendDisplayMode.TABLE).calcs(["lastNotNull", "max"])
    return legend.display_mode(common.LegendDisplayMode.LIST)


def graph(title: str, description: str, unit: str, *targets: Any, width: int = 12, height: int = 8,
          datasource: dm.DataSourceRef = PROMETHEUS, th: dashboard.ThresholdsConfig | None = None,
          lo: float | None = None, hi: float | None = None) -> timeseries.Panel:
    """A time-series panel."""
    p = _common(timeseries.Panel(), title, description, unit, width, height, datasource).legend(_legend())
    p = p.tooltip(common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI)
                  .sort(common.SortOrder.DESCENDING))
    if th is not None:
        p = p.thresholds(th).thresholds_style(common_builders.GraphThresholdsStyleConfig()
                                              .mode(common.GraphThresholdsStyleMode.DASHED))
    if lo is not None:
        p = p.min(lo)
    if hi is not None:
        p = p.max(hi)
    for t in targets:
        p = p.with_target(t)
    return p


def single(title: str, description: str, unit: str, *targets: Any, width: int = 4, height: int = 4,
           th: dashboard.ThresholdsConfig | None = None, datasource: dm.DataSourceRef = PROMETHEUS) -> stat.Panel:
    """A stat panel showing each target's last value."""
    p = _common(stat.Panel(), title, description, unit, width, height, datasource).reduce_options(_last())
    p = p.graph_mode(common.BigValueGraphMode.NONE).color_mode(common.BigValueColorMode.VALUE)
    p = p.thresholds(th or thresholds((None, "blue")))
    for t in targets:
        p = p.with_target(t)
    return p


def bars(title: str, description: str, unit: str, *targets: Any, width: int = 12, height: int = 8,
         th: dashboard.ThresholdsConfig | None = None, lo: float | None = None, hi: float | None = None
         ) -> bargauge.Panel:
    """A horizontal bar gauge of each series' last value (one bar per series)."""
    p = _common(bargauge.Panel(), title, description, unit, width, height, PROMETHEUS).reduce_options(_last())
    p = p.orientation(common.VizOrientation.HORIZONTAL).display_mode(common.BarGaugeDisplayMode.GRADIENT)
    p = p.thresholds(th or thresholds((None, "blue")))
    if lo is not None:
        p = p.min(lo)
    if hi is not None:
        p = p.max(hi)
    for t in targets:
        p = p.with_target(t)
    return p


def pie(title: str, description: str, unit: str, *targets: Any, width: int = 6, height: int = 8) -> piechart.Panel:
    """A donut of each series' last value."""
    p = _common(piechart.Panel(), title, description, unit, width, height, PROMETHEUS).reduce_options(_last())
    p = p.pie_type(PieChartType.DONUT)
    p = p.legend(piechart.PieChartLegendOptions().show_legend(True).display_mode(common.LegendDisplayMode.TABLE)
                 .placement(common.LegendPlacement.RIGHT).values([PieChartLegendValues.VALUE]))
    for t in targets:
        p = p.with_target(t)
    return p


def grid(title: str, description: str, unit: str, *targets: Any, width: int = 24, height: int = 9,
         hide: tuple[str, ...] = ("Time",), rename: dict[str, str] | None = None,
         datasource: dm.DataSourceRef = PROMETHEUS, sort_by: str | None = None,
         th: dashboard.ThresholdsConfig | None = None) -> table.Panel:
    """A table: the targets' rows merged on their common labels, bookkeeping columns hidden, columns renamed."""
    p = _common(table.Panel(), title, description, unit, width, height, datasource)
    if th is not None:
        p = p.thresholds(th)
    for t in targets:
        p = p.with_target(t)
    if len(targets) > 1:
        p = p.with_transformation(dm.DataTransformerConfig(id_val="merge", options={}))
    excluded = {name: True for name in (*hide, "__name__", "job", "instance")}
    p = p.with_transformation(dm.DataTransformerConfig(id_val="organize", options={
        "excludeByName": excluded, "renameByName": rename or {}}))
    if sort_by:
        p = p.sort_by([common_builders.TableSortByFieldState().display_name(sort_by).desc(True)])
    return p


def row(title: str) -> dashboard.Row:
    """A row header."""
    return dashboard.Row(title)
