"""`gpuhealth db migrate`: apply the ordered migrations in sql/ once each, for this TimescaleDB edition."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

from gpuhealth.resources import data_dir
from gpuhealth.sink.dsn import redact

SQL_DIR = data_dir("sql")


def edition(conn: psycopg.Connection) -> str:
    """'timescale' where the Timescale-licensed features exist, else 'apache'."""
    row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    return "timescale" if row and row[0] == "timescale" else "apache"


def migrations(sql_dir: Path, which: str) -> list[tuple[int, Path]]:
    """(version, file) in order: the common files and the edition's own."""
    files = list(sql_dir.glob("[0-9][0-9][0-9]_*.sql")) + list((sql_dir / "editions" / which).glob("[0-9]*.sql"))
    out = sorted((int(re.match(r"(\d+)_", p.name).group(1)), p) for p in files)
    versions = [v for v, _ in out]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"{sql_dir}: two migrations share a version number: {versions}")
    return out


def migrate(dsn: str, sql_dir: Path = SQL_DIR) -> int:
    """Apply what has not been applied; returns the schema version now. Idempotent.

    RuntimeError when ``sql_dir`` holds no migration file (a package built without its migrations)."""
    if not list(sql_dir.glob("[0-9][0-9][0-9]_*.sql")):
        raise RuntimeError(f"{sql_dir}: no migration files (NNN_name.sql) here, so nothing could be applied; "
                           "is gpuhealth installed from a package built without sql/?")
    try:
        conn = psycopg.connect(dsn, autocommit=True)
    except psycopg.OperationalError as exc:
        raise RuntimeError(f"cannot connect to {redact(dsn)}: {redact(str(exc), dsn)}") from None
    with conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL, "
                     "edition text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        which = edition(conn)
        done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        for version, path in migrations(sql_dir, which):
            if version in done:
                continue
            with conn.transaction():
                conn.execute(path.read_text())
                conn.execute("INSERT INTO schema_migrations (version, name, edition) VALUES (%s, %s, %s)",
                             (version, path.name, which))
        return conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
