"""Remote-write ingest into TimescaleDB through the gpuhealth sink, beside two baselines, in one run.

A load generator speaks remote write 1.0 exactly as Prometheus does: each request is a snappy
block-compressed ``WriteRequest`` of 2,000 series with one sample each, labels sorted by name,
with ``Content-Encoding: snappy``, ``Content-Type: application/x-protobuf``,
``X-Prometheus-Remote-Write-Version: 0.1.0`` and a User-Agent, over keep-alive connections, one
per shard (thread), several shards at once. Each shard owns a fixed set of series (as Prometheus
hashes a series to one shard), sends them in batches of 2,000 and, once it has sent them all,
starts the next "scrape": the same series, timestamps 10 s later. The series are dcgm-exporter's
families (gpuhealth.catalog.FIELDS) with its per-GPU labels for a simulated fleet. The bodies are
the bytes protobuf serializes (checked at start-up); they are built per request from cached
per-series prefixes, so the generator's own cost is small (printed). About half the families
(error and violation counters, encoder/decoder use) are 0 on a healthy GPU, so their samples carry
no value field, as Prometheus encodes a 0.

Measured, each for --seconds after one untimed warm-up scrape of every series:

a) the gpuhealth sink, started as ``python -m gpuhealth sink`` on a fresh TimescaleDB
   (stack.Postgres + gpuhealth.sink.migrate);
b) baseline 1: Prometheus's own receiver (``--web.enable-remote-write-receiver``), same generator;
c) baseline 2: a bare binary COPY of the same rows (time, series_id, value) into the same samples
   table (same schema, unique index included) from psycopg, one connection and one transaction of
   2,000 rows per shard batch: the physical limit of this machine;

then the p99 request latency through the sink at a steady 50,000 samples/s (open-loop: each
shard sends on a fixed schedule), and bytes per sample on disk after a maintenance pass (rollups
refreshed, retention applied). Stored rows are counted against the acknowledged samples: nothing
lost, nothing duplicated.

Targets: >= 100,000 samples/s and >= 0.5x Prometheus's receiver; p99 <= 1 s at 50,000 samples/s.

    .venv/bin/python benchmarks/sink.py [--seconds 25] [--shards 4] [--latency-seconds 20]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cramjam
import numpy as np
import psycopg
import requests
from tqdm import tqdm

from gpuhealth import stack
from gpuhealth.catalog import FIELDS, GpuIdentity
from gpuhealth.sink.maintenance import Maintenance
from gpuhealth.sink.migrate import migrate
from gpuhealth.sink.proto import WriteRequest

BATCH = 2000
SCRAPE_MS = 10_000
HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
           "X-Prometheus-Remote-Write-Version": "0.1.0", "User-Agent": "Prometheus/2.42.0"}
TARGET_RATE = 100_000
TARGET_RATIO = 0.5
TARGET_P99_S = 1.0
ZERO_FAMILIES = ("ECC", "RETIRED", "REMAP", "REPLAY", "ERROR", "VIOLATION", "ENC_UTIL", "DEC_UTIL", "THROTTLE",
                 "VGPU")
MODELS = ("NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    return bytes([tag]) + _varint(len(payload)) + payload


def fleet_series(n_series: int) -> list[list[tuple[str, str]]]:
    """n_series realistic label sets: every dcgm-exporter family for as many simulated GPUs as needed."""
    out = []
    gpu = 0
    while len(out) < n_series:
        node, index = divmod(gpu, 8)
        ident = GpuIdentity(index=index, uuid=f"GPU-{gpu:08x}-5c1e-4a7b-9d2e-{node:012x}",
                            model_name=MODELS[node % 2], pci_bus_id=f"00000000:{0x18 + index * 0x10:02X}:00.0",
                            hostname=f"gpu-node-{node:04d}", driver_version="550.54.15")
        base = ident.labels()
        base.update(instance=f"gpu-node-{node:04d}:9400", job="dcgm")
        for f in FIELDS:
            if len(out) == n_series:
                break
            out.append(sorted({**base, "__name__": f.name}.items()))
        gpu += 1
    return out


@dataclass
class Shard:
    """One shard's series (label prefixes and base values) and where its next batch starts."""

    prefixes: list[bytes]
    bases: list[float]
    ids: list[int]
    cycle: int = 0
    pos: int = 0

    def next_batch(self) -> tuple[int, int, list[int]]:
        """(cycle, start index, length) of the next 2,000 series; advances the cursor."""
        cycle, start = self.cycle, self.pos
        n = min(BATCH, len(self.prefixes) - start)
        self.pos += n
        if self.pos >= len(self.prefixes):
            self.pos, self.cycle = 0, self.cycle + 1
        return cycle, start, n


