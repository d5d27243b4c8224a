"""Fixtures that start the real monitoring stack for the tests.

Each fixture starts its component on free loopback ports in a temporary folder, waits until it
answers and stops it afterwards. A missing component fails the test with a message that names
scripts/bootstrap: nothing is skipped silently.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gpuhealth import stack

REPO = Path(__file__).resolve().parent.parent


def _fail_if_missing(exc: stack.ComponentMissing) -> None:
    pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A scratch folder that service users (postgres) can enter; removed afterwards."""
    path = stack.scratch_dir("test")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def prometheus_factory(workdir: Path) -> Iterator[Callable[..., stack.Prometheus]]:
    """Start real Prometheus servers: factory(scrape_configs=..., rule_files=..., ...)."""
    started: list[stack.Prometheus] = []

    def make(**kw) -> stack.Prometheus:
        name = kw.pop("name", f"prometheus{len(started)}")
        prom = stack.Prometheus(name=name, workdir=workdir / name, **kw)
        try:
            prom.start()
        except stack.ComponentMissing as exc:
            _fail_if_missing(exc)
        started.append(prom)
        return prom

    yield make
    for prom in started:
        prom.stop()


@pytest.fixture
def alertmanager_factory(workdir: Path) -> Iterator[Callable[..., stack.Alertmanager]]:
    """Start real Alertmanagers: factory(config_path=...)."""
    started: list[stack.Alertmanager] = []

    def make(**kw) -> stack.Alertmanager:
        name = kw.pop("name", f"alertmanager{len(started)}")
        am = stack.Alertmanager(name=name, workdir=workdir / name, **kw)
        try:
            am.start()
        except stack.ComponentMissing as exc:
            _fail_if_missing(exc)
        started.append(am)
        return am

    yield make
    for am in started:
        am.stop()


@pytest.fixture
def alertmanager(alertmanager_factory) -> stack.Alertmanager:
    """A real Alertmanager with a do-nothing route."""
    return alertmanager_factory()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[stack.Postgres]:
    """One real PostgreSQL + TimescaleDB for the session (tests use their own databases)."""
    path = stack.scratch_dir("pg")
    pg = stack.Postgres(workdir=path)
    try:
        pg.start()
    except stack.ComponentMissing as exc:
        _fail_if_missing(exc)
    yield pg
    pg.stop()
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def postgres(postgres_server: stack.Postgres, request) -> Iterator[str]:
    """A DSN of a fresh database with TimescaleDB created, on the session's server."""
    import psycopg

    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    admin = f"postgresql://{postgres_server.user}@127.0.0.1:{postgres_server.port}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # name built from [a-z0-9_]
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = f"postgresql://{postgres_server.user}@127.0.0.1:{postgres_server.port}/{name}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    yield dsn
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_factory(workdir: Path) -> Iterator[Callable[..., stack.Postgres]]:
    """Start a private PostgreSQL (for tests that stop and restart the database)."""
    started: list[stack.Postgres] = []

    def make(**kw) -> stack.Postgres:
        name = kw.pop("name", f"postgres{len(started)}")
        pg = stack.Postgres(name=name, workdir=workdir / name, **kw)
        try:
            pg.start()
        except stack.ComponentMissing as exc:
            _fail_if_missing(exc)
        started.append(pg)
        return pg

    yield make
    for pg in started:
        pg.stop()


@pytest.fixture
def victoriametrics_factory(workdir: Path) -> Iterator[Callable[..., stack.VictoriaMetrics]]:
    """Start real VictoriaMetrics servers: factory(scrape_configs=...)."""
    started: list[stack.VictoriaMetrics] = []

    def make(**kw) -> stack.VictoriaMetrics:
        name = kw.pop("name", f"vm{len(started)}")
        vm = stack.VictoriaMetrics(name=name, workdir=workdir / name, **kw)
        try:
            vm.start()
        except stack.ComponentMissing as exc:
            _fail_if_missing(exc)
        started.append(vm)
        return vm

    yield make
    for vm in started:
        vm.stop()
