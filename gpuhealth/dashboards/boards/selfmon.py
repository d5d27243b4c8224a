"""gpuhealth itself: the exporter's collectors, the sink's ingest and remote-write lag, the analyzer's cycle."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from gpuhealth.catalog import COLLECTOR_DURATION, COLLECTOR_SUCCESS, LAST_POLL
from gpuhealth.dashboards.base import new_dashboard, with_prometheus_variables
from gpuhealth.dashboards.config import DashboardConfig
from gpuhealth.dashboards.panels import graph, prom, row, single, thresholds

NAME = "self"
EXPORTER = 'job=~"$job", instance=~"$instance"'


def build(config: DashboardConfig) -> dashboard.Dashboard:
    """The dashboard of gpuhealth's own health."""
    sink, analyzer, prometheus = (f'job="{config.jobs[k]}"' for k in ("sink", "analyzer", "prometheus"))
    bad_is_red = thresholds((None, "red"), (1, "green"))
    d = new_dashboard(config, NAME, "gpuhealth itself", "Is gpuhealth working: the exporter's collectors, the "
                      "remote-write sink's ingest, lag and errors, and the analyzer's cycles.")
    d = with_prometheus_variables(d, config, gpus=False)
    d = d.with_row(row("Exporter"))
    d = d.with_panel(graph("Collector success", "1 when the collector's last poll succeeded on every GPU that is "
                           "up.", "none", prom(f"min by (collector) ({COLLECTOR_SUCCESS}{{{EXPORTER}}})",
                                               "{{collector}}"), width=8, lo=0, hi=1))
    d = d.with_panel(graph("Collector duration", "Time each collector's last poll took, summed over GPUs.", "s",
                           prom(f"max by (collector) ({COLLECTOR_DURATION}{{{EXPORTER}}})", "{{collector}}"),
                           width=8))
    d = d.with_panel(graph("Values' age", "Seconds since the values served were read, per exporter.", "s",
                           prom(f"time() - max by (instance) ({LAST_POLL}{{{EXPORTER}}})", "{{instance}}"),
                           width=8))
    d = d.with_panel(graph("Scrape duration", "How long Prometheus takes to scrape each exporter.", "s",
                           prom(f"scrape_duration_seconds{{{EXPORTER}}}", "{{instance}}"), width=12))
    d = d.with_panel(graph("Samples per scrape", "Samples each exporter serves per scrape.", "short",
                           prom(f"scrape_samples_scraped{{{EXPORTER}}}", "{{instance}}"), width=12))
    d = d.with_row(row("Remote-write sink"))
    d = d.with_panel(single("Database up", "Whether TimescaleDB answered the sink's last readiness check.", "none",
                            prom(f"min(gpuhealth_sink_database_up{{{sink}}})", instant=True), th=bad_is_red))
    d = d.with_panel(graph("Samples stored", "Samples newly stored per second, and re-sent duplicates.", "cps",
                           prom(f"sum(rate(gpuhealth_sink_samples_written_total{{{sink}}}[$__rate_interval]))",
                                "stored"),
                           prom(f"sum(rate(gpuhealth_sink_samples_duplicate_total{{{sink}}}[$__rate_interval]))",
                                "duplicates", "B"), width=10))
    d = d.with_panel(graph("Requests by status", "Remote-write requests per second, by HTTP status.", "reqps",
                           prom(f"sum by (code) (rate(gpuhealth_sink_requests_total{{{sink}}}[$__rate_interval]))",
                                "{{code}}"), width=10))
    latency = f"sum by (le) (rate(gpuhealth_sink_request_duration_seconds_bucket{{{sink}}}[$__rate_interval]))"
    d = d.with_panel(graph("Request latency", "99th and 50th percentile of the time to decode and commit a request.",
                           "s", prom(f"histogram_quantile(0.99, {latency})", "p99"),
                           prom(f"histogram_quantile(0.5, {latency})", "p50", "B"), width=8))
    d = d.with_panel(graph("Remote-write lag", "How far Prometheus's remote write to the sink lags its newest "
                           "sample.", "s",
                           prom(f"max(prometheus_remote_storage_highest_timestamp_in_seconds{{{prometheus}}}) - "
                                f"min(prometheus_remote_storage_queue_highest_sent_timestamp_seconds{{{prometheus}}})",
                                "lag"), width=8))
    d = d.with_panel(graph("Remote-write failures", "Samples Prometheus failed to send, and retried, per second.",
                           "cps",
                           prom(f"sum(rate(prometheus_remote_storage_samples_failed_total{{{prometheus}}}"
                                "[$__rate_interval]))", "failed"),
                           prom(f"sum(rate(prometheus_remote_storage_samples_retried_total{{{prometheus}}}"
                                "[$__rate_interval]))", "retried", "B"), width=8))
    d = d.with_row(row("Analyzer"))
    d = d.with_panel(single("Analyzer up", "Whether the analyzer's last cycle succeeded.", "none",
                            prom(f"min(gpuhealth_analyzer_up{{{analyzer}}})", instant=True), th=bad_is_red))
    d = d.with_panel(single("GPUs judged", "GPUs judged in the last cycle.", "short",
                            prom(f"sum(gpuhealth_analyzer_gpus_analyzed{{{analyzer}}})", instant=True)))
    d = d.with_panel(graph("Verdict age", "Age of the verdicts the analyzer serves.", "s",
                           prom(f"max(gpuhealth_analyzer_verdict_age_seconds{{{analyzer}}})", "age"), width=8))
    d = d.with_panel(graph("Cycle duration", "How long the last analysis cycle took.", "s",
                           prom(f"max(gpuhealth_analyzer_cycle_duration_seconds{{{analyzer}}})", "cycle"), width=8))
    d = d.with_panel(graph("Analyzer errors", "PromQL queries that failed and cycles that failed, per second.", "cps",
                           prom(f"sum(rate(gpuhealth_analyzer_query_errors_total{{{analyzer}}}[$__rate_interval]))",
                                "query errors"),
                           prom(f"sum(rate(gpuhealth_analyzer_cycles_failed_total{{{analyzer}}}[$__rate_interval]))",
                                "failed cycles", "B"), width=8))
    d = d.with_panel(graph("Rule evaluation", "How long each of gpuhealth's rule groups took to evaluate.", "s",
                           prom(f'max by (rule_group) (prometheus_rule_group_last_duration_seconds{{{prometheus}, '
                                'rule_group=~".*gpuhealth.*"})', "{{rule_group}}"), width=16))
    return d
