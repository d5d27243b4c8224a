"""Analyzers: models, metrics, the PromQL client, robustness, exposition."""

from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest

from gpuhealth.analyzers.cycle import CycleResult, Verdict, remaining_life_days
from gpuhealth.analyzers.predict.features import FEATURES, MODEL_FEATURES, Feature
from gpuhealth.analyzers.predict.models import HeuristicModel, ModelError, SurvivalModel, XGBoostModel, load, save
from gpuhealth.analyzers.predict.registry import DEFAULT, load_version
from gpuhealth.analyzers.predict.training import (
    SIM_PART_GPUS,
    Dataset,
    average_precision,
    fleet_parts,
    median_lead_days,
    recall_at_precision,
)
from gpuhealth.analyzers.promql import PromClient, PromQLError
from gpuhealth.analyzers.serve.collector import VerdictCollector

IDX = {n: i for i, n in enumerate(MODEL_FEATURES)}


def _x(n: int, **cols: float) -> np.ndarray:
    x = np.zeros((n, len(MODEL_FEATURES)))
    for k, v in cols.items():
        x[:, IDX[k]] = v
    return x


def test_average_precision_and_recall_at_precision_by_hand():
    y = np.array([1, 0, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.2, 0.1])
    # ranks: TP (P=1), FP, TP (P=2/3) -> AP = (1 + 2/3) / 2
    assert average_precision(y, p) == pytest.approx((1 + 2 / 3) / 2)
    recall, thr = recall_at_precision(y, p, 0.6)
    assert recall == 1.0 and thr == 0.7
    recall, thr = recall_at_precision(y, p, 0.9)
    assert recall == 0.5 and thr == 0.9


def test_median_lead_time():
    day = 86400.0
    ds = Dataset(x=np.zeros((4, 1)), y={}, duration_days=np.zeros(4), event=np.zeros(4),
                 uuid=np.array(["a", "a", "b", "b"]), at=np.array([0, day, 0, day]),
                 failed_at=np.array([5 * day, 5 * day, 3 * day, 3 * day]), precursor=np.ones(4, dtype=bool))
    assert median_lead_days(ds, np.array([0.9, 0.9, 0.1, 0.9]), 0.5) == pytest.approx((5 + 2) / 2)


def test_heuristic_rises_with_errors_and_names_them():
    model = HeuristicModel()
    pred = model.predict(np.vstack([_x(1), _x(1, corr_remaps_7d=6, sbe_1d=300), _x(1, remap_failure=1, dbe_7d=3)]))
    p = pred.probability["7d"]
    assert p[0] < p[1] < p[2] and p[0] < 0.01
    assert all(pred.probability["30d"] >= p)
    assert {f for f, _ in pred.factors[1]} == {"corr_remaps_7d", "sbe_1d"}
    assert pred.factors[0] == []


def test_survival_model_learns_that_a_covariate_raises_the_hazard():
    rng = np.random.default_rng(0)
    n = 600
    risk = rng.random(n) < 0.3
    x = _x(n)
    x[:, IDX["xid_critical_7d"]] = np.where(risk, rng.integers(1, 5, n), 0)
    duration = np.where(risk, rng.exponential(5, n), rng.exponential(200, n))
    event = duration < 30
    duration = np.minimum(duration, 30)
    model = SurvivalModel().fit(x, {}, duration_days=duration, event=event.astype(float))
    assert model.beta[IDX["xid_critical_7d"]] > 0.5
    two = _x(2)
    two[1, IDX["xid_critical_7d"]] = 3
    p = model.predict(two)
    assert p.probability["7d"][1] > 3 * p.probability["7d"][0]
    assert p.probability["30d"][1] > p.probability["7d"][1]


def test_models_round_trip_and_corrupt_files_are_clear_errors(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.poisson(1, (300, len(MODEL_FEATURES))).astype(float)
    y7 = (x[:, IDX["corr_remaps_7d"]] > 2).astype(float)
    xgbm = XGBoostModel().fit(x, {"7d": y7, "30d": y7})
    save(xgbm, tmp_path / "xgboost")
    again = load(tmp_path / "xgboost")
    assert np.allclose(again.predict(x).probability["7d"], xgbm.predict(x).probability["7d"])
    (tmp_path / "xgboost" / "xgboost-7d.ubj").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="xgboost"):
        load(tmp_path / "xgboost")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match="corrupt"):
        load(tmp_path / "bad")
    with pytest.raises(ModelError, match="missing"):
        load(tmp_path / "nowhere")


