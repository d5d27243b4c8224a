"""Ground truth into gpu_failures (real PostgreSQL/TimescaleDB), and the simulator's parsers."""

from __future__ import annotations

import csv
import importlib.util
from datetime import UTC, datetime

import click
import psycopg
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from gpuhealth.sim.command import parse_duration, parse_time, sim
from gpuhealth.sim.history import HistoryConfig, generate_history
from gpuhealth.sim.truth import read_ground_truth

END = 1_790_000_000.0

# the gpu_failures table of the agreed schema (contract 4), used when the sink's migrations are absent
FAILURES_DDL = """
CREATE TABLE IF NOT EXISTS gpu_failures (
  id bigserial PRIMARY KEY, uuid text NOT NULL, failed_at timestamptz NOT NULL, mode text NOT NULL,
  precursor boolean, source text NOT NULL DEFAULT 'operator', rma_status text, notes text,
  recorded_at timestamptz NOT NULL DEFAULT now(), UNIQUE (uuid, failed_at))
"""


def _schema(dsn: str) -> None:
    if importlib.util.find_spec("gpuhealth.sink.migrate") is not None:
        from gpuhealth.sink.migrate import migrate

        migrate(dsn)
    else:
        with psycopg.connect(dsn) as conn:
            conn.execute(FAILURES_DDL)


@pytest.mark.integration
def test_load_truth_inserts_failures_once(tmp_path, postgres):
    cfg = HistoryConfig(gpus=64, days=3, step_seconds=1800, seed=21, end=END, hazard_scale=400)
    summary = generate_history(cfg, tmp_path, progress=False)
    with open(tmp_path / "ground_truth.csv") as fh:
        rows = list(csv.DictReader(fh))
    want = {(r["UUID"], r["mode"]) for r in rows if r["failed_at"]}
    assert len(want) == summary["failures"] > 0
    _schema(postgres)
    runner = CliRunner()
    for _ in range(2):  # the second load changes nothing
        result = runner.invoke(sim, ["load-truth", str(tmp_path), "--db", postgres])
        assert result.exit_code == 0, result.output
    with psycopg.connect(postgres) as conn:
        got = conn.execute("SELECT uuid, mode, precursor, source, failed_at FROM gpu_failures").fetchall()
    assert {(u, m) for u, m, *_ in got} == want
    assert len(got) == len(want)
    assert {row[3] for row in got} == {"simulator"}
    by_uuid = {r["UUID"]: r for r in rows}
    for uuid, mode, precursor, _src, failed_at in got:
        assert precursor == (mode != "sudden")
        assert failed_at == datetime.fromisoformat(by_uuid[uuid]["failed_at"].replace("Z", "+00:00"))
        assert failed_at.timestamp() <= summary["end"]


def test_ground_truth_errors_name_line_and_field(tmp_path):
    path = tmp_path / "ground_truth.csv"
    path.write_text("UUID,failed_at,mode,precursor\nGPU-1,2026-01-01T00:00:00Z,memory,true\nGPU-2,yesterday,power,true\n")
    with pytest.raises(ValueError, match=r"ground_truth.csv:3: failed_at"):
        read_ground_truth(path)
    path.write_text("UUID,failed_at,mode,precursor\nGPU-1,,healthy,maybe\n")
    with pytest.raises(ValueError, match=r":2: precursor"):
        read_ground_truth(path)
    path.write_text("UUID,mode\nGPU-1,healthy\n")
    with pytest.raises(ValueError, match="missing columns"):
        read_ground_truth(path)


@given(st.lists(st.tuples(st.text("0123456789abcdef-", min_size=1, max_size=20),
                          st.one_of(st.none(), st.datetimes(min_value=datetime(2000, 1, 1),
                                                            max_value=datetime(2100, 1, 1))),
                          st.sampled_from(["memory", "thermal", "power", "interconnect", "sudden", "healthy"])),
                max_size=20))
def test_ground_truth_round_trips(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("gt") / "ground_truth.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["UUID", "failed_at", "mode", "precursor"])
        for uuid, when, mode in rows:
            stamp = when.replace(microsecond=0, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else ""
            w.writerow([f"GPU-{uuid}", stamp, mode, "true" if mode not in ("sudden", "healthy") else "false"])
    parsed = read_ground_truth(path)
    assert [t.uuid for t in parsed] == [f"GPU-{u}" for u, _w, _m in rows]
    for t, (_u, when, mode) in zip(parsed, rows, strict=True):
        assert t.mode == mode
        assert (t.failed_at is None) == (when is None)
        if when:
            assert t.failed_at == when.replace(microsecond=0, tzinfo=UTC)


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from([("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]))
def test_parse_duration(value, unit):
    assert parse_duration(f"{value}{unit[0]}") == value * unit[1]
    assert parse_duration(str(value)) == value


@given(st.text(max_size=12).filter(lambda s: not s.strip().replace(".", "", 1).isdigit()))
def test_parse_duration_rejects_junk_with_a_clear_error(text):
    try:
        seconds = parse_duration(text)
    except click.BadParameter as exc:
        assert "duration" in str(exc)
    else:  # what it accepts (such as "1e3") is a positive whole number of seconds
        assert isinstance(seconds, int) and seconds >= 0


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)))
def test_parse_time_rfc3339_and_unix(when):
    when = when.replace(tzinfo=UTC)
    assert parse_time(when.isoformat().replace("+00:00", "Z")) == pytest.approx(when.timestamp())
    assert parse_time(str(when.timestamp())) == pytest.approx(when.timestamp())
    assert parse_time(None) is None
    with pytest.raises(click.BadParameter, match="RFC 3339"):
        parse_time("next tuesday")


def test_history_cli_rejects_a_step_that_does_not_divide_two_hours(tmp_path):
    result = CliRunner().invoke(sim, ["history", "--gpus", "8", "--days", "0.1", "--step", "7m", "--out",
                                      str(tmp_path)])
    assert result.exit_code != 0
    assert "step" in result.output and "7200" in result.output


def test_cli_names_bad_input(tmp_path):
    runner = CliRunner()
    result = runner.invoke(sim, ["history", "--gpus", "0", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "gpus" in result.output
    result = runner.invoke(sim, ["history", "--gpus", "8", "--sudden-share", "2", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "sudden_share" in result.output
    result = runner.invoke(sim, ["load-truth", str(tmp_path), "--db", "postgresql:///nowhere"])
    assert result.exit_code != 0 and "ground_truth.csv" in result.output
    result = runner.invoke(sim, ["backfill", str(tmp_path), "--storage.tsdb.path", str(tmp_path / "tsdb")])
    assert result.exit_code != 0 and "window-*.om" in result.output
