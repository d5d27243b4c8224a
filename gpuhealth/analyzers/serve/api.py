"""The analyzer's JSON API (/api/v1/...): the documents each endpoint serves, built from the last cycle's
result, the asset inventory and the health scores the rules recorded, and the OpenAPI document that
describes them. Pure functions: the service reads Prometheus and passes what it read in."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from gpuhealth.analyzers.cycle import STATUSES, CycleResult, Verdict, iso_time
from gpuhealth.analyzers.economics.valuation import ACTIONS
from gpuhealth.analyzers.repairs import Repair
from gpuhealth.catalog import Asset

DIMENSIONS = ("memory", "thermal", "power", "performance", "reliability")
SORT_FIELDS = ("uuid", "host", "model", "status", "health_score", "failure_probability_7d", "failure_probability_30d",
               "market_value_dollars", "anomaly_score", "recommended_action")
MAX_LIMIT = 1000
HealthScores = Mapping[str, Mapping[str, float]]  # UUID -> "overall" and each dimension -> score


class ApiError(Exception):
    """A request the API cannot answer: the HTTP status and a message naming what was wrong."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class GpuFilter:
    """What /api/v1/gpus was asked for: filters (exact matches), the sort and the page."""

    host: str | None = None
    model: str | None = None
    status: str | None = None
    action: str | None = None
    sort: str = "failure_probability_7d"
    order: str = "desc"
    limit: int = 100
    offset: int = 0


