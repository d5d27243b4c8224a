"""Rule groups from the spec, rendered to Prometheus rule files (or PrometheusRule objects) with jinja2."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import jinja2
import yaml

from gpuhealth import catalog
from gpuhealth.catalog import FAMILY
from gpuhealth.durations import whole_seconds
from gpuhealth.rules import expressions as ex
from gpuhealth.rules.spec import Spec

# from the catalog's declarations: family -> physical range kept by validation; family -> (z-score
# floor, the signal's name in group names)
VALIDATED = {f.name: (f.lo, f.hi) for f in catalog.VALIDATED}
ANOMALY_FAMILIES = {f.name: (f.anomaly.floor, f.anomaly.signal.replace("_", "-")) for f in catalog.ANOMALY_FIELDS}
TREND_COUNTERS = (FAMILY.ecc_sbe_agg, FAMILY.correctable_remapped_rows)


@dataclass
class Rule:
    """One recording or alerting rule."""

    expr: str
    record: str | None = None
    alert: str | None = None
    for_: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class Group:
    """A rule group: evaluated in order, every interval."""

    name: str
    rules: list[Rule]
    interval: str | None = None


def inventory_rules(spec: Spec) -> list[Rule]:
    """The inventory: when each GPU was last seen, and its identity."""
    s = spec.selector
    keep = whole_seconds(spec.windows["inventory"])
    return [
        Rule(record="gpu:last_seen:timestamp", expr=(
            f"max by (UUID, Hostname, modelName, instance, job) (timestamp({FAMILY.gpu_temp}{{{s}}}))\n"
            f"or (gpu:last_seen:timestamp > time() - {keep})")),
        Rule(record="gpu:identity:info", expr=(
            # count by: the value 1 without two more passes of arithmetic over every GPU
            "count by (UUID, Hostname, modelName) (\n"
            "  topk by (UUID) (1, max by (UUID, Hostname, modelName) (gpu:last_seen:timestamp))\n)"))]


def placement_rules(spec: Spec) -> list[Rule]:
    """Each GPU's placement, from the inventory's identity (read one evaluation later)."""
    return [Rule(record="gpu:placement:info", expr=(
        "max by (UUID, Hostname, modelName, datacenter, rack, owner) (\n"
        "  gpu:identity:info * on (UUID) group_left (datacenter, rack, owner)"
        " max by (UUID, datacenter, rack, owner) (gpuhealth_asset_info)\n)\nor on (UUID)\n"
        'label_replace(label_replace(gpu:identity:info, "rack", "$1", "Hostname", "(.*)"), '
        '"datacenter", "unknown", "", "")'))]


def absent_rules(spec: Spec) -> list[Rule]:
    """The GPUs of the inventory whose telemetry stopped."""
    return [Rule(record="gpu:telemetry_absent:info",
                 expr=f"gpu:identity:info unless on (UUID) {FAMILY.gpu_temp}{{{spec.selector}}}")]


def threshold_rules(spec: Spec) -> list[Rule]:
    """The per-model threshold tables, read from the number of GPUs of each model (a handful of
    series) rather than from every GPU's identity."""
    rules = [Rule(record=ex.MODEL_COUNT, expr="count by (modelName) (gpu:identity:info)")]
    rules += [Rule(record=ex.threshold_series(p), expr=ex.threshold_rule(spec, p)) for p in ex.PARAMS
              if ex.varies(spec, p)]
    return rules


def slug(family: str) -> str:
    """A family's short name in group names: DCGM_FI_DEV_GPU_TEMP -> gpu-temp."""
    return family.removeprefix(catalog.DCGM_PREFIX).lower().replace("_", "-")


INVALID_INFO = "gpu:telemetry_invalid:info"  # per GPU and family with an invalid sample (sparse)


def validation_rules(spec: Spec) -> dict[str, list[Rule]]:
    """Per input family: the family kept only within its physical range, and, for the GPUs that have
    any, what validation drops (outside the range, NaN or infinite; sparse, like an error count).

    What is dropped is the family less what the first rule of the group has just recorded (a group's
    rules run in turn, each seeing the ones before): no arithmetic over every GPU, and NaN, which no
    comparison keeps, is dropped too."""
    s = spec.selector
    groups = {}
    for fam, (lo, hi) in VALIDATED.items():
        valid = f"gpu:{fam}:valid"
        groups[slug(fam)] = [
            Rule(record=valid, expr=f"{fam}{{{s}}} >= {lo} <= {hi}"),
            Rule(record=INVALID_INFO, expr=f"count by (UUID, Hostname, modelName) ({fam}{{{s}}} unless {valid})",
                 labels={"family": fam})]
    return groups


