"""A PNG preview of each dashboard drawn from its queries' live results with matplotlib, laid out on the
dashboard's own grid. It is a preview of what the panels would show, not Grafana's rendering."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from gpuhealth.dashboards.live import Result, run_queries
from gpuhealth.dashboards.queries import panels

ROW_HEIGHT = 0.32  # inches per grid row
COLUMN_WIDTH = 0.75  # inches per grid column
MAX_SERIES = 12  # series drawn per panel


def _legend(labels: Mapping[str, str], legend: str) -> str:
    text = legend
    for k, v in labels.items():
        text = text.replace("{{" + k + "}}", v)
    return text if text and "{{" not in text else ",".join(f"{v}" for k, v in labels.items()
                                                           if k not in ("__name__", "job", "instance"))[:40]


def _draw(ax: Any, panel: dict[str, Any], results: list[Result]) -> None:
    ax.set_title(panel.get("title", ""), fontsize=7, loc="left")
    ax.tick_params(labelsize=5)
    legends = {t.get("refId"): t.get("legendFormat", "") for t in panel.get("targets", [])}
    unit = (panel.get("fieldConfig") or {}).get("defaults", {}).get("unit", "")
    series = [(_legend(labels, legends.get(r.query.ref, "")), points) for r in results for labels, points in r.series]
    if not any(points for _, points in series):
        ax.text(0.5, 0.5, (panel.get("fieldConfig") or {}).get("defaults", {}).get("noValue", "No data"),
                ha="center", va="center", fontsize=7, transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    kind = panel.get("type")
    if kind == "timeseries":
        for name, points in series[:MAX_SERIES]:
            ax.plot([t for t, _ in points], [v for _, v in points], linewidth=0.8, label=name)
        ax.set_xticks([])
        if len(series) <= 6:
            ax.legend(fontsize=4, loc="upper left")
    elif kind in ("stat",):
        ax.axis("off")
        text = "  ".join(f"{name}: {points[-1][1]:.3g}" if len(series) > 1 else f"{points[-1][1]:.3g}"
                         for name, points in series[:5] if points)
        ax.text(0.5, 0.4, f"{text} {unit if unit not in ('none', 'short') else ''}", ha="center", va="center",
                fontsize=9 if len(series) == 1 else 6, transform=ax.transAxes)
    elif kind == "table":
        ax.axis("off")
        rows = [f"{name}  {points[-1][1]:.3g}" for name, points in series[:8] if points]
        ax.text(0.01, 0.95, "\n".join(rows), ha="left", va="top", fontsize=4.5, family="monospace",
                transform=ax.transAxes)
    else:  # bar gauge, pie: bars of each series' last value
        named = [(name, points[-1][1]) for name, points in series[:MAX_SERIES] if points]
        ax.barh([n for n, _ in named], [v for _, v in named])
        ax.invert_yaxis()
    ax.set_xlabel(unit if unit not in ("none", "short") else "", fontsize=5)


def draw(board: Mapping[str, Any], results: list[Result], path: Path) -> Path:
    """One dashboard's preview PNG."""
    by_panel: dict[str, list[Result]] = {}
    for r in results:
        by_panel.setdefault(r.query.panel, []).append(r)
    body = [p for p in panels(board)]
    height = max((p["gridPos"]["y"] + p["gridPos"]["h"] for p in board.get("panels", [])), default=1)
    fig = plt.figure(figsize=(24 * COLUMN_WIDTH, height * ROW_HEIGHT + 0.6))
    fig.suptitle(f"{board.get('title', '')}: preview from live query results (not Grafana's rendering)",
                 fontsize=9, x=0.01, ha="left")
    top = 1 - 0.5 / (height * ROW_HEIGHT + 0.6)
    for p in body:
        g = p["gridPos"]
        ax = fig.add_axes((g["x"] / 24 + 0.004, top * (1 - (g["y"] + g["h"]) / height) + 0.004,
                           g["w"] / 24 - 0.008, top * g["h"] / height - 0.02))
        _draw(ax, p, by_panel.get(p.get("title", ""), []))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def draw_all(boards: Mapping[str, Mapping[str, Any]], prometheus_url: str, dsn: str | None, out: Path) -> list[Path]:
    """Every dashboard's preview PNG under ``out``, from its queries run now."""
    return [draw(board, run_queries(board, prometheus_url, dsn), out / name.replace(".json", ".png"))
            for name, board in sorted(boards.items())]
