"""The benchmarks' own parsers: what they print is only as right as what they read."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "rules.py"
SPEC = importlib.util.spec_from_file_location("bench_rules", BENCH)
bench_rules = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench_rules)

millis = st.floats(min_value=0, max_value=1e5, allow_nan=False).map(lambda x: round(x, 3))


@given(st.lists(st.tuples(st.integers(1, 10**6), st.floats(0, 1e6, allow_nan=False).map(lambda x: round(x, 3)),
                          millis, millis), max_size=8),
       st.lists(st.text(alphabet="abcxyz =:.0123456789", max_size=40), max_size=3))
def test_gctrace_lines_are_read_back_exactly_and_other_lines_ignored(cycles, noise):
    lines = [f"gc {n} @{at}s 3%: 0.051+{mark}+0.10 ms clock, 0.10+{assist}/1039/1432+0.20 ms cpu, "
             f"2704->2785->1501 MB, 2781 MB goal, 0 MB stacks, 0 MB globals, 2 P" for n, at, mark, assist in cycles]
    log = "\n".join(noise + lines) + "\n"
    got = bench_rules.gc_cycles(log, 1000.0)
    assert len(got) == len(cycles)
    for (start, mark_s, assist_s, heap), (_n, at, mark, assist) in zip(got, cycles, strict=True):
        assert abs(start - (1000.0 + at)) < 1e-6
        assert abs(mark_s - mark / 1e3) < 1e-9 and abs(assist_s - assist / 1e3) < 1e-9 and heap == 2704


def test_a_cycle_overlaps_an_evaluation_only_when_its_mark_phase_does():
    gcs = [(100.0, 2.0, 1.0, 2704.0)]  # mark from 100 to 102 s
    assert bench_rules.overlapping_gcs(101.0, 0.5, gcs) == gcs  # inside
    assert bench_rules.overlapping_gcs(99.0, 1.5, gcs) == gcs  # ends inside
    assert bench_rules.overlapping_gcs(102.5, 0.5, gcs) == []  # after the mark
    assert bench_rules.overlapping_gcs(98.0, 1.5, gcs) == []  # before it


TITAN = Path(__file__).resolve().parents[1] / "benchmarks" / "titan.py"
TSPEC = importlib.util.spec_from_file_location("bench_titan", TITAN)
bench_titan = importlib.util.module_from_spec(TSPEC)
TSPEC.loader.exec_module(bench_titan)


@given(st.lists(st.tuples(st.floats(0.0, 7.0, allow_nan=False), st.booleans(), st.booleans(),
                          st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=20))
def test_titan_rows_are_read_back_as_written(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("titan") / "gc.csv"
    lines = ["SN,years,dead,batch,dbe,otb,dead_dbe,dead_otb"]
    for k, (years, dead, old, dbe, otb) in enumerate(rows):
        lines.append(f"{k},{years!r},{'TRUE' if dead else 'FALSE'},{'old' if old else 'new'},{dbe},{otb},FALSE,FALSE")
    path.write_text("\n".join(lines) + "\n")
    t = bench_titan.read(path)
    assert list(t["years"]) == [r[0] for r in rows] and list(t["dead"]) == [r[1] for r in rows]
    assert list(t["old"]) == [r[2] for r in rows] and list(t["dbe"]) == [r[3] > 0 for r in rows]


def test_a_titan_file_without_a_column_names_it(tmp_path):
    path = tmp_path / "gc.csv"
    path.write_text("SN,years,dead\n1,2.0,TRUE\n")
    try:
        bench_titan.read(path)
    except ValueError as exc:
        assert "batch" in str(exc) and str(path) in str(exc)
    else:
        raise AssertionError("a file without the batch column was read")
