"""PromQL building blocks for the generated rules, each a pure function of the spec.

The rules are written for fleets of ten thousand GPUs and more, where what a rule costs is the
number of per-GPU series that pass through each vector operation. So:

- **Terms are sparse.** A dimension's term is below 1 only when something is wrong, so each term
  filters first (``Δ > 0``, ``temp > limit - margin``) and computes its penalty only for the GPUs
  that pass. The dimension is the minimum over the terms (each tagged with a ``signal`` label so
  that ``or`` keeps them all), and every other GPU that reports gets 1 from one ``or`` with the
  ``base`` (``gpu:identity:info`` less the GPUs whose telemetry stopped). A term whose family is
  absent (dcgm-exporter leaves ECC, retired pages and violations off by default) simply drops out.
- **Series keep (UUID, Hostname, modelName)** from dcgm-exporter's own labels, so no dense join
  with the identity is needed; families of gpuhealth's own (no modelName) join it after filtering.
- **Per-model thresholds** are a table with one series per GPU model (``model:<threshold>:threshold``),
  joined ``on (modelName)`` by the few GPUs a term keeps; thresholds every model shares are numbers.
- **Filter before aggregating**: ``max by (UUID, Hostname, modelName) (x > c)`` aggregates only the
  series the filter keeps (the same result as filtering the maximum); ``x / y`` of two families from
  the same exporter matches series one to one, one join instead of two aggregations and a join.
- **Deltas are filtered twice**: ``(x > 0) - x offset w > 0``: a counter that is still 0 (most error
  counters on most GPUs) leaves the difference at once.
"""

from __future__ import annotations

from gpuhealth.catalog import FAMILY
from gpuhealth.durations import whole_seconds
from gpuhealth.rules.spec import BUDGETS, ModelThresholds, Spec

GPU = "UUID, Hostname, modelName"  # the labels every per-GPU rule output carries
PARAMS = ("slowdown_celsius", "memory_max_celsius", *BUDGETS)
BASE = "gpu:identity:info unless on (UUID) gpu:telemetry_absent:info"


def by_gpu(expr: str) -> str:
    """expr reduced to one series per GPU, keeping its host and model (dcgm-exporter's families)."""
    return f"max by ({GPU}) ({expr})"


def growth(counter: str, window: str) -> str:
    """How much a counter grew over the window, for the GPUs where it grew: exact, no extrapolation,
    the same on Prometheus and VictoriaMetrics (their rate()/increase() extrapolate differently); a
    reset reads as no growth; absent until the series is a window old."""
    return f"{by_gpu(f'({counter} > 0) - {counter} offset {window} > 0')}"


def with_labels(expr: str) -> str:
    """A sparse per-UUID expression given the GPU's host and model from gpu:identity:info."""
    return f"({expr}) * on (UUID) group_left (Hostname, modelName) gpu:identity:info"


def sel(spec: Spec, extra: str = "") -> str:
    """The exporter selector, with extra matchers."""
    return "{" + spec.selector + (f", {extra}" if extra else "") + "}"


def model_matcher(model: ModelThresholds) -> str:
    """The modelName matcher of a model."""
    return f'modelName=~"{model.match}"'


def param_values(spec: Spec, param: str) -> list[float]:
    """A threshold's value for each model, in the spec's order (default last)."""
    return [getattr(m, param) if param in ("slowdown_celsius", "memory_max_celsius") else m.budgets[param]
            for m in spec.models]


def varies(spec: Spec, param: str) -> bool:
    """Whether models differ on a threshold (then it is a recorded table by model, else a constant)."""
    return len(set(param_values(spec, param))) > 1


def threshold_series(param: str) -> str:
    """The name of the recorded per-model series holding a threshold."""
    return f"model:{param}:threshold"


MODEL_COUNT = "model:gpus:count"  # GPUs per model: the few series the threshold tables are read from