def test_trained_models_keep_their_training_base_rate_and_older_files_are_refused(tmp_path):
    """The base rate a model learnt at is what the analyzer shifts its probabilities from, so it travels
    with the model; a model file without one cannot be shifted honestly and is refused by name."""
    rng = np.random.default_rng(2)
    x = rng.poisson(1, (400, len(MODEL_FEATURES))).astype(float)
    y = {"7d": (x[:, IDX["corr_remaps_7d"]] > 2).astype(float), "30d": (x[:, IDX["corr_remaps_7d"]] > 1).astype(float)}
    for model in (XGBoostModel().fit(x, y), SurvivalModel().fit(x, y, duration_days=np.full(400, 9.0),
                                                                  event=y["30d"])):
        assert model.base_rate == {h: pytest.approx(v.mean()) for h, v in y.items()}
        save(model, tmp_path / model.kind)
        assert load(tmp_path / model.kind).base_rate == model.base_rate
        d = json.loads((tmp_path / model.kind / "model.json").read_text())
        del d["base_rate"]
        (tmp_path / model.kind / "model.json").write_text(json.dumps(d))
        with pytest.raises(ModelError, match=r"base_rate.*train it again"):
            load(tmp_path / model.kind)
    assert HeuristicModel().fit(x, y).base_rate == {}  # not trained: never shifted
    from gpuhealth.analyzers.predict.models import MODEL_KINDS, Model

    assert all(isinstance(kind(), Model) for kind in MODEL_KINDS.values())


def test_fleet_odds_take_a_model_from_its_training_base_rate_to_each_gpus_own():
    """A GPU that the model rates exactly at its training base rate (nothing known either way) ends at its
    own prior; one rated above it stays above its prior, by the same odds ratio; 7 days keep their share."""
    from gpuhealth.analyzers.predict.registry import calibrate, fleet_odds

    base = {"7d": 0.04, "30d": 0.1}
    prior = np.array([0.1, 0.01, 0.002, 0.01])
    raw = {"7d": np.array([0.04, 0.04, 0.04, 0.5]), "30d": np.array([0.1, 0.1, 0.1, 0.9])}
    out = calibrate(raw, fleet_odds(base, prior))
    assert out["30d"][:3] == pytest.approx(prior[:3])
    odds = out["30d"][3] / (1 - out["30d"][3])
    assert odds == pytest.approx(9.0 / (0.1 / 0.9) * (0.01 / 0.99))
    assert out["7d"][:3] == pytest.approx(prior[:3] * 0.4)
    assert (out["7d"] <= out["30d"]).all()
    assert fleet_odds(base, np.array([0.0, 1.0])).min() > 0  # clipped: never 0 or infinite odds


def test_xgboost_probabilities_undo_the_positive_class_weight():
    """Positives are weighted up in training; predicted probabilities are at the data's base rate again."""
    rng = np.random.default_rng(3)
    x = rng.poisson(1, (2000, len(MODEL_FEATURES))).astype(float)
    risk = x[:, IDX["xid_warning_1d"]] >= 3
    y = (rng.random(2000) < np.where(risk, 0.3, 0.02)).astype(float)
    model = XGBoostModel().fit(x, {"7d": y, "30d": y})
    assert model.pos_weight["7d"] > 5
    p = model.predict(x).probability["7d"]
    assert abs(p.mean() - y.mean()) < 0.02
    assert p[risk].mean() > 3 * p[~risk].mean()


def test_large_simulated_training_fleets_are_built_in_parts_of_bounded_size():
    """A fleet over SIM_PART_GPUS is simulated as several smaller ones (one history on disk at a time);
    the first part is the smaller fleet with the same seed, and every GPU is counted once."""
    assert fleet_parts(SIM_PART_GPUS, 7) == [(SIM_PART_GPUS, 7)]
    assert fleet_parts(2 * SIM_PART_GPUS, 7) == [(SIM_PART_GPUS, 7), (SIM_PART_GPUS, 8)]
    parts = fleet_parts(2 * SIM_PART_GPUS + 5, 3)
    assert [s for _n, s in parts] == [3, 4, 5] and sum(n for n, _s in parts) == 2 * SIM_PART_GPUS + 5
    assert max(n for n, _s in parts) <= SIM_PART_GPUS
    with pytest.raises(ValueError, match="gpus"):
        fleet_parts(0, 7)


def test_packaged_default_models_load_and_carry_metrics():
    models = load_version(DEFAULT)
    assert set(models) == {"heuristic", "survival", "xgboost"}
    meta = json.loads((DEFAULT / "metrics.json").read_text())
    assert meta["features"] == list(MODEL_FEATURES)
    for kind in models:
        assert 0 <= meta["metrics"][kind]["precursor_only"]["pr_auc_7d"] <= 1


def test_remaining_life_falls_with_risk():
    rul = remaining_life_days(np.array([0.0, 0.1, 0.9]))
    assert rul[0] == 3650 and rul[1] > rul[2] > 0


