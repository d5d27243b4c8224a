"""docs/metrics.md carries the table generated from the catalog and the collector registry."""

from __future__ import annotations

from pathlib import Path

from gpuhealth.catalog import FIELDS, GPU_INFO, GPU_UP, XID_ERRORS_TOTAL
from gpuhealth.exporter.docs import BEGIN, END, metrics_markdown

DOC = Path(__file__).parents[1] / "docs" / "metrics.md"


def test_docs_metrics_table_matches_the_generator():
    text = DOC.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] + "\n" == metrics_markdown(), (
        "docs/metrics.md drifted from the catalog: regenerate the table with "
        "`python -m gpuhealth.exporter.docs` and paste it between the markers")


def test_table_lists_every_catalog_field_and_own_family_once():
    table = metrics_markdown()
    for name in [f.name for f in FIELDS] + [GPU_UP, XID_ERRORS_TOTAL, GPU_INFO,
                                            "gpuhealth_exporter_collector_duration_seconds"]:
        assert table.count(f"| `{name}` |") == 1, name


def test_doc_explains_labels_port_and_openmetrics():
    text = DOC.read_text()
    for needle in ("9494", "--host-label", "modelName", "gpuhealth_gpu_info", "unknown", "left out",
                   "## On a real GPU", "scripts/nvml_check.sh"):
        assert needle in text, needle
