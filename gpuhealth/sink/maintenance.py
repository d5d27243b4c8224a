"""The sink's maintenance loop on the Apache edition: incremental rollups and retention.

Where the Timescale-licensed features exist, continuous aggregates and policies do this work and
the loop does nothing. Otherwise, each pass aggregates the raw samples of the buckets from a
little before the last refreshed point (late and out-of-order samples land there) up to the last
complete bucket, upserting min, max, avg, last and count per series; then drops the chunks older
than each table's retention.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

import psycopg

from gpuhealth.sink.dsn import redact
from gpuhealth.sink.migrate import edition

log = logging.getLogger("gpuhealth.sink")

ROLLUPS = {"samples_1m": timedelta(minutes=1), "samples_5m": timedelta(minutes=5), "samples_1h": timedelta(hours=1)}
LATE = timedelta(minutes=10)  # how far back each pass re-aggregates, for late or out-of-order samples

REFRESH = """
INSERT INTO {table} (bucket, series_id, min, max, avg, last, count)
SELECT time_bucket(%(width)s, time) AS b, series_id, min(value), max(value), avg(value),
       last(value, time), count(*)
FROM samples WHERE time >= %(start)s AND time < %(end)s
GROUP BY b, series_id
ON CONFLICT (series_id, bucket) DO UPDATE SET min = excluded.min, max = excluded.max, avg = excluded.avg,
    last = excluded.last, count = excluded.count
"""


def _floor(t: datetime, width: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=t.tzinfo)
    return epoch + ((t - epoch) // width) * width


def refresh_rollups(conn: psycopg.Connection, now: datetime | None = None,
                    oldest_written: datetime | None = None) -> dict[str, int]:
    """Aggregate new complete buckets into each rollup; returns rows written per table.

    ``oldest_written`` is the oldest sample time stored since the last pass: samples later than the
    usual 10-minute look-back (a backlog re-sent after an outage) widen the pass back to it."""
    written = {}
    now = now or conn.execute("SELECT now()").fetchone()[0]
    for table, width in ROLLUPS.items():
        end = _floor(now, width)
        row = conn.execute("SELECT refreshed_until FROM rollup_state WHERE table_name = %s", (table,)).fetchone()
        if row is None:
            first = conn.execute("SELECT min(time) FROM samples").fetchone()[0]
            if first is None:
                continue
            start = _floor(first, width)
        else:
            start = _floor(min(row[0] - LATE, oldest_written or row[0]), width)
        if start >= end:
            continue
        with conn.transaction():
            cur = conn.execute(REFRESH.format(table=table), {"width": width, "start": start, "end": end})
            written[table] = cur.rowcount
            conn.execute("INSERT INTO rollup_state VALUES (%s, %s) ON CONFLICT (table_name) "
                         "DO UPDATE SET refreshed_until = excluded.refreshed_until", (table, end))
    return written


def apply_retention(conn: psycopg.Connection) -> dict[str, int]:
    """Drop the chunks older than each table's retention; returns chunks dropped per table."""
    dropped = {}
    for table, keep in conn.execute("SELECT table_name, keep FROM retention").fetchall():
        with conn.transaction():
            rows = conn.execute("SELECT drop_chunks(%s::regclass, older_than => %s)", (table, keep)).fetchall()
        dropped[table] = len(rows)
    return dropped


RETENTION_POLICY = ("SELECT remove_retention_policy(%(table)s::regclass, if_exists => true)",
                    "SELECT add_retention_policy(%(table)s::regclass, drop_after => %(keep)s::interval)")


def set_retention(conn: psycopg.Connection, keep: dict[str, timedelta], licensed: bool | None = None) -> None:
    """Set the retention of tables (samples, samples_1m, samples_5m, samples_1h).

    On the licensed edition (``licensed`` None: ask the database) each table's retention policy is
    replaced too; on the Apache edition the maintenance loop reads the ``retention`` table."""
    if licensed is None:
        licensed = edition(conn) == "timescale"
    for table, interval in keep.items():
        if table not in ("samples", *ROLLUPS):
            raise ValueError(f"retention: unknown table {table!r}")
        conn.execute("INSERT INTO retention VALUES (%s, %s) ON CONFLICT (table_name) "
                     "DO UPDATE SET keep = excluded.keep", (table, interval))
        for statement in RETENTION_POLICY if licensed else ():
            conn.execute(statement, {"table": table, "keep": interval})


class Maintenance:
    """Runs refresh_rollups and apply_retention every interval on its own connection."""

    def __init__(self, dsn: str, interval: float = 60.0, writer=None) -> None:
        self.dsn = dsn
        self.interval = interval
        self.writer = writer  # the sink's Writer, which knows the oldest sample stored since the last pass
        self.last_success: float = 0.0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="maintenance", daemon=True)

    def run_once(self) -> dict:
        """One pass; nothing to do on the licensed edition (policies run in the database)."""
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
            if edition(conn) == "timescale":
                return {}
            oldest = self.writer.take_oldest_written() if self.writer is not None else None
            try:
                rollups = refresh_rollups(conn, oldest_written=oldest)
            except psycopg.Error:
                if oldest is not None and self.writer is not None:
                    self.writer.note_written(oldest)  # keep the widening for the next pass
                raise
            return {"rollups": rollups, "retention": apply_retention(conn)}

    def start(self) -> None:
        """Start the loop."""
        self._thread.start()

    def _run(self) -> None:
        import time

        while not self._stop.wait(self.interval):
            try:
                self.run_once()
                self.last_success = time.time()
            except psycopg.Error as exc:
                self.errors += 1
                log.warning("maintenance pass failed: %s", redact(str(exc), self.dsn))

    def stop(self) -> None:
        """Stop the loop."""
        self._stop.set()
