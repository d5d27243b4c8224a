"""A cycle's result stored in TimescaleDB by its consumers (the service, `analyze --once --db`), not by the
cycle; a database that refuses the rows leaves the verdicts served and is counted."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from gpuhealth.analyzers.serve.collector import VerdictCollector
from gpuhealth.analyzers.serve.exposition import render
from gpuhealth.analyzers.serve.service import AnalyzerService
from gpuhealth.analyzers.store import store_result
from gpuhealth.sink.migrate import migrate
from tests.fleetdata import result

pytestmark = pytest.mark.integration


def test_a_result_is_stored_with_every_model_horizon_and_the_advice(postgres):
    migrate(postgres)
    r = result()
    store_result(postgres, r)
    judged = [v for v in r.verdicts if v.status == "judged"]
    with psycopg.connect(postgres) as conn:
        rows = conn.execute("SELECT time, uuid, horizon, model, probability, remaining_useful_life_days "
                            "FROM failure_predictions ORDER BY uuid, model, horizon").fetchall()
        advice = dict(conn.execute("SELECT uuid, action FROM recommendations").fetchall())
    assert len(rows) == sum(len(hp) for v in judged for hp in v.probability.values())
    at = datetime.fromtimestamp(r.at, UTC)
    by = {(u, m, h): (t, p, rul) for t, u, h, m, p, rul in rows}
    for v in judged:
        for model, hp in v.probability.items():
            for h, p in hp.items():
                t, stored, rul = by[(v.uuid, model, h)]
                assert t == at and stored == pytest.approx(p)
                assert (rul is None) == (model != r.primary)
    assert advice == {v.uuid: v.valuation.recommended_action for v in r.verdicts if v.valuation is not None}


class _Analyzer:
    """Stands in for the Analyzer's PromQL side: its cycle returns a fixed result."""

    client = type("Client", (), {"errors": 0})()

    def run(self):
        return result()


def test_the_service_stores_each_cycle_and_keeps_serving_when_the_database_refuses(postgres):
    migrate(postgres)
    collector = VerdictCollector()
    service = AnalyzerService(_Analyzer(), 60, collector, postgres)
    assert service.run_once()
    with psycopg.connect(postgres) as conn:
        first = conn.execute("SELECT count(*) FROM failure_predictions").fetchone()[0]
        assert first > 0
        conn.execute("DROP TABLE recommendations")
    assert service.run_once(), "a cycle whose verdicts cannot be stored is still a cycle"
    assert collector.healthy and collector.result is not None and collector.store_errors == 1
    assert "gpuhealth_analyzer_store_errors_total 1.0" in render(collector.collect()).decode()
    with psycopg.connect(postgres) as conn:  # one transaction: no half-stored cycle
        assert conn.execute("SELECT count(*) FROM failure_predictions").fetchone()[0] == first


def test_judging_what_a_cycle_read_asks_nothing_of_prometheus_and_gives_the_same_verdicts_twice():
    """The cycle's second half is pure: given what was read it needs no client, and judges alike each time."""
    import time

    import numpy as np

    from gpuhealth.analyzers.cycle import Analyzer, CycleInputs
    from gpuhealth.analyzers.predict.features import FEATURES, FeatureFrame, derive
    from gpuhealth.analyzers.predict.registry import DEFAULT, load_version

    class NoClient:
        def __getattr__(self, name):
            raise AssertionError(f"judge used the PromQL client ({name})")

    uuids = ["GPU-a", "GPU-b", "GPU-c"]
    raw = {f.name: np.zeros(3) for f in FEATURES}
    raw["history_days"] = np.array([7.0, 1.0, 7.0])
    raw["up_now"] = raw["up_min_1h"] = np.ones(3)  # answering NVML: judged
    raw["temp_now"] = raw["temp_1d"] = raw["temp_7d"] = np.full(3, 55.0)
    raw["power_1d"] = raw["power_7d"] = np.full(3, 400.0)
    raw["sbe_1d"] = np.array([0.0, 0.0, 500.0])
    raw["sbe_7d"] = np.array([0.0, 0.0, 600.0])
    names, hosts = ["NVIDIA H100 80GB HBM3"] * 3, ["n1", "n1", "n2"]
    at = 1.8e9
    frame = FeatureFrame(at=at, uuids=uuids, columns=derive(raw, np.full(3, 300.0), names, hosts), model_names=names,
                         hosts=hosts)
    inputs = CycleInputs(at=at, frame=frame, anomaly={"GPU-c": {"gpu_temp": 4.0}}, last_seen={},
                         lives={"GPU-b": at - 86400.0}, queries=0, started=time.monotonic())
    analyzer = Analyzer(NoClient(), load_version(DEFAULT))
    first, second = analyzer.judge(inputs), analyzer.judge(inputs)
    assert [v.as_json(first.primary) for v in first.verdicts] == [v.as_json(second.primary) for v in second.verdicts]
    by = {v.uuid: v for v in first.verdicts}
    assert {v.status for v in by.values()} == {"judged"}
    assert by["GPU-b"].life_since == at - 86400.0 and by["GPU-a"].life_since is None
    assert by["GPU-c"].anomaly == {"gpu_temp": 4.0}
    p7 = {u: v.probability[first.primary]["7d"] for u, v in by.items()}
    assert p7["GPU-c"] > p7["GPU-a"], "hundreds of new SBEs a day read as more risk than none"
