"""Scrape latency and CPU per scrape of the exporter, for 8 and 64 simulated GPUs, against a baseline.

The exporter under test is the real one: :class:`gpuhealth.exporter.poller.Poller` over the
``sim`` backend and :func:`gpuhealth.exporter.server.serve`, in this process. A client in a child
process scrapes ``/metrics`` sequentially as Prometheus does (``Accept-Encoding: gzip``, a new
connection per scrape) and times each request; the CPU this process spends meanwhile, divided by
the scrapes, is the CPU per scrape (the poller is paused: its interval is an hour).

Baseline, in the same run: prometheus_client's own exposition of the same families, built fresh
per scrape by a custom collector that yields GaugeMetricFamily/CounterMetricFamily from the same
Reading (label values prepared once, as the exporter prepares its label strings once), served by
prometheus_client's ``start_http_server``; and ``generate_latest`` alone, timed per call.

Background polling: CPU time of ``Poller.poll_once`` (read the simulated fleet through every collector,
render both formats, gzip them) for 8 GPUs, as a share of one core at the default 10 s interval. On the
sim backend the collectors call the simulated NVML (gpuhealth/sim/nvml.py), so the read is the
simulator's step plus the collectors' own work, not NVML's; scripts/nvml_check.sh measures NVML on a
real GPU.

Targets: p99 <= 5 ms at 8 GPUs, <= 20 ms at 64; polling <= 1 % of one core at 10 s for 8 GPUs.

    .venv/bin/python benchmarks/exporter.py [--scrapes 400]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from gpuhealth import __version__
from gpuhealth.catalog import CLOCK_EVENT_ACTIVE, CLOCK_EVENT_REASONS, GPU_INFO, GPU_UP, XID_ERRORS_TOTAL
from gpuhealth.exporter.backends.sim import SimBackend
from gpuhealth.exporter.collectors import COLLECTORS
from gpuhealth.exporter.exposition import Renderer
from gpuhealth.exporter.poller import Poller
from gpuhealth.exporter.reading import Reading
from gpuhealth.exporter.server import serve

ALL = set(COLLECTORS)
TARGET_P99_MS = {8: 5.0, 64: 20.0}

CLIENT = r"""
import http.client, json, sys, time
host, port, path, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
out = []
for i in range(n + 10):
    t0 = time.perf_counter()
    c = http.client.HTTPConnection(host, port, timeout=10)
    c.request("GET", path, headers={"Accept-Encoding": "gzip"})
    r = c.getresponse(); body = r.read(); c.close()
    assert r.status == 200 and body, r.status
    if i >= 10:
        out.append(time.perf_counter() - t0)
print(json.dumps(out))
"""


class ClientCollector:
    """prometheus_client's way: the same families from a Reading, built fresh on every collect()."""

    def __init__(self, reading: Reading) -> None:
        self.reading = reading
        idents = reading.identities
        self.gpu_names = list(idents[0].labels())
        self.gpu_values = [list(i.labels().values()) for i in idents]
        self.own_names = list(idents[0].labels(model=False))
        self.own_values = [list(i.labels(model=False).values()) for i in idents]
        self.info_names = list(idents[0].info_labels())
        self.info_values = [list(i.info_labels().values()) for i in idents]

    def collect(self):
        """Every family of the reading."""
        r = self.reading
        for name, collector in COLLECTORS.items():
            for fld in collector.fields:
                vals = r.values.get(fld.key)
                if vals is None or name not in ALL:
                    continue
                cls = CounterMetricFamily if fld.type == "counter" else GaugeMetricFamily
                fam = cls(fld.name, fld.help, labels=self.gpu_names)
                for i in np.flatnonzero(~np.isnan(vals)):
                    fam.add_metric(self.gpu_values[i], float(vals[i]))
                yield fam
        up = GaugeMetricFamily(GPU_UP, "Whether NVML answers for the GPU.", labels=self.own_names)
        for i, u in enumerate(r.up):
            up.add_metric(self.own_values[i], float(u))
        yield up
        xid = CounterMetricFamily(XID_ERRORS_TOTAL, "XID errors by code.", labels=[*self.own_names, "xid"])
        for code, counts in sorted(r.xid_counts.items()):
            for i in np.flatnonzero(counts):
                xid.add_metric([*self.own_values[i], str(code)], float(counts[i]))
        yield xid
        mask = r.values["clock_event_reasons"]
        ce = GaugeMetricFamily(CLOCK_EVENT_ACTIVE, "Clock-event reason active.", labels=[*self.own_names, "reason"])
        bits = np.nan_to_num(mask).astype(np.int64)
        for reason, bit in CLOCK_EVENT_REASONS.items():
            for i in np.flatnonzero(~np.isnan(mask)):
                ce.add_metric([*self.own_values[i], reason], float((bits[i] & bit) > 0))
        yield ce
        info = GaugeMetricFamily(GPU_INFO, "Identity of each GPU.", labels=self.info_names)
        for values in self.info_values:
            info.add_metric(values, 1.0)
        yield info
        build = GaugeMetricFamily("gpuhealth_exporter_build_info", "Build.", labels=["version", "backend"])
        build.add_metric([__version__, "sim"], 1.0)
        yield build
        ok = GaugeMetricFamily("gpuhealth_exporter_collector_success", "Success.", labels=["collector"])
        dur = GaugeMetricFamily("gpuhealth_exporter_collector_duration_seconds", "Duration.", labels=["collector"])
        for c in sorted(r.collector_ok):
            ok.add_metric([c], float(r.collector_ok[c]))
            dur.add_metric([c], r.collector_seconds.get(c, 0.0))
        yield ok
        yield dur


