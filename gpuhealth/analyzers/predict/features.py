"""Features, defined once: each is a PromQL query over all GPUs (online) and SQL over the sink's
rollups (offline, for training on stored history), so that both paths compute the same thing.

A feature is a kind (last value, growth over a window, average, maximum or minimum) of one raw
exporter family, optionally restricted by label values. Only raw families are used (ours or
dcgm-exporter's); a family that is absent (dcgm-exporter leaves ECC and violations off by default)
gives NaN for every GPU, which the models treat as missing, never as healthy.
"""

from __future__ import annotations

import functools
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from gpuhealth.analyzers.promql import PromClient, promql_string
from gpuhealth.catalog import FAMILY, XidSeverity, xid_codes
from gpuhealth.durations import whole_seconds

QUERY_THREADS = 4  # feature queries in flight at once (Prometheus's default limit is 20)
# the spans a growth falls back to, longest first, when its window reaches back before the first sample
# (a young Prometheus, a GPU added lately): the growth over the longest span that holds data
SPANS: tuple[str, ...] = ("7d", "4d", "2d", "1d", "12h", "6h", "3h", "1h", "30m", "10m")
COVERAGE_METRIC = FAMILY.gpu_temp  # the family whose history says how far back a GPU's data reaches


@functools.cache
def default_selector() -> str:
    """The rule spec's selector, so that the rules and the analyzers read the same series."""
    from gpuhealth.rules.spec import load_spec

    return load_spec().selector


def spans(window: str, shortest: float = 0.0) -> tuple[str, ...]:
    """The window and the shorter fallback spans down to ``shortest`` seconds, longest first."""
    # the coverage query writes a span's days with 6 digits: compare within a part in a thousand
    return (window, *(s for s in SPANS if shortest * 0.999 <= whole_seconds(s) < whole_seconds(window)))


