"""The analyzer's fast exposition writes exactly what prometheus_client's generate_latest writes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from gpuhealth.analyzers.serve.exposition import render


class _Families:
    def __init__(self, families) -> None:
        self.families = families

    def collect(self):
        return self.families


def _reference(families) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)


names = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)
label_values = st.text(max_size=12)  # quotes, backslashes, newlines and any unicode
values = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**6, 10**6)


@st.composite
def families(draw):
    out = []
    for i in range(draw(st.integers(1, 4))):
        labels = draw(st.lists(names, max_size=3, unique=True))
        kind = draw(st.sampled_from(["gauge", "counter"]))
        doc = draw(st.text(max_size=20))
        name = f"fam{i}_{draw(names)}"
        fam = (GaugeMetricFamily if kind == "gauge" else CounterMetricFamily)(name, doc, labels=labels)
        for _ in range(draw(st.integers(0, 5))):
            fam.add_metric([draw(label_values) for _ in labels], draw(values))
        out.append(fam)
    return out


@settings(max_examples=200, deadline=None)
@given(families())
def test_render_is_byte_for_byte_generate_latest(fams):
    assert render(fams) == _reference(fams)


def test_families_it_does_not_render_go_through_prometheus_client():
    hist = HistogramMetricFamily("h_seconds", "A histogram.", labels=["UUID"])
    hist.add_metric(["GPU-1"], buckets=[("1.0", 2), ("+Inf", 3)], sum_value=2.5)
    created = CounterMetricFamily("c", "With a created time.", labels=["UUID"], created=1.7e9)
    created.add_metric(["GPU-1"], 4, created=1.7e9)
    stamped = GaugeMetricFamily("g", "With a timestamp.", labels=["UUID"])
    stamped.add_metric(["GPU-\"1\""], 1.5, timestamp=1.7e9)
    odd = GaugeMetricFamily("g2", "A label name outside the legacy set.", labels=["gpu.name"])
    odd.add_metric(["x"], 1)
    fams = [hist, created, stamped, odd]
    assert render(fams) == _reference(fams)


def test_a_verdict_families_sample_renders_as_expected():
    fam = GaugeMetricFamily("gpuhealth_failure_probability", "Probability.", labels=["UUID", "horizon", "model"])
    fam.add_metric(["GPU-a", "7d", "xgboost"], 0.25)
    assert render([fam]) == (b"# HELP gpuhealth_failure_probability Probability.\n"
                             b"# TYPE gpuhealth_failure_probability gauge\n"
                             b'gpuhealth_failure_probability{UUID="GPU-a",horizon="7d",model="xgboost"} 0.25\n')
