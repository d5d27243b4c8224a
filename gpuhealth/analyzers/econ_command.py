"""`gpuhealth assets …` (the asset inventory) and `gpuhealth report` (the fleet report): thin click shells."""

from __future__ import annotations

from pathlib import Path

import click

from gpuhealth.analyzers.inventory import (
    InventoryError,
    format_assets,
    import_assets,
    load_inventory,
    read_inventory_file,
    set_asset_fields,
)
from gpuhealth.cliutil import RULE_SPEC_OPTION, SELECTOR_OPTION, resolve_selector

_DB = click.option("--db", "dsn", envvar="GPUHEALTH_DB", help="PostgreSQL DSN (or $GPUHEALTH_DB).")


@click.group()
def assets() -> None:
    """The GPU asset inventory (gpu_assets): import, list, set."""


@assets.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--db", "dsn", required=True, envvar="GPUHEALTH_DB", help="PostgreSQL DSN (or $GPUHEALTH_DB).")
@click.option("--check", is_flag=True, help="Only validate the file; write nothing.")
def import_cmd(file: Path, dsn: str, check: bool) -> None:
    """Import FILE (CSV with header = asset fields, or YAML) into gpu_assets: all rows or none."""
    try:
        parsed = read_inventory_file(file)
        if check:
            click.echo(f"{file}: {len(parsed)} assets, all valid")
            return
        n = import_assets(dsn, parsed.values())
    except InventoryError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"imported {n} assets from {file}")


@assets.command("list")
@_DB
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read an inventory file instead of the database.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def list_cmd(dsn: str | None, path: Path | None, fmt: str) -> None:
    """List the inventory (from the database, or from --file)."""
    if path is not None:
        dsn = None
    if dsn is None and path is None:
        raise click.UsageError("give --db (or $GPUHEALTH_DB) or --file")
    try:
        inventory = load_inventory(dsn=dsn, path=path)
    except InventoryError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(format_assets(inventory, fmt), nl=False)


@assets.command("set")
@click.argument("uuid")
@click.argument("assignments", nargs=-1, required=True)
@click.option("--db", "dsn", required=True, envvar="GPUHEALTH_DB", help="PostgreSQL DSN (or $GPUHEALTH_DB).")
def set_cmd(uuid: str, assignments: tuple[str, ...], dsn: str) -> None:
    """Set fields of one asset: `gpuhealth assets set GPU-… status=rma owner=ops rack=dc1-r004`."""
    try:
        asset = set_asset_fields(dsn, uuid, assignments)
    except InventoryError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(format_assets({asset.uuid: asset}), nl=False)


@click.command()
@click.option("--prometheus", "url", required=True, help="Prometheus base URL, e.g. http://127.0.0.1:9090")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=Path("report.html"),
              show_default=True)
@click.option("--at", "at", default=None, help="Evaluate at this time (RFC 3339 or Unix seconds); default now.")
@click.option("--risk-threshold", default=0.5, show_default=True,
              help="A GPU is at risk when a failure probability reaches this, or an action other than keep is "
                   "recommended.")
@SELECTOR_OPTION
@RULE_SPEC_OPTION
def report(url: str, out: Path, at: str | None, risk_threshold: float, selector: str | None,
           rule_spec: str | None) -> None:
    """Write one self-contained HTML fleet report: at-risk GPUs, recommended actions, their dollar impact."""
    from gpuhealth.analyzers.report import ReportError, build_report, fetch_fleet, parse_time

    selector = resolve_selector(selector, rule_spec)
    try:
        fleet = fetch_fleet(url, at=parse_time(at) if at else None, selector=selector)
        html = build_report(fleet, risk_threshold=risk_threshold)
    except ReportError as exc:
        raise click.ClickException(str(exc)) from None
    out.write_text(html, encoding="utf-8")
    click.echo(f"wrote {out}: {len(fleet.gpus)} GPUs, {sum(g.at_risk(risk_threshold) for g in fleet.gpus.values())}"
               f" at risk")
