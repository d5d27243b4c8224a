"""Metric families ready to render, and each GPU's label strings they are written with.

The exposition renders every catalog field a collector serves; a collector with families of gpuhealth's
own beyond its fields (the XID counter, the clock-event bits, the identity) yields them itself, from the
same reading and these labels.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from gpuhealth.catalog import CLOCK_EVENT_REASONS, HOST_LABEL, OWN_FAMILIES, GpuIdentity


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def label_string(labels: dict[str, str]) -> str:
    """Labels in exposition syntax, without braces."""
    return ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())


@dataclass
class Family:
    """One metric family ready to render: name, type, help and (label string, value) samples."""

    name: str
    type: str  # gauge | counter
    help: str
    samples: list[tuple[str, float]]


def own(name: str, samples: list[tuple[str, float]]) -> Family:
    """One of gpuhealth's own families, as the catalog declares it (catalog.OWN_FAMILIES)."""
    f = OWN_FAMILIES[name]
    return Family(f.name, f.type.value, f.help, samples)


class GpuLabels:
    """Each GPU's label strings, computed once for a fixed set of GPUs: dcgm-exporter's (``gpu``, with
    modelName), gpuhealth's own families' (``own``, without it) and the identity family's (``info``)."""

    def __init__(self, identities: list[GpuIdentity], host_label: str = HOST_LABEL) -> None:
        self.gpu = [label_string(i.labels(host_label)) for i in identities]
        self.own = [label_string(i.labels(host_label, model=False)) for i in identities]
        self.info = [label_string(i.info_labels(host_label)) for i in identities]

    @functools.cached_property
    def reason(self) -> dict[str, list[str]]:
        """The own labels with each clock-event reason added."""
        return {r: [f'{lab},reason="{r}"' for lab in self.own] for r in CLOCK_EVENT_REASONS}