def threshold_rule(spec: Spec, param: str, source: str = MODEL_COUNT, extra: str = "") -> str:
    """A threshold's value for each GPU model present (one series per modelName): the first model of
    the spec whose match fits wins. The models are read from ``source`` (model:gpus:count, one series
    per model); ``source`` and ``extra`` matchers name a per-GPU family instead for engines that run
    no rules."""
    parts = []
    for m, v in zip(spec.models, param_values(spec, param), strict=True):
        matchers = extra + model_matcher(m) if m.name != "default" else extra.rstrip(", ")
        selector = f"{source}{{{matchers}}}" if matchers else source
        parts.append(f"max by (modelName) ({selector}) * 0 + {v:g}")
    return "\n".join([parts[0], *("or " + p for p in parts[1:])])


def threshold(spec: Spec, param: str) -> str:
    """A threshold as PromQL: a number when every model shares it, else the per-model table."""
    return threshold_series(param) if varies(spec, param) else f"{param_values(spec, param)[0]:g}"


def op(left: str, sym: str, right: str) -> str:
    """left <sym> right, matched on the GPU model when the right side is a per-model table."""
    return f"{left} {sym} on (modelName) group_left () {right}" if "model:" in right else f"{left} {sym} {right}"


def above_threshold(spec: Spec, expr: str, param: str, offset: float = 0.0) -> str:
    """The GPUs whose expr (a family with modelName) is above their model's threshold plus offset.

    A per-model threshold is met in two steps: a filter by the lowest model's value, then the join
    with the table for the few GPUs left.
    """
    limit = threshold(spec, param)
    if not varies(spec, param):
        return by_gpu(f"{expr} > {float(limit) + offset:g}")
    lowest = min(param_values(spec, param)) + offset
    shifted = f"({limit} - {-offset:g})" if offset else limit
    return f"{by_gpu(f'{expr} > {lowest:g}')} > on (modelName) group_left () {shifted}"


def tagged(expr: str, signal: str) -> str:
    """expr with a ``signal`` label naming the term."""
    return f'label_replace({expr}, "signal", "{signal}", "", "")'


def penalty(weight: float, share: str) -> str:
    """1 - weight * min(share, 1), for a share already known to be above 0."""
    return f"1 - {weight:g} * clamp_max({share}, 1)" if weight != 1 else f"1 - clamp_max({share}, 1)"


# Terms read from gpuhealth's own families or from series recorded per UUID, which have no modelName:
# the dimension gives them the GPU's host and model from gpu:identity:info, in one join.
BY_UUID = frozenset({"hw_slowdown", "sw_thermal", "power_brake", "xid_critical", "xid_warning", "gpu_up"})


def dimension_min(terms: dict[str, str], recorded: str | None = None) -> str:
    """The minimum over named sparse terms per GPU, for the GPUs that have any (a dimension below 1).

    ``recorded`` names a series of terms recorded apart (already tagged with their signal), read as
    one more term.
    """
    parts = [tagged(expr, name) for name, expr in terms.items() if name not in BY_UUID]
    uuid_only = [tagged(expr, name) for name, expr in terms.items() if name in BY_UUID]
    if uuid_only:  # one join for all of them: each join reads every GPU's identity
        parts.append(with_labels("\n    or ".join(uuid_only)))
    parts += [recorded] if recorded else []
    body = "\n  or ".join(parts)
    return f"min by ({GPU}) (\n  {body}\n)"


def min_series(dimension: str) -> str:
    """The recorded series of a dimension's minimum over its terms: only the GPUs below 1 (sparse),
    which the overall score reads instead of every GPU's five dimension scores."""
    return f"gpu:health_{dimension}_terms:min"


def with_base(scores: str) -> str:
    """Sparse per-GPU scores, and 1 for every other GPU reporting now.

    A GPU that stopped reporting has no score (unknown), never a healthy one; a GPU that fell off
    the bus keeps the terms that say so (gpuhealth_gpu_up 0).
    """
    return f"{scores}\nor on (UUID)\n({BASE})"


def dimension(name: str) -> str:
    """A dimension's score, from its terms' minimum recorded just before in the same group (a group's
    rules run in turn, each seeing what the ones before recorded)."""
    return with_base(min_series(name))


