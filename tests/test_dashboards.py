"""The Grafana dashboards: generated from one config and committed; the mixins' lint rules hold; every PromQL
expression parses; every dashboard decodes through grafana-foundation-sdk's own models without losing a key;
and, against a live Prometheus and TimescaleDB fed by the demo's stack, every panel query returns data."""

from __future__ import annotations

import copy
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import requests
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard
from hypothesis import given
from hypothesis import strategies as st

from gpuhealth.catalog import FAMILY
from gpuhealth.dashboards.check import check, parse_problems
from gpuhealth.dashboards.config import DashboardConfigError, load_config
from gpuhealth.dashboards.generate import BOARDS, dashboards, rendered
from gpuhealth.dashboards.lint import lint, rate_windows
from gpuhealth.dashboards.queries import panel_queries, panels, promql, regex_of, sql
from tests.sinkutil import V1_HEADERS, v1_body

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def boards():
    return dashboards(load_config())


def test_committed_files_match_the_generator():
    for rel, text in rendered(load_config()).items():
        path = REPO / rel
        assert path.exists(), f"{rel} is not committed: run `gpuhealth dashboards generate`"
        assert path.read_text() == text, f"{rel} drifted from the generator: run `gpuhealth dashboards generate`"
    committed = {p.relative_to(REPO).as_posix() for p in (REPO / "grafana" / "dashboards").glob("*.json")}
    assert committed == {rel for rel in rendered(load_config()) if rel.startswith("grafana/dashboards/")}


def test_every_dashboard_the_issue_names_exists_with_a_stable_uid(boards):
    uids = {b["uid"] for b in boards.values()}
    assert uids == {f"gpuhealth-{m.NAME}" for m in BOARDS}
    assert {"gpuhealth-fleet", "gpuhealth-gpu", "gpuhealth-health", "gpuhealth-predictions", "gpuhealth-economics",
            "gpuhealth-history", "gpuhealth-self"} == uids
    again = dashboards(load_config())
    assert json.dumps(again, sort_keys=True) == json.dumps(boards, sort_keys=True), "generation is not deterministic"


def test_the_lint_rules_and_promtool_pass_on_every_dashboard(boards):
    assert check(boards) == []


def _first_graph(board):
    return next(p for p in panels(board) if p["type"] == "timeseries")


@pytest.mark.parametrize("breakage, expected", [
    (lambda p: p.pop("description"), "no description"),
    (lambda p: p["fieldConfig"]["defaults"].update(unit="furlongs"), "is not a Grafana unit"),
    (lambda p: p["fieldConfig"]["defaults"].pop("unit"), "no unit"),
    (lambda p: p.update(datasource={"type": "prometheus", "uid": "prometheus"}), "datasource variable"),
    (lambda p: p["targets"][0].update(expr="rate(up[5m])"), "rate window [5m]"),
    (lambda p: p["gridPos"].update(x=20, w=12), "outside the 24-column grid"),
    (lambda p: p.update(targets=[]), "no queries"),
    (lambda p: p.update(title="Health score"), "two panels are titled 'Health score'"),
])
def test_the_linter_names_each_broken_rule(boards, breakage, expected):
    board = copy.deepcopy(boards["gpu.json"])
    breakage(_first_graph(board))
    problems = lint(board)
    assert any(expected in p for p in problems), problems


def test_the_linter_finds_overlapping_panels_and_missing_variables(boards):
    board = copy.deepcopy(boards["fleet.json"])
    body = [p for p in board["panels"] if p["type"] != "row"]
    body[1]["gridPos"] = dict(body[0]["gridPos"])
    board["templating"]["list"] = [v for v in board["templating"]["list"] if v["name"] != "instance"]
    problems = lint(board)
    assert any("overlaps" in p for p in problems), problems
    assert any("job and instance variables" in p for p in problems), problems


def test_promtool_names_the_panel_whose_query_does_not_parse(boards):
    board = copy.deepcopy(boards["health.json"])
    target = _first_graph(board)["targets"][0]
    target["expr"] = "avg(gpu:health:score{"
    problems = parse_problems({"health.json": board})
    assert len(problems) == 1 and "Average score per dimension" in problems[0] and "parse" in problems[0]


@pytest.mark.parametrize("text", [
    "rate(x[$__rate_interval])", "sum(increase(a{b=\"c\"}[$__rate_interval])) / rate(y[$__rate_interval])"])
def test_rate_windows_are_found_inside_nested_calls(text):
    assert rate_windows(text) and all(w == "$__rate_interval" for w in rate_windows(text))
    assert rate_windows("rate(max_over_time(x[5m:1m])[10m:])") == ["5m:1m", "10m:"]