@dataclass(frozen=True)
class Feature:
    """One per-GPU feature: ``kind`` of ``metric`` over ``window``, aggregated per UUID by ``agg``.

    A window covers what exists: an average, maximum or minimum is over the samples in it, a growth
    (``delta``) is over the longest of ``spans(window)`` that holds data (a counter lower than it was
    was reset, by a driver reload: its growth is then its value, the count since the reset), and
    ``coverage`` is that span in days for the metric itself (how far back the GPU's history reaches,
    capped at the window)."""

    name: str
    kind: str  # last | delta | avg | max | min | coverage
    metric: str
    window: str = "10m"
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    agg: str = "max"  # how series of one GPU combine: max or sum
    help: str = ""
    # delta only: a series that did not exist at the span's start counts from zero if the GPU's
    # telemetry did (the exporter's XID counters appear with their first event); the span is then
    # the GPU's telemetry's
    from_zero: bool = False

    def selector(self, base: str | None = None) -> str:
        """The metric's PromQL selector."""
        extra = "".join(f', {k}=~"{"|".join(v)}"' for k, v in self.labels.items())
        return f"{self.metric}{{{base or default_selector()}{extra}}}"

    def promql(self, base: str | None = None, covered: float = 0.0, reach: float | None = None) -> str:
        """The feature over all GPUs, one value per UUID.

        ``covered``: every GPU's history reaches at least this far back (seconds), so that a growth
        needs no fallback span shorter than it (the common case, a Prometheus holding weeks: one term).
        ``reach``: read no further back than this (seconds), for a GPU whose life began then (a repair):
        its windows are cut there, as a GPU added that long ago would have them."""
        base = base or default_selector()
        s = self.selector(base)
        chain = spans(self.window, covered)
        if reach is not None:
            chain = tuple(w for w in spans(self.window) if whole_seconds(w) <= reach * 1.0001)
        if self.kind == "delta" and self.from_zero:
            telemetry = f"{COVERAGE_METRIC}{{{base}}}"
            terms = [f"((({s} - {s} offset {w}) >= 0 or {s}) and on (UUID) {telemetry} offset {w})"
                     for w in chain]
            # a life younger than every span has seen no growth; a GPU younger than every span counts from zero
            inner = " or ".join([*terms, f"{s} * 0" if reach is not None else s])
        elif self.kind == "delta":  # younger than every span: no growth seen yet
            young = [f"{s} * 0"] if reach is not None or covered < whole_seconds(SPANS[-1]) else []
            # a counter that dropped was reset (a driver reload): its growth is its count since the reset
            inner = " or ".join([*(f"(({s} - {s} offset {w}) >= 0 or ({s} and {s} offset {w}))" for w in chain),
                                 *young])
        elif self.kind == "coverage":
            reached = spans(self.window) if reach is None else chain
            inner = " or ".join([*(f"({s} offset {w}) * 0 + {whole_seconds(w) / 86400:g}" for w in reached),
                                 f"{s} * 0"])
        else:
            fn = {"last": "last_over_time", "avg": "avg_over_time", "max": "max_over_time",
                  "min": "min_over_time"}[self.kind]
            window = self.window
            if reach is not None and reach < whole_seconds(window):
                window = f"{max(int(reach), 60)}s"
            inner = f"{fn}({s}[{window}])"
        return f"{self.agg} by (UUID) ({inner})"

    def sql(self) -> tuple[str, dict]:
        """The feature over the sink's 1-minute rollups at %(at)s, one row (uuid, value) per GPU."""
        cond = "".join(f" AND (s.labels->>'{k}') = ANY(%(l_{k})s)" for k in self.labels)
        params = {"metric": self.metric, "window": f"{whole_seconds(self.window)} seconds",
                  "coverage_metric": COVERAGE_METRIC, **{f"l_{k}": list(v) for k, v in self.labels.items()}}
        joined = "FROM samples_1m r JOIN series s ON s.id = r.series_id WHERE s.uuid IS NOT NULL"
        base = f"{joined} AND s.metric = %(metric)s{cond}"
        telemetry = f"{joined} AND s.metric = %(coverage_metric)s"
        windows = spans(self.window)

        def last_at(t: str, where: str = base, lookback: str = "5 minutes") -> str:
            # the value of each series at t, as a PromQL instant selector sees it (5 minutes back)
            return (f"SELECT DISTINCT ON (r.series_id) r.series_id, s.uuid, r.last AS v {where} "
                    f"AND r.bucket + interval '1 minute' <= {t} AND r.bucket + interval '1 minute' > {t} - "
                    f"interval '{lookback}' ORDER BY r.series_id, r.bucket DESC")

        def back(w: str) -> str:
            return f"(%(at)s - interval '{whole_seconds(w)} seconds')"

        def each_span(where: str) -> str:
            # every series' value at each span back, k numbering the spans longest first
            return " UNION ALL ".join(f"SELECT {k} AS k, x.* FROM ({last_at(back(w), where)}) x"
                                      for k, w in enumerate(windows))

        if self.kind == "last":
            lookback = f"{whole_seconds(self.window)} seconds"
            per_series = f"SELECT uuid, v FROM ({last_at('%(at)s', lookback=lookback)}) x"
        elif self.kind == "coverage":
            days = " ".join(f"WHEN {k} THEN {whole_seconds(w) / 86400:g}" for k, w in enumerate(windows))
            days = f"CASE b.k {days} END"
            first = f"SELECT DISTINCT ON (series_id) * FROM ({each_span(base)}) e ORDER BY series_id, k"
            per_series = (f"SELECT coalesce(a.uuid, b.uuid) AS uuid, coalesce({days}, 0) AS v "
                          f"FROM ({last_at('%(at)s')}) a FULL JOIN ({first}) b ON a.series_id = b.series_id")
        elif self.kind == "delta" and self.from_zero:
            gpu_span = f"SELECT uuid, min(k) AS k FROM ({each_span(telemetry)}) g GROUP BY uuid"
            per_series = (f"SELECT a.uuid, CASE WHEN a.v >= coalesce(b.v, 0) THEN a.v - coalesce(b.v, 0) ELSE a.v END "
                          f"AS v FROM ({last_at('%(at)s')}) a "
                          f"LEFT JOIN ({gpu_span}) g ON g.uuid = a.uuid "
                          f"LEFT JOIN ({each_span(base)}) b ON b.series_id = a.series_id AND b.k = g.k")
        elif self.kind == "delta":
            first = f"SELECT DISTINCT ON (series_id) * FROM ({each_span(base)}) e ORDER BY series_id, k"
            per_series = (f"SELECT a.uuid, CASE WHEN b.v IS NULL THEN 0 WHEN a.v >= b.v THEN a.v - b.v ELSE a.v END "
                          f"AS v FROM ({last_at('%(at)s')}) a "
                          f"LEFT JOIN ({first}) b ON a.series_id = b.series_id")
        else:
            window = "r.bucket >= %(at)s - %(window)s::interval AND r.bucket + interval '1 minute' <= %(at)s"
            expr = {"avg": "sum(r.avg * r.count) / sum(r.count)", "max": "max(r.max)", "min": "min(r.min)"}[self.kind]
            per_series = f"SELECT s.uuid, {expr} AS v {base} AND {window} GROUP BY r.series_id, s.uuid"
        return f"SELECT uuid, {self.agg}(v) FROM ({per_series}) f GROUP BY uuid", params