def test_each_feature_has_promql_and_sql():
    for f in FEATURES:
        q = f.promql()
        assert q.startswith(f"{f.agg} by (UUID)") and f.metric in q
        sql, params = f.sql()
        assert "%(at)s" in sql and params["metric"] == f.metric
        assert f.metric not in sql  # the metric name is a parameter, never pasted into SQL
    sel = 'm{job="dcgm"}'
    spans = ("1d", "12h", "6h", "3h", "1h", "30m", "10m")
    growth = " or ".join([*(f"(({sel} - {sel} offset {w}) >= 0 or ({sel} and {sel} offset {w}))" for w in spans),
                          f"{sel} * 0"])
    assert Feature("x", "delta", "m", "1d").promql('job="dcgm"') == f"max by (UUID) ({growth})"


def test_features_default_to_the_rule_specs_selector():
    from gpuhealth.rules.spec import load_spec

    assert load_spec().selector in FEATURES[0].promql()
    assert 'job="dcgm"' in FEATURES[0].promql('job="dcgm"') and "gpuhealth" not in FEATURES[0].promql('job="dcgm"')


def _raw(**over) -> dict[str, np.ndarray]:
    raw = {f.name: np.array([np.nan]) for f in FEATURES}
    raw.update({k: np.array([float(v)]) for k, v in over.items()})
    return raw


def test_a_young_history_never_raises_the_accelerations():
    """Over 2 hours the day's and the week's growth are the same few events: no acceleration."""
    from gpuhealth.analyzers.predict.features import derive

    young = derive(_raw(sbe_1d=6, sbe_7d=6, pcie_replay_1d=4, pcie_replay_7d=4, history_days=1 / 12), np.array([1.0]))
    full = derive(_raw(sbe_1d=6, sbe_7d=6, pcie_replay_1d=4, pcie_replay_7d=4, history_days=7), np.array([1.0]))
    assert young["sbe_accel"][0] <= 1.0 and young["pcie_accel"][0] <= 1.0
    assert full["sbe_accel"][0] == 6.0  # six in a day against a week that held only those six
    # three days covered: the week's rate is per day of the three
    mid = derive(_raw(sbe_1d=3, sbe_7d=9, history_days=3), np.array([1.0]))
    assert mid["sbe_accel"][0] == pytest.approx(1.0)


def test_a_young_history_scales_the_brake_share_to_the_whole_day():
    from gpuhealth.analyzers.predict.features import derive

    assert derive(_raw(brake_1d=0.5, history_days=0.25), np.array([1.0]))["brake_1d"][0] == pytest.approx(0.125)
    assert derive(_raw(brake_1d=0.5, history_days=4), np.array([1.0]))["brake_1d"][0] == pytest.approx(0.5)


def test_frame_status_tells_judged_down_and_unknown():
    from gpuhealth.analyzers.predict.features import FeatureFrame, derive

    rows = {"judged": dict(temp_now=50, power_1d=300, temp_7d=50, up_now=1),
            "silent": dict(power_1d=300, temp_7d=50),  # dcgm-exporter dropped it: no up series
            "off_bus": dict(temp_7d=50, power_1d=300, up_now=0),
            "never": dict()}
    raws = [_raw(**r) for r in rows.values()]
    raw = {k: np.concatenate([r[k] for r in raws]) for k in raws[0]}
    frame = FeatureFrame(0.0, list(rows), derive(raw, np.full(4, np.nan)))
    assert list(frame.status()) == ["judged", "down", "down", "unknown"]


class _JsonAPI(BaseHTTPRequestHandler):
    """A quiet HTTP handler that answers JSON."""

    def reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


class _FakeAPI(_JsonAPI):
    """A Prometheus-compatible API behind an auth proxy that answers partially."""

    calls: list[dict] = []

    def do_GET(self):
        type(self).calls.append(dict(self.headers))
        if self.headers.get("Authorization") != "Bearer t0ken":
            self.send_response(401)
            self.end_headers()
            return
        body = {"status": "success", "warnings": ["one store unreachable"], "isPartial": True,
                "data": {"resultType": "vector", "result": [{"metric": {"UUID": "GPU-1"}, "value": [1, "0.5"]},
                                                            {"metric": {"UUID": "GPU-2"}, "value": [1, "NaN"]}]}}
        self.reply(200, body)


def test_client_auth_headers_partial_responses_and_retries():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeAPI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        client = PromClient(url, {"Authorization": "Bearer t0ken"}, retries=0)
        assert client.by_uuid("x") == {"GPU-1": 0.5}  # NaN is missing, not a value
        assert "one store unreachable" in client.warnings and any("partial" in w for w in client.warnings)
        with pytest.raises(PromQLError):
            PromClient(url, retries=1, backoff=0.01).instant("x")
    finally:
        server.shutdown()
    with pytest.raises(PromQLError, match="unreachable after 3 tries"):
        PromClient("http://127.0.0.1:1", retries=2, backoff=0.01, timeout=1).instant("up")