class Generator:
    """Prometheus-shaped remote-write bodies for a fixed set of series, sharded."""

    def __init__(self, series: list[list[tuple[str, str]]], shards: int, t0_ms: int) -> None:
        self.series = series
        self.t0_ms = t0_ms
        self.n_shards = shards
        self.labels_bytes = [b"".join(_field(0x0A, _field(0x0A, k.encode()) + _field(0x12, v.encode()))
                                      for k, v in labels) for labels in series]
        # error and violation counters, encoder/decoder use and the like are 0 on a healthy GPU: their
        # samples go without a value field, as protobuf leaves out a 0
        self.bases = [0.0 if any(w in dict(labels)["__name__"] for w in ZERO_FAMILIES) else 20.0 + (i * 37) % 60 + 0.5
                      for i, labels in enumerate(series)]

    def shards(self) -> list[Shard]:
        """Fresh shard cursors (series i goes to shard i mod shards); ids are 1-based series ids."""
        out = []
        for s in range(self.n_shards):
            idx = list(range(s, len(self.series), self.n_shards))
            out.append(Shard([self.labels_bytes[i] for i in idx], [self.bases[i] for i in idx], [i + 1 for i in idx]))
        return out

    def timestamp(self, cycle: int) -> int:
        """The sample timestamp (ms) of a scrape cycle."""
        return self.t0_ms + cycle * SCRAPE_MS

    @staticmethod
    def value(base: float, cycle: int, i: int) -> float:
        """0 for a series whose base is 0, else a non-zero gauge value that moves between scrapes."""
        return base and base + ((cycle * 7 + i) % 13) * 0.25

    def body(self, shard: Shard, cycle: int, start: int, n: int) -> bytes:
        """The snappy-compressed WriteRequest protobuf for n series of a shard at a cycle."""
        tail = b"\x10" + _varint(self.timestamp(cycle))
        pack = struct.Struct("<d").pack
        parts = []
        for j in range(start, start + n):
            value = self.value(shard.bases[j], cycle, j)
            sample = b"\x09" + pack(value) + tail if value else tail
            parts.append(_field(0x0A, shard.prefixes[j] + _field(0x12, sample)))
        return bytes(cramjam.snappy.compress_raw(b"".join(parts)))

    def rows(self, shard: Shard, cycle: int, start: int, n: int) -> tuple[datetime, list[tuple[int, float]]]:
        """The same batch as (time, [(series_id, value)]) rows, for the COPY baseline."""
        when = datetime.fromtimestamp(self.timestamp(cycle) / 1000.0, UTC)
        return when, [(shard.ids[j], self.value(shard.bases[j], cycle, j)) for j in range(start, start + n)]


def check_generator(gen: Generator) -> None:
    """The hand-built bytes must be exactly what protobuf serializes for the same series (0 values included)."""
    shard = gen.shards()[0]
    raw = bytes(cramjam.snappy.decompress_raw(gen.body(shard, 3, 0, 50)))
    req = WriteRequest()
    for j in range(50):
        ts = req.timeseries.add()
        for k, v in gen.series[shard.ids[j] - 1]:
            ts.labels.add(name=k, value=v)
        ts.samples.add(value=gen.value(shard.bases[j], 3, j), timestamp=gen.timestamp(3))
    if req.SerializeToString() != raw:
        raise SystemExit("generator bug: its bytes differ from protobuf's serialization")


@dataclass
class Tally:
    """Acknowledged samples, request latencies and failures of one phase, shared by its shards."""

    samples: int = 0
    failures: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    behind: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _post(conn: http.client.HTTPConnection, path: str, body: bytes) -> int:
    conn.request("POST", path, body=body, headers=HEADERS)
    resp = conn.getresponse()
    resp.read()
    return resp.status


