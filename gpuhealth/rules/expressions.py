"""PromQL building blocks for the generated rules, each a pure function of the spec.

Every per-GPU term is reduced ``by (UUID)`` so that series from ours and from dcgm-exporter (whose
extra labels differ) combine; a dimension is the minimum of its terms, each tagged with a
``signal`` label so that ``or`` keeps them all. A term whose family is absent (dcgm-exporter
leaves ECC, retired pages and violations off by default) simply drops out, and the ``base`` term
(1 for every GPU that reports now) keeps the dimension present.

Each raw family is read once per term. Thresholds that differ between GPU models are recorded once
per GPU (``gpu:<threshold>:threshold``, from the GPU's model) and joined on UUID; thresholds every
model shares are written as numbers.
"""

from __future__ import annotations

from gpuhealth.rules.spec import BUDGETS, ModelThresholds, Spec

SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds(window: str) -> int:
    """A PromQL duration in seconds."""
    return int(window[:-1]) * SECONDS[window[-1]]


def window_delta(counter: str, window: str) -> str:
    """How much a counter grew over the window: exact, no extrapolation, the same on Prometheus and
    VictoriaMetrics (their rate()/increase() extrapolate differently); a reset counts as zero; absent
    until the series is a window old."""
    return f"clamp_min({counter} - {counter} offset {window}, 0)"


def clamp01(expr: str) -> str:
    """expr limited to 0..1."""
    return f"clamp_max(clamp_min({expr}, 0), 1)"


def sel(spec: Spec, extra: str = "") -> str:
    """The exporter selector, with extra matchers."""
    return "{" + spec.selector + (f", {extra}" if extra else "") + "}"


def model_matcher(model: ModelThresholds) -> str:
    """The modelName matcher of a model."""
    return f'modelName=~"{model.match}"'


PARAMS = ("slowdown_celsius", "memory_max_celsius", *BUDGETS)


def param_values(spec: Spec, param: str) -> list[float]:
    """A threshold's value for each model, in the spec's order (default last)."""
    return [getattr(m, param) if param in ("slowdown_celsius", "memory_max_celsius") else m.budgets[param]
            for m in spec.models]


def varies(spec: Spec, param: str) -> bool:
    """Whether models differ on a threshold (then it is a recorded per-GPU series, else a constant)."""
    return len(set(param_values(spec, param))) > 1


def threshold_series(param: str) -> str:
    """The name of the recorded per-GPU series holding a threshold."""
    return f"gpu:{param}:threshold"


def threshold_rule(spec: Spec, param: str, source: str = "gpu:identity:info", extra: str = "") -> str:
    """Each GPU's value of a threshold, from its model: the first model whose match fits wins.

    Computed once per GPU from gpu:identity:info (one series per GPU), so that the scores join one
    threshold series on UUID instead of re-reading every raw family once per model. ``source`` and
    ``extra`` matchers name another per-GPU family to read the models from (tests on engines that run
    no rules).
    """
    parts = [f"{source}{{{extra}{model_matcher(m)}}} * 0 + {v:g}" if m.name != "default"
             else (f"{source}{{{extra.rstrip(', ')}}}" if extra else source) + f" * 0 + {v:g}"
             for m, v in zip(spec.models, param_values(spec, param), strict=True)]
    return "max by (UUID) (\n  " + "\n  or ".join(parts) + "\n)"


def threshold(spec: Spec, param: str) -> str:
    """A threshold as PromQL: a number when every model shares it, else the per-GPU series."""
    return threshold_series(param) if varies(spec, param) else f"{param_values(spec, param)[0]:g}"


def op(left: str, sym: str, right: str) -> str:
    """left <sym> right, matched on UUID when the right side is a per-GPU series."""
    return f"{left} {sym} on (UUID) {right}" if "gpu:" in right else f"{left} {sym} {right}"


def tagged(expr: str, signal: str) -> str:
    """expr with a ``signal`` label naming the term."""
    return f'label_replace({expr}, "signal", "{signal}", "", "")'


REPORTING = "max by (UUID) (gpu:last_seen:timestamp > time() - 300) * 0 + 1"


def dimension(terms: dict[str, str]) -> str:
    """The minimum over named terms, one value per UUID; 1 for a GPU reporting now with nothing wrong.

    The ``base`` term covers only GPUs whose telemetry is present now: a GPU that stopped reporting
    has no score (unknown), never a healthy one.
    """
    body = "\n  or ".join(tagged(expr, name) for name, expr in terms.items())
    return f"min by (UUID) (\n  {body}\n  or {tagged(REPORTING, 'base')}\n)"