def _one(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(400, f"query parameter {name}: given {len(values)} times, expected once")
    return values[0]


def _int(query: Mapping[str, list[str]], name: str, default: int, lo: int, hi: int) -> int:
    text = _one(query, name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, f"query parameter {name}: expected an integer, got {text!r}") from None
    if not lo <= value <= hi:
        raise ApiError(400, f"query parameter {name}: expected {lo}..{hi}, got {value}")
    return value


def _choice(query: Mapping[str, list[str]], name: str, choices: tuple[str, ...]) -> str | None:
    value = _one(query, name)
    if value is not None and value not in choices:
        raise ApiError(400, f"query parameter {name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def _known(query: Mapping[str, list[str]], allowed: set[str]) -> None:
    unknown = sorted(set(query) - allowed)
    if unknown:
        raise ApiError(400, f"unknown query parameters {unknown}; expected some of {sorted(allowed)}")


def parse_gpu_filter(query: Mapping[str, list[str]]) -> GpuFilter:
    """The filter, sort and page of a /api/v1/gpus request (its parsed query string)."""
    _known(query, {"host", "model", "status", "action", "sort", "order", "limit", "offset"})
    return GpuFilter(host=_one(query, "host"), model=_one(query, "model"), status=_choice(query, "status", STATUSES),
                     action=_choice(query, "action", ACTIONS),
                     sort=_choice(query, "sort", SORT_FIELDS) or "failure_probability_7d",
                     order=_choice(query, "order", ("asc", "desc")) or "desc",
                     limit=_int(query, "limit", 100, 1, MAX_LIMIT), offset=_int(query, "offset", 0, 0, 10**9))


def _num(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), 6)


def _hosts(result: CycleResult) -> dict[str, str]:
    frame = result.frame
    if frame is None or not frame.hosts:
        return {}
    return dict(zip(frame.uuids, frame.hosts, strict=True))


def gpu_summary(v: Verdict, primary: str, host: str, asset: Asset | None, scores: Mapping[str, float] | None
                ) -> dict[str, Any]:
    """One GPU's row in /api/v1/gpus."""
    p = v.probability.get(primary, {})
    val = v.valuation
    return {"uuid": v.uuid, "host": host or (asset.node if asset else ""), "model": v.model_name,
            "status": v.status, "health_score": _num(scores.get("overall")) if scores else None,
            "failure_probability_7d": _num(p.get("7d")), "failure_probability_30d": _num(p.get("30d")),
            "recommended_action": val.recommended_action if val is not None else None,
            "market_value_dollars": _num(val.market_value_dollars) if val is not None else None,
            "anomaly_score": _num(max(v.anomaly.values())) if v.anomaly else None,
            "main_factor": v.factors[0][0] if v.factors else None,
            "datacenter": asset.datacenter if asset else None, "rack": asset.rack if asset else None}


def gpu_rows(result: CycleResult, inventory: Mapping[str, Asset], scores: HealthScores) -> list[dict[str, Any]]:
    """Every GPU's summary row."""
    hosts = _hosts(result)
    return [gpu_summary(v, result.primary, hosts.get(v.uuid, ""), inventory.get(v.uuid), scores.get(v.uuid))
            for v in result.verdicts]


def list_gpus(rows: list[dict[str, Any]], f: GpuFilter) -> dict[str, Any]:
    """The rows that pass the filter, sorted (unknown values last in either order) and paged."""
    kept = [r for r in rows if (f.host is None or r["host"] == f.host) and (f.model is None or r["model"] == f.model)
            and (f.status is None or r["status"] == f.status)
            and (f.action is None or r["recommended_action"] == f.action)]
    known = [r for r in kept if r[f.sort] is not None]
    unknown = [r for r in kept if r[f.sort] is None]
    known.sort(key=lambda r: (r[f.sort], r["uuid"]), reverse=f.order == "desc")
    ordered = known + sorted(unknown, key=lambda r: r["uuid"])
    return {"total": len(kept), "offset": f.offset, "limit": f.limit, "sort": f.sort, "order": f.order,
            "gpus": ordered[f.offset:f.offset + f.limit]}


def find_verdict(result: CycleResult, uuid: str) -> Verdict:
    """The verdict of one GPU; ApiError 404 for a UUID the analyzer does not know."""
    for v in result.verdicts:
        if v.uuid == uuid:
            return v
    raise ApiError(404, f"GPU {uuid!r}: not in the analyzer's last cycle (neither reporting nor in the inventory)")


def repair_json(r: Repair) -> dict[str, Any]:
    """A recorded repair in the API's form."""
    return {"repaired_at": iso_time(r.repaired_at.timestamp()), "kind": r.kind,
            "mode": r.mode, "cost_dollars": _num(r.cost_dollars), "success": r.success, "notes": r.notes,
            "recorded_by": r.recorded_by}


def gpu_detail(result: CycleResult, uuid: str, inventory: Mapping[str, Asset], scores: HealthScores,
               history: Mapping[str, list[list[float]]], repairs: Sequence[Repair] = ()) -> dict[str, Any]:
    """Everything the analyzer knows of one GPU: /api/v1/gpus/{uuid}."""
    v = find_verdict(result, uuid)
    asset = inventory.get(uuid)
    summary = gpu_summary(v, result.primary, _hosts(result).get(uuid, ""), asset, scores.get(uuid))
    val = v.valuation
    own = scores.get(uuid)
    return {**summary,
            "asset": asdict(asset) if asset is not None else None,
            "health_scores": ({k: _num(own.get(k)) for k in ("overall", *DIMENSIONS)} if own else None),
            "prediction": {m: {h: _num(p) for h, p in hp.items()} for m, hp in v.probability.items()},
            "primary_model": result.primary,
            "remaining_useful_life_days": _num(v.remaining_useful_life_days),
            "history_days": _num(v.history_days),
            "down_since": iso_time(v.down_since),
            "life_since": iso_time(v.life_since),
            "repairs": [repair_json(r) for r in repairs],
            "factors": [{"factor": n, "weight": _num(w)} for n, w in v.factors],
            "anomalies": {k: _num(x) for k, x in v.anomaly.items()},
            "trends_per_day": {k: _num(x) for k, x in v.trends.items()},
            "npv_dollars": {a: _num(x) for a, x in val.npv_dollars.items()} if val is not None else None,
            "drivers": list(val.drivers) if val is not None else [],
            "history": {k: [[t, _num(x)] for t, x in points] for k, points in history.items()}}


def fleet_summary(result: CycleResult, scores: HealthScores, warning: float, below: float) -> dict[str, Any]:
    """The fleet in numbers: /api/v1/fleet/summary."""
    p7 = [v.probability.get(result.primary, {}).get("7d") for v in result.verdicts if v.status == "judged"]
    p30 = [v.probability.get(result.primary, {}).get("30d") for v in result.verdicts if v.status == "judged"]
    vals = [v.valuation for v in result.verdicts if v.valuation is not None]
    overall = [s["overall"] for s in scores.values() if "overall" in s and math.isfinite(s["overall"])]
    return {"generated_at": datetime.fromtimestamp(result.at, UTC).isoformat().replace("+00:00", "Z"),
            "primary_model": result.primary, "gpus": len(result.verdicts),
            "by_status": {st: sum(v.status == st for v in result.verdicts) for st in STATUSES},
            "by_action": {a: sum(x.recommended_action == a for x in vals) for a in ACTIONS},
            "expected_failures_7d": _num(sum(p for p in p7 if p is not None)),
            "expected_failures_30d": _num(sum(p for p in p30 if p is not None)),
            "at_risk": sum(1 for p in p7 if p is not None and p >= warning),
            "market_value_dollars": _num(sum(x.market_value_dollars for x in vals)),
            "npv_gain_dollars": _num(sum(x.npv_dollars[x.recommended_action] - x.npv_dollars["keep"] for x in vals)),
            "mean_health_score": _num(sum(overall) / len(overall)) if overall else None,
            "health_below_threshold": sum(1 for s in overall if s < below)}


def anomaly_list(result: CycleResult, query: Mapping[str, list[str]]) -> dict[str, Any]:
    """The anomaly scores at or above ``min_score`` (default 3), highest first: /api/v1/anomalies."""
    _known(query, {"min_score", "signal"})
    text = _one(query, "min_score")
    try:
        floor = 3.0 if text is None else float(text)
    except ValueError:
        raise ApiError(400, f"query parameter min_score: expected a number, got {text!r}") from None
    if not math.isfinite(floor):
        raise ApiError(400, f"query parameter min_score: expected a finite number, got {text!r}")
    signal = _one(query, "signal")
    hosts = _hosts(result)
    found = [{"uuid": v.uuid, "host": hosts.get(v.uuid, ""), "model": v.model_name, "signal": s, "score": _num(x)}
             for v in result.verdicts for s, x in v.anomaly.items()
             if math.isfinite(x) and x >= floor and (signal is None or s == signal)]
    found.sort(key=lambda a: (-a["score"], a["uuid"], a["signal"]))
    return {"min_score": floor, "anomalies": found}


def health_score_list(result: CycleResult, scores: HealthScores, query: Mapping[str, list[str]]) -> dict[str, Any]:
    """Each GPU's overall and dimension scores as the rules recorded them: /api/v1/health-scores."""
    _known(query, {"uuid"})
    uuid = _one(query, "uuid")
    if uuid is not None:
        find_verdict(result, uuid)
    return {"gpus": [{"uuid": u, **{k: _num(s.get(k)) for k in ("overall", *DIMENSIONS)}}
                     for u, s in sorted(scores.items()) if uuid is None or u == uuid]}
