"""`gpuhealth dashboards check`: the linter's rules, and every PromQL expression parsed by promtool with
Grafana's macros and variables put in (as recording rules, which promtool parses strictly)."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from gpuhealth.binaries import find_binary
from gpuhealth.dashboards.lint import lint
from gpuhealth.dashboards.queries import panel_queries, promql, variables

FAILURE = re.compile(r"/q(\d+)\.yml: (.*)")


def all_values(board: Mapping[str, Any]) -> dict[str, str]:
    """A value for every variable that parses: "All" where there is one, else a single name."""
    return {v.name: v.all_value or ".*" for v in variables(board)} | {"datasource": "prometheus"}


def parse_problems(boards: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every panel's PromQL that promtool does not parse, named by dashboard, panel and query."""
    queries = [q for b in boards.values() for q in panel_queries(b) if q.kind == "prometheus"]
    values = {b["uid"]: all_values(b) for b in boards.values()}
    problems = []
    rules = []
    for q in queries:
        try:
            rules.append((q, promql(q.text, values[q.dashboard])))
        except ValueError as exc:
            problems.append(f"{q.where}: {exc}")
    promtool = str(find_binary("promtool", "/usr/bin/promtool"))
    with tempfile.TemporaryDirectory(prefix="gpuhealth-dashboards-") as tmp:
        for i, (_, expr) in enumerate(rules):  # one file a query: promtool names the file that fails
            path = Path(tmp) / f"q{i}.yml"
            path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
                {"record": "dashboard:query:check", "expr": expr}]}]}))
        files = [str(Path(tmp) / f"q{i}.yml") for i in range(len(rules))]
        r = subprocess.run([promtool, "check", "rules", *files], capture_output=True, text=True)
        if r.returncode != 0:
            failed = {int(m.group(1)): m.group(2) for m in FAILURE.finditer(r.stdout + r.stderr)}
            problems += [f"{rules[i][0].where}: promtool does not parse {rules[i][1]!r}: {why}"
                         for i, why in sorted(failed.items())]
            if not failed:
                problems.append(f"promtool check rules failed: {(r.stdout + r.stderr).strip()[:2000]}")
    return problems


def check(boards: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every lint and parse problem of the dashboards."""
    return [p for b in boards.values() for p in lint(b)] + parse_problems(boards)