def with_identity(expr: str) -> str:
    """A per-UUID expression joined with the GPU's host and model labels."""
    return f"(\n{expr}\n) * on (UUID) group_left (Hostname, modelName) gpu:identity:info"


def memory_terms(spec: Spec) -> dict[str, str]:
    """Memory: SBE rate, correctable and uncorrectable remaps, DBE, retired pages, remap failure."""
    w = spec.windows
    sbe = f"max by (UUID) ({window_delta(f'DCGM_FI_DEV_ECC_SBE_VOL_TOTAL{sel(spec)}', w['sbe'])})"
    remaps = f"max by (UUID) ({window_delta(f'DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS{sel(spec)}', w['errors'])})"
    unc = f"max by (UUID) (DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS{sel(spec)})"
    pages = f'sum by (UUID) ({{__name__=~"DCGM_FI_DEV_RETIRED_(SBE|DBE)", {spec.selector}}})'
    dbe = f"max by (UUID) ({window_delta(f'DCGM_FI_DEV_ECC_DBE_VOL_TOTAL{sel(spec)}', w['errors'])})"

    def share(expr: str, param: str) -> str:
        return clamp01(op(expr, "/", threshold(spec, param)))

    return {
        "sbe": "1 - 0.5 * " + share(sbe, "sbe_per_hour_budget"),
        "correctable_remaps": "1 - 0.6 * " + share(remaps, "correctable_remaps_budget"),
        "dbe": f"1 - 0.8 * {clamp01(dbe)}",
        "uncorrectable_remaps": "1 - 0.8 * " + share(unc, "uncorrectable_remaps_budget"),
        "retired_pages": "1 - 0.7 * " + share(pages, "retired_pages_budget"),
        "remap_failure": f"1 - max by (UUID) (DCGM_FI_DEV_ROW_REMAP_FAILURE{sel(spec)})",
    }


def temperature_share(spec: Spec, temp: str, limit_param: str) -> str:
    """0 at the limit minus the warning margin, rising to 1 at the limit: (temp - limit) / margin + 1."""
    margin = threshold(spec, "temp_warning_margin_celsius")
    return clamp01(op(f"({op(temp, '-', threshold(spec, limit_param))})", "/", margin) + " + 1")


def thermal_terms(spec: Spec) -> dict[str, str]:
    """Thermal: GPU and memory temperature against the model's limits, thermal violation time."""
    w = spec.windows
    gpu = temperature_share(spec, "max by (UUID) (gpu:DCGM_FI_DEV_GPU_TEMP:valid)", "slowdown_celsius")
    mem = temperature_share(spec, "max by (UUID) (gpu:DCGM_FI_DEV_MEMORY_TEMP:valid)", "memory_max_celsius")
    violation = (f"max by (UUID) ({window_delta(f'DCGM_FI_DEV_THERMAL_VIOLATION{sel(spec)}', w['throttle'])})"
                 f" / 1e9 / {seconds(w['throttle'])}")
    return {"gpu_temp": f"1 - {gpu}", "memory_temp": f"1 - {mem}",
            "thermal_violation": f"1 - {clamp01(f'{violation} / 0.5')}"}


def power_terms(spec: Spec) -> dict[str, str]:
    """Power: draw above the limit, violation time, spikes above the limit, power-brake slowdowns."""
    w = spec.windows
    limit = f"max by (UUID) (DCGM_FI_DEV_POWER_MGMT_LIMIT{sel(spec)})"
    over = f"(max by (UUID) (gpu:DCGM_FI_DEV_POWER_USAGE:valid) / {limit} - 1) / 0.08"
    violation = (f"max by (UUID) ({window_delta(f'DCGM_FI_DEV_POWER_VIOLATION{sel(spec)}', w['throttle'])})"
                 f" / 1e9 / {seconds(w['throttle'])}")
    peak = f"max by (UUID) (max_over_time(DCGM_FI_DEV_POWER_USAGE{sel(spec)}[{w['throttle']}])) / {limit}"
    brake_sel = sel(spec, 'reason="hw_power_brake"')
    brake = f"max by (UUID) (avg_over_time(gpuhealth_clock_event_active{brake_sel}[{w['throttle']}]))"
    return {"over_limit": f"1 - 0.5 * {clamp01(over)}", "power_violation": f"1 - 0.3 * {clamp01(violation)}",
            "spikes": f"1 - {clamp01(f'({peak} - 1.03) / 0.05')}", "power_brake": f"1 - {clamp01(f'4 * {brake}')}"}