def terms_series(dimension: str) -> str:
    """The recorded series of a dimension's terms that are computed in a group of their own."""
    return f"gpu:health_{dimension}_terms:score"


# Terms recorded by groups of their own (one group per tuple) and read by their dimension as one
# sparse series: the memory error-counter deltas (six reads), the PCIe link state (four families,
# two dense comparisons), the SM clock under load and the power spikes (15-minute windows of a
# family divided by another) and the four NVLink error counters (eight reads) would otherwise make
# memory, performance, power and reliability the most expensive rules; Prometheus evaluates the
# groups concurrently, and the dimension reads the terms one evaluation later.
RECORDED_APART: dict[str, tuple[tuple[str, ...], ...]] = {
    "memory": (("sbe", "correctable_remaps", "dbe"),),
    "performance": (("pcie_width", "pcie_gen"), ("sm_clock_under_load",)),
    "power": (("spikes",),),
    "reliability": (("nvlink_errors",),)}


def recorded_terms(terms: dict[str, str]) -> str:
    """A sparse series of tagged terms (their penalty, for the GPUs where they apply)."""
    return "\nor ".join(tagged(expr, name) for name, expr in terms.items())


def memory_terms(spec: Spec) -> dict[str, str]:
    """Memory: SBE rate, correctable and uncorrectable remaps, DBE, retired pages, remap failure."""
    w = spec.windows

    def share(expr: str, param: str) -> str:
        return op(expr, "/", threshold(spec, param))

    sbe = growth(f"{FAMILY.ecc_sbe_vol}{sel(spec)}", w["sbe"])
    remaps = growth(f"{FAMILY.correctable_remapped_rows}{sel(spec)}", w["errors"])
    dbe = growth(f"{FAMILY.ecc_dbe_vol}{sel(spec)}", w["errors"])
    unc = by_gpu(f"{FAMILY.uncorrectable_remapped_rows}{sel(spec)} > 0")
    pages = f'sum by ({GPU}) ({{__name__=~"{FAMILY.retired_sbe}|{FAMILY.retired_dbe}", {spec.selector}}} > 0)'
    failed = by_gpu(f"{FAMILY.row_remap_failure}{sel(spec)} > 0")
    return {
        "sbe": penalty(0.5, share(sbe, "sbe_per_hour_budget")),
        "correctable_remaps": penalty(0.6, share(remaps, "correctable_remaps_budget")),
        "dbe": penalty(0.8, dbe),
        "uncorrectable_remaps": penalty(0.8, share(unc, "uncorrectable_remaps_budget")),
        "retired_pages": penalty(0.7, share(pages, "retired_pages_budget")),
        "remap_failure": f"1 - clamp_max({failed}, 1)",
    }


def temperature_share(spec: Spec, temp: str, limit_param: str) -> str:
    """For the GPUs above (limit - margin): (temp - limit) / margin + 1, 0 at limit - margin, 1 at the limit."""
    margin, limit = threshold(spec, "temp_warning_margin_celsius"), threshold(spec, limit_param)
    lowest = min(lim - mar for lim, mar in zip(param_values(spec, limit_param),
                                              param_values(spec, "temp_warning_margin_celsius"), strict=True))
    hot = by_gpu(f"{temp} > {lowest:g}")
    return "(" + op(f"({op(hot, '-', limit)})", "/", margin) + " + 1 > 0)"


def thermal_terms(spec: Spec) -> dict[str, str]:
    """Thermal: GPU and memory temperature against the model's limits, thermal violation time."""
    w = spec.windows
    gpu = temperature_share(spec, f"gpu:{FAMILY.gpu_temp}:valid", "slowdown_celsius")
    mem = temperature_share(spec, f"gpu:{FAMILY.memory_temp}:valid", "memory_max_celsius")
    throttled = growth(f"{FAMILY.thermal_violation}{sel(spec)}", w["throttle"])
    share = f"{throttled} / 1e9 / {whole_seconds(w['throttle'])}"
    return {"gpu_temp": penalty(1, gpu), "memory_temp": penalty(1, mem),
            "thermal_violation": penalty(1, f"{share} / 0.5")}