def http_shard(gen: Generator, shard: Shard, host: str, port: int, path: str, until: float, tally: Tally,
               interval: float | None, stop_after_cycle: int | None = None) -> None:
    """Send batches until the deadline (or a cycle completes); interval: seconds between batches (open loop)."""
    conn = http.client.HTTPConnection(host, port, timeout=60)
    next_at = time.perf_counter()
    while time.perf_counter() < until:
        if stop_after_cycle is not None and shard.cycle > stop_after_cycle:
            break
        if interval is not None:
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -interval:
                with tally.lock:
                    tally.behind += 1
            next_at += interval
        cycle, start, n = shard.next_batch()
        body = gen.body(shard, cycle, start, n)
        for attempt in range(20):  # Prometheus retries 5xx and network errors with a backoff
            t0 = time.perf_counter()
            try:
                status = _post(conn, path, body)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=60)
                status = 599
            dt = time.perf_counter() - t0
            if 200 <= status < 300:
                with tally.lock:
                    tally.samples += n
                    tally.latencies.append(dt)
                break
            with tally.lock:
                tally.failures[status] = tally.failures.get(status, 0) + 1
            if status < 500:
                break  # 4xx: Prometheus drops the batch
            time.sleep(min(0.03 * 2 ** attempt, 5))
    conn.close()