class _FlakyAPI(_JsonAPI):
    """Refuses queries naming "bad" (HTTP 400, as Prometheus does), fails every other request once with
    503, and answers the rest with a warning."""

    seen: list[str] = []

    def do_GET(self):
        type(self).seen.append(self.path)
        if "bad" in self.path:
            code, body = 400, {"status": "error", "errorType": "bad_data", "error": "parse error"}
        elif len(type(self).seen) % 2 == 0:
            code, body = 503, {}
        else:
            code, body = 200, {"status": "success", "warnings": [f"w{len(type(self).seen)}"],
                               "data": {"resultType": "vector", "result": []}}
        self.reply(code, body)


def test_refused_queries_are_not_retried_failed_ones_are_and_warnings_stay_bounded():
    from gpuhealth.analyzers.promql import WARNINGS_KEPT, QueryRejected

    server = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyAPI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = PromClient(f"http://127.0.0.1:{server.server_address[1]}", retries=2, backoff=0.001)
    try:
        with pytest.raises(QueryRejected, match="bad_data"):
            client.instant("bad{")
        assert (len(_FlakyAPI.seen), client.errors) == (1, 1)  # asked once: asking again would not help
        for _ in range(WARNINGS_KEPT + 5):
            client.instant("up")  # each 503 is retried, then answered
        assert client.errors == 1 and len(_FlakyAPI.seen) == 1 + 2 * (WARNINGS_KEPT + 5)
        assert len(client.warnings) == WARNINGS_KEPT and client.warnings[-1] == f"w{len(_FlakyAPI.seen)}"
    finally:
        server.shutdown()


def test_the_analyzer_counts_failed_queries_not_failed_cycles():
    from types import SimpleNamespace

    from gpuhealth.analyzers.serve.service import AnalyzerService

    client = SimpleNamespace(errors=0)

    def run():
        client.errors += 3  # three queries of the cycle failed
        raise PromQLError("down")

    collector = VerdictCollector()
    service = AnalyzerService(SimpleNamespace(run=run, client=client), 60, collector)
    assert not service.run_once() and not service.run_once()
    assert (collector.query_errors, collector.cycles_failed) == (6, 2)


def test_collector_exposition_is_promtool_clean(tmp_path):
    v = Verdict(uuid="GPU-1", status="judged", probability={"xgboost": {"7d": 0.2, "30d": 0.5}},
                remaining_useful_life_days=30.0, anomaly={"gpu_temp": 4.2}, trends={"sbe_rate": 1.5},
                factors=[("sbe_1d", 0.7)])
    collector = VerdictCollector()
    collector.result = CycleResult(at=1.0, finished=2.0, duration_seconds=0.5, primary="xgboost", queries=30,
                                   verdicts=[v, Verdict(uuid="GPU-2", status="unknown")])
    collector.healthy = True
    reg = CollectorRegistry()
    reg.register(collector)
    text = generate_latest(reg).decode()
    assert 'gpuhealth_failure_probability{UUID="GPU-1",horizon="7d",model="xgboost"} 0.2' in text
    assert 'gpuhealth_gpu_verdict_unknown{UUID="GPU-2"} 1.0' in text
    assert 'UUID="GPU-2",horizon' not in text  # an unknown GPU gets no probability, not a healthy one
    (tmp_path / "m.prom").write_text(text)
    r = subprocess.run(["promtool", "check", "metrics"], stdin=(tmp_path / "m.prom").open(), capture_output=True,
                       text=True)
    # the one deliberate deviation: the issue names the RUL gauge in days, the unit operators plan in
    complaints = [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]
    assert all(line.startswith("gpuhealth_remaining_useful_life_days use base unit") for line in complaints), complaints


def test_calibration_shifts_odds_to_the_real_base_rate():
    from gpuhealth.analyzers.predict.registry import calibrate

    out = calibrate({"7d": np.array([0.5, 0.99, 0.0])}, 1 / 40)
    assert out["7d"][0] == pytest.approx(1 / 41)  # odds 1 -> 1/40
    assert out["7d"][1] == pytest.approx(99 / 40 / (1 + 99 / 40))
    assert out["7d"][2] < 1e-9
    # with the longest horizon: its odds shift, the 7-day probability keeps its share of it
    both = calibrate({"7d": np.array([0.6, 0.01, 0.5]), "30d": np.array([0.99, 0.2, 0.4])}, 1 / 40)
    p30 = 99 / 40 / (1 + 99 / 40)
    assert both["30d"][0] == pytest.approx(p30) and both["7d"][0] == pytest.approx(0.6 / 0.99 * p30)
    assert both["7d"][1] == pytest.approx(0.01 / 0.2 * (0.25 / 40 / (1 + 0.25 / 40)))
    assert both["7d"][2] == pytest.approx(both["30d"][2])  # never above the longer horizon
    assert (both["7d"] <= both["30d"]).all() and (both["30d"] < np.array([0.99, 0.2, 0.4])).all()