def invalid_rules() -> list[Rule]:
    """Per GPU that has any, and for the fleet, the number of families whose sample validation drops
    (read from the validation groups one evaluation later)."""
    return [Rule(record="gpu:telemetry_invalid:count", expr=f"count by (UUID, Hostname, modelName) ({INVALID_INFO})"),
            Rule(record="fleet:telemetry_invalid:sum", expr="sum(gpu:telemetry_invalid:count) or vector(0)")]


def anomaly_rules(spec: Spec) -> tuple[dict[str, list[Rule]], ...]:
    """Per signal: the 5-minute averages, the z-score against each GPU's own day, the z-score against
    its rack's peers of the same model (each in groups of their own, so the z-scores read the
    averages one evaluation later), and the hourly rollups the daily baseline is computed from.

    The baseline is hierarchical so that no evaluation reads a day of raw or per-minute samples:
    mean_1d = mean of the hourly means; var_1d = mean of the hourly variances + variance of the
    hourly means (the law of total variance over 24 equal hours). The hourly rollups of the counters
    behind the trends are the last entry of the third mapping ("counters").
    """
    w = spec.windows
    averages: dict[str, list[Rule]] = {}
    zscores: dict[str, list[Rule]] = {}
    peers: dict[str, list[Rule]] = {}
    hourly: dict[str, list[Rule]] = {}
    for fam, (floor, signal) in ANOMALY_FAMILIES.items():
        avg = f"gpu:{fam}:avg5m"
        mean1h, var1h = f"gpu:{fam}:avg1h", f"gpu:{fam}:stdvar1h"
        b = w["baseline"]
        averages[signal] = [
            Rule(record=avg, expr=(f"max by (UUID, modelName, rack) (\n  avg_over_time(gpu:{fam}:valid[5m])"
                                   " * on (UUID) group_left (rack) gpu:placement:info\n)"))]
        # the rollups carry avg5m's labels (UUID, modelName, rack), so the series match one to one
        zscores[signal] = [Rule(record=f"gpu:{fam}:zscore{b}", expr=(
            f"({avg} - avg_over_time({mean1h}[{b}]))\n"
            f"/ clamp_min(sqrt(avg_over_time({var1h}[{b}]) + stdvar_over_time({mean1h}[{b}])), {floor:g})"))]
        peers[signal] = [Rule(record=f"gpu:{fam}:peer_zscore", expr=(
            f"({avg} - on (modelName, rack) group_left avg by (modelName, rack) ({avg}))\n"
            f"/ on (modelName, rack) group_left clamp_min(stddev by (modelName, rack) ({avg}), {floor:g})"))]
        hourly[signal] = [Rule(record=mean1h, expr=f"avg_over_time({avg}[1h])"),
                          Rule(record=var1h, expr=f"stdvar_over_time({avg}[1h])")]
    at_load = f"gpu:{FAMILY.gpu_temp}:avg5m_at_load"
    averages["gpu-temp"].append(Rule(record=at_load, expr=(
        f"gpu:{FAMILY.gpu_temp}:avg5m and on (UUID) max by (UUID) (avg_over_time(gpu:{FAMILY.gpu_util}:valid[5m]))"
        " > 50")))
    hourly["gpu-temp"].append(Rule(record=f"gpu:{FAMILY.gpu_temp}:avg1h_at_load",
                                   expr=f"avg_over_time({at_load}[1h])"))
    hourly["counters"] = [Rule(record=f"gpu:{fam}:max1h", expr=f"max by (UUID) ({fam}{{{spec.selector}}})")
                          for fam in TREND_COUNTERS]
    return averages, zscores, peers, hourly


