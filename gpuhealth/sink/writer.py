"""Writing decoded batches into TimescaleDB: series ids from a cache, samples by binary COPY.

Samples go by binary COPY into a temporary staging table, then ``INSERT ... ON CONFLICT DO
NOTHING`` into the hypertable, in one transaction: the 2xx is sent only after the commit, and a
re-sent batch adds nothing. Series ids come from a cache keyed on the label set; new series are
inserted with ON CONFLICT so that concurrent writers agree on one id.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import psycopg

from gpuhealth.sink.decode import Batch
from gpuhealth.sink.dsn import redact


class DatabaseUnavailable(Exception):
    """The database cannot be reached or failed; the request should be retried later."""


def _epoch_ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000.0, UTC)


class Writer:
    """A pool of one connection per writer thread and a shared series cache."""

    def __init__(self, dsn: str, cache_size: int = 1_000_000) -> None:
        self.dsn = dsn
        self.cache: dict[tuple, int] = {}
        self.cache_size = cache_size
        self._local = threading.local()
        self._lock = threading.Lock()

    def _conn(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            try:
                conn = psycopg.connect(self.dsn, connect_timeout=5)
            except psycopg.OperationalError as exc:
                why = redact(str(exc), self.dsn)
                raise DatabaseUnavailable(f"cannot connect to {redact(self.dsn)}: {why}") from None
            conn.execute("SET synchronous_commit = on")
            conn.commit()
            self._local.conn = conn
        return conn

    def _series_ids(self, conn: psycopg.Connection, series: list[tuple[tuple[str, str], ...]]) -> list[int]:
        missing = [s for s in dict.fromkeys(series) if s not in self.cache]
        if missing:
            rows = []
            for labels in missing:
                d = dict(labels)
                rows.append((d.get("__name__", ""), json.dumps(d, sort_keys=True), d.get("UUID")))
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO series (metric, labels, uuid) VALUES (%s, %s::jsonb, %s) "
                                "ON CONFLICT (labels) DO NOTHING", rows)
                cur.execute("SELECT id, labels FROM series WHERE labels = ANY(%s::jsonb[])", ([r[1] for r in rows],))
                found = {json.dumps(lab, sort_keys=True): i for i, lab in cur.fetchall()}
            with self._lock:
                if len(self.cache) + len(missing) > self.cache_size:
                    self.cache.clear()
                for labels, row in zip(missing, rows, strict=True):
                    self.cache[labels] = found[row[1]]
        return [self.cache[s] for s in series]

    def write(self, batch: Batch) -> int:
        """Store a batch; returns the samples newly stored (duplicates of stored ones are not)."""
        if batch.sample_count == 0:
            return 0
        try:
            conn = self._conn()
            with conn.transaction():
                ids = self._series_ids(conn, batch.series)
                with conn.cursor() as cur:
                    cur.execute("CREATE TEMP TABLE IF NOT EXISTS staging (time timestamptz, series_id bigint, "
                                "value double precision) ON COMMIT DELETE ROWS")
                    with cur.copy("COPY staging (time, series_id, value) FROM STDIN (FORMAT BINARY)") as copy:
                        copy.set_types(["timestamptz", "int8", "float8"])
                        for sid, samples in zip(ids, batch.samples, strict=True):
                            for ts, value in samples:
                                copy.write_row((_epoch_ms_to_dt(ts), sid, value))
                    cur.execute("INSERT INTO samples (time, series_id, value) SELECT time, series_id, value "
                                "FROM staging ON CONFLICT (series_id, time) DO NOTHING")
                    return cur.rowcount
        except psycopg.OperationalError as exc:
            self._drop()
            raise DatabaseUnavailable(redact(str(exc), self.dsn)) from None
        except psycopg.errors.AdminShutdown as exc:  # pragma: no cover - a subclass path on some versions
            self._drop()
            raise DatabaseUnavailable(redact(str(exc), self.dsn)) from None

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass
        self._local.conn = None

    def ping(self) -> bool:
        """Whether the database answers now."""
        try:
            self._conn().execute("SELECT 1").fetchone()
            self._conn().commit()
            return True
        except (DatabaseUnavailable, psycopg.Error):
            self._drop()
            return False
