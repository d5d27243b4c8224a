"""The fleet report: one self-contained HTML file from what the analyzer exported to Prometheus.

``fetch_fleet`` reads the gauges by plain PromQL instant queries (gpuhealth_failure_probability,
gpuhealth_recommended_action, gpuhealth_npv_dollars, gpuhealth_market_value_dollars, and when present
gpu:health:score and gpuhealth_asset_info); ``build_report`` renders the at-risk GPUs, the recommended
actions with their dollar impact and three plots (PNG, embedded as data URIs) into one HTML page.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import jinja2

from gpuhealth import durations
from gpuhealth.analyzers.economics.valuation import ACTIONS
from gpuhealth.analyzers.promql import PromClient, PromQLError


class ReportError(RuntimeError):
    """Prometheus could not be read; the message names the URL and the query."""


@dataclass
class GpuReport:
    """What the report knows about one GPU."""

    uuid: str
    host: str = ""
    model: str = "unknown"
    datacenter: str = ""
    health_score: float | None = None
    probabilities: dict[float, float] = field(default_factory=dict)  # horizon days -> max over models
    action: str | None = None
    npv: dict[str, float] = field(default_factory=dict)
    market_value: float | None = None

    def probability(self, days: float) -> float:
        """The failure probability at this horizon (the nearest horizon not longer; 0 if none)."""
        shorter = [h for h in self.probabilities if h <= days]
        return self.probabilities[max(shorter)] if shorter else 0.0

    @property
    def max_probability(self) -> float:
        """The highest failure probability over every horizon and model."""
        return max(self.probabilities.values(), default=0.0)

    @property
    def impact(self) -> float:
        """NPV gained by the recommended action over keeping the GPU (dollars; 0 when unknown)."""
        if self.action is None or self.action not in self.npv or "keep" not in self.npv:
            return 0.0
        return self.npv[self.action] - self.npv["keep"]

    def at_risk(self, threshold: float) -> bool:
        """At risk: a failure probability at or above threshold, or an action other than keep recommended."""
        return self.max_probability >= threshold or (self.action not in (None, "keep"))


@dataclass
class FleetReport:
    """The fleet as read from Prometheus at one time."""

    url: str
    at: datetime
    gpus: dict[str, GpuReport]
    missing: list[str] = field(default_factory=list)  # families that had no series


def parse_time(text: str) -> datetime:
    """An RFC 3339 time (UTC without an offset) or Unix seconds, as an aware datetime."""
    try:
        return datetime.fromtimestamp(durations.instant(text), UTC)
    except ValueError:
        raise ReportError(f"--at: {text!r} is neither RFC 3339 nor Unix seconds") from None


def horizon_days(text: str) -> float | None:
    """'7d' -> 7.0, '24h' -> 1.0, '2w' -> 14.0; None when not a duration (or a bare number)."""
    try:
        float(text)
        return None
    except ValueError:
        pass
    try:
        return durations.seconds(text) / 86400.0
    except ValueError:
        return None


def _query(client: PromClient, expr: str, at: datetime) -> list[tuple[dict[str, str], float]]:
    try:
        return client.instant(expr, at.timestamp())
    except PromQLError as exc:
        raise ReportError(f"{client.url}: cannot query Prometheus: {exc}") from None


def fetch_fleet(url: str, at: datetime | None = None, selector: str | None = None) -> FleetReport:
    """Read every GPU's predictions, valuation, recommendation, health score and asset record at ``at``:
    the GPUs whose exporter series ``selector`` matches (default: the rule spec's), within the week."""
    from gpuhealth.analyzers.predict.features import COVERAGE_METRIC, default_selector

    at = at or datetime.now(UTC)
    selector = selector or default_selector()
    gpus: dict[str, GpuReport] = {}
    missing: list[str] = []

    def gpu(labels: dict) -> GpuReport | None:
        uuid = labels.get("UUID")
        if not uuid:
            return None
        return gpus.setdefault(uuid, GpuReport(uuid=uuid))

    client = PromClient(url, retries=1)  # one client for every query of the report

    def each(expr: str):
        result = _query(client, expr, at)
        if not result:
            missing.append(expr)
        for labels, value in result:
            g = gpu(labels)
            if g is not None and not math.isnan(value):
                yield g, labels, value

    for g, labels, v in each("gpuhealth_failure_probability"):
        days = horizon_days(labels.get("horizon", ""))
        if days is not None:
            g.probabilities[days] = max(g.probabilities.get(days, 0.0), v)
    for g, labels, v in each("gpuhealth_npv_dollars"):
        if labels.get("action") in ACTIONS:
            g.npv[labels["action"]] = v
    for g, labels, _ in each("gpuhealth_recommended_action == 1"):
        g.action = labels.get("action")
    for g, _, v in each("gpuhealth_market_value_dollars"):
        g.market_value = v
    for g, labels, v in each("gpu:health:score"):
        g.health_score = v
        g.host = labels.get("Hostname", labels.get("hostname", g.host))
        if labels.get("modelName"):
            g.model = labels["modelName"]
    for g, labels, _ in each("gpuhealth_asset_info"):
        g.model = labels.get("model") or g.model
        g.datacenter = labels.get("datacenter", "")
        g.host = g.host or labels.get("node", "")
    matched = {labels.get("UUID") for labels, _ in
               _query(client, f"group by (UUID) (last_over_time({COVERAGE_METRIC}{{{selector}}}[7d]))", at)}
    if not matched - {None}:
        raise ReportError(f"{url}: selector {selector} matches no GPU's {COVERAGE_METRIC} in the week before "
                          f"{at.isoformat()} (set --selector or the rule spec's selector)")
    gpus = {u: g for u, g in gpus.items() if u in matched}
    return FleetReport(url=url, at=at, gpus=gpus, missing=missing)


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def expected_failures_by_week(fleet: FleetReport, weeks: int = 5) -> list[float]:
    """Expected failures per week from now: the 7-day probabilities fill week 1, the rise to the 30-day
    probabilities is spread evenly over days 7-30 (weeks 2-5, the fifth partial)."""
    out = [0.0] * weeks
    for g in fleet.gpus.values():
        p7, p30 = g.probability(7.0), max(g.probability(30.0), g.probability(7.0))
        out[0] += p7
        for w in range(1, weeks):
            lo, hi = 7 * w, min(7 * (w + 1), 30)
            if hi > lo:
                out[w] += (p30 - p7) * (hi - lo) / 23.0
    return out


def plots(fleet: FleetReport) -> dict[str, str]:
    """The three plots as PNG data URIs: health-score distribution, predicted failures by week, value by model."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    out = {}
    scores = [g.health_score for g in fleet.gpus.values() if g.health_score is not None]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(scores, bins=20, range=(0.0, 1.0), color="#4a7ab5")
    ax.set_xlabel("gpu:health:score")
    ax.set_ylabel("GPUs")
    ax.set_title("Health-score distribution" + ("" if scores else " (no gpu:health:score series)"))
    out["health"] = _png(fig)
    plt.close(fig)

    weekly = expected_failures_by_week(fleet)
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar([f"week {i + 1}" for i in range(len(weekly))], weekly, color="#c0504d")
    ax.set_ylabel("expected failures")
    ax.set_title("Predicted failures by week")
    out["failures"] = _png(fig)
    plt.close(fig)

    by_model: dict[str, dict[str, float]] = {}
    for g in fleet.gpus.values():
        if g.market_value is not None:
            row = by_model.setdefault(g.model, {})
            row[g.action or "keep"] = row.get(g.action or "keep", 0.0) + g.market_value
    fig, ax = plt.subplots(figsize=(6, 3))
    models = sorted(by_model)
    bottom = [0.0] * len(models)
    colors = {"keep": "#4a7ab5", "repair": "#f0a030", "sell": "#9b59b6", "decommission": "#c0504d"}
    for action in ACTIONS:
        vals = [by_model[m].get(action, 0.0) / 1000.0 for m in models]
        if any(vals):
            ax.barh(models, vals, left=bottom, color=colors[action], label=action)
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set_xlabel("market value, thousand dollars")
    ax.set_title("Fleet value by model (by recommended action)")
    if models:
        ax.legend(fontsize=8)
    out["value"] = _png(fig)
    plt.close(fig)
    return out


_TEMPLATE = jinja2.Environment(autoescape=True).from_string("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>gpuhealth fleet report {{ at }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222} table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right} td.l,th.l{text-align:left}
.repair{background:#fdebd0}.sell{background:#ebdef0}.decommission{background:#f5b7b1}
.cards div{display:inline-block;margin:0 2em 1em 0}.cards b{display:block;font-size:1.6em}
img{margin:0 1em 1em 0}
</style></head><body>
<h1>GPU fleet report</h1>
<p>From <code>{{ url }}</code> at {{ at }}. At risk: a failure probability of at least
{{ "%.0f"|format(threshold*100) }} % or an action other than <i>keep</i> recommended.</p>
<div class="cards">
<div><b>{{ n }}</b>GPUs</div><div><b>{{ risky|length }}</b>at risk</div>
<div><b>${{ "{:,.0f}".format(total_value) }}</b>fleet market value</div>
<div><b>${{ "{:,.0f}".format(total_impact) }}</b>NPV gained by following the recommendations</div>
<div><b>{{ "%.1f"|format(expected_30d) }}</b>failures expected in 30 days</div>
</div>
<h2>Recommended actions</h2>
<table><tr><th class="l">action</th><th>GPUs</th><th>market value</th><th>NPV gain over keep</th></tr>
{% for a in actions %}<tr><td class="l">{{ a.action }}</td><td>{{ a.count }}</td>
<td>${{ "{:,.0f}".format(a.value) }}</td><td>${{ "{:,.0f}".format(a.impact) }}</td></tr>{% endfor %}
</table>
<h2>At-risk GPUs ({{ risky|length }})</h2>
<table id="at-risk"><tr><th class="l">UUID</th><th class="l">host</th><th class="l">model</th><th>health</th>
<th>p(7d)</th><th>p(30d)</th><th class="l">action</th><th>market value</th><th>NPV keep</th><th>NPV action</th>
<th>impact</th></tr>
{% for g in risky %}<tr class="{{ g.action or '' }}"><td class="l">{{ g.uuid }}</td><td class="l">{{ g.host }}</td>
<td class="l">{{ g.model }}</td><td>{{ "%.2f"|format(g.health_score) if g.health_score is not none else "–" }}</td>
<td>{{ "%.0f %%"|format(g.probability(7)*100) }}</td><td>{{ "%.0f %%"|format(g.probability(30)*100) }}</td>
<td class="l">{{ g.action or "–" }}</td>
<td>{{ "${:,.0f}".format(g.market_value) if g.market_value is not none else "–" }}</td>
<td>{{ "${:,.0f}".format(g.npv.keep) if "keep" in g.npv else "–" }}</td>
<td>{{ "${:,.0f}".format(g.npv[g.action]) if g.action in g.npv else "–" }}</td>
<td>${{ "{:,.0f}".format(g.impact) }}</td></tr>
{% endfor %}</table>
<h2>Plots</h2>
<img alt="health-score distribution" src="{{ plots.health }}">
<img alt="predicted failures by week" src="{{ plots.failures }}">
<img alt="fleet value by model" src="{{ plots.value }}">
{% if missing %}<p><small>No series for: {{ missing|join(", ") }}.</small></p>{% endif %}
<p><small>gpuhealth; probabilities are the highest over the analyzer's models; NPVs over the pricing's planning
horizon (docs/economics.md).</small></p>
</body></html>
""")


def build_report(fleet: FleetReport, risk_threshold: float = 0.5) -> str:
    """The whole report as one HTML string (images embedded, no external resources)."""
    risky = sorted((g for g in fleet.gpus.values() if g.at_risk(risk_threshold)),
                   key=lambda g: (-g.impact, -g.max_probability, g.uuid))
    actions = []
    for a in ACTIONS:
        members = [g for g in fleet.gpus.values() if (g.action or "keep") == a and g.action is not None]
        actions.append({"action": a, "count": len(members), "value": sum(g.market_value or 0.0 for g in members),
                        "impact": sum(g.impact for g in members)})
    return _TEMPLATE.render(
        url=fleet.url, at=fleet.at.isoformat(timespec="seconds"), threshold=risk_threshold, n=len(fleet.gpus),
        risky=risky, actions=actions, plots=plots(fleet), missing=fleet.missing,
        total_value=sum(g.market_value or 0.0 for g in fleet.gpus.values()),
        total_impact=sum(g.impact for g in fleet.gpus.values()),
        expected_30d=sum(max(g.probability(30.0), g.probability(7.0)) for g in fleet.gpus.values()))