def trend_rules(spec: Spec) -> list[Rule]:
    """predict_linear over the last day of hourly points: temperature at load, ECC and remap counters."""
    t = spec.windows["trend"]
    rules = [Rule(record=f"gpu:{FAMILY.gpu_temp}:predict_linear{t}_at_load",
                  expr=f"predict_linear(gpu:{FAMILY.gpu_temp}:avg1h_at_load[{t}], 86400)")]
    rules += [Rule(record=f"gpu:{fam}:predict_linear7d", expr=f"predict_linear(gpu:{fam}:max1h[{t}], 7 * 86400)")
              for fam in TREND_COUNTERS]
    return rules


def recording_groups(spec: Spec) -> list[Group]:
    """Validation, enrichment, the five dimensions and the overall score, anomalies, trends, fleet rollups.

    Groups are small: Prometheus evaluates groups concurrently but the rules of one group in turn,
    and what an evaluation allocates is what slows it when the garbage collector runs. A rule that
    reads another group's output reads it one evaluation later.
    """
    every = spec.intervals
    dimensions = []
    for d, terms_of in ex.DIMENSION_TERMS.items():
        terms = terms_of(spec)
        apart = ex.RECORDED_APART.get(d, ())
        for names in apart:
            if len(names) == 1:  # one term: its signal is the rule's static label, and its group is named after it
                name = names[0]
                group, rule = f"gpuhealth-health-{d}-{name.replace('_', '-')}.rules", Rule(
                    record=ex.terms_series(d), expr=terms.pop(name), labels={"signal": name})
            else:
                group, rule = f"gpuhealth-health-{d}-terms.rules", Rule(
                    record=ex.terms_series(d), expr=ex.recorded_terms({n: terms.pop(n) for n in names}))
            dimensions.append(Group(group, [rule], every["scores"]))
        dimensions.append(Group(f"gpuhealth-health-{d}.rules", [
            Rule(record=ex.min_series(d), expr=ex.dimension_min(terms, ex.terms_series(d) if apart else None)),
            Rule(record=f"gpu:health_{d}:score", expr=ex.dimension(d))], every["scores"]))
    power_over_limit = Group("gpuhealth-power-over-limit.rules", [
        Rule(record=ex.POWER_OVER_LIMIT, expr=ex.power_over_limit_rule(spec))], every["scores"])
    overall = Group("gpuhealth-health.rules", [Rule(record="gpu:health:score", expr=ex.overall(spec))],
                    every["scores"])
    averages, zscores, peers, hourly = anomaly_rules(spec)
    racks, models, rollups = fleet_rules(spec)
    clock_events = [Group(f"gpuhealth-clock-events-{reason.replace('_', '-')}.rules", [
        Rule(record=ex.clock_event_series(spec), expr=ex.clock_event_rule(spec, (reason,)),
             labels={"reason": reason})], every["clock_events"])
        for reason in ex.CLOCK_EVENT_REASONS]
    last_seen, identity = inventory_rules(spec)
    return [Group("gpuhealth-inventory.rules", [last_seen], every["inventory"]),
            Group("gpuhealth-identity.rules", [identity], every["inventory"]),
            Group("gpuhealth-placement.rules", placement_rules(spec), every["inventory"]),
            Group("gpuhealth-telemetry-absent.rules", absent_rules(spec), every["scores"]),
            Group("gpuhealth-thresholds.rules", threshold_rules(spec), every["inventory"]),
            *(Group(f"gpuhealth-validation-{fam}.rules", rules, every["scores"])
              for fam, rules in validation_rules(spec).items()),
            Group("gpuhealth-telemetry-invalid.rules", invalid_rules(), every["scores"]),
            *clock_events, power_over_limit, *dimensions, overall,
            *(Group(f"gpuhealth-anomalies-{signal}{'-at-load' if rule.record.endswith('_at_load') else ''}.rules",
                    [rule], every["anomalies"])
              for signal, rules in averages.items() for rule in rules),
            *(Group(f"gpuhealth-anomaly-scores-{signal}.rules", rules, every["anomalies"])
              for signal, rules in zscores.items()),
            *(Group(f"gpuhealth-anomaly-peers-{signal}.rules", rules, every["anomalies"])
              for signal, rules in peers.items()),
            *(Group(f"gpuhealth-baselines-{signal}.rules", rules, every["baselines"])
              for signal, rules in hourly.items()),
            Group("gpuhealth-trends.rules", trend_rules(spec), every["trends"]),
            *(Group(f"gpuhealth-fleet-racks{part}.rules", [rule], every["fleet"])
              for part, rule in zip(("", "-gpus", "-below-threshold"), racks, strict=True)),
            Group("gpuhealth-fleet-models.rules", models, every["fleet"]),
            Group("gpuhealth-fleet.rules", rollups, every["fleet"])]


