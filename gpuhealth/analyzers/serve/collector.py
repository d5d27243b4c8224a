"""The analyzer's /metrics: a custom collector yielding the last cycle's verdicts as metric families."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from gpuhealth.analyzers.cycle import CycleResult


class VerdictCollector:
    """Serves the latest CycleResult (set by the service loop) and the analyzer's own health."""

    def __init__(self, inventory=None) -> None:
        self.result: CycleResult | None = None
        self.inventory = inventory or {}
        self.healthy = False
        self.query_errors = 0
        self.cycles_failed = 0
        self.store_errors = 0  # cycles whose verdicts could not be stored in the database

    def collect(self) -> Iterable[Metric]:
        r = self.result
        prob = GaugeMetricFamily("gpuhealth_failure_probability", "Probability that the GPU fails within the horizon.",
                                 labels=["UUID", "horizon", "model"])
        rul = GaugeMetricFamily("gpuhealth_remaining_useful_life_days",
                                "Median remaining useful life of the GPU, in days, from the primary model.",
                                labels=["UUID"])
        anomaly = GaugeMetricFamily("gpuhealth_anomaly_score",
                                    "Robust z-score of the signal against the GPU's own seasonal baseline and its "
                                    "peers (the larger); above 3 is unusual.", labels=["UUID", "signal"])
        trend = GaugeMetricFamily("gpuhealth_trend_per_day", "Change of the signal per day.", labels=["UUID", "signal"])
        factor = GaugeMetricFamily("gpuhealth_failure_factor",
                                   "Contribution of a factor to the GPU's predicted failure (top 3).",
                                   labels=["UUID", "factor"])
        unknown = GaugeMetricFamily("gpuhealth_gpu_verdict_unknown",
                                    "1 when the GPU reported too little to be judged (never read as healthy).",
                                    labels=["UUID"])
        down = GaugeMetricFamily("gpuhealth_gpu_down_since_timestamp_seconds",
                                 "When a GPU that stopped reporting (seen within the week, silent or off the bus "
                                 "now) last reported; only GPUs down.", labels=["UUID"])
        history = GaugeMetricFamily("gpuhealth_gpu_history_days",
                                    "How far back the GPU's telemetry reaches in Prometheus, in days (at most 7): "
                                    "the windows of its verdict cover this much.", labels=["UUID"])
        if r is not None:
            for v in r.verdicts:
                unknown.add_metric([v.uuid], 1.0 if v.status == "unknown" else 0.0)
                if v.down_since is not None:
                    down.add_metric([v.uuid], v.down_since)
                if not math.isnan(v.history_days):
                    history.add_metric([v.uuid], v.history_days)
                for model, hp in v.probability.items():
                    for h, p in hp.items():
                        prob.add_metric([v.uuid, h, model], p)
                if not math.isnan(v.remaining_useful_life_days):
                    rul.add_metric([v.uuid], v.remaining_useful_life_days)
                for s, x in v.anomaly.items():
                    anomaly.add_metric([v.uuid, s], x)
                for s, x in v.trends.items():
                    trend.add_metric([v.uuid, s], x)
                for name, w in v.factors:
                    factor.add_metric([v.uuid, name], w)
        yield from (prob, rul, anomaly, trend, factor, unknown, down, history)
        if r is not None:
            valuations = [v.valuation for v in r.verdicts if v.valuation is not None]
            if valuations:
                from gpuhealth.analyzers.economics.valuation import economics_metric_families

                yield from economics_metric_families(valuations, self.inventory)
        if self.inventory:
            from gpuhealth.analyzers.inventory import asset_metric_families

            yield from asset_metric_families(self.inventory)
        yield GaugeMetricFamily("gpuhealth_analyzer_up", "Whether the last analysis cycle succeeded.",
                                value=1.0 if self.healthy else 0.0)
        yield GaugeMetricFamily("gpuhealth_analyzer_last_success_timestamp_seconds",
                                "When the verdicts served were computed.", value=r.finished if r else 0.0)
        yield GaugeMetricFamily("gpuhealth_analyzer_verdict_age_seconds", "Age of the verdicts served.",
                                value=time.time() - r.finished if r else float("nan"))
        yield GaugeMetricFamily("gpuhealth_analyzer_cycle_duration_seconds", "Duration of the last cycle.",
                                value=r.duration_seconds if r else float("nan"))
        yield GaugeMetricFamily("gpuhealth_analyzer_gpus_analyzed", "GPUs judged in the last cycle.",
                                value=sum(v.status == "judged" for v in r.verdicts) if r else 0.0)
        yield GaugeMetricFamily("gpuhealth_analyzer_cycle_queries", "PromQL queries of the last cycle.",
                                value=r.queries if r else 0.0)
        yield CounterMetricFamily("gpuhealth_analyzer_query_errors", "PromQL queries that failed.",
                                  value=self.query_errors)
        yield CounterMetricFamily("gpuhealth_analyzer_cycles_failed", "Analysis cycles that failed.",
                                  value=self.cycles_failed)
        yield CounterMetricFamily("gpuhealth_analyzer_store_errors",
                                  "Analysis cycles whose verdicts could not be stored in the database.",
                                  value=self.store_errors)
