"""Building remote-write requests as Prometheus sends them, for the sink's tests and benchmark."""

from __future__ import annotations

import cramjam

from gpuhealth.sink.proto import RequestV2, WriteRequest

V1_HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
              "X-Prometheus-Remote-Write-Version": "0.1.0", "User-Agent": "gpuhealth-test"}
V2_HEADERS = {**V1_HEADERS, "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request",
              "X-Prometheus-Remote-Write-Version": "2.0.0"}


def v1_body(series: list[tuple[list[tuple[str, str]], list[tuple[int, float]]]], compress: bool = True) -> bytes:
    """A snappy-compressed WriteRequest of (labels, [(ts_ms, value)]) series."""
    req = WriteRequest()
    for labels, samples in series:
        ts = req.timeseries.add()
        for k, v in labels:
            ts.labels.add(name=k, value=v)
        for t, v in samples:
            ts.samples.add(timestamp=t, value=v)
    raw = req.SerializeToString()
    return bytes(cramjam.snappy.compress_raw(raw)) if compress else raw


def v2_body(series: list[tuple[list[tuple[str, str]], list[tuple[int, float]]]]) -> bytes:
    """A snappy-compressed io.prometheus.write.v2.Request with its symbol table."""
    symbols = [""]
    index = {"": 0}

    def ref(s: str) -> int:
        if s not in index:
            index[s] = len(symbols)
            symbols.append(s)
        return index[s]

    req = RequestV2()
    for labels, samples in series:
        ts = req.timeseries.add()
        for k, v in labels:
            ts.labels_refs.extend([ref(k), ref(v)])
        for t, v in samples:
            ts.samples.add(timestamp=t, value=v)
    req.symbols.extend(symbols)
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))