def fleet_rules(spec: Spec) -> tuple[list[Rule], list[Rule], list[Rule]]:
    """The rollups: per rack (from the per-GPU scores and their placement), per model (from the
    scores), and per datacenter and for the fleet, added up from the racks (a mean weighted by each
    rack's GPUs) so that the 10,000s of per-GPU series are read as few times as they can be."""
    thr = spec.scores["fleet_threshold"]
    placed = "(gpu:health:score * on (UUID) group_left (datacenter, rack) gpu:placement:info)"
    weighted = "rack:gpu_health_score:avg * rack:gpus:count"
    below = f"(gpu:health:score < {thr:g}) * on (UUID) group_left (datacenter, rack) gpu:placement:info"
    racks = [Rule(record="rack:gpu_health_score:avg", expr=f"avg by (datacenter, rack) {placed}"),
             Rule(record="rack:gpus:count", expr=f"count by (datacenter, rack) {placed}"),
             Rule(record="rack:gpu_health_score_below_threshold:count",
                  expr=f"count by (datacenter, rack) ({below})")]  # filtered first: few GPUs to join
    models = [Rule(record="model:gpu_health_score:avg", expr="avg by (modelName) (gpu:health:score)"),
              Rule(record="model:gpu_health_score_below_threshold:count",
                   expr=f"count by (modelName) (gpu:health:score < {thr:g})")]
    rollups = [Rule(record="datacenter:gpu_health_score:avg",
                    expr=f"sum by (datacenter) ({weighted}) / sum by (datacenter) (rack:gpus:count)"),
               Rule(record="datacenter:gpu_health_score_below_threshold:count",
                    expr="sum by (datacenter) (rack:gpu_health_score_below_threshold:count)"),
               Rule(record="fleet:gpu_health_score:avg", expr=f"sum({weighted}) / sum(rack:gpus:count)"),
               Rule(record="fleet:gpus:count", expr="sum(rack:gpus:count)")]
    return racks, models, rollups


def _alert(spec: Spec, name: str, expr: str, for_: str, severity: str, summary: str, description: str) -> Rule:
    return Rule(alert=name, expr=expr, for_=for_, labels={"severity": severity},
                annotations={"summary": summary, "description": description, "runbook_url": spec.runbook(name)})


GPU_DESC = "GPU {{ $labels.UUID }} on {{ $labels.Hostname }} ({{ $labels.modelName }})"


RAW_TOPICS = ("xid", "memory-errors", "hardware")  # alert topics on raw telemetry


