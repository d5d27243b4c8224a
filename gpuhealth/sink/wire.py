"""A fast walk of the remote-write 1.0 wire format for the shape Prometheus sends.

Prometheus encodes each ``TimeSeries`` as its labels (field 1) followed by its samples (field 2),
and each ``Sample`` as its value (field 1, fixed64) and timestamp (field 2, varint). This walk
slices every series into the raw bytes of its label block (a cache key: the same series always
has the same bytes) and its samples, without building a Python object per label. It accepts
only that shape with every timestamp in range; for anything else (other fields, another order,
truncation, a timestamp outside 1970..9999, more series than allowed) it answers None, and the
caller falls back to the full protobuf decoder, which gives the precise result or error.
walk_known_v1 is the same walk for the steady state (every series known, one sample each), with
the samples read by numpy.
"""

from __future__ import annotations

import struct
from collections.abc import Container, Mapping

import numpy as np

STALE_BITS = 0x7FF0000000000002  # Prometheus's stale marker, a NaN
STALE_BYTES = struct.pack("<Q", STALE_BITS)  # ... as encoded
ZERO_BYTES = bytes(8)  # a value of 0.0, which proto3 leaves out
MAX_TS_MS = 253_402_300_799_000  # 9999-12-31T23:59:59Z
_double = struct.Struct("<d").unpack
_SHIFTS = np.arange(6, dtype=np.int64) * 7
_SIX, _EIGHT = np.arange(6), np.arange(8)


class Walked:
    """One request walked: label blocks per series (and their ids where all were known), and per sample
    its series index, time and value (lists, or numpy arrays from walk_known_v1)."""

    __slots__ = ("ids", "index", "keys", "stale", "times", "values")

    def __init__(self) -> None:
        self.keys: list[bytes] = []
        self.ids: list[int | None] | None = None
        self.index: list[int] | np.ndarray = []
        self.times: list[int] | np.ndarray = []
        self.values: list[float] | np.ndarray = []
        self.stale = 0


def _varint(buf: bytes, p: int) -> tuple[int, int]:
    """The unsigned varint at p and the position after it; ValueError past 10 bytes."""
    result = shift = 0
    while True:
        b = buf[p]
        p += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, p
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def walk_v1(raw: bytes, max_series: int, known: Container[bytes] = ()) -> Walked | None:
    """Slice a decompressed 1.0 ``WriteRequest``; None whenever the full decoder must decide.

    ``known``: label blocks seen before. A series made of a known block and one sample (Prometheus's
    usual shape) is read without walking its labels: the known block is a run of whole label
    fields, so a series that starts with it and ends with one sample field has exactly that shape."""
    out = Walked()
    keys, index, times, values = out.keys, out.index, out.times, out.values
    n = len(raw)
    p = 0
    try:
        while p < n:
            if raw[p] != 0x0A:  # WriteRequest.timeseries; metadata or anything else: full decoder
                return None
            b = raw[p + 1]
            if b < 0x80:
                size, p = b, p + 2
            elif raw[p + 2] < 0x80:
                size, p = (b & 0x7F) | (raw[p + 2] << 7), p + 3
            else:
                size, p = _varint(raw, p + 1)
            end = p + size
            if end > n:
                return None
            q = end - 18  # where one sample field with a 6-byte timestamp (years 2001..2284) would start
            if raw[q] == 0x12 and raw[q + 1] == 16 and raw[q + 2] == 0x09 and raw[q + 11] == 0x10 and q >= p:
                key = raw[p:q]
                if key in known:
                    ts, r = _varint(raw, q + 12)
                    if r == end and ts <= MAX_TS_MS:
                        if len(keys) >= max_series:
                            return None
                        vbytes = raw[q + 3:q + 11]
                        if vbytes == STALE_BYTES:
                            out.stale += 1
                        else:
                            index.append(len(keys))
                            times.append(ts)
                            values.append(_double(vbytes)[0])
                        keys.append(key)
                        p = end
                        continue
            q = p
            while q < end and raw[q] == 0x0A:  # the labels, each a length-delimited Label
                b = raw[q + 1]
                if b < 0x80:
                    q += 2 + b
                else:
                    size, q = _varint(raw, q + 1)
                    q += size
            if q > end:
                return None
            i = len(keys)
            if i >= max_series:
                return None
            keys.append(raw[p:q])
            while q < end:  # the samples
                if raw[q] != 0x12:
                    return None
                b = raw[q + 1]
                if b < 0x80:
                    s_end, q = q + 2 + b, q + 2
                else:
                    size, q = _varint(raw, q + 1)
                    s_end = q + size
                if s_end > end:
                    return None
                vbytes, ts = ZERO_BYTES, 0
                while q < s_end:
                    tag = raw[q]
                    if tag == 0x09:
                        vbytes = raw[q + 1:q + 9]
                        q += 9
                    elif tag == 0x10:
                        ts, q = _varint(raw, q + 1)
                    else:
                        return None
                if q != s_end or ts > MAX_TS_MS:  # a negative int64 reads as a huge unsigned one
                    return None
                if vbytes == STALE_BYTES:
                    out.stale += 1
                    continue
                index.append(i)
                times.append(ts)
                values.append(_double(vbytes)[0])
            p = end
    except (IndexError, ValueError):
        return None
    return out


