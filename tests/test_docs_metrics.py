"""docs/: metrics.md carries the generated table; runbooks.md and health-score.md match the rules."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from gpuhealth.catalog import FIELDS, GPU_INFO, GPU_UP, XID_ERRORS_TOTAL
from gpuhealth.exporter.docs import BEGIN, END, metrics_markdown

ROOT = Path(__file__).parents[1]
DOC = ROOT / "docs" / "metrics.md"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
ALERTS = ROOT / "alert_rules" / "gpuhealth.yml"
RECORDING = ROOT / "recording_rules" / "gpuhealth.yml"


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


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alert_runbook_url_points_at_a_runbook_section():
    anchors = {_anchor(h) for h in re.findall(r"^## (.+)$", RUNBOOKS.read_text(), re.M)}
    alerts = [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"] if "alert" in r]
    assert alerts
    for rule in alerts:
        fragment = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert fragment in anchors, f"{rule['alert']}: no section for #{fragment} in docs/runbooks.md"
    names = {r["alert"].lower() for r in alerts}
    assert anchors == names, f"sections without an alert: {anchors - names}"


def test_health_score_doc_names_every_dimension_signal_and_rule_group():
    from gpuhealth.rules import expressions as ex
    from gpuhealth.rules.spec import load_spec

    text = (ROOT / "docs" / "health-score.md").read_text()
    spec = load_spec()
    for dim, terms in ex.DIMENSION_TERMS.items():
        assert f"## {dim.capitalize()}" in text, dim
        for signal in terms(spec):
            assert f"`{signal}`" in text, f"{dim}: signal {signal} is not documented"
    for group in yaml.safe_load(RECORDING.read_text())["groups"]:
        assert group["name"] in text, group["name"]
