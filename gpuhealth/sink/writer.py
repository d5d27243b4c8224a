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

import numpy as np
import psycopg

from gpuhealth.sink.decode import Batch
from gpuhealth.sink.dsn import redact


class DatabaseUnavailable(Exception):
    """The database cannot be reached or failed; the request should be retried later."""


ROW = np.dtype([("n", ">i2"), ("l1", ">i4"), ("ts", ">i8"), ("l2", ">i4"), ("sid", ">i8"), ("l3", ">i4"),
                ("v", ">f8")])


def binary_copy_rows(ids: list[int], samples: list[list[tuple[int, float]]]) -> bytes:
    """PostgreSQL binary COPY data for (ts_ms bigint, series_id bigint, value float8) rows, built in bulk."""
    counts = [len(s) for s in samples]
    rows = np.zeros(sum(counts), dtype=ROW)
    rows["n"], rows["l1"], rows["l2"], rows["l3"] = 3, 8, 8, 8
    flat = [x for s in samples for x in s]
    if flat:
        ts, values = zip(*flat, strict=True)
        rows["ts"] = ts
        rows["v"] = values
    rows["sid"] = np.repeat(np.array(ids, dtype=np.int64), counts)
    header = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
    return header + rows.tobytes() + (-1).to_bytes(2, "big", signed=True)


class Writer:
    """A pool of one connection per writer thread and a shared series cache."""

    def __init__(self, dsn: str, cache_size: int = 1_000_000) -> None:
        self.dsn = dsn
        self.cache: dict[tuple, int] = {}
        self.cache_size = cache_size
        self._local = threading.local()
        self._lock = threading.Lock()
        self._oldest_ms: int | None = None  # the oldest sample time stored since take_oldest_written()

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
        with self._lock:
            known = {s: self.cache[s] for s in dict.fromkeys(series) if s in self.cache}
        missing = [s for s in dict.fromkeys(series) if s not in known]
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
            new = {labels: found[row[1]] for labels, row in zip(missing, rows, strict=True)}
            known.update(new)
            with self._lock:
                if len(self.cache) + len(new) > self.cache_size:
                    self.cache.clear()
                self.cache.update(new)
        return [known[s] for s in series]

    def write(self, batch: Batch) -> int:
        """Store a batch; returns the samples newly stored (duplicates of stored ones are not)."""
        if batch.sample_count == 0:
            return 0
        try:
            conn = self._conn()
            with conn.transaction():
                ids = self._series_ids(conn, batch.series)
                with conn.cursor() as cur:
                    cur.execute("CREATE TEMP TABLE IF NOT EXISTS staging (ts_ms bigint, series_id bigint, "
                                "value double precision) ON COMMIT DELETE ROWS")
                    with cur.copy("COPY staging (ts_ms, series_id, value) FROM STDIN (FORMAT BINARY)") as copy:
                        copy.write(binary_copy_rows(ids, batch.samples))
                    cur.execute("INSERT INTO samples (time, series_id, value) SELECT to_timestamp(ts_ms / 1000.0), "
                                "series_id, value FROM staging ON CONFLICT (series_id, time) DO NOTHING")
                    stored = cur.rowcount
            self.note_written(min(t for s in batch.samples for t, _ in s))
            return stored
        except psycopg.OperationalError as exc:
            self._drop()
            raise DatabaseUnavailable(redact(str(exc), self.dsn)) from None

    def note_written(self, oldest: int | datetime) -> None:
        """Remember that samples as old as ``oldest`` (ms or datetime) were stored."""
        ms = int(oldest.timestamp() * 1000) if isinstance(oldest, datetime) else int(oldest)
        with self._lock:
            self._oldest_ms = ms if self._oldest_ms is None else min(self._oldest_ms, ms)

    def take_oldest_written(self) -> datetime | None:
        """The oldest sample time stored since the last call, and forget it."""
        with self._lock:
            ms, self._oldest_ms = self._oldest_ms, None
        return None if ms is None else datetime.fromtimestamp(ms / 1000.0, UTC)

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