def test_reduced_features_are_the_ones_dcgm_exporters_default_counters_leave():
    """Every raw family off by default (and gpuhealth's own) set to NaN: the reduced model's features stay
    known, every other XGBoost feature whose NaN is not a value of its own becomes unknown."""
    from gpuhealth.analyzers.predict.features import PEER_MIN, derive
    from gpuhealth.analyzers.predict.models import NAN_IS_A_VALUE, REDUCED_FEATURES, XGBOOST_FEATURES
    from gpuhealth.catalog import FIELDS

    default_on = {f.name for f in FIELDS if f.dcgm_default}
    n = PEER_MIN  # enough GPUs of one model and host for the peer features
    raw = {f.name: np.full(n, np.nan if f.metric not in default_on else 5.0) for f in FEATURES}
    raw["power_max_1d"], raw["power_min_1d"] = np.full(n, 400.0), np.full(n, 100.0)
    out = derive(raw, np.full(n, 300.0), ["A"] * n, ["h"] * n)
    for name in XGBOOST_FEATURES:
        known = not np.isnan(out[name][0])
        if name in REDUCED_FEATURES and name not in NAN_IS_A_VALUE:
            assert known, name
        elif name not in REDUCED_FEATURES and name not in NAN_IS_A_VALUE:
            assert not known, name


def test_trees_average_over_an_unknown_feature_by_the_training_rows_each_side():
    import xgboost as xgb

    from gpuhealth.analyzers.predict.models import _Trees

    rng = np.random.default_rng(4)
    x = rng.uniform(0, 10, (2000, 2))
    y = (x[:, 0] > 7).astype(float)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 1, "eta": 1.0, "lambda": 1.0,
                         "base_score": 0.5}, xgb.DMatrix(x, label=y, feature_names=["sbe_1d", "power_1d"]),
                        num_boost_round=1)
    trees = _Trees(booster, ("sbe_1d", "power_1d"))
    rows = np.array([[1.0, 5.0], [9.0, 5.0], [np.nan, 5.0]])
    native = booster.predict(xgb.DMatrix(rows[:2], feature_names=["sbe_1d", "power_1d"]), output_margin=True)
    mine = trees.margin(rows)
    assert np.allclose(mine[:2], native, atol=1e-5)
    stump = trees.trees[0]
    left, right = sorted(stump["children"], key=lambda c: c["nodeid"] != stump["yes"])
    expected = (left["cover"] * left["leaf"] + right["cover"] * right["leaf"]) / (left["cover"] + right["cover"])
    assert mine[2] == pytest.approx(expected, abs=1e-6)
    assert mine[0] < mine[2] < mine[1]  # unknown: between healthy and faulty, weighted by the training rows


def test_an_absent_family_is_neither_healthy_nor_faulty_for_xgboost():
    """The packaged XGBoost on a healthy GPU: its NVLink and ECC families not exported must not read as
    failing (XGBoost's own missing-value side did: about 0.5 for every healthy GPU of dcgm-exporter)."""

    from gpuhealth.analyzers.predict.models import XGBoostModel

    packaged = load_version(DEFAULT)["xgboost"]
    model = XGBoostModel(features=packaged.features, boosters=packaged.boosters, pos_weight=packaged.pos_weight)
    healthy = {n: 0.0 for n in MODEL_FEATURES}
    healthy.update(thermal_r_1d=0.12, thermal_rise_1d=52.0, power_peak_ratio=0.9, util_1d=60.0, age_days=400.0,
                   pcie_replay_7d=8.0, pcie_replay_1d=1.0, nvlink_errors_1d=20.0, sbe_7d=1.0)
    for n in ("xid_critical_1d", "xid_critical_7d", "xid_warning_1d", "xid_warning_7d"):
        healthy[n] = np.nan  # no XID series: as in training
    row = np.array([[healthy[n] for n in MODEL_FEATURES]])
    absent = row.copy()
    for n in ("sbe_1d", "sbe_7d", "sbe_accel", "dbe_7d", "retired_dbe", "nvlink_errors_1d", "thermal_violation_frac",
              "power_violation_frac", "brake_1d"):
        absent[0, MODEL_FEATURES.index(n)] = np.nan
    p_healthy = model.predict(row).probability["7d"][0]
    p_absent = model.predict(absent).probability["7d"][0]
    assert p_absent < 0.05 and p_absent < 3 * p_healthy, (p_healthy, p_absent)


