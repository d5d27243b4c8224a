"""A repaired GPU starts a new life: the analyzer reads its telemetry from the repair on (a real Prometheus
with backfilled history, the repair in a real TimescaleDB), and training labels its rows by the life they
fall in."""

from __future__ import annotations

import itertools
import math
import time
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpuhealth.analyzers.cycle import Analyzer
from gpuhealth.analyzers.inventory import import_assets
from gpuhealth.analyzers.predict.features import FEATURES, FeatureFrame, derive, online
from gpuhealth.analyzers.predict.lives import SETTLE_SECONDS, Life, life_at, lives
from gpuhealth.analyzers.predict.registry import DEFAULT, load_version
from gpuhealth.analyzers.predict.training import build_dataset
from gpuhealth.analyzers.promql import PromClient
from gpuhealth.analyzers.repairs import Repair, lives_since, record_repair, repairs_by_gpu
from gpuhealth.catalog import Asset
from gpuhealth.sim.history import backfill
from gpuhealth.sink.migrate import migrate

DAY = 86400.0


# lives, pure ---------------------------------------------------------------------------------------------------

def test_a_repair_after_a_failure_starts_a_new_life_a_week_later():
    got = lives([(10 * DAY, True), (40 * DAY, False)], [12 * DAY])
    assert got == [Life(-math.inf, 10 * DAY, True, True), Life(19 * DAY, 40 * DAY, True, False)]
    assert life_at(got, 5 * DAY) is got[0] and life_at(got, 11 * DAY) is None  # failed, not yet repaired
    assert life_at(got, 15 * DAY) is None, "its windows still reach into the last life"
    assert life_at(got, 20 * DAY) is got[1] and life_at(got, 41 * DAY) is None


def test_a_repair_before_any_failure_ends_that_life_unfailed():
    got = lives([], [5 * DAY])
    assert got == [Life(-math.inf, 5 * DAY, False), Life(5 * DAY + SETTLE_SECONDS, math.inf, False)]


events = st.lists(st.floats(0, 100 * DAY), max_size=6)


@given(events, events, st.lists(st.floats(0, 110 * DAY), min_size=1, max_size=20))
def test_lives_never_overlap_and_no_row_falls_between_a_failure_and_its_repair(failed, repaired, instants):
    got = lives([(t, True) for t in failed], repaired)
    assert all(a.end <= b.start for a, b in itertools.pairwise(got)) and all(x.start < x.end for x in got)
    for life in got:  # a life ends at its first failure: none falls inside it
        assert not any(life.start < f < life.end for f in failed)
    for u in instants:
        for f in failed:
            fixed = [r for r in repaired if r >= f]  # a repair at the moment of the failure fixes it
            if f < u and (not fixed or u < min(fixed) + SETTLE_SECONDS):
                assert life_at(got, u) is None, "failed, and not yet repaired a week ago"


def _frame_at(uuids: list[str]):
    def frame(t: float) -> FeatureFrame:
        raw = {f.name: np.zeros(len(uuids)) for f in FEATURES}
        raw["history_days"] = np.full(len(uuids), 7.0)
        return FeatureFrame(at=t, uuids=uuids, columns=derive(raw, np.full(len(uuids), 100.0), ["m"] * len(uuids),
                                                              ["h"] * len(uuids)), model_names=["m"] * len(uuids),
                            hosts=["h"] * len(uuids))
    return frame


def test_training_rows_of_a_repaired_gpu_are_a_new_gpu_labelled_by_its_own_failure():
    instants = [d * DAY for d in range(0, 60)]
    failures = {"GPU-a": (10 * DAY, True), "GPU-b": (30 * DAY, True)}
    lives_of = {"GPU-a": lives([(10 * DAY, True), (45 * DAY, True)], [12 * DAY])}
    ds = build_dataset(_frame_at(["GPU-a", "GPU-b"]), instants, failures, 60 * DAY, progress=False, lives_of=lives_of)
    a = ds.uuid == "GPU-a"
    a2 = ds.uuid == "GPU-a/life2"
    assert list(ds.at[a] / DAY) == list(range(0, 10)), "first life: until it failed"
    assert list(ds.at[a2] / DAY) == list(range(19, 45)), "second life: a week after the repair, until it failed"
    assert ds.y["7d"][a2].sum() == 7 and ds.failed_at[a2].max() == 45 * DAY
    assert (ds.failed_at[a] == 10 * DAY).all()
    assert list(ds.at[ds.uuid == "GPU-b"] / DAY) == list(range(0, 30)), "a GPU never repaired: as before"


# the analyzer on real components -----------------------------------------------------------------------------------