CLOCK_EVENT_REASONS = ("hw_slowdown", "hw_thermal", "sw_thermal", "power_cap", "hw_power_brake")


def clock_event_series(spec: Spec) -> str:
    """The recorded series of clock-event shares (one per GPU and reason that had the event)."""
    return f"gpu:{FAMILY.clock_event_active}:avg{spec.windows['throttle']}"


def clock_event_rule(spec: Spec, reasons: tuple[str, ...] = CLOCK_EVENT_REASONS) -> str:
    """For each GPU and clock-event reason (of ``reasons``) that was active in the throttle window,
    the share of the window it was active: one read of the window for the scores and the alerts."""
    w = spec.windows["throttle"]
    matchers = sel(spec, f'reason="{reasons[0]}"' if len(reasons) == 1 else 'reason=~"' + "|".join(reasons) + '"')
    return f"max by (UUID, reason) (avg_over_time({FAMILY.clock_event_active}{matchers}[{w}]) > 0)"


def clock_event_share(spec: Spec, reason: str) -> str:
    """For the GPUs that had it: the share of the throttle window a clock-event reason was active."""
    return f"max by (UUID) ({clock_event_series(spec)}{{{reason}}})"


POWER_OVER_LIMIT = "gpu:power_usage_over_limit:ratio"  # its own group; read by the power score and alerts


def power_over_limit_rule(spec: Spec) -> str:
    """Draw over the power limit, for the GPUs above it (sparse): recorded once a minute for the power
    score and for both GpuPowerAboveLimit alerts, which would otherwise each join both families."""
    return by_gpu(f"gpu:{FAMILY.power_usage}:valid / {FAMILY.power_mgmt_limit}{sel(spec)} > 1")


def power_terms(spec: Spec) -> dict[str, str]:
    """Power: draw above the limit, violation time, spikes above the limit, power-brake slowdowns."""
    w = spec.windows
    throttle = w["throttle"]
    limit = f"{FAMILY.power_mgmt_limit}{sel(spec)}"
    peak = by_gpu(f"max_over_time({FAMILY.power_usage}{sel(spec)}[{throttle}]) / {limit} > 1.03")
    over = f"({POWER_OVER_LIMIT} - 1)"
    violation = growth(f"{FAMILY.power_violation}{sel(spec)}", w["throttle"])
    brake = clock_event_share(spec, 'reason="hw_power_brake"')
    return {"over_limit": penalty(0.5, f"{over} / 0.08"),
            "power_violation": penalty(0.3, f"{violation} / 1e9 / {whole_seconds(w['throttle'])}"),
            "spikes": penalty(1, f"({peak} - 1.03) / 0.05"),
            "power_brake": penalty(1, f"4 * {brake}")}


def performance_terms(spec: Spec) -> dict[str, str]:
    """Performance: hardware slowdowns, thermal clock events, SM clock under load, PCIe downtraining."""
    w = spec.windows["throttle"]
    hw = clock_event_share(spec, 'reason=~"hw_slowdown|hw_thermal"')
    sw = clock_event_share(spec, 'reason="sw_thermal"')
    capped = f'{clock_event_series(spec)}{{reason="power_cap"}} > 0.5'
    clock = by_gpu(f"avg_over_time(gpu:{FAMILY.sm_clock}:valid[{w}]) / {FAMILY.max_sm_clock}{sel(spec)} < 0.9")
    loaded = f"max by (UUID) (avg_over_time(gpu:{FAMILY.gpu_util}:valid[{w}]) > 50)"
    slow = f"({clock} and on (UUID) {loaded}) unless on (UUID) ({capped})"
    narrow = by_gpu(f"{FAMILY.pcie_link_width}{sel(spec)} < {FAMILY.pcie_max_link_width}{sel(spec)}")
    older = by_gpu(f"{FAMILY.pcie_link_gen}{sel(spec)} < {FAMILY.pcie_max_link_gen}{sel(spec)}")
    return {"hw_slowdown": penalty(1, f"2 * {hw}"), "sw_thermal": penalty(0.5, sw),
            "sm_clock_under_load": f"clamp_min((({slow}) - 0.5) / 0.4, 0)",
            "pcie_width": f"({narrow}) * 0 + 0.5", "pcie_gen": f"({older}) * 0 + 0.7"}