def test_decision_quality_counts_false_actions_misses_and_expected_failures():
    from gpuhealth.analyzers.economics.decisions import decision_quality

    day = 86400.0
    at = np.zeros(6)
    failed = np.array([np.inf, np.inf, 3 * day, 5 * day, 20 * day, -1.0])  # the last one failed already
    precursor = np.array([False, False, True, False, True, True])
    actions = ["repair", "keep", "keep", "keep", "repair", "decommission"]
    p7 = np.array([0.2, 0.01, 0.3, 0.02, 0.4, 1.0])
    q = decision_quality(actions, p7, failed, precursor, at, np.array(list("abcdef")))
    assert q["gpu_instants"] == 5 and q["healthy"] == 2  # failing within 30 days is not healthy
    assert q["false_actions"] == 1 and q["false_action_share"] == 0.5
    assert q["failing_7d_with_precursor"] == 1 and q["missed"] == 1 and q["missed_share"] == 1.0
    assert q["failures_7d"] == 2 and q["expected_failures_7d"] == pytest.approx(0.93)
    assert q["gpus_failing_7d"] == 2 and q["gpus_failing_7d_with_precursor"] == 1


def test_a_young_gpu_reads_at_least_its_base_rate_and_keeps_its_evidence():
    from gpuhealth.analyzers.cycle import Analyzer
    from gpuhealth.analyzers.economics.pricing import load_pricing
    from gpuhealth.analyzers.economics.valuation import baseline_failure_probability
    from gpuhealth.analyzers.predict.features import FeatureFrame
    from gpuhealth.analyzers.predict.models import Prediction

    pricing = load_pricing()
    h100 = "NVIDIA H100 80GB HBM3"
    rate = pricing.model(h100).failure_rate_at_2y
    week = baseline_failure_probability([h100], np.array([730.0]), 7.0, pricing)[0]
    assert week == pytest.approx(rate * 7 / 365.25, rel=0.05)  # the hazard at 2 years, over a week
    assert baseline_failure_probability([h100], np.array([730.0]), 7.0, pricing, 16.0)[0] > 15 * week
    frame = FeatureFrame(0.0, ["young", "mature", "young-failing"],
                         {"history_days": np.array([1 / 12, 7.0, 1 / 12]), "age_days": np.full(3, 730.0)},
                         model_names=[h100] * 3)
    preds = {"xgboost": Prediction({"7d": np.array([1e-6, 1e-6, 0.9]), "30d": np.array([1e-5, 1e-5, 0.95])},
                                   [[], [], []])}
    analyzer = Analyzer(None, {"xgboost": XGBoostModel(base_rate={"7d": 0.04, "30d": 0.1})}, pricing=pricing)
    analyzer._with_prior(preds, frame, analyzer.priors(frame))
    p7 = preds["xgboost"].probability["7d"]
    assert p7[0] == pytest.approx(week * (1 - 1 / 84), rel=1e-3)  # all but the 2 hours it covers: the prior
    assert p7[1] == 1e-6 and p7[2] == 0.9  # a full week of history, and acute evidence, are left as they are
    assert (preds["xgboost"].probability["30d"] >= p7).all()


def test_growth_spans_stop_at_the_history_every_gpu_has():
    from gpuhealth.analyzers.predict.features import spans

    assert spans("7d") == ("7d", "4d", "2d", "1d", "12h", "6h", "3h", "1h", "30m", "10m")
    # the coverage query's 0.0416667 days for one hour must keep the one-hour span
    assert spans("1d", 0.0416667 * 86400) == ("1d", "12h", "6h", "3h", "1h")
    assert spans("7d", 7 * 86400) == ("7d",)
    f = Feature("x", "delta", "m", "1d")
    # one span: its growth, or the count since a reset
    assert f.promql('job="a"', 7 * 86400).count("offset 1d") == 2 and " * 0" not in f.promql('job="a"', 7 * 86400)


def test_gpus_without_the_full_families_are_judged_by_the_reduced_boosters():
    from gpuhealth.analyzers.predict.training import dcgm_default_view

    packaged = load_version(DEFAULT)["xgboost"]
    assert packaged.reduced is not None
    rng = np.random.default_rng(5)
    full = np.abs(rng.normal(0, 1, (40, len(MODEL_FEATURES)))) * rng.choice([0, 1, 20], (40, len(MODEL_FEATURES)))
    dcgm = dcgm_default_view(full)
    assert not packaged.needs_reduced(full).any() and packaged.needs_reduced(dcgm).all()
    mixed = np.vstack([full[:20], dcgm[20:]])
    got = packaged.predict(mixed).probability["7d"]
    assert np.allclose(got[20:], packaged.reduced.predict(dcgm[20:]).probability["7d"])
    assert np.allclose(got[:20], packaged.predict(full[:20]).probability["7d"])


