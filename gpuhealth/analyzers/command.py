"""`gpuhealth analyze` and `gpuhealth model train|list`."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from gpuhealth.cliutil import RULE_SPEC_OPTION, SELECTOR_OPTION, parse_duration, parse_time, resolve_selector


@click.command()
@click.option("--prometheus", "url", required=True, help="Prometheus-compatible API (Prometheus, Thanos, Mimir, "
              "VictoriaMetrics).")
@click.option("--header", "headers", multiple=True, help="Extra HTTP header for queries, 'Name: value' (auth, tenant).")
@click.option("--db", "dsn", default=None, envvar="GPUHEALTH_DB", help="Write verdicts into TimescaleDB.")
@click.option("--inventory", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Asset inventory file (CSV or YAML) when no database holds gpu_assets.")
@click.option("--pricing", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Pricing config (default: the packaged one).")
@click.option("--models", "models_dir", type=click.Path(path_type=Path), default=None,
              help="A model version folder (default: the packaged models).")
@click.option("--primary", default=None, help="Model whose verdict drives RUL and economics (default xgboost).")
@click.option("--interval", default="60s", show_default=True)
@click.option("--web.listen-address", "listen", default=":9496", show_default=True)
@click.option("--web.config.file", "web_config_file", type=click.Path(dir_okay=False), default=None)
@click.option("--once", is_flag=True, help="Run one cycle and exit.")
@click.option("--json", "as_json", is_flag=True, help="With --once: print the verdicts as JSON.")
@click.option("--at", default=None, help="Evaluate as of this moment (RFC 3339 or Unix seconds).")
@SELECTOR_OPTION
@RULE_SPEC_OPTION
def analyze(url: str, headers: tuple[str, ...], dsn: str | None, inventory: str | None, pricing: str | None,
            models_dir: Path | None, primary: str | None, interval: str, listen: str, web_config_file: str | None,
            once: bool, as_json: bool, at: str | None, selector: str | None, rule_spec: str | None) -> None:
    """Predict failures, find anomalies and trends, value each GPU; serve it all as Prometheus gauges."""
    from gpuhealth.analyzers.cycle import Analyzer, NoGpusMatched
    from gpuhealth.analyzers.predict.models import ModelError
    from gpuhealth.analyzers.predict.registry import DEFAULT, load_version
    from gpuhealth.analyzers.promql import PromClient, PromQLError
    from gpuhealth.analyzers.serve.admin import AdminPages
    from gpuhealth.analyzers.serve.collector import VerdictCollector
    from gpuhealth.analyzers.serve.reads import PrometheusReads
    from gpuhealth.analyzers.serve.service import AnalyzerService, serve
    from gpuhealth.rules.spec import load_spec
    from gpuhealth.web import WebConfigError, load_web_config, serve_until_stopped

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    selector = resolve_selector(selector, rule_spec)
    try:
        models = load_version(models_dir or DEFAULT)
    except ModelError as exc:
        raise click.ClickException(str(exc)) from exc
    hdrs = {}
    for h in headers:
        name, sep, value = h.partition(":")
        if not sep:
            raise click.BadParameter(f"--header: expected 'Name: value', got {h!r}")
        hdrs[name.strip()] = value.strip()
    assets, price = {}, None
    try:
        from gpuhealth.analyzers.economics.pricing import load_pricing
        from gpuhealth.analyzers.inventory import load_inventory

        price = load_pricing(pricing)
        if inventory or dsn:
            assets = load_inventory(dsn=None if inventory else dsn, path=inventory)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        analyzer = Analyzer(PromClient(url, hdrs), models, primary, assets, price, dsn, selector)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if once:
        try:
            result = analyzer.run(parse_time(at))
        except (PromQLError, NoGpusMatched) as exc:
            raise click.ClickException(str(exc)) from exc
        if dsn:
            import psycopg

            from gpuhealth.analyzers.store import store_result
            from gpuhealth.sink.dsn import redact

            try:
                store_result(dsn, result)
            except (ValueError, psycopg.Error) as exc:
                raise click.ClickException(f"cannot store the verdicts: {redact(str(exc), dsn)}") from exc
        if as_json:
            click.echo(json.dumps(result.as_json(), indent=1))
        else:
            counts = {st: sum(v.status == st for v in result.verdicts) for st in ("judged", "down", "unknown")}
            click.echo(f"{counts['judged']} GPUs judged, {counts['down']} down, {counts['unknown']} unknown, "
                       f"{result.queries} queries, {result.duration_seconds:.2f} s")
        return
    try:
        web_config = load_web_config(web_config_file)
    except WebConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    collector = VerdictCollector(assets)
    service = AnalyzerService(analyzer, parse_duration(interval), collector, dsn)
    service.start()
    spec = load_spec(rule_spec)
    reads = PrometheusReads(analyzer.client, selector)
    def inventory_changed(changed: dict) -> None:
        analyzer.inventory = collector.inventory = changed

    admin = AdminPages(dsn, lambda: (collector.result, reads.health_scores()), lambda: collector.inventory,
                       inventory_changed, bool(web_config and web_config.basic_auth_users))
    server = serve(collector, listen, web_config, reads,
                   (spec.alerts["failure_probability_warning"], spec.scores["fleet_threshold"]), admin)
    logging.getLogger("gpuhealth.analyzers").info("analyzing %s every %s; serving %s/metrics", url, interval,
                                                  server.url)
    serve_until_stopped(server, service.stop)


@click.group()
def model() -> None:
    """Train and list failure-prediction models."""


@model.command()
@click.option("--source", type=click.Choice(["sim", "timescaledb"]), default="sim", show_default=True)
@click.option("--fleets", default=None,
              help="Simulated fleets (--source sim), KIND-FAMILIES-sSEED[@STEPs] each, KIND variety or simulator "
                   "[default: the packaged models' variety-full-s7,variety-dcgm-default-s8@120s,simulator-full-s7,"
                   "simulator-dcgm-default-s8].")
@click.option("--gpus", default=320, show_default=True, help="GPUs of each simulated fleet (--source sim).")
@click.option("--days", default=35.0, show_default=True,
              help="Simulated days (--source sim): rows from day 7 (full weekly windows) to a week before the end.")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep each simulated fleet's rows here and read them back on the next run.")
@click.option("--seed", default=7, show_default=True, help="The models' fitting seed.")
@click.option("--hazard-scale", default=40.0, show_default=True, help="Accelerated-life factor (--source sim).")
@click.option("--db", "dsn", default=None, envvar="GPUHEALTH_DB",
              help="Training data (--source timescaledb) and the model_versions table.")
@click.option("--registry", type=click.Path(file_okay=False, path_type=Path), default=Path("models"),
              show_default=True)
@click.option("--kinds", default="heuristic,survival,xgboost", show_default=True)
@SELECTOR_OPTION
@RULE_SPEC_OPTION
def train(source: str, fleets: str | None, gpus: int, days: float, cache: Path | None, seed: int, hazard_scale: float,
          dsn: str | None, registry: Path, kinds: str, selector: str | None, rule_spec: str | None) -> None:
    """Train the models on labelled history, report held-out metrics and save a version."""
    from gpuhealth.analyzers.predict.registry import save_version
    from gpuhealth.analyzers.predict.training import (
        TRAINING_FLEETS,
        SimFleet,
        timescaledb_dataset,
        train_and_evaluate,
        training_rows,
    )

    selector = resolve_selector(selector, rule_spec)
    if source == "sim":
        try:
            chosen = (TRAINING_FLEETS if fleets is None
                      else tuple(SimFleet.parse(f) for f in fleets.split(",") if f.strip()))
            if not chosen:
                raise ValueError("--fleets: no fleet named")
            ds = training_rows(chosen, gpus, days, hazard_scale, cache, selector=selector)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        trained_on = (f"sim fleets={','.join(f.name for f in chosen)} gpus={gpus} days={days:g} "
                      f"hazard_scale={hazard_scale:g}")
    else:
        if not dsn:
            raise click.UsageError("--source timescaledb needs --db")
        ds = timescaledb_dataset(dsn)
        trained_on = "timescaledb"
    if ds.y["7d"].sum() == 0:
        raise click.ClickException("the training data holds no failure within 7 days: nothing to learn from")
    results = train_and_evaluate(ds, tuple(k.strip() for k in kinds.split(",")), seed)
    for kind, (_m, metrics) in results.items():
        for subset in ("all", "precursor_only"):
            x = metrics[subset]
            click.echo(f"{kind:10s} {subset:15s} PR-AUC(7d)={x['pr_auc_7d']:.3f} "
                       f"recall@P0.8={x['recall_at_precision_0.8']:.3f} P@0.5={x['precision_at_0.5']:.3f} "
                       f"R@0.5={x['recall_at_0.5']:.3f} median lead={x['median_lead_days']:.1f} d "
                       f"({x['positives']} positive rows of {x['rows']})")
        x = metrics["precursor_only_dcgm_default"]
        click.echo(f"{kind:10s} {'dcgm defaults':15s} PR-AUC(7d)={x['pr_auc_7d']:.3f} "
                   f"recall@P0.8={x['recall_at_precision_0.8']:.3f} median lead={x['median_lead_days']:.1f} d "
                   "(failures with a precursor, dcgm-exporter's default families only)")
        d = metrics.get("decisions") or {}
        if d:
            click.echo(f"{kind:10s} {'decisions':15s} false actions {d['false_actions']}/{d['healthy']} healthy "
                       f"({d['false_action_share']:.1%}), missed {d['missed']}/{d['failing_7d_with_precursor']} "
                       f"failing within 7 d after a precursor ({d['missed_share']:.1%}), expected failures "
                       f"{d['expected_failures_7d']:.1f} vs {d['failures_7d']} real")
    path = save_version(registry, {k: m for k, (m, _x) in results.items()}, trained_on, dsn,
                        hazard_scale if source == "sim" else 1.0)
    click.echo(f"saved {path}")


@model.command("list")
@click.option("--registry", type=click.Path(file_okay=False, path_type=Path), default=Path("models"),
              show_default=True)
def list_models(registry: Path) -> None:
    """The model versions in a registry, newest first, with their held-out PR-AUC."""
    from gpuhealth.analyzers.predict.registry import DEFAULT, list_versions

    rows = list_versions(registry) + [dict(v, version=f"{v['version']} (packaged default)")
                                      for v in list_versions(DEFAULT.parent)]
    if not rows:
        click.echo(f"no models in {registry}", err=True)
        sys.exit(1)
    for v in rows:
        aucs = ", ".join(f"{k} {m['precursor_only']['pr_auc_7d']:.2f}" for k, m in v["metrics"].items())
        click.echo(f"{v['version']}  trained on {v['trained_on']}  PR-AUC(7d, precursor failures): {aucs}")
