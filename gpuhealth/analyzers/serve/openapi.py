"""The OpenAPI 3.0 document of the analyzer's JSON API, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from gpuhealth import __version__
from gpuhealth.analyzers.cycle import STATUSES
from gpuhealth.analyzers.economics.valuation import ACTIONS
from gpuhealth.analyzers.serve.api import DIMENSIONS, MAX_LIMIT, SORT_FIELDS

NUM = {"type": "number", "nullable": True}
STR = {"type": "string", "nullable": True}
ERROR = {"description": "What was wrong with the request", "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/Error"}}}}


def _ok(ref: str, what: str) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{ref}"}
    return {"200": {"description": what, "content": {"application/json": {"schema": schema}}}}


def _param(name: str, schema: dict[str, Any], what: str, where: str = "query", required: bool = False
           ) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "description": what, "schema": schema}


SUMMARY = {"type": "object", "required": ["uuid", "host", "model", "status"], "properties": {
    "uuid": {"type": "string"}, "host": {"type": "string"}, "model": {"type": "string"},
    "status": {"type": "string", "enum": list(STATUSES)}, "health_score": NUM, "failure_probability_7d": NUM,
    "failure_probability_30d": NUM, "recommended_action": {"type": "string", "nullable": True,
                                                           "enum": [*ACTIONS, None]},
    "market_value_dollars": NUM, "anomaly_score": NUM, "main_factor": STR, "datacenter": STR, "rack": STR}}

ASSET = {"type": "object", "nullable": True, "properties": {k: {"type": "string"} for k in (
    "uuid", "serial", "model", "node", "datacenter", "rack", "purchase_date", "status", "owner")} | {
    "purchase_price_dollars": {"type": "number"}}}

DETAIL = {"allOf": [{"$ref": "#/components/schemas/GpuSummary"}, {"type": "object", "properties": {
    "asset": {"$ref": "#/components/schemas/Asset"},
    "health_scores": {"type": "object", "nullable": True, "properties": {k: NUM for k in ("overall", *DIMENSIONS)}},
    "prediction": {"type": "object", "description": "model -> horizon -> probability",
                   "additionalProperties": {"type": "object", "additionalProperties": NUM}},
    "primary_model": {"type": "string"}, "remaining_useful_life_days": NUM, "history_days": NUM,
    "down_since": {"type": "string", "format": "date-time", "nullable": True},
    "life_since": {"type": "string", "format": "date-time", "nullable": True,
                   "description": "repaired within the week: when its current life began; it is judged from then"},
    "repairs": {"type": "array", "items": {"type": "object", "properties": {
        "repaired_at": {"type": "string", "format": "date-time"}, "kind": {"type": "string", "enum": ["repair", "rma"]},
        "mode": STR, "cost_dollars": NUM, "success": {"type": "boolean"}, "notes": STR, "recorded_by": STR}}},
    "factors": {"type": "array", "items": {"type": "object", "properties": {"factor": {"type": "string"},
                                                                             "weight": NUM}}},
    "anomalies": {"type": "object", "additionalProperties": NUM},
    "trends_per_day": {"type": "object", "additionalProperties": NUM},
    "npv_dollars": {"type": "object", "nullable": True, "additionalProperties": NUM},
    "drivers": {"type": "array", "items": {"type": "string"}},
    "history": {"type": "object", "description": "signal -> [[unix seconds, value], ...] over the last hours",
                "additionalProperties": {"type": "array", "items": {"type": "array", "items": NUM}}}}}]}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of /api/v1."""
    uuid = _param("uuid", {"type": "string"}, "The GPU's UUID (its UUID label)", "path", True)
    return {
        "openapi": "3.0.3",
        "info": {"title": "gpuhealth analyzer API", "version": __version__,
                 "description": "Verdicts, health scores, predictions and economics of every GPU the analyzer "
                                "judged in its last cycle."},
        "paths": {
            "/api/v1/gpus": {"get": {
                "summary": "The GPUs, filtered, sorted and paged", "operationId": "listGpus",
                "parameters": [
                    _param("host", {"type": "string"}, "Only GPUs of this host (exact)"),
                    _param("model", {"type": "string"}, "Only GPUs of this model name (exact)"),
                    _param("status", {"type": "string", "enum": list(STATUSES)}, "Only GPUs in this status"),
                    _param("action", {"type": "string", "enum": list(ACTIONS)}, "Only GPUs advised this action"),
                    _param("sort", {"type": "string", "enum": list(SORT_FIELDS)}, "Sort field"),
                    _param("order", {"type": "string", "enum": ["asc", "desc"]}, "Sort order"),
                    _param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "Page size"),
                    _param("offset", {"type": "integer", "minimum": 0, "maximum": 10**9}, "Rows to skip")],
                "responses": {**_ok("GpuList", "A page of GPUs"), "400": ERROR, "503": ERROR}}},
            "/api/v1/gpus/{uuid}": {"get": {
                "summary": "One GPU: identity, asset, scores, prediction, anomalies, value, advice, history",
                "operationId": "getGpu", "parameters": [uuid],
                "responses": {**_ok("GpuDetail", "The GPU"), "404": ERROR, "503": ERROR}}},
            "/api/v1/fleet/summary": {"get": {
                "summary": "The fleet in numbers", "operationId": "fleetSummary",
                "responses": {**_ok("FleetSummary", "The fleet summary"), "503": ERROR}}},
            "/api/v1/anomalies": {"get": {
                "summary": "Anomaly scores at or above a floor, highest first", "operationId": "listAnomalies",
                "parameters": [_param("min_score", {"type": "number"}, "The floor (default 3)"),
                               _param("signal", {"type": "string"}, "Only this signal")],
                "responses": {**_ok("AnomalyList", "The anomalies"), "400": ERROR, "503": ERROR}}},
            "/api/v1/health-scores": {"get": {
                "summary": "Each GPU's overall and dimension health scores, as the rules recorded them",
                "operationId": "listHealthScores",
                "parameters": [_param("uuid", {"type": "string"}, "Only this GPU")],
                "responses": {**_ok("HealthScoreList", "The scores"), "400": ERROR, "404": ERROR, "503": ERROR}}},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
            "GpuSummary": SUMMARY, "Asset": ASSET, "GpuDetail": DETAIL,
            "GpuList": {"type": "object", "required": ["total", "offset", "limit", "gpus"], "properties": {
                "total": {"type": "integer"}, "offset": {"type": "integer"}, "limit": {"type": "integer"},
                "sort": {"type": "string"}, "order": {"type": "string"},
                "gpus": {"type": "array", "items": {"$ref": "#/components/schemas/GpuSummary"}}}},
            "FleetSummary": {"type": "object", "required": ["gpus", "by_status", "by_action"], "properties": {
                "generated_at": {"type": "string", "format": "date-time"}, "primary_model": {"type": "string"},
                "gpus": {"type": "integer"},
                "by_status": {"type": "object", "additionalProperties": {"type": "integer"}},
                "by_action": {"type": "object", "additionalProperties": {"type": "integer"}},
                "expected_failures_7d": NUM, "expected_failures_30d": NUM, "at_risk": {"type": "integer"},
                "market_value_dollars": NUM, "npv_gain_dollars": NUM, "mean_health_score": NUM,
                "health_below_threshold": {"type": "integer"}}},
            "AnomalyList": {"type": "object", "required": ["anomalies"], "properties": {
                "min_score": {"type": "number"}, "anomalies": {"type": "array", "items": {
                    "type": "object", "properties": {"uuid": {"type": "string"}, "host": {"type": "string"},
                                                     "model": {"type": "string"}, "signal": {"type": "string"},
                                                     "score": NUM}}}}},
            "HealthScoreList": {"type": "object", "required": ["gpus"], "properties": {"gpus": {
                "type": "array", "items": {"type": "object", "properties": {
                    "uuid": {"type": "string"}, **{k: NUM for k in ("overall", *DIMENSIONS)}}}}}},
        }},
    }
