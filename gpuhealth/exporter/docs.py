"""The metric table of docs/metrics.md, generated from the catalog and the collector registry.

The families, their types, help texts and label names are taken from what the exporter's own
:class:`~gpuhealth.exporter.exposition.Renderer` yields for a synthetic one-GPU reading in which
every field has a value, so the table cannot list a family the exporter does not serve or miss one
it does. ``python -m gpuhealth.exporter.docs`` prints the table; tests/test_docs_metrics.py fails
when docs/metrics.md no longer contains it.
"""

from __future__ import annotations

import re

import numpy as np

from gpuhealth.catalog import (
    FIELDS,
    FIELDS_BY_NAME,
    OWN_FAMILIES,
    GpuIdentity,
)
from gpuhealth.exporter.collectors import COLLECTORS
from gpuhealth.exporter.exposition import Family, Renderer
from gpuhealth.exporter.reading import MigInstance, Reading

BEGIN = "<!-- BEGIN GENERATED: python -m gpuhealth.exporter.docs -->"
END = "<!-- END GENERATED -->"

# gpuhealth's own families: (unit, collector, source), as the catalog declares them. The DCGM families
# take these from their catalog fields.
OWN: dict[str, tuple[str, str, str]] = {f.name: (f.unit, f.collector, f.source) for f in OWN_FAMILIES.values()}


def _sample_identity() -> GpuIdentity:
    return GpuIdentity(index=0, uuid="GPU-0", model_name="NVIDIA H100 80GB HBM3", pci_bus_id="00000000:18:00.0",
                       hostname="node", driver_version="550.54.15", serial="1", vbios="96.00")


def _families() -> list[Family]:
    """Every family the exporter serves with all collectors on and every field present."""
    ident = _sample_identity()
    reading = Reading(timestamp=0.0, identities=[ident], values={f.key: np.ones(1) for f in FIELDS},
                      up=np.ones(1, dtype=bool), xid_counts={48: np.ones(1, dtype=np.int64)},
                      collector_ok=dict.fromkeys(COLLECTORS, True), collector_seconds=dict.fromkeys(COLLECTORS, 0.0),
                      mig=[MigInstance(parent=0, gpu_instance_id=1, profile="1g.10gb", uuid="MIG-0",
                                       values={"fb_used": 1.0, "fb_free": 1.0})])
    return list(Renderer([ident], "sim").families(reading, set(COLLECTORS)))


def _label_names(fam: Family) -> list[str]:
    labels = fam.samples[0][0] if fam.samples else ""
    return re.findall(r'(\w+)="', labels)


def _labels_cell(names: list[str]) -> str:
    gpu = ["gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname", "DCGM_FI_DRIVER_VERSION"]
    own = [n for n in gpu if n != "modelName"]
    if names == gpu:
        return "GPU labels"
    if names[: len(own)] == own:
        rest = names[len(own):]
        return "GPU labels without modelName" + (", " + ", ".join(f"`{n}`" for n in rest) if rest else "")
    return ", ".join(f"`{n}`" for n in names) if names else "none"


def _dcgm_cell(name: str) -> str:
    fld = FIELDS_BY_NAME.get(name)
    if fld is None:
        return "no"
    return "yes, on by default" if fld.dcgm_default else "yes, off by default (add it to the counters CSV)"


def metrics_markdown() -> str:
    """The Markdown table of every family the exporter serves, between the generated-section markers."""
    rows = ["| family | type | unit | labels | collector | source NVML call | dcgm-exporter |",
            "|---|---|---|---|---|---|---|"]
    for fam in _families():
        fld = FIELDS_BY_NAME.get(fam.name)
        if fld is not None:
            unit, collector, source = fld.unit, fld.collector, fld.nvml
        else:
            unit, collector, source = OWN[fam.name]
        typ = f"{fam.type} (OpenMetrics: unknown)" if fld is not None and fam.type == "counter" else fam.type
        rows.append(f"| `{fam.name}` | {typ} | {unit} | {_labels_cell(_label_names(fam))} | {collector} | "
                    f"{source} | {_dcgm_cell(fam.name)} |")
    return "\n".join([BEGIN, "", *rows, "", END]) + "\n"


if __name__ == "__main__":  # pragma: no cover - a convenience for regenerating the doc
    print(metrics_markdown(), end="")
