"""The real monitoring stack, started on free loopback ports in temporary folders.

Prometheus, Alertmanager, PostgreSQL with TimescaleDB and VictoriaMetrics, each a thin wrapper
around the real binary that ``scripts/bootstrap`` installs: start it, wait until it answers, stop
it and clean up. The tests' fixtures, the benchmarks and ``gpuhealth demo`` all start their
components through this module, so each is started one way.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from gpuhealth.binaries import ComponentMissing as ComponentMissing  # what the tests and the demo catch
from gpuhealth.binaries import find_binary

PG_BIN = Path(os.environ.get("GPUHEALTH_PG_BIN", "/usr/lib/postgresql/15/bin"))


class ComponentFailed(RuntimeError):
    """A component was started but did not come up; the message holds the end of its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass(kw_only=True)
class Service:
    """A child process with a log file, a readiness check and a clean stop."""

    name: str
    workdir: Path
    proc: subprocess.Popen | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.name}.log"

    def _spawn(self, argv: list[str], **kw: Any) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, **kw)
        log.close()

    def ready(self) -> bool:  # pragma: no cover - overridden
        """Whether the service answers."""
        raise NotImplementedError

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the service answers, or raise ComponentFailed with its log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ComponentFailed(f"{self.name} exited with status {self.proc.returncode}:\n"
                                      f"{_tail(self.log_path)}")
            with contextlib.suppress(Exception):
                if self.ready():
                    return
            time.sleep(0.1)
        raise ComponentFailed(f"{self.name} did not answer within {timeout:.0f} s:\n{_tail(self.log_path)}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """Stop the process (and its group), killing it if it does not exit in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def kill(self) -> None:
        """Kill the process at once, as a crash would."""
        self.stop(signal.SIGKILL)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _http_ok(url: str) -> bool:
    return requests.get(url, timeout=2).status_code == 200


def instant_query(url: str, expr: str, at: float | None = None, timeout: float = 30.0) -> list[dict]:
    """The result of an instant query through a Prometheus-compatible API (raises on an API error)."""
    params: dict[str, Any] = {"query": expr}
    if at is not None:
        params["time"] = at
    body = requests.get(f"{url}/api/v1/query", params=params, timeout=timeout).json()
    if body.get("status") != "success":
        raise RuntimeError(f"query {expr!r} failed: {body.get('error')}")
    return body["data"]["result"]


@dataclass(kw_only=True)
class Prometheus(Service):
    """A real Prometheus with the given scrape configs, rule files and remote-write targets."""

    name: str = "prometheus"
    scrape_configs: list[dict] = field(default_factory=list)
    rule_files: list[Path] = field(default_factory=list)
    remote_write: list[dict] = field(default_factory=list)
    alertmanagers: list[str] = field(default_factory=list)
    scrape_interval: str = "5s"
    evaluation_interval: str = "5s"
    storage_path: Path | None = None
    retention: str = "30d"
    extra_args: list[str] = field(default_factory=list)
    port: int = 0
    binary: Path | None = None  # another Prometheus than the installed one (a benchmark's comparison)

    def config(self) -> dict:
        """The prometheus.yml this instance runs with."""
        cfg: dict[str, Any] = {
            "global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.evaluation_interval},
            "scrape_configs": self.scrape_configs,
            "rule_files": [str(p) for p in self.rule_files],
        }
        if self.remote_write:
            cfg["remote_write"] = self.remote_write
        if self.alertmanagers:
            cfg["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": self.alertmanagers}]}]}
        return cfg

    def start(self) -> Prometheus:
        """Write the configuration and start Prometheus; returns when it is ready."""
        binary = self.binary or find_binary("prometheus", "/usr/bin/prometheus")
        self.port = self.port or free_port()
        self.storage_path = self.storage_path or self.workdir / "data"
        cfg_path = self.workdir / "prometheus.yml"
        cfg_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        self._spawn([str(binary), f"--config.file={cfg_path}", f"--storage.tsdb.path={self.storage_path}",
                     f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-lifecycle",
                     "--web.enable-admin-api", f"--storage.tsdb.retention.time={self.retention}",
                     *self.extra_args])
        self.wait_ready()
        return self

    @property
    def url(self) -> str:
        """The base URL of the HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        return _http_ok(f"{self.url}/-/ready")

    def reload(self) -> None:
        """Re-read the configuration written by config()."""
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(self.config(), sort_keys=False))
        requests.post(f"{self.url}/-/reload", timeout=10).raise_for_status()

    def query(self, expr: str, at: float | None = None, timeout: float = 30.0) -> list[dict]:
        """The result of an instant PromQL query (raises on an API error)."""
        return instant_query(self.url, expr, at, timeout)

    def wait_for(self, expr: str, timeout: float = 60.0, min_results: int = 1) -> list[dict]:
        """Poll a query until it returns at least min_results series."""
        deadline = time.monotonic() + timeout
        result: list[dict] = []
        while time.monotonic() < deadline:
            result = self.query(expr)
            if len(result) >= min_results:
                return result
            time.sleep(0.5)
        raise TimeoutError(f"{expr!r} returned {len(result)} series after {timeout:.0f} s, wanted {min_results}")


@dataclass(kw_only=True)
class Alertmanager(Service):
    """A real Alertmanager running the given configuration file."""

    name: str = "alertmanager"
    config_path: Path | None = None
    port: int = 0

    def start(self) -> Alertmanager:
        """Start Alertmanager; returns when it is ready."""
        binary = find_binary("alertmanager", "/usr/bin/prometheus-alertmanager", "/usr/bin/alertmanager")
        self.port = self.port or free_port()
        if self.config_path is None:
            self.config_path = self.workdir / "alertmanager.yml"
            self.config_path.write_text(yaml.safe_dump({"route": {"receiver": "null"},
                                                        "receivers": [{"name": "null"}]}))
        self._spawn([str(binary), f"--config.file={self.config_path}",
                     f"--storage.path={self.workdir / 'data'}",
                     f"--web.listen-address=127.0.0.1:{self.port}",
                     "--cluster.listen-address=", "--log.level=debug"])
        self.wait_ready()
        return self

    @property
    def url(self) -> str:
        """The base URL of the HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        return _http_ok(f"{self.url}/-/ready")