@pytest.mark.integration
def test_a_repaired_gpu_is_judged_from_its_repair_on(tmp_path, prometheus_factory, postgres):
    """Two GPUs whose single-bit errors grew by 100 a day until three days ago: one was repaired then. The analyzer
    reads the repaired one's windows from the repair on (no growth, two days of history) and the other's whole week."""
    at = float(int(time.time()) // 3600 * 3600 - DAY)
    repaired_at = at - 3 * DAY
    base = 'job="gpuhealth",instance="n:9494"'
    lines = ["# TYPE DCGM_FI_DEV_ECC_SBE_AGG_TOTAL gauge"]
    steps = np.arange(at - 10 * DAY, at + 1, 300.0)
    for gpu in ("GPU-fixed", "GPU-worn"):
        for t in steps:
            v = 100 * (min(t, repaired_at) - steps[0]) / DAY
            lines.append(f'DCGM_FI_DEV_ECC_SBE_AGG_TOTAL{{{base},UUID="{gpu}",modelName="NVIDIA H100"}} {v:.0f} '
                         f"{t:.0f}")
    lines.append("# TYPE DCGM_FI_DEV_GPU_TEMP gauge")
    for gpu in ("GPU-fixed", "GPU-worn"):
        for t in steps:
            temp = 80 if t < repaired_at and gpu == "GPU-fixed" else 55
            lines.append(f'DCGM_FI_DEV_GPU_TEMP{{{base},UUID="{gpu}",modelName="NVIDIA H100"}} {temp} {t:.0f}')
    lines.append("# TYPE DCGM_FI_DEV_POWER_USAGE gauge")
    lines += [f'DCGM_FI_DEV_POWER_USAGE{{{base},UUID="{gpu}",modelName="NVIDIA H100"}} 400 {t:.0f}'
              for gpu in ("GPU-fixed", "GPU-worn") for t in steps]
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "window-0.om").write_text("\n".join(lines) + "\n# EOF\n")
    backfill(tmp_path / "h", tmp_path / "tsdb", progress=False)
    prom = prometheus_factory(storage_path=tmp_path / "tsdb", retention="100y")
    client = PromClient(prom.url)

    frame = online(client, at, None, 'job="gpuhealth"', {"GPU-fixed": repaired_at})
    col = {name: dict(zip(frame.uuids, frame.columns[name], strict=True))
           for name in ("sbe_7d", "sbe_1d", "history_days", "temp_7d")}
    assert col["sbe_7d"] == {"GPU-fixed": 0.0, "GPU-worn": 400.0}
    assert col["history_days"] == {"GPU-fixed": 2.0, "GPU-worn": 7.0}, "the longest span since the repair: 2 days"
    assert col["temp_7d"] == {"GPU-fixed": 55.0, "GPU-worn": 55.0}, "its hot week before the repair is not read"

    migrate(postgres)
    import_assets(postgres, [Asset(uuid=u, serial="", model="NVIDIA H100", node="n", datacenter="dc", rack="r",
                                   purchase_date="2025-01-01", purchase_price_dollars=30000.0)
                             for u in ("GPU-fixed", "GPU-worn")])
    when = datetime.fromtimestamp(repaired_at, UTC)
    record_repair(postgres, Repair("GPU-fixed", when, "repair", "hbm", 900.0, True))
    record_repair(postgres, Repair("GPU-worn", datetime.fromtimestamp(at - 8 * DAY, UTC), "repair", "fan", math.nan,
                                   True))  # over a week ago: it shortens no window any more
    assert lives_since(postgres, at) == {"GPU-fixed": repaired_at}
    result = Analyzer(client, load_version(DEFAULT), dsn=postgres, selector='job="gpuhealth"').run(at)
    verdicts = {v.uuid: v for v in result.verdicts}
    assert verdicts["GPU-fixed"].life_since == repaired_at and verdicts["GPU-fixed"].history_days == 2.0
    assert verdicts["GPU-worn"].life_since is None and verdicts["GPU-worn"].history_days == 7.0
    sbe = dict(zip(result.frame.uuids, result.frame.columns["sbe_7d"], strict=True))
    assert sbe == {"GPU-fixed": 0.0, "GPU-worn": 400.0}, "the cycle read the repaired GPU from its repair on"


@pytest.mark.integration
def test_training_reads_the_successful_repairs_of_each_gpu_in_order(postgres):
    migrate(postgres)
    import_assets(postgres, [Asset(uuid=u, serial="", model="NVIDIA H100", node="n", datacenter="dc", rack="r",
                                   purchase_date="2025-01-01", purchase_price_dollars=30000.0)
                             for u in ("GPU-a", "GPU-b")])
    day = datetime(2026, 11, 1, tzinfo=UTC)
    for uuid, days, ok in (("GPU-a", 20, True), ("GPU-a", 5, True), ("GPU-a", 9, False), ("GPU-b", 3, False)):
        record_repair(postgres, Repair(uuid, day.replace(day=1 + days), "rma", "hbm", math.nan, ok))
    got = repairs_by_gpu(postgres)
    assert got == {"GPU-a": [day.replace(day=6).timestamp(), day.replace(day=21).timestamp()]}, \
        "only successful repairs start a life, in time order"
    second = lives([(day.replace(day=4).timestamp(), True)], got["GPU-a"])[1]
    assert second.start == day.replace(day=6).timestamp() + 7 * DAY
