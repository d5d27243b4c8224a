"""`gpuhealth demo`: the whole system on a simulated fleet, until Ctrl-C or SIGTERM.

First writes a few weeks of the fleet's history (some GPUs already in a precursor) and backfills it
into Prometheus's storage, so that every window the rules and the analyzer read holds real data, as
in a production deployment. Then starts, on free loopback ports in one folder: the exporter going on
from the history's end in real time (one GPU fails within minutes); PostgreSQL with TimescaleDB, the
schema and the remote-write sink; Prometheus scraping the exporter and the analyzer, evaluating the
generated recording and alert rules, remote-writing to the sink and alerting to Alertmanager;
Alertmanager delivering to a local webhook that the demo prints; the analyzer predicting failures
and valuing each GPU. It prints where to look, then every so often the GPUs most likely to fail and
why. SIGTERM and SIGINT stop every part and remove the temporary folder.
"""

from __future__ import annotations

import http.server
import json
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import click
import requests
import yaml

from gpuhealth import stack
from gpuhealth.analyzers.promql import PromClient
from gpuhealth.dashboards.config import load_config
from gpuhealth.resources import data_dir
from gpuhealth.rules.spec import load_spec

ADMIN_USER = "admin"

HISTORY_STEP = 300  # seconds between the history's samples
DEMO_INSTANCE = "demo-exporter:9494"  # the instance label of the exporter's series, in the history and live


@dataclass
class DemoStack:
    """The demo's running parts, stopped in reverse order."""

    workdir: Path
    services: list[stack.Service] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    alerts: list[str] = field(default_factory=list)
    admin: tuple[str, str, str] = ("", "", "")  # the admin page's URL, user and password

    def add(self, service: stack.Service) -> stack.Service:
        self.services.append(service)
        return service

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()


@dataclass(kw_only=True)
class GpuhealthProcess(stack.Service):
    """A `gpuhealth` subcommand run as a child process, ready when its URL answers 200."""

    argv: list[str]
    ready_url: str

    def start(self, timeout: float = 90.0) -> GpuhealthProcess:
        self._spawn([sys.executable, "-m", "gpuhealth", *self.argv])
        self.wait_ready(timeout)
        return self

    def ready(self) -> bool:
        return requests.get(self.ready_url, timeout=2).status_code == 200


def _webhook_receiver(sink: list[str]) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A local Alertmanager webhook receiver that records one line per notification."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            for alert in body.get("alerts", []):
                labels = alert.get("labels", {})
                who = labels.get("UUID") or labels.get("Hostname") or labels.get("instance", "")
                sink.append(f"{alert.get('status', '?'):8s} {labels.get('severity', ''):8s} "
                            f"{labels.get('alertname', '')} {who}")
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/alerts"


def _alertmanager_config(path: Path, webhook: str) -> Path:
    """The generated Alertmanager configuration with every receiver pointed at the demo webhook."""
    generated = data_dir("alertmanager") / "alertmanager.yml"
    if generated.exists():
        cfg = yaml.safe_load(generated.read_text())
        cfg.pop("global", None)
        for receiver in cfg.get("receivers", []):
            name = receiver["name"]
            receiver.clear()
            receiver.update({"name": name, "webhook_configs": [{"url": webhook, "send_resolved": True}]})
        cfg.pop("templates", None)
    else:
        cfg = {"route": {"receiver": "demo", "group_wait": "5s"},
               "receivers": [{"name": "demo", "webhook_configs": [{"url": webhook}]}]}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _rule_files(workdir: Path, speedup: float) -> list[Path]:
    """The generated rules: as in production in real time; every group every 10 s on a fast clock."""
    from gpuhealth.rules.generate import generate, generate_every

    return generate(load_spec(), workdir) if speedup == 1 else generate_every(load_spec(), workdir, "10s")