def test_peer_z_scores_compare_a_gpu_with_its_model_and_ignore_a_uniformly_noisy_model():
    """A GPU whose errors stand out among its model's GPUs scores high; a model whose GPUs all read the
    same (every one noisy, or every one at 0) scores 0; a model with too few GPUs is unknown."""
    from gpuhealth.analyzers.predict.features import PEER_MIN, derive

    models = ["A"] * 8 + ["B"] * 8 + ["C"] * (PEER_MIN - 1)
    sbe = np.array([0, 0, 0, 1, 0, 0, 0, 500] + [300] * 8 + [0] * (PEER_MIN - 1), dtype=float)
    n = len(sbe)
    raw = {f.name: np.full(n, np.nan) for f in FEATURES}
    raw.update(sbe_7d=sbe, sbe_1d=sbe / 7, history_days=np.full(n, 7.0), thermal_r_1d=np.full(n, 0.1))
    cols = derive(raw, np.full(n, 100.0), models, [f"h{i // 4}" for i in range(n)])
    z = cols["sbe_peer_z"]
    assert z[7] > 5 and abs(z[3]) < 1  # 500 a week stands out; 1 does not (the floor on the spread)
    assert np.allclose(z[8:16], 0)  # every B GPU equally noisy: none stands out
    assert np.isnan(z[16:]).all()  # too few C GPUs to compare with
    assert np.isnan(cols["pcie_peer_z"]).all()  # no PCIe family: unknown, not 0


def test_host_excess_is_heat_beyond_the_hosts_median():
    from gpuhealth.analyzers.predict.features import derive

    raw = {f.name: np.full(8, np.nan) for f in FEATURES}
    # two hosts: one hot (every GPU 0.2 C/W), one normal (0.1) with one GPU at 0.15
    raw.update(temp_1d=np.array([85.0] * 4 + [55.0, 55.0, 55.0, 70.0]), power_1d=np.full(8, 300.0),
               history_days=np.full(8, 7.0))
    cols = derive(raw, np.full(8, 100.0), ["A"] * 8, ["hot"] * 4 + ["cool"] * 4)
    assert np.allclose(cols["thermal_r_host_excess"][:7], 0) and cols["thermal_r_host_excess"][7] == pytest.approx(0.05)


def test_rederive_recomputes_peer_features_per_fleet_and_instant_and_round_trips(tmp_path):
    """Rows keep their raw features: the model features come back the same from them, peers being the
    rows of one fleet at one instant (never another fleet's GPUs at the same instant)."""
    from gpuhealth.analyzers.predict.features import derive
    from gpuhealth.analyzers.predict.training import RAW_COLUMNS, rederive

    rng = np.random.default_rng(3)
    n = 24
    raw = {f.name: rng.poisson(2.0, n).astype(float) for f in FEATURES}
    raw["history_days"] = np.full(n, 7.0)
    raw["sbe_7d"][5] = 900.0
    fleet = np.array(["f1"] * 12 + ["f2"] * 12)
    names, hosts = ["A"] * n, [f"h{i // 4}" for i in range(n)]
    expect = np.vstack([np.column_stack([derive({k: v[rows] for k, v in raw.items()}, np.full(12, 9.0),
                                                names[:12], hosts[:12])[m] for m in MODEL_FEATURES])
                        for rows in (slice(0, 12), slice(12, 24))])
    r = np.column_stack([raw[c] if c != "age_days" else np.full(n, 9.0) for c in RAW_COLUMNS])
    ds = Dataset(np.zeros((n, len(MODEL_FEATURES))), {"7d": np.zeros(n), "30d": np.zeros(n)}, np.ones(n), np.zeros(n),
                 np.array([f"GPU-{i}" for i in range(n)]), np.zeros(n), np.full(n, np.inf), np.zeros(n, dtype=bool),
                 model_name=np.array(names), raw=r, host=np.array(hosts), fleet=fleet)
    out = rederive(ds)
    assert np.allclose(out.x, expect, equal_nan=True)
    assert out.x[5, IDX["sbe_peer_z"]] > 5 and np.nanmax(out.x[12:, IDX["sbe_peer_z"]]) < 5
    ds.save(tmp_path / "rows.npz")
    assert np.allclose(Dataset.load(tmp_path / "rows.npz").x, expect, equal_nan=True)


def _meta_dataset() -> Dataset:
    """Rows of 40 GPUs: 10 failing after a precursor (two shapes, short and long leads), 30 not, two fleets."""
    n = 40
    uuid = np.array([f"GPU-{i:02d}" for i in range(n)])
    failing = np.arange(n) < 10
    shape = np.where(failing, np.where(np.arange(n) % 2, "step", "convex"), "")
    lead = np.where(failing, np.where(np.arange(n) < 5, 1.0, 10.0), np.nan)
    y = failing.astype(float)
    return Dataset(np.zeros((n, len(MODEL_FEATURES))), {"7d": y, "30d": y}, np.ones(n), y, uuid, np.zeros(n),
                   np.where(failing, 1.0, np.inf), failing,
                   fleet=np.where(np.arange(n) < 20, "variety-s1", "simulator-s2"),
                   families=np.where(np.arange(n) % 4 == 0, "dcgm-default", "full"), shape=shape, lead_days=lead)