def alert_groups(spec: Spec) -> list[Group]:
    """Alerts: XIDs, memory errors, off the bus, thermal and power pairs, low score, telemetry, predictions;
    one group per topic, so that Prometheus evaluates them concurrently and each stays small."""
    s = spec.selector
    crit = "|".join(str(x) for x in spec.xids["critical"])
    warn = "|".join(str(x) for x in spec.xids["warning"])
    ident = "* on (UUID) group_left (Hostname, modelName) gpu:identity:info"

    def xid_expr(codes: str) -> str:
        sel_ = f'{FAMILY.xid_errors_total}{{{s}, xid=~"{codes}"}}'
        new = f"(({sel_} > 0) unless {sel_} offset 10m)"
        return f"(max by (UUID, xid) (increase({sel_}[10m]) > 0 or {new})) {ident}"

    def temp_above(offset: float) -> str:
        return ex.above_threshold(spec, f"gpu:{FAMILY.gpu_temp}:valid", "slowdown_celsius", offset)

    def power_above(ratio: float) -> str:
        return f"{ex.POWER_OVER_LIMIT} > {ratio:g}"

    host = "max by (instance, job, Hostname) (gpu:last_seen:timestamp) * 0 + 1"
    # a DBE in the last 10 minutes: increase() reads the window once, where a difference reads the
    # family twice (a `> 0` test, so its extrapolation cannot matter); remaps in the last hour: the
    # exact difference, which reads two points instead of an hour of samples
    unc_new = ex.growth(f"{FAMILY.uncorrectable_remapped_rows}{{{s}}}", "1h")
    dbe_new = ex.by_gpu(f"increase({FAMILY.ecc_dbe_vol}{{{s}}}[10m]) > 0")
    brake = ex.clock_event_share(spec, 'reason="hw_power_brake"') + " > 0.05"

    a = spec.alerts
    p_warn, p_crit = a["failure_probability_warning"], a["failure_probability_critical"]
    model = spec.prediction_model
    sc = spec.scores
    # one topic per group, in this order; only the alerts on raw telemetry (RAW_TOPICS) run at the "alerts"
    # interval, the others read series recorded at the scores' interval
    topics = {
        "xid": [
            _alert(spec, "GpuXidCritical", xid_expr(crit), "0m", "critical", "A GPU reported a critical XID error.",
                   GPU_DESC + " reported XID {{ $labels.xid }}, a hardware fault class: drain it and check the "
                   "runbook."),
            _alert(spec, "GpuXidWarning", xid_expr(warn), "0m", "warning", "A GPU reported a warning-class XID error.",
                   GPU_DESC + " reported XID {{ $labels.xid }}; repeated warnings precede memory and firmware faults."),
        ],
        "memory-errors": [
            _alert(spec, "GpuDoubleBitEccError", dbe_new, "0m", "critical",
                   "A GPU had an uncorrectable (double-bit) ECC error.",
                   GPU_DESC + " had double-bit ECC errors in the last 10 minutes: the data it computed may be wrong."),
            _alert(spec, "GpuUncorrectableRowRemap", unc_new, "0m",
                   "warning", "A GPU remapped memory rows after uncorrectable errors.",
                   GPU_DESC + " remapped rows for uncorrectable errors in the last hour; a reset is needed to apply "
                   "the remap."),
            _alert(spec, "GpuRowRemapFailure", ex.by_gpu(f"{FAMILY.row_remap_failure}{{{s}}} == 1"), "0m",
                   "critical", "A GPU could not remap a failing memory row.",
                   GPU_DESC + " has a row-remapping failure: its memory cannot be repaired in the field; replace it."),
        ],
        "hardware": [
            _alert(spec, "GpuFallenOffBus", f"max by (UUID) ({FAMILY.gpu_up}{{{s}}} == 0) {ident}", "1m", "critical",
                   "A GPU stopped answering NVML (fallen off the bus).",
                   GPU_DESC + " does not answer NVML calls; jobs on it have failed."),
        ],
        "thermal-power": [
            _alert(spec, "GpuTemperatureHigh", temp_above(-5), "10m", "warning",
                   "A GPU runs within 5 C of its slowdown temperature.",
                   GPU_DESC + " is at {{ $value }} C, within 5 C of its slowdown temperature."),
            _alert(spec, "GpuTemperatureHigh", temp_above(0), "5m", "critical",
                   "A GPU is above its slowdown temperature.",
                   GPU_DESC + " is at {{ $value }} C, above its slowdown temperature: clocks are throttled."),
            _alert(spec, "GpuPowerAboveLimit", power_above(1.02), "10m", "warning",
                   "A GPU draws more than its power limit.",
                   GPU_DESC + " draws {{ $value | humanizePercentage }} of its power limit."),
            _alert(spec, "GpuPowerAboveLimit", power_above(1.06), "5m", "critical",
                   "A GPU draws far more than its power limit.",
                   GPU_DESC + " draws {{ $value | humanizePercentage }} of its power limit: check the power delivery."),
            _alert(spec, "GpuPowerBrakeSlowdown", f"({brake}) {ident}", "15m", "warning",
                   "A GPU is slowed down by its power brake.",
                   GPU_DESC + " spent {{ $value | humanizePercentage }} of 15 minutes in power-brake slowdown."),
        ],
        "telemetry": [
            _alert(spec, "GpuTelemetryInvalid", "gpu:telemetry_invalid:count > 0", "10m", "warning",
                   "A GPU reports values outside physical ranges.",
                   GPU_DESC + " reports {{ $value }} families outside their physical range."),
            _alert(spec, "GpuTelemetryAbsent",
                   "gpu:telemetry_absent:info", "10m", "warning",
                   f"A GPU that reported within the last {spec.windows['inventory']} reports no more.",
                   GPU_DESC + " stopped reporting telemetry."),
            _alert(spec, "GpuExporterDown",
                   f"(up{{{s}}} == 0) * on (instance, job) group_left (Hostname) {host}", "5m", "critical",
                   "A GPU exporter cannot be scraped.",
                   "The exporter {{ $labels.instance }} on {{ $labels.Hostname }} is down; its GPUs' alerts are "
                   "inhibited until it is back."),
        ],
        "verdicts": [
            _alert(spec, "GpuHealthScoreLow", f"gpu:health:score < {sc['low_warning']:g}", "15m", "warning",
                   "A GPU's health score is low.",
                   GPU_DESC + " has a health score of {{ $value | printf \"%.2f\" }}; see its five dimension scores."),
            _alert(spec, "GpuHealthScoreLow", f"gpu:health:score < {sc['low_critical']:g}", "10m", "critical",
                   "A GPU's health score is very low.",
                   GPU_DESC + " has a health score of {{ $value | printf \"%.2f\" }}; it is failing."),
        ],
        "predictions": [
            _alert(spec, "GpuFailurePredicted",
                   f'(max by (UUID) (gpuhealth_failure_probability{{horizon="7d", model="{model}"}}) > {p_warn:g})'
                   f" {ident}", "15m", "warning", "A GPU is likely to fail within 7 days.",
                   GPU_DESC + " will fail within 7 days with probability {{ $value | humanizePercentage }}."),
            _alert(spec, "GpuFailurePredicted",
                   f'(max by (UUID) (gpuhealth_failure_probability{{horizon="7d", model="{model}"}}) > {p_crit:g})'
                   f" {ident}", "15m", "critical", "A GPU is very likely to fail within 7 days.",
                   GPU_DESC + " will fail within 7 days with probability {{ $value | humanizePercentage }}."),
            _alert(spec, "GpuActionRecommended",
                   f'(max by (UUID, action) (gpuhealth_recommended_action{{action!="keep"}}) == 1) {ident}', "1h",
                   "info", "gpuhealth recommends an action other than keeping a GPU.",
                   GPU_DESC + ": recommended action is {{ $labels.action }}; see `gpuhealth report`."),
        ],
    }
    return [Group(f"gpuhealth-{topic}.alerts", rules, spec.intervals["alerts" if topic in RAW_TOPICS else "scores"])
            for topic, rules in topics.items()]