def _unprivileged_user() -> pwd.struct_passwd | None:
    """The user PostgreSQL runs as when we are root (it refuses to run as root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ComponentMissing("running as root and neither a 'postgres' nor a 'nobody' user exists")


@dataclass(kw_only=True)
class Postgres(Service):
    """A real PostgreSQL 15 with TimescaleDB preloaded, in its own data folder.

    initdb runs on first start; stop() and start() again keep the data, as a restart does.
    """

    name: str = "postgres"
    port: int = 0
    user: str = "gpuhealth"
    database: str = "gpuhealth"
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def datadir(self) -> Path:
        """The cluster's data folder."""
        return self.workdir / "pgdata"

    def _run_kw(self) -> dict[str, Any]:
        pw = _unprivileged_user()
        if pw is None:
            return {}
        return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}

    def _chown(self, path: Path) -> None:
        pw = _unprivileged_user()
        if pw is not None:
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def start(self) -> Postgres:
        """initdb when new, then start the server; returns when it accepts connections."""
        postgres = find_binary("postgres", PG_BIN / "postgres")
        initdb = find_binary("initdb", PG_BIN / "initdb")
        if not (Path("/usr/share/postgresql/15/extension/timescaledb.control").exists()
                or os.environ.get("GPUHEALTH_PG_BIN")):
            raise ComponentMissing("the TimescaleDB extension is not installed: run scripts/bootstrap")
        self.workdir.chmod(0o755)
        self._chown(self.workdir)
        self.port = self.port or free_port()
        kw = self._run_kw()
        if not (self.datadir / "PG_VERSION").exists():
            subprocess.run([str(initdb), "-D", str(self.datadir), "-U", self.user, "--auth=trust",
                            "-E", "UTF8", "--no-sync"], check=True, capture_output=True,
                           cwd=self.workdir, **kw)
        settings = {"shared_preload_libraries": "timescaledb", "timescaledb.telemetry_level": "off",
                    "listen_addresses": "127.0.0.1", "unix_socket_directories": str(self.workdir),
                    "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                    "max_connections": "100", **self.settings}
        argv = [str(postgres), "-D", str(self.datadir), "-p", str(self.port)]
        for k, v in settings.items():
            argv += ["-c", f"{k}={v}"]
        self._spawn(argv, cwd=self.workdir, **kw)
        self.wait_ready()
        self._ensure_database()
        return self

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> None:
        """Stop the server; SIGINT is PostgreSQL's fast shutdown."""
        super().stop(sig, timeout)

    @property
    def dsn(self) -> str:
        """A libpq connection string for the test database."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def ready(self) -> bool:
        import psycopg

        with psycopg.connect(f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres", connect_timeout=2):
            return True

    def _ensure_database(self) -> None:
        import psycopg

        with psycopg.connect(f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres",
                             autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')  # our own constant name, not input
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")


@dataclass(kw_only=True)
class VictoriaMetrics(Service):
    """A real single-node VictoriaMetrics, optionally scraping targets itself."""

    name: str = "victoria-metrics"
    scrape_configs: list[dict] = field(default_factory=list)
    scrape_interval: str = "5s"
    port: int = 0
    extra_args: list[str] = field(default_factory=list)

    def start(self) -> VictoriaMetrics:
        """Start VictoriaMetrics; returns when it is healthy."""
        binary = find_binary("victoria-metrics", "/usr/bin/victoria-metrics")
        self.port = self.port or free_port()
        argv = [str(binary), f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-storageDataPath={self.workdir / 'data'}", "-retentionPeriod=100y",
                "-search.latencyOffset=0s", "-loggerLevel=WARN", *self.extra_args]
        if self.scrape_configs:
            cfg = self.workdir / "scrape.yml"
            cfg.write_text(yaml.safe_dump({"global": {"scrape_interval": self.scrape_interval},
                                           "scrape_configs": self.scrape_configs}))
            argv.append(f"-promscrape.config={cfg}")
        self._spawn(argv)
        self.wait_ready()
        return self

    @property
    def url(self) -> str:
        """The base URL; the Prometheus query API is under /api/v1/."""
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        return _http_ok(f"{self.url}/health")

    def query(self, expr: str, at: float | None = None, timeout: float = 30.0) -> list[dict]:
        """The result of an instant query through VictoriaMetrics' Prometheus API."""
        return instant_query(self.url, expr, at, timeout)

    def flush(self) -> None:
        """Make freshly ingested samples searchable now."""
        requests.get(f"{self.url}/internal/force_flush", timeout=10)


def scratch_dir(prefix: str) -> Path:
    """A new temporary folder that unprivileged service users can enter."""
    path = Path(tempfile.mkdtemp(prefix=f"gpuhealth-{prefix}-"))
    path.chmod(0o755)
    return path
