"""Decoding and validating remote-write requests (1.0 and 2.0) into series and samples.

A request is checked whole before anything is stored: a bad request changes nothing. Errors carry
the HTTP status the spec asks for (400 malformed or invalid, 413 too large, 415 unsupported) and a
message saying what was wrong and how many series it hit.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

import cramjam
from google.protobuf.message import DecodeError as ProtobufDecodeError

from gpuhealth.sink.proto import RequestV2, TimeSeries, WriteRequest
from gpuhealth.sink.wire import MAX_TS_MS, walk_known_v1, walk_v1

STALE_NAN_BITS = 0x7FF0000000000002
# timestamps PostgreSQL's timestamptz can hold and that make sense for monitoring: years 1970 to 9999
MIN_TS_MS = 0
V1_TYPES = ("", "prometheus.WriteRequest")
V2_TYPE = "io.prometheus.write.v2.Request"


class RequestError(Exception):
    """A request the sink refuses, with the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Limits:
    """Bounds on one request."""

    max_body_bytes: int = 16 * 1024 * 1024  # compressed
    max_decoded_bytes: int = 128 * 1024 * 1024
    max_series: int = 200_000
    max_label_value_bytes: int = 16 * 1024
    max_labels: int = 64


@dataclass
class Batch:
    """A decoded request, in columns.

    Per series: its cache key (the raw label block for 1.0 requests that took the fast path, else the
    labels), its id where the ``known`` map given to decode() had it, else its labels (sorted pairs).
    Per sample: its series index, timestamp (ms) and value. Stale markers are counted, not kept.
    """

    version: int
    keys: list[Hashable] = field(default_factory=list)
    ids: list[int | None] = field(default_factory=list)
    series: list[tuple[tuple[str, str], ...] | None] = field(default_factory=list)
    index: list[int] = field(default_factory=list)
    times: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    stale: int = 0
    histograms: int = 0
    exemplars: int = 0

    @classmethod
    def of(cls, version: int, series: list[tuple[tuple[str, str], ...]],
           samples: list[list[tuple[int, float]]]) -> Batch:
        """A batch from labels and (timestamp ms, value) samples per series."""
        batch = cls(version=version)
        for labels, pairs in zip(series, samples, strict=True):
            batch.add_series(tuple(labels), pairs)
        return batch

    def add_series(self, labels: tuple[tuple[str, str], ...], pairs: list[tuple[int, float]]) -> None:
        """Append one series (keyed by its labels) and its samples."""
        i = len(self.keys)
        self.keys.append(labels)
        self.ids.append(None)
        self.series.append(labels)
        for t, v in pairs:
            self.index.append(i)
            self.times.append(t)
            self.values.append(v)

    @property
    def samples(self) -> list[list[tuple[int, float]]]:
        """The (timestamp ms, value) samples of each series, in order."""
        out: list[list[tuple[int, float]]] = [[] for _ in self.keys]
        for i, t, v in zip(self.index, self.times, self.values, strict=True):
            out[i].append((t, v))
        return out

    @property
    def sample_count(self) -> int:
        """Float samples to store (stale markers excluded)."""
        return len(self.times)


def protocol_version(content_type: str | None) -> int:
    """1 or 2 from the Content-Type header; RequestError(415) for anything else."""
    if not content_type:
        raise RequestError(415, "missing Content-Type: expected application/x-protobuf")
    parts = [p.strip() for p in content_type.split(";")]
    if parts[0].lower() != "application/x-protobuf":
        raise RequestError(415, f"unsupported Content-Type {parts[0]!r}: expected application/x-protobuf")
    proto = ""
    for p in parts[1:]:
        k, _, v = p.partition("=")
        if k.strip().lower() == "proto":
            proto = v.strip().strip('"')
    if proto in V1_TYPES:
        return 1
    if proto == V2_TYPE:
        return 2
    raise RequestError(415, f"unsupported proto {proto!r}: expected prometheus.WriteRequest or {V2_TYPE}")


def is_stale(value: float) -> bool:
    """Whether a value is Prometheus's stale marker (a particular NaN)."""
    return math.isnan(value) and struct.unpack("<Q", struct.pack("<d", value))[0] == STALE_NAN_BITS


def decompress(body: bytes, encoding: str | None, limits: Limits) -> bytes:
    """The protobuf bytes of a snappy block-compressed body."""
    if (encoding or "").strip().lower() != "snappy":
        raise RequestError(415, f"unsupported Content-Encoding {encoding!r}: expected snappy")
    if len(body) > limits.max_body_bytes:
        raise RequestError(413, f"body of {len(body)} bytes exceeds the limit of {limits.max_body_bytes}")
    try:
        n = cramjam.snappy.decompress_raw_len(body)
    except Exception as exc:
        raise RequestError(400, f"corrupt snappy block: {exc}") from None
    if n > limits.max_decoded_bytes:
        raise RequestError(413, f"decoded body of {n} bytes exceeds the limit of {limits.max_decoded_bytes}")
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except Exception as exc:
        raise RequestError(400, f"corrupt snappy block: {exc}") from None


