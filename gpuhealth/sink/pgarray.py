"""PostgreSQL one-dimensional arrays in the binary wire format, built with numpy and sent as parameters.

A whole batch of samples goes to the server as three array parameters of one
``INSERT ... SELECT FROM unnest(...)`` statement: one round trip, one implicit transaction, and no
per-value work in Python.
"""

from __future__ import annotations

import struct

import numpy as np
import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format

PG_EPOCH_MS = 946_684_800_000  # 2000-01-01 UTC, the origin of the binary timestamptz (microseconds)


class PgArray(bytes):
    """An array already encoded in the binary format; subclasses name its type."""

    oid = 0  # the array type
    elem_oid = 0
    elem = np.dtype(">i8")

    @classmethod
    def of(cls, values: np.ndarray) -> PgArray:
        """The array holding ``values`` (no NULLs), converted to the element type."""
        n = len(values)
        body = np.empty(n, dtype=[("len", ">i4"), ("v", cls.elem)])
        body["len"] = cls.elem.itemsize
        body["v"] = values
        return cls(struct.pack(">iiiii", 1, 0, cls.elem_oid, n, 1) + body.tobytes())


class Int8Array(PgArray):
    """bigint[]."""

    oid, elem_oid, elem = 1016, 20, np.dtype(">i8")


class Float8Array(PgArray):
    """double precision[]."""

    oid, elem_oid, elem = 1022, 701, np.dtype(">f8")


class TimestamptzArray(PgArray):
    """timestamptz[]; build it with from_ms."""

    oid, elem_oid, elem = 1185, 1184, np.dtype(">i8")

    @classmethod
    def from_ms(cls, ms: np.ndarray) -> TimestamptzArray:
        """The array of the instants ``ms`` (milliseconds since 1970)."""
        return cls.of((np.asarray(ms, dtype=np.int64) - PG_EPOCH_MS) * 1000)


class _PgArrayDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj: PgArray) -> bytes:
        return obj


def register(conn: psycopg.Connection) -> None:
    """Let a connection send PgArray parameters (use the %b placeholder)."""
    for cls in (Int8Array, Float8Array, TimestamptzArray):
        conn.adapters.register_dumper(cls, type(f"{cls.__name__}Dumper", (_PgArrayDumper,), {"oid": cls.oid}))
