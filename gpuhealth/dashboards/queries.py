"""The queries a dashboard would send, as Grafana would send them: its panels' targets and variables, with
Grafana's macros and the variables' values put in, so that they can be parsed and run outside Grafana."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gpuhealth.dashboards.panels import POSTGRES_TYPE


@dataclass(frozen=True)
class PanelQuery:
    """One target of one panel: PromQL (``kind`` "prometheus") or SQL (``kind`` "sql")."""

    dashboard: str
    panel: str
    ref: str
    kind: str
    text: str
    instant: bool
    no_value: str = ""  # what the panel says when the query returns nothing (an absence that is normal)

    @property
    def where(self) -> str:
        """Where the query is, for messages: dashboard, panel title and refId."""
        return f"{self.dashboard}: panel {self.panel!r} query {self.ref}"


def panels(board: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard that is not a row, those inside collapsed rows included."""
    for p in board.get("panels", []):
        if p.get("type") == "row":
            yield from (q for q in p.get("panels", []) if q.get("type") != "row")
        else:
            yield p


def panel_queries(board: Mapping[str, Any]) -> Iterator[PanelQuery]:
    """Every target of every panel."""
    for p in panels(board):
        ds_type = (p.get("datasource") or {}).get("type", "")
        no_value = (p.get("fieldConfig") or {}).get("defaults", {}).get("noValue", "")
        for t in p.get("targets", []):
            kind = (t.get("datasource") or {}).get("type", ds_type)
            if kind == POSTGRES_TYPE:
                yield PanelQuery(board["uid"], p.get("title", ""), t.get("refId", ""), "sql", t["rawSql"], True,
                                 no_value)
            else:
                yield PanelQuery(board["uid"], p.get("title", ""), t.get("refId", ""), "prometheus", t["expr"],
                                 bool(t.get("instant")), no_value)


@dataclass(frozen=True)
class Variable:
    """A query variable: its name, query, datasource type, and the value "All" stands for (None: every value
    the query finds, joined)."""

    name: str
    query: str
    kind: str
    include_all: bool
    all_value: str | None


def variables(board: Mapping[str, Any]) -> list[Variable]:
    """The dashboard's query variables, in order (later ones may read earlier ones)."""
    out = []
    for v in board.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        kind = "sql" if (v.get("datasource") or {}).get("type") == POSTGRES_TYPE else "prometheus"
        out.append(Variable(v["name"], v["query"], kind, bool(v.get("includeAll")), v.get("allValue")))
    return out


LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.*),\s*(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)\)$")


def label_values_query(query: str) -> tuple[str, str]:
    """(series selector, label) of a ``label_values(selector, label)`` variable query."""
    m = LABEL_VALUES.match(query.strip())
    if m is None:
        raise ValueError(f"not a label_values(selector, label) query: {query!r}")
    return m.group("selector"), m.group("label")


REGEX_SPECIAL = re.compile(r"([.*+?^${}()|\[\]\\])")


def regex_of(values: list[str]) -> str:
    """What Grafana's Prometheus datasource puts for a multi-value variable in a regex matcher: each value's
    regex characters escaped (a doubled backslash inside the PromQL string), the values joined with |."""
    escaped = [REGEX_SPECIAL.sub(r"\\\1", v).replace("\\", "\\\\") for v in values]
    return "(" + "|".join(escaped) + ")" if len(escaped) != 1 else escaped[0]


def promql(expr: str, values: Mapping[str, str], rate_interval: str = "1m", interval: str = "15s",
           range_seconds: int = 21600) -> str:
    """A panel's PromQL as Grafana sends it: ``$__rate_interval``, ``$__interval``, ``$__range`` and the
    variables (``values``: name -> the regex Grafana would put) replaced."""
    out = expr.replace("$__rate_interval", rate_interval).replace("$__interval", interval)
    out = out.replace("$__range", f"{range_seconds}s")
    for name in sorted(values, key=len, reverse=True):
        out = out.replace("${" + name + "}", values[name]).replace("$" + name, values[name])
    if "$" in out.replace("$1", ""):
        raise ValueError(f"unreplaced variable in {out!r}")
    return out


def sql(text: str, values: Mapping[str, list[str]], start: datetime, end: datetime) -> tuple[str, dict[str, Any]]:
    """A panel's SQL with Grafana's macros and multi-value variables replaced, as (query, parameters) for
    psycopg: the time range and the variables' values are bound parameters, never pasted."""
    params: dict[str, Any] = {"grafana_from": start.astimezone(UTC), "grafana_to": end.astimezone(UTC)}
    out = re.sub(r"\$__timeFilter\(([a-zA-Z_][a-zA-Z0-9_.]*)\)",
                 r"\1 BETWEEN %(grafana_from)s AND %(grafana_to)s", text)
    out = out.replace("$__timeFrom()", "%(grafana_from)s").replace("$__timeTo()", "%(grafana_to)s")
    for name in sorted(values, key=len, reverse=True):
        if "$" + name in out:  # Grafana writes IN ('a', 'b'); a bound list reads the same as = ANY
            params[f"var_{name}"] = list(values[name])
            out = re.sub(r"IN \(\$" + name + r"\)", f"= ANY(%(var_{name})s)", out)
    if re.search(r"\$[A-Za-z_]", out):
        raise ValueError(f"unreplaced macro or variable in {out!r}")
    return out, params
