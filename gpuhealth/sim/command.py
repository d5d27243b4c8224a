"""`gpuhealth sim`: write simulated history, backfill it into Prometheus, load its ground truth."""

from __future__ import annotations

import time
from pathlib import Path

import click

from gpuhealth.cliutil import parse_duration, parse_time
from gpuhealth.sim.history import HistoryConfig, backfill, generate_history


@click.group()
def sim() -> None:
    """The fleet simulator: history files, backfill, ground truth."""


@sim.command()
@click.option("--gpus", default=256, show_default=True)
@click.option("--days", default=14.0, show_default=True)
@click.option("--step", "step", default="300s", show_default=True, help="Sample interval.")
@click.option("--seed", default=7, show_default=True)
@click.option("--end", default=None, help="When the history ends (RFC 3339 or Unix seconds; default now).")
@click.option("--hazard-scale", default=25.0, show_default=True,
              help="Multiply the published failure hazard (accelerated life), so that a short history holds "
                   "failures to learn from; 1 = the published rates.")
@click.option("--sudden-share", default=0.25, show_default=True, help="Share of failures with no precursor.")
@click.option("--variety", is_flag=True, help="A fleet unlike the default one: per-GPU precursor shapes, lengths "
              "(hours to three weeks), magnitudes and noise, and more benign look-alikes (docs/simulator.md).")
@click.option("--families", type=click.Choice(["full", "dcgm-default"]), default="full", show_default=True,
              help="Every family gpuhealth's exporter serves, or dcgm-exporter's default counters only.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path))
@click.option("--backfill", "backfill_to", default=None, type=click.Path(path_type=Path),
              help="Also turn each window into Prometheus blocks in this TSDB folder as it is written "
                   "(promtool beside the simulation; same result as `gpuhealth sim backfill`).")
def history(gpus: int, days: float, step: str, seed: int, end: str | None, hazard_scale: float,
            sudden_share: float, variety: bool, families: str, out: Path, backfill_to: Path | None) -> None:
    """Write OpenMetrics history files, ground_truth.csv and assets.csv into OUT."""
    try:
        config = HistoryConfig(gpus=gpus, days=days, step_seconds=parse_duration(step), seed=seed,
                               end=parse_time(end), hazard_scale=hazard_scale, sudden_share=sudden_share,
                               variety=variety, families=families)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    t0 = time.monotonic()
    try:
        summary = generate_history(config, out, backfill_to=backfill_to)
    except (FileNotFoundError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    blocks = f", {summary['blocks']} blocks in {backfill_to}" if backfill_to else ""
    click.echo(f"wrote {summary['files']} files, {summary['samples']:,} samples for {summary['gpus']} GPUs "
               f"({summary['failures']} failures){blocks} into {out} in {time.monotonic() - t0:.1f} s")


@sim.command("backfill")
@click.argument("history_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--storage.tsdb.path", "tsdb_path", required=True, type=click.Path(path_type=Path))
def backfill_cmd(history_dir: Path, tsdb_path: Path) -> None:
    """Turn HISTORY_DIR's OpenMetrics files into Prometheus blocks (promtool)."""
    t0 = time.monotonic()
    try:
        blocks = backfill(history_dir, tsdb_path)
    except (FileNotFoundError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{blocks} blocks in {tsdb_path} ({time.monotonic() - t0:.1f} s); start Prometheus with "
               f"--storage.tsdb.path={tsdb_path} and a retention longer than the history")


@sim.command("load-truth")
@click.argument("history_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--db", "dsn", required=True, envvar="GPUHEALTH_DB", help="PostgreSQL DSN.")
def load_truth(history_dir: Path, dsn: str) -> None:
    """Insert HISTORY_DIR/ground_truth.csv's failures into the gpu_failures table."""
    from gpuhealth.sim.truth import load_ground_truth

    path = history_dir / "ground_truth.csv"
    if not path.exists():
        raise click.ClickException(f"{path}: no ground truth here (write it with `gpuhealth sim history`)")
    try:
        n = load_ground_truth(dsn, path)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{n} failures recorded in gpu_failures")