CRITICAL_XIDS = tuple(str(c) for c in xid_codes(XidSeverity.CRITICAL))
WARNING_XIDS = tuple(str(c) for c in xid_codes(XidSeverity.WARNING))

FEATURES: tuple[Feature, ...] = (
    Feature("sbe_1d", "delta", FAMILY.ecc_sbe_agg, "1d", help="correctable ECC errors in a day"),
    Feature("sbe_7d", "delta", FAMILY.ecc_sbe_agg, "7d", help="correctable ECC errors in a week"),
    Feature("corr_remaps_7d", "delta", FAMILY.correctable_remapped_rows, "7d", help="rows remapped in a week"),
    Feature("unc_remaps", "last", FAMILY.uncorrectable_remapped_rows, help="uncorrectable remapped rows"),
    Feature("dbe_7d", "delta", FAMILY.ecc_dbe_agg, "7d", help="double-bit ECC errors in a week"),
    Feature("remap_failure", "last", FAMILY.row_remap_failure, help="row remapping failed"),
    Feature("retired_dbe", "last", FAMILY.retired_dbe, help="pages retired after DBEs"),
    Feature("temp_1d", "avg", FAMILY.gpu_temp, "1d", help="mean temperature, last day"),
    Feature("temp_7d", "avg", FAMILY.gpu_temp, "7d", help="mean temperature, last week"),
    Feature("temp_max_1d", "max", FAMILY.gpu_temp, "1d", help="peak temperature, last day"),
    Feature("temp_min_1d", "min", FAMILY.gpu_temp, "1d", help="lowest temperature, last day"),
    Feature("power_1d", "avg", FAMILY.power_usage, "1d", help="mean power, last day"),
    Feature("power_7d", "avg", FAMILY.power_usage, "7d", help="mean power, last week"),
    Feature("power_max_1d", "max", FAMILY.power_usage, "1d", help="peak power, last day"),
    Feature("power_min_1d", "min", FAMILY.power_usage, "1d", help="lowest power, last day"),
    Feature("power_limit", "last", FAMILY.power_mgmt_limit, help="power limit"),
    Feature("util_1d", "avg", FAMILY.gpu_util, "1d", help="mean utilisation, last day"),
    Feature("util_7d", "avg", FAMILY.gpu_util, "7d", help="mean utilisation, last week"),
    Feature("thermal_violation_1d", "delta", FAMILY.thermal_violation, "1d", help="ns throttled by heat"),
    Feature("power_violation_1d", "delta", FAMILY.power_violation, "1d", help="ns throttled by power"),
    Feature("pcie_replay_1d", "delta", FAMILY.pcie_replay_counter, "1d", help="PCIe replays in a day"),
    Feature("pcie_replay_7d", "delta", FAMILY.pcie_replay_counter, "7d", help="PCIe replays in a week"),
    Feature("nvlink_crc_1d", "delta", FAMILY.nvlink_crc_flit_errors, "1d", help="NVLink CRC errors"),
    Feature("nvlink_recovery_1d", "delta", FAMILY.nvlink_recovery_errors, "1d",
            help="NVLink recoveries"),
    Feature("link_width", "last", FAMILY.pcie_link_width, help="PCIe link width"),
    Feature("link_width_max", "last", FAMILY.pcie_max_link_width, help="PCIe maximum link width"),
    Feature("xid_critical_7d", "delta", FAMILY.xid_errors_total, "7d", {"xid": CRITICAL_XIDS}, "sum",
            help="critical XIDs in a week", from_zero=True),
    Feature("xid_warning_7d", "delta", FAMILY.xid_errors_total, "7d", {"xid": WARNING_XIDS}, "sum",
            help="warning XIDs in a week", from_zero=True),
    Feature("xid_critical_1d", "delta", FAMILY.xid_errors_total, "1d", {"xid": CRITICAL_XIDS}, "sum",
            help="critical XIDs in a day", from_zero=True),
    Feature("xid_warning_1d", "delta", FAMILY.xid_errors_total, "1d", {"xid": WARNING_XIDS}, "sum",
            help="warning XIDs in a day", from_zero=True),
    Feature("brake_1d", "avg", FAMILY.clock_event_active, "1d", {"reason": ("hw_power_brake",)},
            help="share of the day in power-brake slowdown"),
    Feature("up_min_1h", "min", FAMILY.gpu_up, "1h", help="whether the GPU answered all of the last hour"),
    Feature("up_now", "last", FAMILY.gpu_up, help="whether the GPU answers now (gpuhealth's exporter only)"),
    Feature("temp_now", "last", COVERAGE_METRIC, help="temperature now: whether the GPU reports at all"),
    Feature("history_days", "coverage", COVERAGE_METRIC, "7d",
            help="how far back the GPU's telemetry reaches, in days (the spans' steps, at most 7)"),
)

