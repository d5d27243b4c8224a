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
from dataclasses import dataclass

import numpy as np

from gpuhealth import __version__
from gpuhealth.catalog import (
    CLOCK_EVENT_ACTIVE,
    CLOCK_EVENT_REASONS,
    COLLECTOR_DURATION,
    COLLECTOR_SUCCESS,
    EXPORTER_BUILD_INFO,
    GPU_INFO,
    GPU_UP,
    HOST_LABEL,
    LAST_POLL,
    MIG_INSTANCE_INFO,
    OWN_FAMILIES,
    XID_ERRORS_TOTAL,
    GpuIdentity,
    MetricType,
)
from gpuhealth.exporter.collectors import COLLECTORS
from gpuhealth.exporter.reading import Reading

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def label_string(labels: dict[str, str]) -> str:
    """Labels in exposition syntax, without braces."""
    return ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())


def _fmt(v: float) -> str:
    if v != v:  # NaN
        return "NaN"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


@dataclass
class Family:
    """One metric family ready to render: name, type, help and (label string, value) samples."""

    name: str
    type: str  # gauge | counter
    help: str
    samples: list[tuple[str, float]]


def _own(name: str, samples: list[tuple[str, float]]) -> Family:
    """One of gpuhealth's own families, as the catalog declares it (catalog.OWN_FAMILIES)."""
    f = OWN_FAMILIES[name]
    return Family(f.name, f.type.value, f.help, samples)


class Renderer:
    """Renders readings for a fixed set of GPUs (label strings computed once)."""

    def __init__(self, identities: list[GpuIdentity], backend: str, host_label: str = HOST_LABEL) -> None:
        self.backend = backend
        self.gpu_labels = [label_string(i.labels(host_label)) for i in identities]
        self.own_labels = [label_string(i.labels(host_label, model=False)) for i in identities]
        self.info_labels = [label_string(i.info_labels(host_label)) for i in identities]
        self.reason_labels = {r: [f'{lab},reason="{r}"' for lab in self.own_labels] for r in CLOCK_EVENT_REASONS}

    def families(self, reading: Reading, enabled: set[str]) -> Iterable[Family]:
        """Every family of a reading for the enabled collectors, dcgm-exporter's first."""
        up = reading.up
        for name, collector in COLLECTORS.items():
            if name not in enabled:
                continue
            for fld in collector.fields:
                vals = reading.values.get(fld.key)
                if vals is None:
                    continue
                present = np.flatnonzero(~np.isnan(vals))
                samples = [(self.gpu_labels[i], vals[i]) for i in present]
                # MIG instances: dcgm-exporter's labels plus GPU_I_PROFILE and GPU_I_ID
                samples += [(f'{self.gpu_labels[m.parent]},GPU_I_PROFILE="{m.profile}",GPU_I_ID="{m.gpu_instance_id}"',
                             m.values[fld.key]) for m in reading.mig if fld.key in m.values]
                if samples:
                    yield Family(fld.name, fld.type.value, fld.help, samples)
        yield _own(GPU_UP, [(lab, float(u)) for lab, u in zip(self.own_labels, up, strict=True)])
        if "xid" in enabled and reading.xid_counts:
            samples = []
            for code in sorted(reading.xid_counts):
                counts = reading.xid_counts[code]
                samples += [(f'{self.own_labels[i]},xid="{code}"', float(counts[i])) for i in np.flatnonzero(counts)]
            yield _own(XID_ERRORS_TOTAL, samples)
        if "clock_events" in enabled:
            mask = reading.values["clock_event_reasons"]
            ok = np.flatnonzero(~np.isnan(mask))
            bits = np.nan_to_num(mask).astype(np.int64)
            samples = []
            for reason, bit in CLOCK_EVENT_REASONS.items():
                labs = self.reason_labels[reason]
                samples += [(labs[i], float((bits[i] & bit) > 0)) for i in ok]
            yield _own(CLOCK_EVENT_ACTIVE, samples)
        if "info" in enabled and reading.mig:
            yield _own(MIG_INSTANCE_INFO,
                       [(f'{self.own_labels[m.parent]},GPU_I_ID="{m.gpu_instance_id}",GPU_I_PROFILE="{m.profile}",'
                           f'mig_uuid="{m.uuid}"', 1.0) for m in reading.mig])
        if "info" in enabled:
            yield _own(GPU_INFO, [(lab, 1.0) for lab in self.info_labels])
        yield _own(EXPORTER_BUILD_INFO,
                   [(label_string({"version": __version__, "backend": self.backend,
                                   "pythonversion": platform.python_version()}), 1.0)])
        yield _own(COLLECTOR_SUCCESS,
                   [(f'collector="{c}"', float(ok)) for c, ok in sorted(reading.collector_ok.items())])
        yield _own(COLLECTOR_DURATION,
                   [(f'collector="{c}"', s) for c, s in sorted(reading.collector_seconds.items())])
        yield _own(LAST_POLL, [("", reading.timestamp)])

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
