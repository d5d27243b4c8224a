"""The text exposition of the analyzer's metric families, byte for byte what prometheus_client writes.

A cycle over 10,000 GPUs exports some 300,000 samples; prometheus_client's ``generate_latest``
re-checks every metric and label name and escapes every label value on every sample, which costs
about as much as the models. The analyzer's names are fixed and legal, and its label values (UUIDs,
models, signals) repeat, so this renderer checks each name once and escapes each distinct value once.
Families of a kind it does not render (histograms, summaries, info, state sets) or with names
outside the legacy character set go through prometheus_client unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.utils import floatToGoString

LEGACY_METRIC = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LEGACY_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
SIMPLE_TYPES = {"gauge": "gauge", "counter": "counter", "unknown": "untyped"}


class _One:
    """A registry-like wrapper that yields one family (for prometheus_client's own renderer)."""

    def __init__(self, metric: Metric) -> None:
        self.metric = metric

    def collect(self) -> Iterable[Metric]:
        return [self.metric]


def _fallback(metric: Metric) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_One(metric))
    return generate_latest(registry).decode("utf-8")


def _fast(metric: Metric, escaped: dict[str, str], legal_labels: set[str]) -> str | None:
    """One family rendered, or None when it needs prometheus_client's general renderer."""
    mtype = SIMPLE_TYPES.get(metric.type)
    mname = metric.name + "_total" if metric.type == "counter" else metric.name
    if mtype is None or not LEGACY_METRIC.match(mname):
        return None
    doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
    lines = [f"# HELP {mname} {doc}\n# TYPE {mname} {mtype}\n"]
    for s in metric.samples:
        if s.name != mname or s.timestamp is not None:  # _created samples, timestamps: the general renderer
            return None
        labels = s.labels
        if not labels:
            lines.append(f"{mname} {floatToGoString(s.value)}\n")
            continue
        parts = []
        for k in sorted(labels):
            if k not in legal_labels:
                if not LEGACY_LABEL.match(k):
                    return None
                legal_labels.add(k)
            v = labels[k]
            e = escaped.get(v)
            if e is None:
                e = escaped[v] = v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
            parts.append(f'{k}="{e}"')
        lines.append(f"{mname}{{{','.join(parts)}}} {floatToGoString(s.value)}\n")
    return "".join(lines)


def render(families: Iterable[Metric]) -> bytes:
    """Families in the Prometheus text format 0.0.4, as prometheus_client's generate_latest renders them."""
    escaped: dict[str, str] = {}
    legal_labels: set[str] = set()
    out = []
    for metric in families:
        text = _fast(metric, escaped, legal_labels)
        out.append(text if text is not None else _fallback(metric))
    return "".join(out).encode("utf-8")