def new_events(counter: str, window: str) -> str:
    """Events counted by a counter over a window, for the GPUs that had any, including a series' first
    events (no extrapolation).

    ``increase()`` would miss the first XIDs of a series that appears inside the window (Prometheus
    extrapolates from its first sample, VictoriaMetrics counts from zero): the difference with the
    value a window ago, or with zero for a new series, is exact and the same on both engines. XID
    series exist only for GPUs that had XIDs, so this reads few series.
    """
    return f"(sum by (UUID) (clamp_min({counter} - ({counter} offset {window} or {counter} * 0), 0)) > 0)"


def gpu_down(spec: Spec) -> str:
    """0 for each GPU (by UUID) that no longer answers NVML (gpuhealth's exporter only)."""
    return f"max by (UUID) ({FAMILY.gpu_up}{sel(spec)} == 0)"


def reliability_terms(spec: Spec) -> dict[str, str]:
    """Reliability: XIDs by severity class, NVLink and PCIe error rates, the GPU answering."""
    w = spec.windows
    crit = "|".join(str(x) for x in spec.xids["critical"])
    warn = "|".join(str(x) for x in spec.xids["warning"])
    crit_sel = sel(spec, 'xid=~"' + crit + '"')
    warn_sel = sel(spec, 'xid=~"' + warn + '"')
    xc = new_events(f"{FAMILY.xid_errors_total}{crit_sel}", w["errors"])
    xw = new_events(f"{FAMILY.xid_errors_total}{warn_sel}", w["errors"])
    links = [growth(f"{family}{sel(spec)}", "1h")
             for family in (FAMILY.nvlink_crc_flit_errors, FAMILY.nvlink_crc_data_errors, FAMILY.nvlink_replay_errors,
                            FAMILY.nvlink_recovery_errors)]
    nvl = f"sum by ({GPU}) (\n    " + "\n    or ".join(tagged(x, f"link{i}") for i, x in enumerate(links)) + "\n  )"
    pcie = growth(f"{FAMILY.pcie_replay_counter}{sel(spec)}", "1h")
    return {"xid_critical": penalty(0.9, op(xc, "/", threshold(spec, "critical_xids_budget"))),
            "xid_warning": penalty(0.5, f"{xw} / 10"),
            "nvlink_errors": penalty(0.7, op(nvl, "/", threshold(spec, "nvlink_errors_per_hour_budget"))),
            "pcie_replays": penalty(0.6, op(pcie, "/", threshold(spec, "pcie_replays_per_hour_budget"))),
            "gpu_up": gpu_down(spec)}


DIMENSION_TERMS = {"memory": memory_terms, "thermal": thermal_terms, "power": power_terms,
                   "performance": performance_terms, "reliability": reliability_terms}


def overall(spec: Spec) -> str:
    """prod(score_d ^ (w_d / w_max)) over the dimensions below 1; 1 for a GPU whose dimensions are all 1;
    0 for a GPU that answers no more.

    The worst dimension dominates, the weights temper the others. Only the GPUs with a dimension
    below 1 go through the logarithms. A GPU's going down is read from the exporter directly: the
    dimension groups run at their own moments, and in the evaluation after a GPU fell off the bus
    the dimension that was low may have gone (no data) before reliability has seen the GPU down.
    """
    parts = [tagged(f"ln(clamp_min({min_series(d)} < 1, 0.001)) * {w / spec.max_weight:.4g}", d)
             for d, w in spec.weights.items() if w > 0]
    first = next(d for d, w in spec.weights.items() if w > 0)
    return (f"{with_labels(gpu_down(spec))}\nor on (UUID)\n"
            f"exp(sum by ({GPU}) (\n  " + "\n  or ".join(parts) + "\n))\n"
            f"or on (UUID)\ngpu:health_{first}:score")