def scrape(port: int, path: str, n: int) -> tuple[np.ndarray, float]:
    """Latencies (s) of n sequential scrapes from a child process, and this process's CPU per scrape (s)."""
    cpu0 = time.process_time()
    out = subprocess.run([sys.executable, "-c", CLIENT, "127.0.0.1", str(port), path, str(n)],
                         capture_output=True, text=True, check=True)
    cpu = time.process_time() - cpu0
    return np.array(json.loads(out.stdout)), cpu / (n + 10)


def bench_size(gpus: int, n: int) -> dict:
    """Both servers over the same fleet; figures in milliseconds."""
    backend = SimBackend(gpus=gpus, seed=1, speedup=60, degrading=max(1, gpus // 8))
    poller = Poller(backend, Renderer(backend.fleet.identities, "sim"), ALL, interval=3600)
    poller.start()
    server = serve(poller, "127.0.0.1:0", None, 40)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ours, ours_cpu = scrape(server.server_address[1], "/metrics", n)
    server.shutdown()
    poller.stop()

    registry = CollectorRegistry()
    registry.register(ClientCollector(backend.read(ALL)))
    httpd, _thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    base, base_cpu = scrape(httpd.server_address[1], "/metrics", n)
    httpd.shutdown()
    gen = []
    for _ in range(max(50, n // 4)):
        t0 = time.perf_counter()
        generate_latest(registry)
        gen.append(time.perf_counter() - t0)
    ms = 1000.0
    return {"gpus": gpus, "bytes": len(poller.latest.text),
            "p50": np.percentile(ours, 50) * ms, "p99": np.percentile(ours, 99) * ms, "cpu": ours_cpu * ms,
            "b_p50": np.percentile(base, 50) * ms, "b_p99": np.percentile(base, 99) * ms, "b_cpu": base_cpu * ms,
            "gen_p50": np.percentile(gen, 50) * ms}


def polling_share(gpus: int = 8, polls: int = 100, interval: float = 10.0) -> tuple[float, float]:
    """CPU seconds per poll_once (median) and its share of one core at the interval, in %."""
    backend = SimBackend(gpus=gpus, seed=1, speedup=1, degrading=1)
    poller = Poller(backend, Renderer(backend.fleet.identities, "sim"), ALL, interval=interval)
    poller.poll_once()
    cpu = []
    for _ in range(polls):
        backend.fleet.wall0 -= interval  # the interval has passed: the poll steps the simulation by 10 s
        t0 = time.thread_time()
        poller.poll_once()
        cpu.append(time.thread_time() - t0)
    per_poll = float(np.median(cpu))
    return per_poll, per_poll / interval * 100


def main() -> None:
    """Run both sizes and the polling figure; print each with its ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scrapes", type=int, default=400, help="scrapes per server and size")
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    print(f"{'GPUs':>4} {'body KB':>7} | {'p50 ms':>7} {'p99 ms':>7} {'CPU ms':>7} | "
          f"{'base p50':>8} {'base p99':>8} {'base CPU':>8} {'gen_latest':>10} | {'p99 x':>6} {'CPU x':>6} "
          f"{'p99/target':>10}")
    for gpus in (8, 64):
        r = bench_size(gpus, args.scrapes)
        print(f"{gpus:4d} {r['bytes'] / 1024:7.1f} | {r['p50']:7.2f} {r['p99']:7.2f} {r['cpu']:7.3f} | "
              f"{r['b_p50']:8.2f} {r['b_p99']:8.2f} {r['b_cpu']:8.3f} {r['gen_p50']:10.2f} | "
              f"{r['b_p99'] / r['p99']:5.1f}x {r['b_cpu'] / r['cpu']:5.1f}x {r['p99'] / TARGET_P99_MS[gpus]:10.2f}")
    per_poll, share = polling_share()
    print(f"background polling, 8 GPUs: {per_poll * 1000:.2f} ms CPU per poll = {share:.3f} % of one core at 10 s "
          f"(target 1 %: {share / 1.0:.3f} of it)")
    print("ratios: baseline / ours (higher = ours faster); p99/target < 1 meets the target")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
