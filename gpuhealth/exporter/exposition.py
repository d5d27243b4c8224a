"""Exposition: a Reading rendered as Prometheus text (0.0.4) and as OpenMetrics 1.0.

Rendered once per poll, not per scrape: a scrape serves the bytes of the latest poll. The DCGM
families keep dcgm-exporter's exact names; in the 0.0.4 format their counters are typed
``counter`` as dcgm-exporter types them. OpenMetrics requires a counter's samples to end in
``_total``, which the DCGM names do not, so there they are typed ``unknown`` (their values are
the same). gpuhealth's own families follow Prometheus naming in both formats.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable

import numpy as np

from gpuhealth import __version__
from gpuhealth.catalog import (
    COLLECTOR_DURATION,
    COLLECTOR_SUCCESS,
    EXPORTER_BUILD_INFO,
    GPU_UP,
    HOST_LABEL,
    LAST_POLL,
    GpuIdentity,
    MetricType,
)
from gpuhealth.exporter.collectors import COLLECTORS
from gpuhealth.exporter.families import Family, GpuLabels, label_string, own
from gpuhealth.exporter.reading import Reading

__all__ = ["OPENMETRICS", "TEXT", "Family", "Renderer", "label_string"]

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT = "text/plain; version=0.0.4; charset=utf-8"


def _fmt(v: float) -> str:
    if v != v:  # NaN
        return "NaN"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


class Renderer:
    """Renders readings for a fixed set of GPUs (label strings computed once)."""

    def __init__(self, identities: list[GpuIdentity], backend: str, host_label: str = HOST_LABEL) -> None:
        self.backend = backend
        self.labels = GpuLabels(identities, host_label)

    def families(self, reading: Reading, enabled: set[str]) -> Iterable[Family]:
        """Every family of a reading for the enabled collectors: their catalog fields (dcgm-exporter's
        first), whether each GPU is up, the families each collector yields itself, then the exporter's own."""
        up = reading.up
        gpu_labels = self.labels.gpu
        for name, collector in COLLECTORS.items():
            if name not in enabled:
                continue
            for fld in collector.fields:
                vals = reading.values.get(fld.key)
                if vals is None:
                    continue
                present = np.flatnonzero(~np.isnan(vals))
                samples = [(gpu_labels[i], vals[i]) for i in present]
                # MIG instances: dcgm-exporter's labels plus GPU_I_PROFILE and GPU_I_ID
                samples += [(f'{gpu_labels[m.parent]},GPU_I_PROFILE="{m.profile}",GPU_I_ID="{m.gpu_instance_id}"',
                             m.values[fld.key]) for m in reading.mig if fld.key in m.values]
                if samples:
                    yield Family(fld.name, fld.type.value, fld.help, samples)
        yield own(GPU_UP, [(lab, float(u)) for lab, u in zip(self.labels.own, up, strict=True)])
        for name, collector in COLLECTORS.items():
            if name in enabled and collector.families is not None:
                yield from collector.families(reading, self.labels)
        yield own(EXPORTER_BUILD_INFO,
                  [(label_string({"version": __version__, "backend": self.backend,
                                  "pythonversion": platform.python_version()}), 1.0)])
        yield own(COLLECTOR_SUCCESS,
                  [(f'collector="{c}"', float(ok)) for c, ok in sorted(reading.collector_ok.items())])
        yield own(COLLECTOR_DURATION,
                  [(f'collector="{c}"', s) for c, s in sorted(reading.collector_seconds.items())])
        yield own(LAST_POLL, [("", reading.timestamp)])

    def render(self, reading: Reading, enabled: set[str]) -> tuple[bytes, bytes]:
        """The reading as (Prometheus text 0.0.4, OpenMetrics 1.0) bytes."""
        text: list[str] = []
        om: list[str] = []
        for fam in self.families(reading, enabled):
            is_dcgm = fam.name.startswith("DCGM_")
            helptext = fam.help.replace("\\", "\\\\").replace("\n", "\\n")
            text.append(f"# HELP {fam.name} {helptext}\n# TYPE {fam.name} {fam.type}\n")
            if fam.type == MetricType.COUNTER and not is_dcgm:
                base = fam.name.removesuffix("_total")
                om.append(f"# HELP {base} {helptext}\n# TYPE {base} counter\n")
            else:
                om_type = "unknown" if fam.type == MetricType.COUNTER else fam.type
                om.append(f"# HELP {fam.name} {helptext}\n# TYPE {fam.name} {om_type}\n")
            lines = "".join([f"{fam.name}{{{lab}}} {_fmt(v)}\n" if lab else f"{fam.name} {_fmt(v)}\n"
                             for lab, v in fam.samples])
            text.append(lines)
            om.append(lines)
        om.append("# EOF\n")
        return "".join(text).encode(), "".join(om).encode()