def test_each_split_holds_a_whole_kind_out_of_training():
    from gpuhealth.analyzers.predict.validation import splits

    ds = _meta_dataset()
    out = {s.name: s for s in splits(ds)}
    assert {"held-out GPUs", "shape=convex", "shape=step", "lead 0-2 d", "lead 7-60 d", "families=full",
            "families=dcgm-default", "trained on the simulator's own fleets, tested on variety"} <= set(out)
    for s in out.values():
        assert not (s.train & s.test).any() and s.test.any() and s.train.any()
    step = out["shape=step"]
    assert (ds.shape[step.test & ds.precursor] == "step").all() and "step" not in set(ds.shape[step.train])
    assert set(ds.shape[out["shape=convex"].train & ds.precursor]) == {"step"}
    # shapes and leads are held out of the fleets with variety (the other fleets may be their twins)
    variety = np.char.startswith(ds.fleet.astype(str), "variety")
    assert not ((step.train | step.test) & ~variety).any()
    long = out["lead 7-60 d"]
    assert (ds.lead_days[long.train & ds.precursor] < 7).all() and (ds.lead_days[long.test & ds.precursor] >= 7).all()
    fam = out["families=dcgm-default"]
    assert set(ds.families[fam.test]) == {"dcgm-default"} and set(ds.families[fam.train]) == {"full"}
    # the GPUs no precursor warns of are tested in a share that no split trains on
    healthy_test = out["shape=step"].test & ~ds.precursor
    assert healthy_test.any() and (healthy_test == (out["shape=convex"].test & ~ds.precursor)).all()
    with pytest.raises(ValueError, match="unknown"):
        splits(ds, ("bogus",))


@given(st.booleans(), st.sampled_from(["full", "dcgm-default"]), st.integers(0, 10**6),
       st.sampled_from([15, 30, 60, 120, 300]))
def test_a_training_fleet_reads_back_from_its_name(variety, families, seed, step):
    from gpuhealth.analyzers.predict.training import SimFleet

    f = SimFleet(variety, families, seed, step)
    assert SimFleet.parse(f.name) == f


@pytest.mark.parametrize("bad", ["varity-full-s7", "variety-fll-s7", "variety-full-7", "variety-full-s7@2m", ""])
def test_a_bad_training_fleet_name_is_an_error_naming_it(bad):
    from gpuhealth.analyzers.predict.training import SimFleet

    with pytest.raises(ValueError, match="fleet"):
        SimFleet.parse(bad)


def test_rows_before_a_precursor_began_are_left_out_of_the_begun_figures():
    """A failing GPU's rows from before its precursor began hold nothing to see: precursor_begun leaves
    them out (and only them), while the figures on failures with a precursor keep them."""
    from gpuhealth.analyzers.predict.validation import Split, before_onset, evaluate_split

    ds = _meta_dataset()
    n = len(ds.uuid)
    ds.failed_at = np.where(ds.precursor, 5 * 86400.0, np.inf)
    ds.at = np.where(ds.precursor & (np.arange(n) < 5), 0.0, 4.5 * 86400.0)  # the short-lead GPUs seen 5 d early
    early = before_onset(ds)
    assert (early == (ds.precursor & (np.arange(n) < 5))).all()  # lead 1 d, seen 5 d before: not begun
    # only a begun precursor shows; the healthy GPUs' few SBEs rank them above the not yet begun
    ds.x[:, IDX["sbe_1d"]] = np.where(ds.precursor & ~early, 50.0, np.where(ds.precursor, 0.0, 1.0))
    ds.x[:, IDX["sbe_accel"]] = ds.x[:, IDX["sbe_1d"]]
    everything = np.ones(n, dtype=bool)
    m = evaluate_split(ds, Split("gpus", "all", everything, everything), ("heuristic",))["heuristic"]
    assert m["precursor_begun"]["positives"] == int((ds.precursor & ~early).sum())
    assert m["positives"] == int(ds.precursor.sum())
    assert m["precursor_begun"]["pr_auc_7d"] == pytest.approx(1.0) and m["pr_auc_7d"] < 0.9


@given(st.floats(0, 1), st.floats(0, 0.99))
def test_excess_over_prior_is_the_telemetrys_share_of_the_risk(p, q):
    """With the prior as a competing risk, the telemetry's own risk A makes up the rest:
    (1 - A)(1 - q) = 1 - p when p is above the prior, and A is 0 at or below it; never above p."""
    from gpuhealth.analyzers.predict.registry import excess_over_prior

    a = float(excess_over_prior({"7d": np.array([p])}, {"7d": np.array([q])})["7d"][0])
    assert 0.0 <= a <= p + 1e-12
    if p >= q:
        assert (1 - a) * (1 - q) == pytest.approx(1 - p, abs=1e-9)
    else:
        assert a == 0.0