def performance_terms(spec: Spec) -> dict[str, str]:
    """Performance: hardware slowdowns, thermal clock events, SM clock under load, PCIe downtraining."""
    w = spec.windows

    def active(reason: str) -> str:
        return f"max by (UUID) (avg_over_time(gpuhealth_clock_event_active{sel(spec, reason)}[{w['throttle']}]))"

    hw = active('reason=~"hw_slowdown|hw_thermal"')
    sw = active('reason="sw_thermal"')
    capped = active('reason="power_cap"') + " > 0.5"
    clock = (f"max by (UUID) (avg_over_time(gpu:DCGM_FI_DEV_SM_CLOCK:valid[{w['throttle']}]))"
             f" / max by (UUID) (DCGM_FI_DEV_MAX_SM_CLOCK{sel(spec)})")
    loaded = f"max by (UUID) (avg_over_time(gpu:DCGM_FI_DEV_GPU_UTIL:valid[{w['throttle']}])) > 50"
    width = (f"max by (UUID) (DCGM_FI_DEV_PCIE_LINK_WIDTH{sel(spec)}) >= bool "
             f"max by (UUID) (DCGM_FI_DEV_PCIE_MAX_LINK_WIDTH{sel(spec)})")
    gen = (f"max by (UUID) (DCGM_FI_DEV_PCIE_LINK_GEN{sel(spec)}) >= bool "
           f"max by (UUID) (DCGM_FI_DEV_PCIE_MAX_LINK_GEN{sel(spec)})")
    return {"hw_slowdown": f"1 - {clamp01(f'2 * {hw}')}", "sw_thermal": f"1 - 0.5 * {clamp01(sw)}",
            "sm_clock_under_load": f"({clamp01(f'({clock} - 0.5) / 0.4')} and on (UUID) ({loaded}))"
                                   f" unless on (UUID) ({capped})",
            "pcie_width": f"0.5 + 0.5 * ({width})", "pcie_gen": f"0.7 + 0.3 * ({gen})"}


def new_events(counter: str, window: str) -> str:
    """Events counted by a counter over a window, including a series' first events (no extrapolation).

    ``increase()`` would miss the first XIDs of a series that appears inside the window (Prometheus
    extrapolates from its first sample, VictoriaMetrics counts from zero): the difference with the
    value a window ago, or with zero for a new series, is exact and the same on both engines.
    """
    return f"sum by (UUID) (clamp_min({counter} - ({counter} offset {window} or {counter} * 0), 0))"


def reliability_terms(spec: Spec) -> dict[str, str]:
    """Reliability: XIDs by severity class, NVLink and PCIe error rates, the GPU answering."""
    w = spec.windows
    crit = "|".join(str(x) for x in spec.xids["critical"])
    warn = "|".join(str(x) for x in spec.xids["warning"])
    crit_sel = sel(spec, 'xid=~"' + crit + '"')
    warn_sel = sel(spec, 'xid=~"' + warn + '"')
    xc = new_events(f"gpuhealth_xid_errors_total{crit_sel}", w["errors"])
    xw = new_events(f"gpuhealth_xid_errors_total{warn_sel}", w["errors"])
    links = [f"DCGM_FI_DEV_NVLINK_{c}_ERROR_COUNT_TOTAL{sel(spec)}" for c in ("CRC_FLIT", "CRC_DATA", "REPLAY",
                                                                              "RECOVERY")]
    nvl = "(" + " + ".join(f"max by (UUID) ({window_delta(c, '1h')})" for c in links) + ")"
    pcie = f"max by (UUID) ({window_delta(f'DCGM_FI_DEV_PCIE_REPLAY_COUNTER{sel(spec)}', '1h')})"
    return {"xid_critical": "1 - 0.9 * " + clamp01(op(xc, "/", threshold(spec, "critical_xids_budget"))),
            "xid_warning": "1 - 0.5 * " + clamp01(f"{xw} / 10"),
            "nvlink_errors": "1 - 0.7 * " + clamp01(op(nvl, "/", threshold(spec, "nvlink_errors_per_hour_budget"))),
            "pcie_replays": "1 - 0.6 * " + clamp01(op(pcie, "/", threshold(spec, "pcie_replays_per_hour_budget"))),
            "gpu_up": f"max by (UUID) (gpuhealth_gpu_up{sel(spec)})"}


DIMENSION_TERMS = {"memory": memory_terms, "thermal": thermal_terms, "power": power_terms,
                   "performance": performance_terms, "reliability": reliability_terms}


def overall(spec: Spec) -> str:
    """prod(score_d ^ (w_d / w_max)): the worst dimension dominates, weights temper the others."""
    parts = [f"ln(clamp_min(gpu:health_{d}:score, 0.001)) * {w / spec.max_weight:.4g}"
             for d, w in spec.weights.items() if w > 0]
    return ("clamp_max(exp(\n  " + "\n  + ".join(parts) + "\n), 1)\n"
            "or (gpu:health_reliability:score == 0)")