def test_every_dashboard_decodes_through_the_sdk_models_without_losing_a_key(boards):
    for name, board in boards.items():
        decoded = Dashboard.from_json(copy.deepcopy(board))
        again = json.loads(json.dumps(decoded, cls=JSONEncoder))
        again["panels"] = [dict(p, id=p.get("id")) for p in again["panels"]]
        assert again == board, f"{name}: keys lost or changed decoding through the SDK"


def test_the_dashboards_follow_the_rule_spec(tmp_path, boards):
    """Thresholds and the selector come from the rule spec: another spec gives other dashboards."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"selector": 'job="dcgm"', "scores": {"low_warning": 0.7}}))
    other = dashboards(load_config(rules_config=spec))
    fleet = json.dumps(other["fleet.json"])
    assert 'job=\\"dcgm\\"' in fleet and 'job=\\"dcgm\\"' not in json.dumps(boards["fleet.json"])
    steps = [s["value"] for s in _first_graph(other["health.json"])["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert 0.7 in steps


def test_a_bad_config_is_refused_naming_the_field(tmp_path):
    bad = tmp_path / "dash.yaml"
    bad.write_text(yaml.safe_dump({"colour": "red"}))
    with pytest.raises(DashboardConfigError, match=r"dash.yaml: unknown fields \['colour'\]"):
        load_config(bad)
    bad.write_text(yaml.safe_dump({"datasources": {"prometheus": {"uid": ""}}}))
    with pytest.raises(DashboardConfigError, match=r"datasources.prometheus: uid"):
        load_config(bad)
    bad.write_text(yaml.safe_dump({"tags": "gpu"}))
    with pytest.raises(DashboardConfigError, match="tags: expected a list"):
        load_config(bad)


def test_provisioning_declares_both_datasources_and_the_sidecar_configmap_holds_every_dashboard(boards):
    ds = yaml.safe_load((REPO / "grafana/provisioning/datasources/gpuhealth.yaml").read_text())["datasources"]
    by_type = {d["type"]: d for d in ds}
    assert by_type["grafana-postgresql-datasource"]["jsonData"]["timescaledb"] is True
    assert "password" not in json.dumps(by_type["grafana-postgresql-datasource"]).replace("secureJsonData", "") \
        .replace('"password": "$GPUHEALTH_GRAFANA_DB_PASSWORD"', "")
    uids = {d["uid"] for d in ds}
    used = {t["datasource"]["uid"] for b in boards.values() for v in b["templating"]["list"]
            if v["type"] == "datasource" for t in [{"datasource": {"uid": v["current"]["value"]}}]}
    assert used <= uids, "a datasource variable defaults to a datasource the provisioning does not declare"
    provider = yaml.safe_load((REPO / "grafana/provisioning/dashboards/gpuhealth.yaml").read_text())
    assert provider["providers"][0]["type"] == "file"
    cm = yaml.safe_load((REPO / "grafana/kubernetes/dashboards-configmap.yaml").read_text())
    assert cm["kind"] == "ConfigMap" and cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert {json.loads(v)["uid"] for v in cm["data"].values()} == {b["uid"] for b in boards.values()}


def _promql_string(text: str) -> str:
    """The value of a double-quoted PromQL string literal's body (Go's escapes: backslash escapes itself)."""
    return re.sub(r"\\(.)", r"\1", text)


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters='"\n'),
                        min_size=1, max_size=12), min_size=1, max_size=4, unique=True))
def test_a_multi_value_regex_matches_exactly_its_values(values):
    pattern = re.compile(_promql_string(regex_of(values)))
    for v in values:
        assert pattern.fullmatch(v), (v, regex_of(values))
    assert not pattern.fullmatch("".join(values) + "\x00")


def test_sql_macros_become_bound_parameters_never_pasted_values():
    text, params = sql("SELECT 1 FROM t WHERE uuid IN ($UUID) AND $__timeFilter(bucket)", {"UUID": ["a'; DROP", "b"]},
                       datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
    assert "DROP" not in text and params["var_UUID"] == ["a'; DROP", "b"]
    assert "uuid = ANY(%(var_UUID)s)" in text and "bucket BETWEEN %(grafana_from)s AND %(grafana_to)s" in text
    with pytest.raises(ValueError, match="unreplaced"):
        sql("SELECT $other", {}, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
    with pytest.raises(ValueError, match="unreplaced"):
        promql("up{job=~\"$job\"}", {})


# --- live: the demo's stack, with a few days of history in TimescaleDB for the SQL panels -----------------


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory):
    from gpuhealth import stack
    from gpuhealth.demo import start_demo
    from gpuhealth.sink.maintenance import refresh_rollups

    wd = stack.scratch_dir("dashboards")
    demo = start_demo(wd / "demo", gpus=8, speedup=120, seed=1)
    try:
        prom = demo.urls["prometheus"]
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:  # the analyzer has served a cycle and Prometheus scraped it
            r = requests.get(f"{prom}/api/v1/query", params={"query": "count(gpuhealth_recommended_action)"},
                             timeout=10).json()["data"]["result"]
            if r:
                break
            time.sleep(5)
        time.sleep(45)  # two more evaluations of the 10 s rule groups that read the analyzer's gauges
        uuids = sorted({s["UUID"] for s in requests.get(f"{prom}/api/v1/series", params={
            "match[]": FAMILY.gpu_temp}, timeout=10).json()["data"]})
        now = int(time.time()) // 300 * 300
        start = now - 3 * 86400
        series = []
        for u in uuids:  # three days of history, as the sink would have stored it, for the rollups
            for family, value in ((FAMILY.gpu_temp, lambda i: 60.0 + i % 7), (FAMILY.memory_temp, lambda i: 70.0),
                                  (FAMILY.power_usage, lambda i: 300.0 + i % 11),
                                  (FAMILY.ecc_sbe_agg, lambda i: float(i // 50)),
                                  (FAMILY.correctable_remapped_rows, lambda i: float(i // 400)),
                                  (FAMILY.pcie_replay_counter, lambda i: float(i // 30 % 200))):  # with resets
                series.append((sorted([("__name__", family), ("UUID", u), ("job", "history")]),
                               [((start + i * 300) * 1000, value(i)) for i in range(864)]))
        r = requests.post(demo.urls["sink"] + "api/v1/write", data=v1_body(series), headers=V1_HEADERS, timeout=60)
        assert r.status_code == 204, r.text
        with psycopg.connect(demo.urls["database"]) as conn:
            refresh_rollups(conn, oldest_written=datetime.fromtimestamp(start, UTC))
        yield demo
    finally:
        demo.stop()
        import shutil

        shutil.rmtree(wd, ignore_errors=True)


@pytest.mark.integration
def test_every_panel_query_returns_data_from_the_live_stack(live_stack, boards, tmp_path):
    from gpuhealth.dashboards.live import resolve_variables, run_queries
    from gpuhealth.dashboards.preview import draw

    prom, dsn = live_stack.urls["prometheus"], live_stack.urls["database"]
    failed, empty, absent_ok = [], [], []
    for name, board in boards.items():
        _, values = resolve_variables(board, prom, dsn)
        assert all(values.values()), f"{name}: a variable's own query found no value: {values}"
        results = run_queries(board, prom, dsn)
        assert len(results) == sum(1 for _ in panel_queries(board))
        failed += [f"{r.query.where}: {r.error}" for r in results if r.error]
        empty += [f"{r.query.where}: {r.sent}" for r in results if r.empty and not r.query.no_value]
        absent_ok += [r.query.where for r in results if r.empty and r.query.no_value]
        png = draw(board, results, tmp_path / f"{name}.png")
        assert png.stat().st_size > 20_000, f"{name}: the preview is (nearly) blank"
    assert not failed, "queries that failed:\n" + "\n".join(failed)
    assert not empty, "panels with no data:\n" + "\n".join(empty)
    # only the panels of absences that are normal (no fan, no XID yet, no alert) may show their no-value text
    assert len(absent_ok) <= 3, absent_ok


@pytest.mark.integration
def test_the_history_panels_read_the_rollups_and_count_a_counter_reset_as_growth(live_stack, boards):
    from gpuhealth.dashboards.live import run_queries

    results = {r.query.panel: r for r in run_queries(boards["history.json"], live_stack.urls["prometheus"],
                                                     live_stack.urls["database"])}
    replays = results["Pcie replays per day"]
    values = [v for _, points in replays.series for _, v in points]
    assert values and min(values) >= 0, "a counter reset read as negative growth"
    temps = [v for _, points in results["GPU temperature, hourly maximum"].series for _, v in points]
    assert max(temps) == pytest.approx(66.0)
    assert timedelta(days=2) < timedelta(seconds=max(t for _, p in results["GPU temperature, hourly average"].series
                                                     for t, _ in p) - min(t for _, p in results[
                                                         "GPU temperature, hourly average"].series for t, _ in p))