def _check_labels(labels: list[tuple[str, str]], limits: Limits, problems: dict[str, int]) -> bool:
    ok = True
    names = [k for k, _ in labels]
    if not labels:
        problems["series without labels"] = problems.get("series without labels", 0) + 1
        return False
    if len(labels) > limits.max_labels:
        problems[f"more than {limits.max_labels} labels"] = problems.get(f"more than {limits.max_labels} labels", 0) + 1
        ok = False
    if any(not k for k in names) or any(not v for _, v in labels):
        problems["empty label name or value"] = problems.get("empty label name or value", 0) + 1
        ok = False
    if names != sorted(names):
        problems["labels not sorted by name"] = problems.get("labels not sorted by name", 0) + 1
        ok = False
    if len(set(names)) != len(names):
        problems["duplicate label names"] = problems.get("duplicate label names", 0) + 1
        ok = False
    if any(len(v.encode()) > limits.max_label_value_bytes for _, v in labels):
        key = f"label value over {limits.max_label_value_bytes} bytes"
        problems[key] = problems.get(key, 0) + 1
        ok = False
    if "__name__" not in names:
        problems["no __name__ label"] = problems.get("no __name__ label", 0) + 1
        ok = False
    return ok


def decode(raw: bytes, version: int, limits: Limits, known: Mapping[Hashable, int] | None = None) -> Batch:
    """Parse and validate a decompressed request; RequestError(400/413) when it is not acceptable.

    ``known`` maps series keys (see Batch) to their ids: a 1.0 series whose label block is known was
    validated when it was first seen, so it skips validation and gets its id here. The result is
    the same as decode_full's, whichever path a request takes."""
    if version == 1:
        batch = _decode_v1_fast(raw, limits, known or {})
        if batch is not None:
            return batch
    return decode_full(raw, version, limits)


def _labels_of(block: bytes) -> list[tuple[str, str]] | None:
    try:
        return [(lb.name, lb.value) for lb in TimeSeries.FromString(block).labels]
    except (ProtobufDecodeError, RuntimeError, ValueError):
        return None


def _decode_v1_fast(raw: bytes, limits: Limits, known: Mapping[Hashable, int]) -> Batch | None:
    """The batch of a 1.0 request in the shape Prometheus sends, or None for decode_full to decide."""
    walked = walk_known_v1(raw, limits.max_series, known) if known else None
    if walked is not None:
        return Batch(version=1, keys=walked.keys, ids=walked.ids, series=[None] * len(walked.keys),
                     index=walked.index, times=walked.times, values=walked.values, stale=walked.stale)
    walked = walk_v1(raw, limits.max_series, known)
    if walked is None:
        return None
    keys = walked.keys
    get = known.get
    ids = [get(k) for k in keys]
    series: list[tuple[tuple[str, str], ...] | None] = [None] * len(keys)
    if None in ids:
        new: dict[bytes, tuple[tuple[str, str], ...]] = {}
        for i, sid in enumerate(ids):
            if sid is not None:
                continue
            key = keys[i]
            labels = new.get(key)
            if labels is None:
                parsed = _labels_of(key)
                if parsed is None or not _check_labels(parsed, limits, {}):
                    return None
                labels = new[key] = tuple(parsed)
            series[i] = labels
    return Batch(version=1, keys=keys, ids=ids, series=series, index=walked.index, times=walked.times,
                 values=walked.values, stale=walked.stale)


def decode_full(raw: bytes, version: int, limits: Limits) -> Batch:
    """Parse and validate a decompressed request with protobuf; RequestError(400/413) when not acceptable."""
    try:
        msg = (WriteRequest if version == 1 else RequestV2).FromString(raw)
    except (ProtobufDecodeError, RuntimeError, ValueError) as exc:
        raise RequestError(400, f"malformed protobuf for remote write {version}.0: {exc}") from None
    if len(msg.timeseries) > limits.max_series:
        raise RequestError(413, f"{len(msg.timeseries)} series in one request exceed the limit of {limits.max_series}")
    batch = Batch(version=version)
    problems: dict[str, int] = {}
    symbols = list(msg.symbols) if version == 2 else []
    if version == 2 and msg.timeseries and (not symbols or symbols[0] != ""):
        raise RequestError(400, "symbols[0] must be the empty string")
    for ts in msg.timeseries:
        if version == 1:
            labels = [(lb.name, lb.value) for lb in ts.labels]
        else:
            refs = list(ts.labels_refs)
            if len(refs) % 2 or any(r >= len(symbols) for r in refs):
                problems["labels_refs out of the symbol table"] = problems.get("labels_refs out of the symbol table",
                                                                               0) + 1
                continue
            labels = [(symbols[refs[i]], symbols[refs[i + 1]]) for i in range(0, len(refs), 2)]
        batch.histograms += len(ts.histograms)
        batch.exemplars += len(ts.exemplars)
        if not _check_labels(labels, limits, problems):
            continue
        samples = []
        bad_time = False
        for s in ts.samples:
            if not MIN_TS_MS <= s.timestamp <= MAX_TS_MS:
                bad_time = True
                continue
            if is_stale(s.value):
                batch.stale += 1
                continue
            samples.append((s.timestamp, s.value))
        if bad_time:
            key = "timestamps outside 1970..9999"
            problems[key] = problems.get(key, 0) + 1
            continue
        batch.add_series(tuple(labels), samples)
    if problems:
        what = "; ".join(f"{n} series with {p}" for p, n in problems.items())
        raise RequestError(400, f"invalid remote-write request, nothing stored: {what}")
    return batch
