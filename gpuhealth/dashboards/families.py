"""How each family of the metric contract is drawn on a dashboard: its PromQL (counters as rates) and its
Grafana unit, derived from the catalog's type and unit so that a new family gets a panel without code."""

from __future__ import annotations

from dataclasses import dataclass

from gpuhealth.catalog import (
    CLOCK_EVENT_ACTIVE,
    FAMILY,
    FIELDS,
    GPU_UP,
    OWN_FAMILIES,
    XID_ERRORS_TOTAL,
    Field,
    MetricType,
)
from gpuhealth.dashboards.panels import EXPORTER_FILTER

# a gauge's catalog unit -> (Grafana unit, factor to it)
GAUGE_UNITS: dict[str, tuple[str, float]] = {
    "C": ("celsius", 1.0), "W": ("watt", 1.0), "MHz": ("hertz", 1e6), "%": ("percent", 1.0),
    "MiB": ("mbytes", 1.0), "ratio": ("percentunit", 1.0), "B/s": ("Bps", 1.0),
}
# a counter's catalog unit -> (Grafana unit of its rate, factor to it)
RATE_UNITS: dict[str, tuple[str, float]] = {
    "mJ": ("watt", 1e-3),  # mJ per second is mW
    "ns": ("percentunit", 1e-9),  # ns throttled per second: the share of time throttled
    "KB": ("Bps", 1e3), "KiB": ("Bps", 1024.0),
}


# families whose absence is normal, with what their panel says instead of "No data"
ABSENT_MEANS = {FAMILY.fan_speed: "No fan: a passively cooled GPU",
                XID_ERRORS_TOTAL: "No XID since the exporter started"}


@dataclass(frozen=True)
class FamilyPanel:
    """One family as a panel draws it: the expression, its unit, the legend, and the group it is shown in."""

    name: str
    expr: str
    unit: str
    legend: str
    group: str

    @property
    def no_value(self) -> str:
        """What the panel shows when the family has no series ("" for a family every GPU reports)."""
        return ABSENT_MEANS.get(self.name, "")


def family_panel(f: Field) -> FamilyPanel:
    """A catalog field as a dashboard draws it: gauges as they are, counters as per-second rates."""
    series = f"{f.name}{{{EXPORTER_FILTER}}}"
    legend = "{{Hostname}} {{gpu}}"
    if f.type is MetricType.COUNTER:
        unit, factor = RATE_UNITS.get(f.unit, ("cps", 1.0))
        expr = f"rate({series}[$__rate_interval])"
    else:
        unit, factor = GAUGE_UNITS.get(f.unit, ("none", 1.0))
        expr = series
    if factor != 1.0:
        expr = f"{expr} * {factor:g}"
    return FamilyPanel(f.name, expr, unit, legend, f.collector)


def per_gpu_families() -> list[FamilyPanel]:
    """Every per-GPU family of the contract, dcgm-exporter's fields and gpuhealth's own, as panels draw them."""
    panels = [family_panel(f) for f in FIELDS]
    panels.append(FamilyPanel(GPU_UP, f"{GPU_UP}{{{EXPORTER_FILTER}}}", "none", "{{Hostname}} {{gpu}}",
                              OWN_FAMILIES[GPU_UP].collector))
    panels.append(FamilyPanel(CLOCK_EVENT_ACTIVE, f"{CLOCK_EVENT_ACTIVE}{{{EXPORTER_FILTER}}}", "none",
                              "{{Hostname}} {{gpu}} {{reason}}", OWN_FAMILIES[CLOCK_EVENT_ACTIVE].collector))
    panels.append(FamilyPanel(XID_ERRORS_TOTAL, f"increase({XID_ERRORS_TOTAL}{{{EXPORTER_FILTER}}}[$__rate_interval])",
                              "short", "{{Hostname}} {{gpu}} XID {{xid}}", OWN_FAMILIES[XID_ERRORS_TOTAL].collector))
    return panels