# what the models see: derived from the raw features (and the asset inventory's age)
MODEL_FEATURES: tuple[str, ...] = (
    "sbe_1d", "sbe_7d", "sbe_accel", "corr_remaps_7d", "unc_remaps", "dbe_7d", "remap_failure", "retired_dbe",
    "thermal_r_1d", "thermal_r_trend", "thermal_rise_1d", "thermal_violation_frac", "power_violation_frac",
    "power_peak_ratio", "brake_1d", "pcie_replay_1d", "pcie_replay_7d", "pcie_accel", "nvlink_errors_1d",
    "downtrained", "xid_critical_1d", "xid_critical_7d", "xid_warning_1d", "xid_warning_7d", "util_1d", "age_days",
    "sbe_peer_z", "pcie_peer_z", "remaps_peer_z", "nvlink_peer_z", "thermal_r_peer_z", "thermal_r_host_excess",
)

# Signals compared with the GPU's peers (same GPU model, same instant): a per-day rate on a log scale
# (counts) or the value itself, and the smallest spread a z-score divides by (a fleet where every GPU
# reads 0 has no spread: one error is not a thousand sigmas)
PEER_SIGNALS: dict[str, tuple[str, bool, float]] = {
    "sbe_peer_z": ("sbe_7d", True, 0.5),
    "pcie_peer_z": ("pcie_replay_7d", True, 0.5),
    "remaps_peer_z": ("corr_remaps_7d", True, 0.5),
    "nvlink_peer_z": ("nvlink_errors_1d", True, 0.5),
    "thermal_r_peer_z": ("thermal_r_1d", False, 0.01),
}
PEER_MIN = 4  # the fewest GPUs of a model that make a peer group
PEER_FEATURES = frozenset({*PEER_SIGNALS, "thermal_r_host_excess"})


@dataclass
class FeatureFrame:
    """Features of many GPUs at one instant: rows are GPUs, columns are named features."""

    at: float
    uuids: list[str]
    columns: dict[str, np.ndarray]
    model_names: list[str] = field(default_factory=list)  # each GPU's modelName ("" when unknown)
    hosts: list[str] = field(default_factory=list)  # each GPU's host (the Hostname or hostname label; "" unknown)

    def matrix(self, names: tuple[str, ...] = MODEL_FEATURES) -> np.ndarray:
        """The named columns as a (GPUs x features) float matrix; NaN where unknown."""
        return np.column_stack([self.columns[n] for n in names]) if self.uuids else np.zeros((0, len(names)))

    def reporting(self) -> np.ndarray:
        """Whether each GPU reports now, enough to be judged (temperature now, power over the day)."""
        c = self.columns
        return ~np.isnan(c["temp_now"]) & ~np.isnan(c["power_1d"]) & (np.nan_to_num(c["up_now"], nan=1.0) != 0)

    def status(self) -> np.ndarray:
        """Each GPU's status: judged (reporting now), down (seen within the week, silent or off the bus
        now) or unknown (too little telemetry to say)."""
        c = self.columns
        seen = ~np.isnan(c["temp_7d"]) | (np.nan_to_num(c["up_now"], nan=1.0) == 0)
        return np.where(self.reporting(), "judged", np.where(seen, "down", "unknown"))