def write_history(workdir: Path, gpus: int, seed: int, days: float, progress: bool | None = None
                  ) -> tuple[float, float]:
    """Write and backfill the fleet's history into workdir/tsdb; returns its (start, end), Unix seconds."""
    from gpuhealth.sim.history import HistoryConfig, generate_history
    from gpuhealth.sim.live import continued_fleet

    end = float(int(time.time()) // HISTORY_STEP * HISTORY_STEP)
    start = end - days * 86400.0
    config = HistoryConfig(gpus=gpus, days=days, step_seconds=HISTORY_STEP, seed=seed, end=end, hazard_scale=1.0,
                           instance=DEMO_INSTANCE)
    generate_history(config, workdir / "history", progress=progress, backfill_to=workdir / "tsdb",
                     fleet=continued_fleet(gpus, seed, start, end), keep_text=False)
    return start, end


def _live_assets(path: Path, gpus: int, seed: int) -> Path:
    """The asset inventory of the fleet the exporter simulates from now (the same seed gives the same GPUs)."""
    from gpuhealth.sim.fleet import DAY, FleetConfig, build_fleet
    from gpuhealth.sim.history import write_assets_csv

    return write_assets_csv(build_fleet(FleetConfig(gpus=gpus, seed=seed), start=time.time(), horizon=365 * DAY).assets,
                            path)


def start_demo(workdir: Path, gpus: int, speedup: float, seed: int, history_days: float = 0.0) -> DemoStack:
    """Start every part of the demo and return them running."""
    demo = DemoStack(workdir=workdir)
    try:
        _start(demo, gpus, speedup, seed, history_days)
    except BaseException:
        demo.stop()
        raise
    return demo


def _start(demo: DemoStack, gpus: int, speedup: float, seed: int, history_days: float) -> None:
    wd = demo.workdir
    say = lambda msg: click.echo(click.style("==> ", bold=True) + msg)  # noqa: E731

    exporter_args = ["--sim.speedup", f"{speedup:g}"]
    storage = None
    if history_days > 0:
        say(f"history: {history_days:g} days of a fleet of {gpus} GPUs, backfilled into Prometheus's storage")
        start, end = write_history(wd, gpus, seed, history_days)
        exporter_args = ["--sim.history", f"{start:.0f},{end:.0f},{HISTORY_STEP}"]
        storage = wd / "tsdb"
    exporter_port = stack.free_port()
    say(f"exporter: simulated fleet of {gpus} GPUs, " + ("going on from its history in real time" if history_days > 0
                                                          else f"speed-up {speedup:g}x"))
    demo.add(GpuhealthProcess(name="exporter", workdir=wd / "exporter", ready_url=f"http://127.0.0.1:{exporter_port}/metrics",
                              argv=["exporter", "--backend", "sim", "--sim.gpus", str(gpus), "--sim.seed", str(seed),
                                    *exporter_args, "--collect-interval", "5s",
                                    "--web.listen-address", f"127.0.0.1:{exporter_port}"])).start(timeout=180)
    demo.urls["exporter"] = f"http://127.0.0.1:{exporter_port}/metrics"

    say("PostgreSQL + TimescaleDB, schema, remote-write sink")
    pg = demo.add(stack.Postgres(workdir=wd / "postgres")).start()
    subprocess.run([sys.executable, "-m", "gpuhealth", "db", "migrate", "--db", pg.dsn], check=True,
                   stdout=subprocess.DEVNULL)
    # the fleet's inventory (purchase dates, placement), so that the economics know each GPU's age
    assets = wd / "history" / "assets.csv" if history_days > 0 else _live_assets(wd / "assets.csv", gpus, seed)
    subprocess.run([sys.executable, "-m", "gpuhealth", "assets", "import", str(assets), "--db", pg.dsn], check=True,
                   stdout=subprocess.DEVNULL)
    sink_port = stack.free_port()
    demo.add(GpuhealthProcess(name="sink", workdir=wd / "sink", ready_url=f"http://127.0.0.1:{sink_port}/-/ready",
                              argv=["sink", "--db", pg.dsn, "--web.listen-address",
                                    f"127.0.0.1:{sink_port}"])).start()
    demo.urls["sink"] = f"http://127.0.0.1:{sink_port}/"
    demo.urls["database"] = pg.dsn

    say("Alertmanager, delivering to a local webhook that this demo prints")
    _server, webhook = _webhook_receiver(demo.alerts)
    am = demo.add(stack.Alertmanager(workdir=wd / "alertmanager",
                                     config_path=_alertmanager_config(wd / "alertmanager.yml", webhook)))
    (wd / "alertmanager").mkdir(parents=True, exist_ok=True)
    am.start()
    demo.urls["alertmanager"] = am.url

    analyzer_port, prom_port = stack.free_port(), stack.free_port()
    # the admin page writes only for a basic-auth user: one with a fresh password for this demo
    password = secrets.token_urlsafe(12)
    (wd / "analyzer").mkdir(parents=True, exist_ok=True)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
    (wd / "analyzer" / "web.yml").write_text(yaml.safe_dump({"basic_auth_users": {ADMIN_USER: hashed}}))
    jobs = load_config().jobs  # the job names the "gpuhealth itself" dashboard reads
    say("Prometheus: scraping the exporter, the analyzer, the sink and itself; rules, remote write, alerting")
    prom = demo.add(stack.Prometheus(
        workdir=wd / "prometheus", scrape_interval="5s", evaluation_interval="10s", storage_path=storage,
        retention="90d", port=prom_port,
        scrape_configs=[
            {"job_name": "gpuhealth", "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}],
             # the same instance label as the history's, so that every series goes on across its end
             "relabel_configs": [{"target_label": "instance", "replacement": DEMO_INSTANCE}]},
            {"job_name": jobs["analyzer"], "scrape_interval": "15s",
             "basic_auth": {"username": ADMIN_USER, "password": password},
             "static_configs": [{"targets": [f"127.0.0.1:{analyzer_port}"]}]},
            {"job_name": jobs["sink"], "scrape_interval": "15s",
             "static_configs": [{"targets": [f"127.0.0.1:{sink_port}"]}]},
            {"job_name": jobs["prometheus"], "scrape_interval": "15s",
             "static_configs": [{"targets": [f"127.0.0.1:{prom_port}"]}]},
        ],
        rule_files=_rule_files(wd / "rules", speedup),
        remote_write=[{"url": f"http://127.0.0.1:{sink_port}/api/v1/write"}],
        alertmanagers=[f"127.0.0.1:{am.port}"],
    )).start()
    demo.urls["prometheus"] = prom.url

    say("analyzer: failure prediction, anomalies, trends, economics")
    demo.add(GpuhealthProcess(name="analyzer", workdir=wd / "analyzer",
                              ready_url=f"http://{ADMIN_USER}:{password}@127.0.0.1:{analyzer_port}/metrics",
                              argv=["analyze", "--prometheus", prom.url, "--db", pg.dsn, "--interval", "30s",
                                    "--primary", load_spec().prediction_model,
                                    "--web.listen-address", f"127.0.0.1:{analyzer_port}",
                                    "--web.config.file", str(wd / "analyzer" / "web.yml")])).start()
    demo.urls["analyzer"] = f"http://{ADMIN_USER}:{password}@127.0.0.1:{analyzer_port}/"
    demo.admin = (f"http://127.0.0.1:{analyzer_port}/admin", ADMIN_USER, password)
    demo.urls["data"] = str(wd)


def _at_risk(prom_url: str, n: int = 5) -> list[str]:
    """Lines naming the GPUs most likely to fail within 7 days, their action and top factor."""
    client = PromClient(prom_url, timeout=10, retries=0)
    primary = load_spec().prediction_model  # the analyzer's primary, as the prediction alerts read it
    top = client.instant(f'topk({n}, max by (UUID) (gpuhealth_failure_probability{{horizon="7d", '
                         f'model="{primary}"}}))')
    actions = {labels["UUID"]: labels.get("action", "")
               for labels, _ in client.instant("gpuhealth_recommended_action == 1")}
    factors: dict[str, tuple[float, str]] = {}
    for labels, value in client.instant("gpuhealth_failure_factor"):
        uuid = labels.get("UUID", "")
        if value > factors.get(uuid, (-1.0, ""))[0]:
            factors[uuid] = (value, labels.get("factor", ""))
    lines = []
    for labels, p7 in sorted(top, key=lambda r: -r[1]):
        uuid = labels["UUID"]
        lines.append(f"  {uuid}  p(fail 7d)={p7:.2f}  action={actions.get(uuid, '?'):13s} "
                     f"main factor: {factors.get(uuid, (0, '?'))[1]}")
    return lines


class _Stopped(Exception):
    """SIGTERM arrived: stop every part, as Ctrl-C does."""


def _raise_stopped(signum: int, _frame: object) -> None:
    raise _Stopped(signal.Signals(signum).name)


@click.command()
@click.option("--gpus", default=64, show_default=True, help="Simulated GPUs.")
@click.option("--history-days", default=21.0, show_default=True,
              help="Days of history written and backfilled first (0: none, start from an empty Prometheus).")
@click.option("--speedup", default=1.0, show_default=True,
              help="Simulated seconds per wall-clock second (only without history: a history goes on in real time).")
@click.option("--seed", default=1, show_default=True)
@click.option("--workdir", type=click.Path(path_type=Path), default=None,
              help="Where the demo keeps its data (default: a temporary folder, removed at exit).")
@click.option("--duration", type=float, default=None, help="Stop after this many seconds (default: until Ctrl-C).")
def demo(gpus: int, history_days: float, speedup: float, seed: int, workdir: Path | None,
         duration: float | None) -> None:
    """Run the whole system on a simulated fleet and print where to look."""
    if history_days > 0 and speedup != 1:
        raise click.BadParameter("a history goes on in real time: use --speedup 1, or --history-days 0 for a fast "
                                 "clock", param_hint="--speedup")
    temporary = workdir is None
    wd = workdir or stack.scratch_dir("demo")
    wd.mkdir(parents=True, exist_ok=True)
    wd.chmod(0o755)
    previous = signal.signal(signal.SIGTERM, _raise_stopped)  # systemd, Docker and `timeout` send SIGTERM
    running: DemoStack | None = None
    try:
        try:
            running = start_demo(wd, gpus, speedup, seed, history_days)
        except (stack.ComponentMissing, stack.ComponentFailed) as exc:
            raise click.ClickException(str(exc)) from exc
        _show(running, duration)
    except (KeyboardInterrupt, _Stopped):
        click.echo("\nstopping")
    finally:
        if running is not None:
            running.stop()
        signal.signal(signal.SIGTERM, previous)
        if temporary:
            shutil.rmtree(wd, ignore_errors=True)


def _show(running: DemoStack, duration: float | None) -> None:
    """Print where to look, then every 30 s the alerts delivered and the GPUs most likely to fail."""
    click.echo("")
    click.secho("gpuhealth demo is running. Look here:", bold=True)
    for name, url in running.urls.items():
        click.echo(f"  {name:13s} {url}")
    p = running.urls["prometheus"]
    click.echo(f"  {'health scores':13s} {p}/graph?g0.expr=sort(gpu%3Ahealth%3Ascore)&g0.tab=1")
    click.echo(f"  {'alerts':13s} {p}/alerts")
    click.echo(f"  {'SQL':13s} psql '{running.urls['database']}'")
    url, user, password = running.admin
    click.echo(f"  {'admin page':13s} {url} (user {user}, password {password}): the fleet, each GPU, asset edits, "
               "inventory import, repairs")
    click.echo(f"  {'dashboards':13s} {data_dir('grafana')}: import grafana/dashboards/*.json into a Grafana and point "
               f"its Prometheus datasource at {p} (or copy grafana/provisioning/ into its provisioning folder; "
               "docs/dashboards.md)")
    click.echo("Press Ctrl-C to stop.\n")
    sys.stdout.flush()
    started = time.monotonic()
    shown = 0
    printed: set[str] = set()  # a notification reaches the webhook once per receiver it is routed to
    while duration is None or time.monotonic() - started < duration:
        time.sleep(min(30.0, duration or 30.0))
        for line in running.alerts[shown:]:
            if line not in printed:
                printed.add(line)
                click.echo(f"[alert] {line}")
        shown = len(running.alerts)
        lines = _at_risk(p)
        if lines:
            click.secho(f"[{time.strftime('%H:%M:%S')}] GPUs most likely to fail within 7 days:", bold=True)
            click.echo("\n".join(lines))
        sys.stdout.flush()
