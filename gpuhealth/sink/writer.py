"""Writing decoded batches into TimescaleDB: series ids from a cache, samples as binary arrays.

A batch's samples go as three binary array parameters of one ``INSERT ... SELECT FROM unnest(...)``
statement in autocommit: one round trip, atomic (one statement is one transaction), committed with
``synchronous_commit = on`` before the 2xx is sent. The unique (series_id, time) index refuses a
re-sent batch whole; it is then inserted again with ``ON CONFLICT DO NOTHING``, which keeps only
what is new. (A plain insert costs PostgreSQL much less than ON CONFLICT's speculative insertion,
and re-sent batches are rare.) Series ids come from a cache keyed as the decoder keys series (the raw
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
from gpuhealth.sink.pgarray import Float8Array, Int8Array, TimestamptzArray, register


class DatabaseUnavailable(Exception):
    """The database cannot be reached or failed; the request should be retried later."""


INSERT = "INSERT INTO samples (time, series_id, value) SELECT * FROM unnest(%b, %b, %b)"
INSERT_NEW = INSERT + " ON CONFLICT (series_id, time) DO NOTHING"


def sample_arrays(ids: list[int], index: list[int], times: list[int],
                  values: list[float]) -> tuple[TimestamptzArray, Int8Array, Float8Array]:
    """The time, series id and value arrays of a batch's samples, built in bulk.

    Sample k is stored as its time ``times[k]`` (ms), its series' id ``ids[index[k]]`` and ``values[k]``."""
    sid = np.asarray(ids, dtype=np.int64)[np.asarray(index, dtype=np.intp)]
    return (TimestamptzArray.from_ms(np.asarray(times, dtype=np.int64)), Int8Array.of(sid),
            Float8Array.of(np.asarray(values, dtype=np.float64)))


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
                conn = psycopg.connect(self.dsn, connect_timeout=5, autocommit=True)
            except psycopg.OperationalError as exc:
                why = redact(str(exc), self.dsn)
                raise DatabaseUnavailable(f"cannot connect to {redact(self.dsn)}: {why}") from None
            conn.execute("SET synchronous_commit = on")
            register(conn)
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
        rows = [json.dumps(dict(labels), sort_keys=True) for labels in missing.values()]
        every = "[" + ",".join(rows) + "]"  # one jsonb parameter for all: no per-label work in Python
        with conn.transaction():
            conn.execute("INSERT INTO series (metric, labels, uuid) SELECT coalesce(e->>'__name__', ''), e, "
                         "e->>'UUID' FROM jsonb_array_elements(%s::jsonb) e ON CONFLICT (labels) DO NOTHING", (every,))
            found = {json.dumps(lab, sort_keys=True): i for i, lab in conn.execute(
                "SELECT id, labels FROM series WHERE labels IN (SELECT jsonb_array_elements(%s::jsonb))", (every,))}
        new = {key: found[row] for key, row in zip(missing, rows, strict=True)}
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
            ids = self._series_ids(conn, batch)
            arrays = sample_arrays(ids, batch.index, batch.times, batch.values)
            try:
                stored = conn.execute(INSERT, arrays).rowcount
            except psycopg.errors.UniqueViolation:  # a re-sent batch: the statement stored nothing; keep the new
                stored = conn.execute(INSERT_NEW, arrays).rowcount
            self.note_written(int(np.min(batch.times)))
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