def group_rows(values: np.ndarray, groups: np.ndarray) -> list[np.ndarray]:
    """The row indices of each group's known values, one array per group."""
    rows = np.flatnonzero(~np.isnan(values))
    if not len(rows):
        return []
    _, inverse = np.unique(groups[rows], return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    return np.split(rows[order], np.flatnonzero(np.diff(inverse[order])) + 1)


def robust_z(values: np.ndarray, groups: np.ndarray, floor: float, min_size: int = PEER_MIN) -> np.ndarray:
    """Each value's distance from its group's median in robust standard deviations (1.4826 MAD, at
    least ``floor``); NaN where the value is unknown or its group has fewer than ``min_size`` known values."""
    out = np.full(len(values), np.nan)
    for rows in group_rows(values, groups):
        if len(rows) < min_size:
            continue
        v = values[rows]
        med = np.median(v)
        spread = max(1.4826 * float(np.median(np.abs(v - med))), floor)
        out[rows] = (v - med) / spread
    return out


def excess_over_group(values: np.ndarray, groups: np.ndarray, min_size: int = 2) -> np.ndarray:
    """Each value minus its group's median; NaN where unknown or the group has fewer than ``min_size``."""
    out = np.full(len(values), np.nan)
    for rows in group_rows(values, groups):
        if len(rows) >= min_size:
            out[rows] = values[rows] - np.median(values[rows])
    return out


def peer_features(cols: dict[str, np.ndarray], model_names: list[str], hosts: list[str]) -> dict[str, np.ndarray]:
    """Features that compare a GPU with its peers at the same instant: robust z-scores against the GPUs of
    its model (PEER_SIGNALS), and its thermal resistance above its host's median (a hot rack or host
    raises every GPU in it; a failing fan or paste one)."""
    n = len(next(iter(cols.values())))
    models = np.array(model_names if len(model_names) == n else [""] * n, dtype=object)
    out = {}
    covered = np.clip(np.nan_to_num(cols["history_days"], nan=0.0), 1.0 / 144, 7.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, (signal, counts, floor) in PEER_SIGNALS.items():
            v = cols[signal]
            if counts:  # per day over what the window covered, on a log scale
                days = np.minimum(covered, 7.0) if signal.endswith("_7d") else np.minimum(covered, 1.0)
                v = np.log1p(np.clip(v, 0, None) / days)
            out[name] = robust_z(v, models, floor)
    host = np.array(hosts if len(hosts) == n else [""] * n, dtype=object)
    out["thermal_r_host_excess"] = np.where(host != "", excess_over_group(cols["thermal_r_1d"], host), np.nan)
    return out


def derive(raw: dict[str, np.ndarray], age_days: np.ndarray, model_names: list[str] | None = None,
           hosts: list[str] | None = None) -> dict[str, np.ndarray]:
    """The model features from the raw ones (and, for the peer features, each GPU's model and host).

    Over a young history the growths cover less than their windows; counts stay counts over what was
    covered (never more than a full window would hold, so a missing past never adds risk), and the
    rates compared by the accelerations are per day of what was covered."""
    with np.errstate(divide="ignore", invalid="ignore"):
        covered = np.clip(np.nan_to_num(raw["history_days"], nan=0.0), 1.0 / 144, 7.0)
        day, week = np.minimum(covered, 1.0), np.minimum(covered, 7.0)
        r1 = (raw["temp_1d"] - 25.0) / np.maximum(raw["power_1d"], 10.0)
        r7 = (raw["temp_7d"] - 25.0) / np.maximum(raw["power_7d"], 10.0)
        out = dict(raw)
        out["sbe_accel"] = raw["sbe_1d"] / np.maximum(raw["sbe_7d"] / week, 1.0)
        out["thermal_r_1d"] = r1
        out["thermal_r_trend"] = r1 - r7
        # temperature rise per watt between the day's coolest and hottest moments (the rack's inlet
        # temperature cancels out), scaled to the power limit: about the same for every healthy GPU model
        swing = raw["power_max_1d"] - raw["power_min_1d"]
        slope = (raw["temp_max_1d"] - raw["temp_min_1d"]) / swing
        out["thermal_rise_1d"] = np.where(swing >= 0.25 * raw["power_limit"], slope * raw["power_limit"], np.nan)
        out["pcie_accel"] = raw["pcie_replay_1d"] / np.maximum(raw["pcie_replay_7d"] / week, 1.0)
        out["thermal_violation_frac"] = raw["thermal_violation_1d"] / 86400e9
        out["power_violation_frac"] = raw["power_violation_1d"] / 86400e9
        out["brake_1d"] = raw["brake_1d"] * day  # a share of the whole day, as the violation shares are
        out["power_peak_ratio"] = raw["power_max_1d"] / raw["power_limit"]
        out["nvlink_errors_1d"] = raw["nvlink_crc_1d"] + np.nan_to_num(raw["nvlink_recovery_1d"])
        out["downtrained"] = np.where(np.isnan(raw["link_width"]), np.nan,
                                      (raw["link_width"] < raw["link_width_max"]).astype(float))
        out["age_days"] = age_days
    out.update(peer_features(out, model_names or [], hosts or []))
    return out


def _to_frame(values: dict[str, dict[str, float]], at: float, ages: dict[str, float] | None,
              identity: dict[str, tuple[str, str]]) -> FeatureFrame:
    uuids = sorted(set().union(*[set(v) for v in values.values()]))
    raw = {name: np.array([v.get(u, np.nan) for u in uuids], dtype=float) for name, v in values.items()}
    age = np.array([(ages or {}).get(u, np.nan) for u in uuids], dtype=float)
    names = [identity.get(u, ("", ""))[0] for u in uuids]
    hosts = [identity.get(u, ("", ""))[1] for u in uuids]
    return FeatureFrame(at=at, uuids=uuids, columns=derive(raw, age, names, hosts), model_names=names, hosts=hosts)


def online(client: PromClient, at: float | None = None, ages: dict[str, float] | None = None,
           selector: str | None = None, lives_since: dict[str, float] | None = None) -> FeatureFrame:
    """Every feature of every GPU from PromQL: one fleet-wide query per feature.

    ``lives_since``: UUID -> when that GPU's current life began (a repair, Unix seconds); its features are
    read from that moment on only, with one query per feature for each such GPU."""
    at = at if at is not None else time.time()
    selector = selector or default_selector()
    values, identity = _fleet_values(client, at, selector)
    for uuid, began in sorted((lives_since or {}).items()):
        reach = at - began
        if reach < 0 or reach >= LONGEST_WINDOW_SECONDS:
            continue
        base = f"{selector}, UUID={promql_string(uuid)}"
        with ThreadPoolExecutor(QUERY_THREADS) as pool:
            exprs = [f.promql(base, reach=reach) for f in FEATURES]
            answers = list(pool.map(lambda expr: client.by_uuid(expr, at), exprs))
            for f, answer in zip(FEATURES, answers, strict=True):
                values[f.name].pop(uuid, None)
                if uuid in answer:
                    values[f.name][uuid] = answer[uuid]
    return _to_frame(values, at, ages, identity)


LONGEST_WINDOW_SECONDS = max(whole_seconds(f.window) for f in FEATURES)  # how far back any feature reads


def _fleet_values(client: PromClient, at: float,
                  selector: str) -> tuple[dict[str, dict[str, float]], dict[str, tuple[str, str]]]:
    """Every feature's value per UUID over the whole fleet, and each UUID's (model name, host)."""
    # how far back the fleet's history reaches decides which fallback spans the growths need
    coverage = next(f for f in FEATURES if f.kind == "coverage")
    history = client.by_uuid(coverage.promql(selector), at)
    covered = min(history.values(), default=0.0) * 86400.0
    # a few queries in flight at once: Prometheus evaluates one while the client parses another's answer
    with ThreadPoolExecutor(QUERY_THREADS) as pool:
        names = pool.submit(client.instant, "max by (UUID, modelName, Hostname, hostname) "
                            f"(last_over_time({COVERAGE_METRIC}{{{selector}}}[7d]))", at)
        rest = [f for f in FEATURES if f is not coverage]
        answers = pool.map(lambda f: client.by_uuid(f.promql(selector, covered), at), rest)
        values = {f.name: v for f, v in zip(rest, answers, strict=True)}
        values[coverage.name] = history
        identity = {lab["UUID"]: (lab.get("modelName", ""), lab.get("Hostname") or lab.get("hostname", ""))
                    for lab, _ in names.result() if "UUID" in lab}
    return values, identity


def offline(conn, at: float, ages: dict[str, float] | None = None) -> FeatureFrame:
    """Every feature of every GPU from the sink's rollups in TimescaleDB, as of ``at``."""
    ts = datetime.fromtimestamp(at, UTC)
    values = {}
    for f in FEATURES:
        sql, params = f.sql()
        rows = conn.execute(sql, {**params, "at": ts}).fetchall()
        values[f.name] = {u: float(v) for u, v in rows if v is not None and not math.isnan(float(v))}
    names = conn.execute("SELECT DISTINCT ON (uuid) uuid, coalesce(labels->>'modelName', ''), "
                         "coalesce(labels->>'Hostname', labels->>'hostname', '') FROM series "
                         "WHERE metric = %(m)s AND uuid IS NOT NULL ORDER BY uuid", {"m": COVERAGE_METRIC}).fetchall()
    return _to_frame(values, at, ages, {u: (m, h) for u, m, h in names})

