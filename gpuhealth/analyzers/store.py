"""A cycle's result into TimescaleDB: every model's probabilities, RUL and factors (failure_predictions) and
the economics' advice (recommendations), at the cycle's time, in one transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from gpuhealth.analyzers.cycle import CycleResult
from gpuhealth.analyzers.economics.valuation import Valuation
from gpuhealth.analyzers.inventory import connect

PREDICTIONS = ("INSERT INTO failure_predictions (time, uuid, horizon, model, probability, remaining_useful_life_days, "
               "factors) VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb)")
RECOMMENDATIONS = ("INSERT INTO recommendations (time, uuid, action, market_value_dollars, npv_keep, npv_repair, "
                   "npv_sell, npv_decommission, drivers) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)")


def _recommendation_rows(valuations: Sequence[Valuation], at: datetime) -> list[tuple]:
    return [(at, v.uuid, v.recommended_action, v.market_value_dollars, v.npv_dollars["keep"], v.npv_dollars["repair"],
             v.npv_dollars["sell"], v.npv_dollars["decommission"], json.dumps(v.drivers)) for v in valuations]


def store_result(dsn: str, result: CycleResult) -> None:
    """Store one cycle's predictions (judged GPUs, every model and horizon) and recommendations, all or nothing."""
    at = datetime.fromtimestamp(result.at, UTC)
    rows = [(at, v.uuid, h, model, p, v.remaining_useful_life_days if model == result.primary else None,
             json.dumps([{"factor": n, "weight": w} for n, w in v.factors]))
            for v in result.verdicts if v.status == "judged"
            for model, hp in v.probability.items() for h, p in hp.items()]
    valuations = [v.valuation for v in result.verdicts if v.valuation is not None]
    with connect(dsn) as conn, conn.transaction(), conn.cursor() as cur:
        cur.executemany(PREDICTIONS, rows)
        if valuations:
            cur.executemany(RECOMMENDATIONS, _recommendation_rows(valuations, at))


def write_recommendations(dsn: str, valuations: Sequence[Valuation], at: datetime) -> None:
    """Store one cycle's valuations in the recommendations table (one row per GPU, time = at)."""
    if at.tzinfo is None:
        raise ValueError("write_recommendations needs a timezone-aware time")
    with connect(dsn) as conn, conn.transaction(), conn.cursor() as cur:
        cur.executemany(RECOMMENDATIONS, _recommendation_rows(valuations, at))
