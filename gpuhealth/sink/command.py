"""`gpuhealth sink` (remote-write receiver into TimescaleDB) and `gpuhealth db migrate`."""

from __future__ import annotations

import logging
from datetime import timedelta

import click

from gpuhealth import durations
from gpuhealth.sink.dsn import redact


def _interval(text: str) -> timedelta:
    try:
        return timedelta(seconds=durations.seconds(text))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.option("--db", "dsn", required=True, envvar="GPUHEALTH_DB", help="PostgreSQL DSN (or $GPUHEALTH_DB).")
@click.option("--web.listen-address", "listen", default=":9495", show_default=True)
@click.option("--web.config.file", "web_config_file", type=click.Path(dir_okay=False), default=None,
              help="Exporter-toolkit web config: TLS and basic auth.")
@click.option("--max-body-bytes", default=16 * 1024 * 1024, show_default=True, help="Larger requests get 413.")
@click.option("--max-series", default=200_000, show_default=True, help="More series in one request get 413.")
@click.option("--maintenance-interval", default=60.0, show_default=True,
              help="Seconds between rollup refresh and retention passes (Apache edition).")
@click.option("--retention.raw", "ret_raw", default=None, help="Keep raw samples this long (e.g. 30d).")
@click.option("--retention.1m", "ret_1m", default=None)
@click.option("--retention.5m", "ret_5m", default=None)
@click.option("--retention.1h", "ret_1h", default=None)
def sink(dsn: str, listen: str, web_config_file: str | None, max_body_bytes: int, max_series: int,
         maintenance_interval: float, ret_raw: str | None, ret_1m: str | None, ret_5m: str | None,
         ret_1h: str | None) -> None:
    """Receive Prometheus remote write (1.0 and 2.0) and store it in TimescaleDB."""
    import psycopg

    from gpuhealth.sink.decode import Limits
    from gpuhealth.sink.maintenance import Maintenance, set_retention
    from gpuhealth.sink.server import serve
    from gpuhealth.sink.writer import Writer
    from gpuhealth.web import WebConfigError, load_web_config, serve_until_stopped

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        web_config = load_web_config(web_config_file)
    except WebConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    keep = {t: _interval(v) for t, v in (("samples", ret_raw), ("samples_1m", ret_1m), ("samples_5m", ret_5m),
                                          ("samples_1h", ret_1h)) if v}
    if keep:
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                set_retention(conn, keep)
        except psycopg.Error as exc:
            raise click.ClickException(f"cannot set retention in {redact(dsn)}: {redact(str(exc), dsn)}") from None
    writer = Writer(dsn)
    server, _metrics = serve(writer, listen, web_config, Limits(max_body_bytes=max_body_bytes, max_series=max_series))
    maintenance = Maintenance(dsn, maintenance_interval, writer)
    maintenance.start()
    logging.getLogger("gpuhealth.sink").info("remote write on %s/api/v1/write into %s", server.url, redact(dsn))
    serve_until_stopped(server, maintenance.stop)


@click.group()
def db() -> None:
    """The database schema."""


@db.command()
@click.option("--db", "dsn", required=True, envvar="GPUHEALTH_DB", help="PostgreSQL DSN (or $GPUHEALTH_DB).")
def migrate(dsn: str) -> None:
    """Apply the migrations in sql/ that have not been applied (idempotent)."""
    from gpuhealth.sink.migrate import migrate as run

    try:
        version = run(dsn)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"schema at version {version} in {redact(dsn)}")