TEMPLATE = jinja2.Environment(loader=jinja2.PackageLoader("gpuhealth.rules", "templates"), autoescape=False,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)


def _indent(text: str, n: int) -> str:
    return "\n".join((" " * n + line) if line else line for line in text.splitlines())


TEMPLATE.filters["indent_block"] = _indent
TEMPLATE.filters["q"] = lambda v: yaml.safe_dump(v, default_style='"', width=10**6).strip().removesuffix("\n...")


def render_groups(groups: list[Group], kind: str, fmt: str = "files", name: str = "gpuhealth") -> str:
    """Rule groups as a rule file, or as a PrometheusRule object (fmt='prometheusrule')."""
    text = TEMPLATE.get_template("rules.yml.j2").render(groups=groups, kind=kind, name=name,
                                                       prometheusrule=fmt == "prometheusrule")
    yaml.safe_load(text)  # the rendering must be valid YAML
    return text


def generate(spec: Spec, out: Path, fmt: str = "files") -> list[Path]:
    """Write recording_rules/ and alert_rules/ under out; returns the files written."""
    written = []
    suffix = ".yml" if fmt == "files" else ".prometheusrule.yml"
    for sub, kind, groups in (("recording_rules", "recording", recording_groups(spec)),
                              ("alert_rules", "alerting", alert_groups(spec))):
        d = out / sub
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"gpuhealth{suffix}"
        path.write_text(render_groups(groups, kind, fmt, name=f"gpuhealth-{kind}"))
        written.append(path)
    return written


def generate_every(spec: Spec, out: Path, interval: str) -> list[Path]:
    """Rule files with every group evaluated at one interval (a demo or a test running on a fast clock)."""
    return generate(replace(spec, intervals=dict.fromkeys(spec.intervals, interval)), out)
