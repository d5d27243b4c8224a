"""A fast walk of the remote-write 1.0 wire format for the shape Prometheus sends.

Prometheus encodes each ``TimeSeries`` as its labels (field 1) followed by its samples (field 2),
and each ``Sample`` as its value (field 1, fixed64) and timestamp (field 2, varint). This walk
slices every series into the raw bytes of its label block (a cache key: the same series always
has the same bytes) and its samples, without building a Python object per label. It accepts
only that shape with every timestamp in range; for anything else (other fields, another order,
truncation, a timestamp outside 1970..9999, more series than allowed) it answers None, and the
caller falls back to the full protobuf decoder, which gives the precise result or error.
"""

from __future__ import annotations

import struct
from collections.abc import Container

STALE_BYTES = struct.pack("<Q", 0x7FF0000000000002)  # Prometheus's stale marker, a NaN, as encoded
ZERO_BYTES = bytes(8)  # a value of 0.0, which proto3 leaves out
MAX_TS_MS = 253_402_300_799_000
_double = struct.Struct("<d").unpack


class Walked:
    """One request walked: label blocks per series, and per sample its series index, time and value."""

    __slots__ = ("index", "keys", "stale", "times", "values")

    def __init__(self) -> None:
        self.keys: list[bytes] = []
        self.index: list[int] = []
        self.times: list[int] = []
        self.values: list[float] = []
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