def copy_shard(gen: Generator, shard: Shard, dsn: str, until: float, tally: Tally,
               stop_after_cycle: int | None = None) -> None:
    """Baseline: the same batches as bare binary COPY into samples, one transaction each."""
    with psycopg.connect(dsn) as conn:
        while time.perf_counter() < until:
            if stop_after_cycle is not None and shard.cycle > stop_after_cycle:
                break
            cycle, start, n = shard.next_batch()
            t0 = time.perf_counter()
            when, rows = gen.rows(shard, cycle, start, n)
            with conn.transaction(), conn.cursor() as cur, \
                    cur.copy("COPY samples (time, series_id, value) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["timestamptz", "int8", "float8"])
                for sid, value in rows:
                    copy.write_row((when, sid, value))
            with tally.lock:
                tally.samples += n
                tally.latencies.append(time.perf_counter() - t0)


def run_phase(label: str, target, shards: list[Shard], seconds: float, rate: float | None = None) -> dict:
    """Warm up with one scrape of every series (untimed, only for unrated phases), then run for seconds."""
    warm = Tally()
    if rate is None:
        first = shards[0].cycle
        threads = [threading.Thread(target=target, args=(s, time.perf_counter() + 600, warm, None, first))
                   for s in shards]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if warm.failures:
            print(f"  {label}: warm-up failures {warm.failures}", file=sys.stderr)
    tally = Tally()
    interval = None if rate is None else BATCH * len(shards) / rate
    finished: list[float] = []

    def timed(*args) -> None:
        target(*args)
        finished.append(time.perf_counter())

    start = time.perf_counter()
    until = start + seconds
    threads = [threading.Thread(target=timed, args=(s, until, tally, interval)) for s in shards]
    for t in threads:
        t.start()
    with tqdm(total=int(seconds), desc=label, unit="s", disable=not sys.stderr.isatty(), leave=False) as bar:
        for t in threads:
            while t.is_alive():
                t.join(0.25)
                bar.update(min(int(time.perf_counter() - start), int(seconds)) - bar.n)
    elapsed = max(finished) - start  # when the last shard finished, not when this loop noticed
    lat = np.array(tally.latencies) if tally.latencies else np.array([float("nan")])
    return {"rate": tally.samples / elapsed, "samples": tally.samples, "elapsed": elapsed,
            "p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)), "max": float(lat.max()),
            "failures": tally.failures, "warm_samples": warm.samples, "behind": tally.behind,
            "requests": len(tally.latencies)}


def generator_rate(gen: Generator, seconds: float = 2.0) -> float:
    """Samples/s one thread can build (protobuf bytes + snappy) without sending: the generator's own cost."""
    shard = gen.shards()[0]
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        cycle, start, k = shard.next_batch()
        gen.body(shard, cycle, start, k)
        n += k
    return n / (time.perf_counter() - t0)


def start_sink(dsn: str, workdir) -> tuple[subprocess.Popen, int]:
    """`python -m gpuhealth sink` as a subprocess; returns it and its port once /-/ready answers."""
    port = stack.free_port()
    log = open(workdir / "sink.log", "ab")  # noqa: SIM115 - owned by the child
    proc = subprocess.Popen([sys.executable, "-m", "gpuhealth", "sink", "--db", dsn,
                             "--web.listen-address", f"127.0.0.1:{port}", "--maintenance-interval", "3600"],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"sink exited: {(workdir / 'sink.log').read_text()[-2000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"http://127.0.0.1:{port}/-/ready", timeout=2).status_code == 200:
                return proc, port
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("sink did not become ready within 60 s")


def process_usage(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) and peak resident memory (MB) of a running process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return cpu, peak / 1024


def disk_figures(dsn: str) -> dict:
    """Sizes of samples, rollups and the series catalog, and the stored row counts."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        q = conn.execute
        out = {"rows": q("SELECT count(*) FROM samples").fetchone()[0],
               "series": q("SELECT count(*) FROM series").fetchone()[0]}
        for t in ("samples", "samples_1m", "samples_5m", "samples_1h"):
            out[f"ht_{t}"] = q("SELECT hypertable_size(%s::regclass)", (t,)).fetchone()[0] or 0
            out[f"rel_{t}"] = q("SELECT pg_total_relation_size(%s::regclass) + coalesce(sum("
                                "pg_total_relation_size(c)), 0) FROM show_chunks(%s::regclass) c",
                                (t, t)).fetchone()[0]
            if t != "samples":
                out[f"rows_{t}"] = q(f"SELECT count(*) FROM {t}").fetchone()[0]
        out["series_bytes"] = q("SELECT pg_total_relation_size('series')").fetchone()[0]
    return out


def main() -> None:
    """Run the three ingest paths, the latency phase and the disk figures; print figures and ratios."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=25.0, help="timed seconds per ingest path")
    ap.add_argument("--shards", type=int, default=4, help="concurrent senders (threads), as Prometheus's shards")
    ap.add_argument("--series-per-shard", type=int, default=10_000)
    ap.add_argument("--latency-seconds", type=float, default=20.0)
    ap.add_argument("--latency-rate", type=float, default=50_000.0, help="samples/s in the latency phase")
    ap.add_argument("--fsync", action="store_true", help="run PostgreSQL with fsync on (stack default: off)")
    args = ap.parse_args()
    if args.shards < 1 or args.seconds <= 0 or args.series_per_shard < BATCH:
        ap.error(f"--shards >= 1, --seconds > 0 and --series-per-shard >= {BATCH} are required")

    series = fleet_series(args.shards * args.series_per_shard)
    t0_ms = (int(time.time()) - 3 * 3600) // 10 * 10 * 1000  # three hours ago, so that rollups cover it all
    gen = Generator(series, args.shards, t0_ms)
    check_generator(gen)
    gpus = len(series) // len(FIELDS)
    print(f"load uptime: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; "
          f"{len(series):,} series (~{gpus:,} GPUs x {len(FIELDS)} families), {args.shards} shards, "
          f"batches of {BATCH}, {args.seconds:.0f} s per path")
    gen_rate = generator_rate(gen)
    print(f"generator alone (build + snappy, one thread): {gen_rate:,.0f} samples/s")
    results: dict[str, dict] = {}
    work = stack.scratch_dir("bench-sink")
    try:
        # b) Prometheus's own receiver
        with stack.Prometheus(workdir=work / "prom", extra_args=["--web.enable-remote-write-receiver"]) as prom:
            prom.start()
            shards = gen.shards()
            results["prometheus"] = run_phase(
                "prometheus", lambda s, u, t, i, c=None: http_shard(gen, s, "127.0.0.1", prom.port, "/api/v1/write",
                                                                     u, t, i, c), shards, args.seconds)
        pg_settings = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"} if args.fsync else {}
        with stack.Postgres(workdir=work / "pg", settings=pg_settings) as pg:
            pg.start()
            migrate(pg.dsn)
            # a) the sink, then its latency at a steady rate, then maintenance and disk
            proc, port = start_sink(pg.dsn, work)
            try:
                shards = gen.shards()

                def sink_target(s, u, t, i, c=None):
                    http_shard(gen, s, "127.0.0.1", port, "/api/v1/write", u, t, i, c)

                cpu0, _ = process_usage(proc.pid)
                t_phase = time.perf_counter()
                results["sink"] = run_phase("sink", sink_target, shards, args.seconds)
                cpu1, _ = process_usage(proc.pid)
                t_mid = time.perf_counter()
                results["latency"] = run_phase("sink @ rate", sink_target, shards, args.latency_seconds,
                                               rate=args.latency_rate)
                cpu2, peak_mb = process_usage(proc.pid)
                usage = {"cores_sustained": (cpu1 - cpu0) / (t_mid - t_phase),
                         "cores_at_rate": (cpu2 - cpu1) / (time.perf_counter() - t_mid), "peak_rss_mb": peak_mb}
            finally:
                proc.terminate()
                proc.wait(20)
            acked = sum(results[k][f] for k in ("sink", "latency") for f in ("samples", "warm_samples"))
            sent_before = disk_figures(pg.dsn)["rows"]
            t = time.perf_counter()
            passed = Maintenance(pg.dsn).run_once()
            maint_s = time.perf_counter() - t
            with psycopg.connect(pg.dsn, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
            disk = disk_figures(pg.dsn)
            # c) bare binary COPY into a second database of the same server, same schema
            with psycopg.connect(pg.dsn.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
                conn.execute("CREATE DATABASE copybase")
            copy_dsn = pg.dsn.rsplit("/", 1)[0] + "/copybase"
            migrate(copy_dsn)
            with psycopg.connect(copy_dsn) as conn, conn.cursor() as cur, \
                    cur.copy("COPY series (id, metric, labels) FROM STDIN") as copy:
                for i, labels in enumerate(series, 1):
                    d = dict(labels)
                    copy.write_row((i, d["__name__"], json.dumps(d, sort_keys=True)))
            shards = gen.shards()
            results["copy"] = run_phase("copy", lambda s, u, t, i, c=None: copy_shard(gen, s, copy_dsn, u, t, c),
                                        shards, args.seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    s, p, c, lat = results["sink"], results["prometheus"], results["copy"], results["latency"]
    print()
    print("| path | samples/s | requests | p50 | p99 | failures |")
    print("|---|---|---|---|---|---|")
    for name, r in (("gpuhealth sink -> TimescaleDB", s), ("Prometheus receiver (baseline 1)", p),
                    ("bare binary COPY (baseline 2)", c)):
        print(f"| {name} | {r['rate']:,.0f} | {r['requests']} | {r['p50'] * 1000:.0f} ms | "
              f"{r['p99'] * 1000:.0f} ms | {r['failures'] or 0} |")
    print()
    print(f"sink: {s['rate']:,.0f} samples/s = {s['rate'] / p['rate']:.2f}x Prometheus's receiver "
          f"(target >= {TARGET_RATIO}x), {s['rate'] / c['rate']:.2f}x bare COPY, "
          f"{s['rate'] / TARGET_RATE:.2f}x the {TARGET_RATE:,} samples/s target")
    print(f"latency at {args.latency_rate:,.0f} samples/s offered: achieved {lat['rate']:,.0f}/s, "
          f"p50 {lat['p50'] * 1000:.0f} ms, p99 {lat['p99'] * 1000:.0f} ms, max {lat['max'] * 1000:.0f} ms "
          f"({lat['p99'] / TARGET_P99_S:.2f}x the {TARGET_P99_S:.0f} s target); batches late by more than "
          f"one interval: {lat['behind']}; failures {lat['failures'] or 0}")
    print(f"sink process: {usage['cores_sustained']:.2f} cores while sustaining {s['rate']:,.0f} samples/s, "
          f"{usage['cores_at_rate']:.2f} cores at {lat['rate']:,.0f} samples/s, peak RSS {usage['peak_rss_mb']:.0f} MB "
          "(what deploy/kubernetes/sink.yaml requests)")
    print(f"stored rows {disk['rows']:,} vs acknowledged samples {acked:,} (before maintenance {sent_before:,}): "
          f"{'equal' if disk['rows'] == acked else 'MISMATCH'}")
    rollups = sum(disk[f"ht_{t}"] for t in ("samples_1m", "samples_5m", "samples_1h"))
    rel = sum(disk[f"rel_{t}"] for t in ("samples", "samples_1m", "samples_5m", "samples_1h"))
    n = disk["rows"]
    print(f"maintenance pass {maint_s:.1f} s: {passed}; rollup rows 1m {disk['rows_samples_1m']:,}, "
          f"5m {disk['rows_samples_5m']:,}, 1h {disk['rows_samples_1h']:,}")
    print(f"disk: hypertable_size(samples) {disk['ht_samples'] / 1e6:.1f} MB = {disk['ht_samples'] / n:.1f} B/sample; "
          f"+ rollups {rollups / 1e6:.1f} MB = {(disk['ht_samples'] + rollups) / n:.1f} B/sample; "
          f"pg_total_relation_size over samples + rollups and their chunks {rel / n:.1f} B/sample; "
          f"series catalog {disk['series_bytes'] / 1e6:.1f} MB for {disk['series']:,} series")
    print(f"load at end: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
