"""Every query of a dashboard run as Grafana would run it, against a live Prometheus and TimescaleDB: the
variables resolved from their own queries first, "All" selected, then each panel's targets."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import requests

from gpuhealth.dashboards.queries import PanelQuery, label_values_query, panel_queries, promql, regex_of, sql, variables

RANGE = timedelta(minutes=30)  # the range queries' window: what a freshly opened dashboard draws first
STEP = 30  # seconds between a range query's points


@dataclass
class Result:
    """What one query returned: series of (timestamp, value) points, by their label sets (a SQL row's
    non-value columns); ``error`` when it failed."""

    query: PanelQuery
    sent: str
    series: list[tuple[dict[str, str], list[tuple[float, float]]]] = field(default_factory=list)
    error: str = ""

    @property
    def empty(self) -> bool:
        """Whether the panel would draw nothing."""
        return not any(points for _, points in self.series)


def _prom(url: str, path: str, params: dict[str, Any]) -> Any:
    r = requests.get(f"{url.rstrip('/')}{path}", params=params, timeout=30)
    body = r.json()
    if body.get("status") != "success":
        raise RuntimeError(body.get("error", r.text[:200]))
    return body["data"]


def resolve_variables(board: Mapping[str, Any], prometheus_url: str, dsn: str | None
                      ) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Each query variable's values from its own query, with "All" selected: (regex each stands for in
    PromQL, values each stands for in SQL)."""
    regexes: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    for v in variables(board):
        if v.kind == "prometheus":
            selector, label = label_values_query(v.query)
            found = sorted(_prom(prometheus_url, f"/api/v1/label/{label}/values",
                                 {"match[]": promql(selector, regexes)}))
        else:
            if dsn is None:
                found = []
            else:
                with psycopg.connect(dsn) as conn:
                    found = [str(r[0]) for r in conn.execute(v.query).fetchall()]
        lists[v.name] = found
        regexes[v.name] = v.all_value if v.all_value is not None else regex_of(found)
    return regexes, lists


def run_queries(board: Mapping[str, Any], prometheus_url: str, dsn: str | None = None,
                end: float | None = None) -> list[Result]:
    """Every panel query's result, the variables set to All; SQL queries are skipped without ``dsn``."""
    end = time.time() if end is None else end
    regexes, lists = resolve_variables(board, prometheus_url, dsn)
    results = []
    for q in panel_queries(board):
        if q.kind == "sql":
            if dsn is None:
                continue
            results.append(_run_sql(q, lists, board, dsn, end))
            continue
        sent = promql(q.text, regexes)
        result = Result(q, sent)
        try:
            if q.instant:
                data = _prom(prometheus_url, "/api/v1/query", {"query": sent, "time": end})
                result.series = [(s["metric"], [(float(s["value"][0]), float(s["value"][1]))])
                                 for s in data["result"]] if data["resultType"] == "vector" else []
            else:
                window = {"query": sent, "start": end - RANGE.total_seconds(), "end": end, "step": STEP}
                data = _prom(prometheus_url, "/api/v1/query_range", window)
                result.series = [(s["metric"], [(float(t), float(v)) for t, v in s["values"]]) for s in data["result"]]
        except (RuntimeError, requests.RequestException, ValueError) as exc:
            result.error = str(exc)
        results.append(result)
    return results


def _run_sql(q: PanelQuery, lists: dict[str, list[str]], board: Mapping[str, Any], dsn: str, end: float) -> Result:
    start_text = (board.get("time") or {}).get("from", "now-30d")
    days = int(start_text.removeprefix("now-").removesuffix("d")) if start_text.endswith("d") else 30
    stop = datetime.fromtimestamp(end, UTC)
    text, params = sql(q.text, lists, stop - timedelta(days=days), stop)
    result = Result(q, text)
    try:
        with psycopg.connect(dsn) as conn:
            cur = conn.execute(text, params)
            names = [c.name for c in cur.description or []]
            rows = cur.fetchall()
    except psycopg.Error as exc:
        result.error = str(exc).strip()
        return result
    if "time" in names and "value" in names:
        by: dict[str, list[tuple[float, float]]] = {}
        for row in rows:
            rec = dict(zip(names, row, strict=True))
            if rec["value"] is not None:
                by.setdefault(str(rec.get("metric", "")), []).append((rec["time"].timestamp(), float(rec["value"])))
        result.series = [({"metric": k}, v) for k, v in by.items()]
    else:
        result.series = [({n: str(x) for n, x in zip(names, row, strict=True)}, [(end, 1.0)]) for row in rows]
    return result
