"""Writing decoded batches into TimescaleDB: series ids from a cache, samples by binary COPY.

Samples go by binary COPY into a temporary staging table, then ``INSERT ... ON CONFLICT DO
NOTHING`` into the hypertable, in one transaction: the 2xx is sent only after the commit, and a
re-sent batch adds nothing. Series ids come from a cache keyed as the decoder keys series (the raw
label block of a 1.0 request, else the labels), which the decoder also consults so that a known
series is neither validated nor looked up again; new series are inserted with ON CONFLICT so that
concurrent writers agree on one id.
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


ROW = np.dtype([("n", ">i2"), ("l1", ">i4"), ("time", ">i8"), ("l2", ">i4"), ("sid", ">i8"), ("l3", ">i4"),
                ("v", ">f8")])
PG_EPOCH_MS = 946_684_800_000  # 2000-01-01, the origin of PostgreSQL's binary timestamptz (microseconds)
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)


def binary_copy_rows(ids: list[int], index: list[int], times: list[int], values: list[float]) -> bytes:
    """PostgreSQL binary COPY data for (time timestamptz, series_id bigint, value float8) rows, built in bulk.

    Row k is sample k: its series' id ``ids[index[k]]``, its time ``times[k]`` (ms) and ``values[k]``."""
    rows = np.empty(len(times), dtype=ROW)
    rows["n"], rows["l1"], rows["l2"], rows["l3"] = 3, 8, 8, 8
    rows["time"] = (np.array(times, dtype=np.int64) - PG_EPOCH_MS) * 1000
    rows["sid"] = np.array(ids, dtype=np.int64)[np.array(index, dtype=np.intp)]
    rows["v"] = values
    return COPY_HEADER + rows.tobytes() + COPY_TRAILER


class Writer:
    """A pool of one connection per writer thread and a shared series cache."""

    def __init__(self, dsn: str, cache_size: int = 1_000_000) -> None:
        self.dsn = dsn
        self.cache: dict = {}  # series key (see decode.Batch) -> series id
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
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS staging (time timestamptz, series_id bigint, "
                         "value double precision) ON COMMIT DELETE ROWS")
            conn.commit()
            self._local.conn = conn
        return conn

    def _series_ids(self, conn: psycopg.Connection, batch: Batch) -> list[int]:
        """The id of every series of a batch: from the decoder, the cache or the catalog (inserted if new)."""
        ids = list(batch.ids)
        cache = self.cache
        missing: dict = {}  # key -> labels
        for i, sid in enumerate(ids):
            if sid is None:
                key = batch.keys[i]
                sid = cache.get(key)
                if sid is None:
                    missing.setdefault(key, batch.series[i])
                else:
                    ids[i] = sid
        if not missing:
            return ids
        rows = []
        for labels in missing.values():
            d = dict(labels)
            rows.append((d.get("__name__", ""), json.dumps(d, sort_keys=True), d.get("UUID")))
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO series (metric, labels, uuid) VALUES (%s, %s::jsonb, %s) "
                            "ON CONFLICT (labels) DO NOTHING", rows)
            cur.execute("SELECT id, labels FROM series WHERE labels = ANY(%s::jsonb[])", ([r[1] for r in rows],))
            found = {json.dumps(lab, sort_keys=True): i for i, lab in cur.fetchall()}
        new = {key: found[row[1]] for key, row in zip(missing, rows, strict=True)}
        with self._lock:
            if len(cache) + len(new) > self.cache_size:
                cache.clear()
            cache.update(new)
        return [new[batch.keys[i]] if sid is None else sid for i, sid in enumerate(ids)]

    def write(self, batch: Batch) -> int:
        """Store a batch; returns the samples newly stored (duplicates of stored ones are not)."""
        if batch.sample_count == 0:
            return 0
        try:
            conn = self._conn()
            with conn.transaction():
                ids = self._series_ids(conn, batch)
                with conn.cursor() as cur:
                    with cur.copy("COPY staging (time, series_id, value) FROM STDIN (FORMAT BINARY)") as copy:
                        copy.write(binary_copy_rows(ids, batch.index, batch.times, batch.values))
                    cur.execute("INSERT INTO samples (time, series_id, value) SELECT time, series_id, value "
                                "FROM staging ON CONFLICT (series_id, time) DO NOTHING")
                    stored = cur.rowcount
            self.note_written(min(batch.times))
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
