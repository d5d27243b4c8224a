"""The dashboard linter's rules (those Grafana's monitoring mixins follow), as pure checks on a dashboard's
JSON: each problem names the dashboard and the panel."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gpuhealth.dashboards.panels import POSTGRES_TYPE
from gpuhealth.dashboards.queries import panel_queries, panels

# Grafana's unit ids that gpuhealth's panels may use (packages/grafana-data/src/valueFormats/categories.ts)
KNOWN_UNITS = frozenset({
    "none", "short", "percent", "percentunit", "celsius", "watt", "mwatt", "kwatt", "hertz", "bytes", "mbytes",
    "decbytes", "Bps", "binBps", "cps", "ops", "reqps", "s", "ms", "m", "h", "d", "dtdurations", "currencyUSD",
    "bool", "dateTimeAsIso", "dateTimeFromNow",
})
RATE_FUNCTIONS = re.compile(r"\b(rate|irate|increase)\s*\(")
GRID_COLUMNS = 24
DATASOURCE_VARIABLES = {"prometheus": "${datasource}", POSTGRES_TYPE: "${tsdb}"}


def _call_argument(expr: str, open_paren: int) -> str:
    """The text inside the parentheses that open at ``open_paren``."""
    depth = 0
    for i in range(open_paren, len(expr)):
        depth += {"(": 1, ")": -1}.get(expr[i], 0)
        if depth == 0:
            return expr[open_paren + 1:i]
    return expr[open_paren + 1:]


def rate_windows(expr: str) -> list[str]:
    """The range windows of every rate(), irate() and increase() in a PromQL expression."""
    windows = []
    for m in RATE_FUNCTIONS.finditer(expr):
        windows += re.findall(r"\[([^\]]*)\]", _call_argument(expr, m.end() - 1))
    return windows


def _overlaps(a: Mapping[str, int], b: Mapping[str, int]) -> bool:
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


def lint(board: Mapping[str, Any]) -> list[str]:
    """Every problem of one dashboard; empty when it passes."""
    uid = board.get("uid", "?")
    problems = []
    names = {v.get("name") for v in board.get("templating", {}).get("list", [])}
    kinds = {(p.get("datasource") or {}).get("type") for p in panels(board)}
    if "prometheus" in kinds and not {"datasource", "job", "instance"} <= names:
        problems.append(f"{uid}: a dashboard of Prometheus panels needs the datasource, job and instance variables")
    if POSTGRES_TYPE in kinds and "tsdb" not in names:
        problems.append(f"{uid}: a dashboard of SQL panels needs the tsdb datasource variable")
    if not board.get("tags"):
        problems.append(f"{uid}: no tags")
    boxes: list[tuple[str, dict[str, int]]] = []
    for p in board.get("panels", []):
        title = p.get("title") or "(untitled)"
        pos = p.get("gridPos") or {}
        if not all(isinstance(pos.get(k), int) for k in ("x", "y", "w", "h")):
            problems.append(f"{uid}: panel {title!r}: no grid position")
            continue
        if pos["x"] < 0 or pos["w"] <= 0 or pos["h"] <= 0 or pos["x"] + pos["w"] > GRID_COLUMNS:
            problems.append(f"{uid}: panel {title!r}: outside the {GRID_COLUMNS}-column grid ({pos})")
        for other, opos in boxes:
            if _overlaps(pos, opos):
                problems.append(f"{uid}: panel {title!r} overlaps panel {other!r}")
        boxes.append((title, pos))
    titles = [p.get("title") for p in panels(board)]
    for title in sorted({t for t in titles if t and titles.count(t) > 1}):
        problems.append(f"{uid}: two panels are titled {title!r}")
    for p in panels(board):
        title = p.get("title")
        if not title:
            problems.append(f"{uid}: a panel has no title")
            title = "(untitled)"
        if not p.get("description"):
            problems.append(f"{uid}: panel {title!r}: no description")
        ds = p.get("datasource") or {}
        if ds.get("uid") != DATASOURCE_VARIABLES.get(ds.get("type")):
            problems.append(f"{uid}: panel {title!r}: datasource {ds} is not the dashboard's datasource variable")
        for t in p.get("targets", []):
            tds = t.get("datasource") or ds
            if tds.get("uid") != ds.get("uid"):
                problems.append(f"{uid}: panel {title!r} query {t.get('refId')}: datasource {tds} differs from "
                                "the panel's")
        unit = (p.get("fieldConfig") or {}).get("defaults", {}).get("unit")
        if not unit:
            problems.append(f"{uid}: panel {title!r}: no unit")
        elif unit not in KNOWN_UNITS and not unit.startswith("suffix:"):
            problems.append(f"{uid}: panel {title!r}: unit {unit!r} is not a Grafana unit")
        if not p.get("targets"):
            problems.append(f"{uid}: panel {title!r}: no queries")
    for q in panel_queries(board):
        if q.kind != "prometheus":
            continue
        for window in rate_windows(q.text):
            if window != "$__rate_interval":
                problems.append(f"{q.where}: rate window [{window}] is not [$__rate_interval]")
    return problems
