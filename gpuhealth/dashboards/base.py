"""What every gpuhealth dashboard shares: uid, title, tags, refresh, time range, links to the others, and
the variables of the mixins' dashboard linter (datasource, job, instance, and the GPU labels)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models import dashboard as dm

from gpuhealth.catalog import FAMILY, HOST_LABEL
from gpuhealth.dashboards.config import DashboardConfig
from gpuhealth.dashboards.panels import POSTGRES, POSTGRES_TYPE, PROMETHEUS

# the family every exporter (gpuhealth's or NVIDIA's) serves for every GPU: the variables' source
PRESENT = FAMILY.gpu_temp


def new_dashboard(config: DashboardConfig, name: str, title: str, description: str) -> dashboard.Dashboard:
    """An empty dashboard with gpuhealth's uid, title, tags, refresh, time range and links."""
    return (dashboard.Dashboard(f"{config.title_prefix}{title}").uid(config.uid(name)).description(description)
            .tags(list(config.tags)).refresh(config.refresh).time(config.time_from, "now").timezone("utc")
            .editable().tooltip(dm.DashboardCursorSync.CROSSHAIR)
            .link(dashboard.DashboardLink("gpuhealth").type(dm.DashboardLinkType.DASHBOARDS)
                  .tags([config.tags[0]] if config.tags else []).as_dropdown(True).include_vars(True)
                  .keep_time(True)))


def _query_variable(name: str, label: str, query: str, include_all: bool = True, multi: bool = True,
                    all_value: str | None = ".*") -> dashboard.QueryVariable:
    v = (dashboard.QueryVariable(name).label(label).query(query).datasource(PROMETHEUS).multi(multi)
         .include_all(include_all).refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
         .sort(dm.VariableSort.ALPHABETICAL_ASC))
    if include_all:
        v = v.current(dm.VariableOption(selected=True, text="All", value="$__all"))
        if all_value is not None:
            v = v.all_value(all_value)
    return v


def with_prometheus_variables(d: dashboard.Dashboard, config: DashboardConfig, gpus: bool = True,
                              one_gpu: bool = False) -> dashboard.Dashboard:
    """The datasource, job and instance variables, and (``gpus``) Hostname, modelName and UUID; with
    ``one_gpu`` UUID selects a single GPU."""
    present = f"{PRESENT}{{{config.spec.selector}}}"
    d = d.with_variable(dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")
                        .current(dm.VariableOption(selected=True, text=config.prometheus.name,
                                                   value=config.prometheus.uid)))
    # All jobs: Grafana joins the values the selector found into a regex, so the selector still holds
    d = d.with_variable(_query_variable("job", "job", f"label_values({present}, job)", all_value=None))
    d = d.with_variable(_query_variable("instance", "instance", f'label_values({PRESENT}{{job=~"$job"}}, instance)'))
    if not gpus:
        return d
    base = f'{PRESENT}{{job=~"$job", instance=~"$instance"'
    d = d.with_variable(_query_variable(HOST_LABEL, "host", f"label_values({base}}}, {HOST_LABEL})"))
    d = d.with_variable(_query_variable("modelName", "model",
                                        f'label_values({base}, {HOST_LABEL}=~"${HOST_LABEL}"}}, modelName)'))
    uuids = f'label_values({base}, {HOST_LABEL}=~"${HOST_LABEL}", modelName=~"$modelName"}}, UUID)'
    if one_gpu:
        return d.with_variable(_query_variable("UUID", "GPU", uuids, include_all=False, multi=False))
    return d.with_variable(_query_variable("UUID", "GPU", uuids))


def with_timescaledb_variables(d: dashboard.Dashboard, config: DashboardConfig) -> dashboard.Dashboard:
    """The TimescaleDB datasource variable and the GPUs its history holds."""
    d = d.with_variable(dashboard.DatasourceVariable("tsdb").label("TimescaleDB").type(POSTGRES_TYPE)
                        .current(dm.VariableOption(selected=True, text=config.timescaledb.name,
                                                   value=config.timescaledb.uid)))
    return d.with_variable(
        dashboard.QueryVariable("UUID").label("GPU").datasource(POSTGRES).multi(True).include_all(True)
        .current(dm.VariableOption(selected=True, text="All", value="$__all"))
        .refresh(dm.VariableRefresh.ON_DASHBOARD_LOAD).sort(dm.VariableSort.ALPHABETICAL_ASC)
        .query(f"SELECT DISTINCT uuid FROM gpu_series WHERE metric = '{PRESENT}' ORDER BY 1"))
