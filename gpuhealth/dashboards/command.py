"""`gpuhealth dashboards`: generate the Grafana dashboards and provisioning, check them, draw previews."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gpuhealth.dashboards.config import DashboardConfigError, load_config
from gpuhealth.rules.spec import SpecError

CONFIG = click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                      help="A dashboard config merged over the packaged defaults.")
RULES_CONFIG = click.option("--rules-config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                            default=None, help="The rule spec the selector and thresholds come from.")


def _config(config: Path | None, rules_config: Path | None):
    try:
        return load_config(config, rules_config)
    except (DashboardConfigError, SpecError) as exc:
        raise click.ClickException(str(exc)) from exc


def _read(directory: Path) -> dict[str, dict]:
    files = sorted((directory / "grafana" / "dashboards").glob("*.json"))
    if not files:
        raise click.ClickException(f"{directory / 'grafana' / 'dashboards'}: no dashboards (*.json)")
    boards = {}
    for path in files:
        try:
            boards[path.name] = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"{path}: not JSON: {exc}") from exc
    return boards


@click.group()
def dashboards() -> None:
    """Grafana dashboards and provisioning generated from one config."""


@dashboards.command()
@CONFIG
@RULES_CONFIG
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True)
def generate(config: Path | None, rules_config: Path | None, out: Path) -> None:
    """Write OUT/grafana/dashboards/, OUT/grafana/provisioning/ and the Kubernetes ConfigMap."""
    from gpuhealth.dashboards.generate import generate as write

    for path in write(_config(config, rules_config), out):
        click.echo(f"wrote {path}")


@dashboards.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("."))
def check(directory: Path) -> None:
    """Lint DIRECTORY's dashboards and parse every PromQL expression with promtool."""
    from gpuhealth.dashboards.check import check as run_check

    problems = run_check(_read(directory))
    for p in problems:
        click.echo(p)
    if problems:
        raise SystemExit(1)
    click.echo("dashboards: ok")


@dashboards.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("."))
@click.option("--prometheus", "prometheus_url", required=True, help="Prometheus to run the panels' queries on.")
@click.option("--db", "dsn", default=None, help="TimescaleDB DSN for the SQL panels (else they are left blank).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("docs/img/dashboards"),
              show_default=True)
def preview(directory: Path, prometheus_url: str, dsn: str | None, out: Path) -> None:
    """Draw a PNG preview of each dashboard from its queries' live results (not Grafana's rendering)."""
    from gpuhealth.dashboards.preview import draw_all

    for path in draw_all(_read(directory), prometheus_url, dsn, out):
        click.echo(f"wrote {path}")