def walk_known_v1(raw: bytes, max_series: int, known: Mapping[bytes, int]) -> Walked | None:
    """The steady state, vectorized: every series known and holding one sample with a 6-byte timestamp.

    A series' one sample field is its last 18 bytes (``0x12 16 0x09 <8-byte value> 0x10 <6-byte
    timestamp>``) or, when the value is 0 and so left out, its last 9 (``0x12 7 0x10 <timestamp>``).
    Python only finds where each series ends and looks up the label block before that field; numpy
    checks every sample field and reads them all. None (the caller then runs walk_v1) as soon as any
    series is not of that shape or its label block is not known. A known block is a run of whole
    label fields, so a series made of one and then one sample field has exactly that structure."""
    n = len(raw)
    p = 0
    get = known.get
    keys: list[bytes] = []
    ids: list[int] = []
    ends: list[int] = []
    zeros: list[bool] = []
    try:
        while p < n:
            b = raw[p + 1]
            if raw[p] != 0x0A or (b >= 0x80 and raw[p + 2] >= 0x80):
                return None
            if b < 0x80:
                p += 2
                end = p + b
            else:
                p += 3
                end = p + ((b & 0x7F) | (raw[p - 1] << 7))
            if len(keys) == max_series:
                return None
            sid = None
            if end - 18 >= p and raw[end - 18] == 0x12 and raw[end - 17] == 16:
                key = raw[p:end - 18]
                sid = get(key)
                zero = False
            if sid is None and end - 9 >= p and raw[end - 9] == 0x12 and raw[end - 8] == 7:
                key = raw[p:end - 9]
                sid = get(key)
                zero = True
            if sid is None:
                return None
            keys.append(key)
            ids.append(sid)
            ends.append(end)
            zeros.append(zero)
            p = end
    except IndexError:
        return None
    if p != n or not keys:
        return None
    buf = np.frombuffer(raw, dtype=np.uint8)
    e = np.array(ends, dtype=np.intp)
    z = np.array(zeros, dtype=bool)
    tsb = buf[(e - 6)[:, None] + _SIX]  # the field's tag and length were checked above; now the rest
    ok = ((z | (buf[e - 16] == 0x09)) & (buf[e - 7] == 0x10) & (tsb[:, :5] >= 0x80).all(axis=1) & (tsb[:, 5] < 0x80))
    if not ok.all():
        return None
    times = ((tsb & 0x7F).astype(np.int64) << _SHIFTS).sum(axis=1)  # at most 2**42: always in range
    bits = buf[np.maximum(e - 15, 0)[:, None] + _EIGHT].view("<u8").ravel()
    bits[z] = 0
    live = bits != STALE_BITS
    out = Walked()
    out.keys, out.ids = keys, ids
    out.stale = len(keys) - int(live.sum())
    out.index = np.flatnonzero(live)
    out.times = times[live]
    out.values = bits[live].view("<f8")
    return out
