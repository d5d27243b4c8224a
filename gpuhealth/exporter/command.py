"""`gpuhealth exporter`: serve GPU telemetry in dcgm-exporter's names, from NVML or the simulator."""

from __future__ import annotations

import logging
import sys

import click

from gpuhealth import durations
from gpuhealth.catalog import HOST_LABEL
from gpuhealth.exporter.collectors import COLLECTORS

DEFAULT_LISTEN = ":9494"  # not 9400 (dcgm-exporter), 9401, 9445 or 9835 (other GPU exporters)


def _duration(text: str) -> float:
    try:
        return durations.seconds(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _collector_options(fn):
    for name, c in reversed(list(COLLECTORS.items())):
        fn = click.option(f"--collector.{name}/--no-collector.{name}", f"collector_{name}", default=c.default,
                          show_default=True, help=f"Collect {c.help}.")(fn)
    return fn


@click.command()
@click.option("--backend", type=click.Choice(["nvml", "sim"]), default="nvml", show_default=True,
              help="nvml: this machine's GPUs; sim: a simulated fleet.")
@click.option("--sim.gpus", "sim_gpus", default=64, show_default=True, help="Simulated GPUs (sim backend).")
@click.option("--sim.seed", "sim_seed", default=0, show_default=True, help="Simulation seed (sim backend).")
@click.option("--sim.speedup", "sim_speedup", default=1.0, show_default=True,
              help="Simulated seconds per wall-clock second (sim backend).")
@click.option("--sim.degrading", "sim_degrading", type=int, default=None,
              help="GPUs that start with a fault in progress (sim backend; default an eighth).")
@click.option("--sim.history", "sim_history", default=None, metavar="START,END,STEP",
              help="Continue the simulated fleet from a history that `gpuhealth sim history` wrote for it (Unix "
                   "seconds of its start and end, its step in seconds; sim backend, real time).")
@click.option("--collect-interval", default="10s", show_default=True, help="How often NVML is polled.")
@click.option("--web.listen-address", "listen", default=DEFAULT_LISTEN, show_default=True)
@click.option("--web.config.file", "web_config_file", type=click.Path(dir_okay=False), default=None,
              help="Exporter-toolkit web config: TLS and basic auth.")
@click.option("--web.max-requests", "max_requests", default=40, show_default=True,
              help="Concurrent requests served; more get 503.")
@click.option("--host-label", default=HOST_LABEL, show_default=True,
              help="Name of the host label (dcgm-exporter <= 4.8.2: Hostname; later: hostname).")
@_collector_options
def exporter(backend: str, sim_gpus: int, sim_seed: int, sim_speedup: float, sim_degrading: int | None,
             sim_history: str | None, collect_interval: str, listen: str, web_config_file: str | None,
             max_requests: int, host_label: str, **collectors: bool) -> None:
    """Serve GPU metrics for Prometheus on /metrics."""
    from gpuhealth.exporter.backends import BackendUnavailable
    from gpuhealth.exporter.exposition import Renderer
    from gpuhealth.exporter.poller import Poller
    from gpuhealth.exporter.server import serve
    from gpuhealth.web import WebConfigError, load_web_config, serve_until_stopped

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    enabled = {name.removeprefix("collector_") for name, on in collectors.items() if on}
    try:
        web_config = load_web_config(web_config_file)
    except WebConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        if backend == "sim":
            from gpuhealth.exporter.backends.sim import SimBackend

            history = None
            if sim_history is not None:
                try:
                    start, end, step = (float(x) for x in sim_history.split(","))
                except ValueError:
                    raise click.BadParameter(f"expected START,END,STEP in seconds, got {sim_history!r}",
                                             param_hint="--sim.history") from None
                history = (start, end, step)
            try:
                source = SimBackend(gpus=sim_gpus, seed=sim_seed, speedup=sim_speedup, degrading=sim_degrading,
                                    history=history)
            except ValueError as exc:
                raise click.ClickException(str(exc)) from exc
        else:
            from gpuhealth.exporter.backends.nvml import NvmlBackend

            source = NvmlBackend()
    except BackendUnavailable as exc:
        click.echo(f"gpuhealth exporter: {exc}", err=True)
        sys.exit(1)
    renderer = Renderer(source.identities, backend, host_label)
    poller = Poller(source, renderer, enabled, _duration(collect_interval))
    poller.start()
    try:
        server = serve(poller, listen, web_config, max_requests)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"--web.listen-address {listen}: {exc}") from exc
    logging.getLogger("gpuhealth.exporter").info("serving %d GPUs (%s backend) on %s/metrics",
                                                 len(renderer.labels.gpu), backend, server.url)
    serve_until_stopped(server, lambda: (poller.stop(), source.close()))
