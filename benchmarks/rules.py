"""Rule evaluation time per group, as Prometheus reports it, for 1,024 and 10,240 simulated GPUs.

A real Prometheus (gpuhealth.stack) scrapes a tiny HTTP server every 15 s. The server serves a
pre-rendered exposition: the exporter's own Renderer over one snapshot of a simulated fleet of N
GPUs (every collector on), split into shards of 512 GPUs, one scrape target each, as a fleet of
nodes would be. The generated recording and alert rules are loaded at their own intervals (alerts on
raw telemetry 30 s; scores and the other alerts 1 m; inventory, clock-event shares and fleet rollups
2 m), except that the groups slower than that (anomalies every 4 minutes, trends every 5, hourly
baselines) run every 2 minutes so that a run sees a few of their evaluations (what one evaluation
costs does not depend on how often it runs; the run carries more load than production). Measuring
starts once every chain of rules has recorded (the z-scores, trends and fleet totals exist: each
step of a chain reads another group's output one evaluation later, and until then some groups
evaluate over nothing); then ``/api/v1/rules`` is read every second until every group has a few more
evaluations: ``evaluationTime`` per group, the median and the largest seen. Prometheus runs with
``GODEBUG=gctrace=1``, so the Go runtime logs each garbage-collection cycle: when it began, how long
its concurrent mark ran, and the CPU time goroutines spent in mark assists (an allocating goroutine,
such as a rule evaluation, is made to help the collector when the heap nears its goal). Each
evaluation over 1 s is told apart by whether a mark phase overlapped it and that cycle's assist
time; "max without GC" is the largest evaluation that overlapped no mark. Prometheus's own
``/metrics`` gives the bytes allocated per minute.

Baseline, in the same Prometheus and the same run: a group with one recording rule that touches
every GPU once (``max by (UUID) (DCGM_FI_DEV_GPU_TEMP)``), the floor of any per-GPU rule.

Targets: every group <= 1 s per evaluation at 10,240 GPUs; <= 40 recorded series per GPU.

``--prometheus A,B`` measures several Prometheus binaries one after the other in the same run and
prints them side by side (``scripts/debian-fetch bookworm DIR prometheus`` and ``dpkg-deb -x`` give
Debian 12's 2.42 beside the installed 3.5).

Caveat: the Prometheus is fresh, so ``offset 1d`` finds nothing and ``[1d]`` ranges hold minutes,
not a day: the terms that compare against a day ago are absent and range functions read fewer
samples than in steady state. The figures are a lower bound for those groups.

    .venv/bin/python benchmarks/rules.py [--sizes 1024,10240] [--evaluations 3] [--without-rules] [--gogc N]
                                         [--prometheus BINARY[,BINARY...]]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
import yaml
from tqdm import tqdm

from gpuhealth import stack
from gpuhealth.durations import whole_seconds
from gpuhealth.exporter.backends.sim import SimBackend
from gpuhealth.exporter.collectors import COLLECTORS
from gpuhealth.exporter.exposition import TEXT, Renderer
from gpuhealth.exporter.reading import Reading

ROOT = Path(__file__).resolve().parents[1]
RULE_FILES = (ROOT / "recording_rules" / "gpuhealth.yml", ROOT / "alert_rules" / "gpuhealth.yml")
SHARD = 512
INTERVAL = "15s"
BASELINE_GROUP = "baseline.rules"
RECORDED = '{__name__=~"(gpu|fleet|model|datacenter|rack):.+"}'


def shard_expositions(gpus: int, seed: int = 1) -> list[bytes]:
    """The exporter's text exposition of a simulated fleet, one body per shard of SHARD GPUs."""
    backend = SimBackend(gpus=gpus, seed=seed)
    enabled = set(COLLECTORS)
    reading = backend.read(enabled)
    idents = backend.fleet.identities
    bodies = []
    for lo in range(0, gpus, SHARD):
        hi = min(lo + SHARD, gpus)
        part = Reading(timestamp=reading.timestamp, identities=idents[lo:hi],
                       values={k: v[lo:hi] for k, v in reading.values.items()}, up=reading.up[lo:hi],
                       xid_counts={c: a[lo:hi] for c, a in reading.xid_counts.items()},
                       collector_ok=reading.collector_ok, collector_seconds=reading.collector_seconds)
        text, _om = Renderer(idents[lo:hi], "sim").render(part, enabled)
        bodies.append(text)
    return bodies


def serve_bodies(bodies: list[bytes]) -> ThreadingHTTPServer:
    """A loopback HTTP server answering /metrics/<i> with body i."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            try:
                body = bodies[int(self.path.rsplit("/", 1)[1])]
            except (ValueError, IndexError):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", TEXT)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def rule_files(workdir: Path, generated: bool = True) -> list[Path]:
    """Copies of the generated rule files (slow groups every 2 minutes), plus the baseline group;
    only the baseline group when ``generated`` is false."""
    out = []
    for src in RULE_FILES:
        doc = yaml.safe_load(src.read_text())
        for group in doc["groups"]:
            if whole_seconds(group.get("interval", INTERVAL)) > 120:
                group["interval"] = "2m"  # anomalies, trends, hourly baselines: often enough to be seen in a run
        dst = workdir / src.parent.name / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(yaml.safe_dump(doc, sort_keys=False))
        out.append(dst)
    base = workdir / "baseline.yml"
    base.write_text(yaml.safe_dump({"groups": [{"name": BASELINE_GROUP, "rules": [
        {"record": "baseline:gpu_temp:max", "expr": "max by (UUID) (DCGM_FI_DEV_GPU_TEMP)"}]}]}))
    return [*out, base] if generated else [base]


def allocated_bytes(url: str) -> float:
    """The bytes Prometheus has allocated so far (its own /metrics)."""
    text = requests.get(f"{url}/metrics", timeout=30).text
    return float(re.search(r"^go_memstats_alloc_bytes_total (\S+)$", text, re.M).group(1))


def evaluation_start(last: str) -> float:
    """Unix time of a group's lastEvaluation (RFC 3339 with nanoseconds)."""
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", last).replace("Z", "+00:00")).timestamp()


GCTRACE = re.compile(r"gc (\d+) @([\d.]+)s \d+%: [\d.]+\+([\d.]+)\+[\d.]+ ms clock, "
                     r"[\d.]+\+([\d.]+)/[\d.]+/[\d.]+\+[\d.]+ ms cpu, (\d+)->")


def gc_cycles(log: str, started: float) -> list[tuple[float, float, float, float]]:
    """Garbage-collection cycles from a Go program's gctrace lines: (unix start, mark wall seconds,
    assist CPU seconds, heap MB when the cycle began); ``started`` is the program's start (gctrace
    counts from it)."""
    return [(started + float(m.group(2)), float(m.group(3)) / 1e3, float(m.group(4)) / 1e3, float(m.group(5)))
            for m in GCTRACE.finditer(log)]


def overlapping_gcs(start: float, seconds: float, gcs: list[tuple[float, float, float, float]]) -> list[tuple]:
    """The cycles whose mark phase overlapped an evaluation (start, seconds)."""
    return [g for g in gcs if g[0] < start + seconds and g[0] + g[1] > start]


def chain_ends(files: list[Path]) -> list[str]:
    """The recorded series at the ends of the rules' longest chains (each step reads another group's
    output one evaluation later): the z-scores, the trends and the fleet totals. Until they exist, a
    fresh Prometheus has groups evaluating over inputs not recorded yet, which costs less than
    steady state."""
    names = {r["record"] for f in files for g in yaml.safe_load(f.read_text())["groups"]
             for r in g["rules"] if "record" in r}
    return sorted(n for n in names if re.search(r":(zscore1d|peer_zscore|predict_linear\w*)$|^fleet:gpus:count$", n))


def measure(gpus: int, evaluations: int, workdir: Path, budget_s: float = 540.0, generated: bool = True,
            binary: Path | None = None, warmup_s: float = 900.0) -> dict:
    """Start Prometheus over a fleet of ``gpus``, wait until every chain of rules has recorded, then
    collect evaluation times per group, and the garbage-collection cycles of Prometheus beside them."""
    t0 = time.monotonic()
    bodies = shard_expositions(gpus)
    server = serve_bodies(bodies)
    addr = f"127.0.0.1:{server.server_address[1]}"
    targets = [{"targets": [addr], "labels": {"__metrics_path__": f"/metrics/{i}", "instance": f"node-shard-{i}"}}
               for i in range(len(bodies))]
    files = rule_files(workdir, generated)
    prom = stack.Prometheus(workdir=workdir / "prometheus", binary=binary,
                            scrape_interval=INTERVAL, evaluation_interval=INTERVAL, rule_files=files,
                            scrape_configs=[{"job_name": "gpuhealth", "scrape_timeout": "14s",
                                             "static_configs": targets}])
    samples: dict[str, list[tuple[float, float]]] = {}  # group -> (start, seconds) per evaluation
    per_rule: dict[str, list[float]] = {}
    polls: list[tuple[float, float]] = []  # (unix time, bytes allocated)
    godebug = os.environ.get("GODEBUG")  # Prometheus inherits gctrace=1: one log line per collection cycle
    os.environ["GODEBUG"] = ",".join(filter(None, [godebug, "gctrace=1"]))
    started = time.time()
    try:
        prom.start()
        prom.wait_for(f"count(DCGM_FI_DEV_GPU_TEMP) >= {gpus}", timeout=90)
        for name in tqdm(chain_ends(files), desc=f"{gpus} GPUs: until every chain of rules has recorded",
                         disable=not sys.stderr.isatty()):
            prom.wait_for(f"count({name})", timeout=warmup_s)
        warm_s = time.monotonic() - t0
        seen: dict[str, str] = {}
        deadline = time.monotonic() + budget_s
        bar = tqdm(total=evaluations, desc=f"{gpus} GPUs: evaluations", disable=not sys.stderr.isatty())
        while time.monotonic() < deadline:
            polls.append((time.time(), allocated_bytes(prom.url)))
            groups = requests.get(f"{prom.url}/api/v1/rules", timeout=120).json()["data"]["groups"]
            for g in groups:
                last = g.get("lastEvaluation", "")
                if last and seen.get(g["name"]) != last and not last.startswith("0001"):
                    if g["name"] in seen:  # skip the first one seen: it may predate the first full scrape
                        samples.setdefault(g["name"], []).append((evaluation_start(last), float(g["evaluationTime"])))
                        for rule in g["rules"]:
                            key = f"{g['name']} {rule.get('record') or rule.get('name')}"
                            per_rule.setdefault(key, []).append(float(rule.get("evaluationTime", 0.0)))
                    seen[g["name"]] = last
            done = min((len(samples.get(g["name"], [])) for g in groups), default=0)
            bar.n = min(done, evaluations)
            bar.refresh()
            if done >= evaluations:
                break
            time.sleep(1)
        bar.close()
        polls.append((time.time(), allocated_bytes(prom.url)))
        recorded = prom.query(f"count({RECORDED})", timeout=600)
        scrape = prom.query('sum(scrape_duration_seconds{job="gpuhealth"})', timeout=600)
        series = prom.query('sum(scrape_samples_scraped{job="gpuhealth"})', timeout=600)
    finally:
        if godebug is None:
            os.environ.pop("GODEBUG", None)
        else:
            os.environ["GODEBUG"] = godebug
        prom.stop()
        server.shutdown()
    gcs = gc_cycles(prom.log_path.read_text(errors="replace"), started)
    return {"gpus": gpus, "samples": samples, "per_rule": per_rule, "polls": polls, "gcs": gcs,
            "recorded": float(recorded[0]["value"][1]) if recorded else 0.0,
            "scrape_s": float(scrape[0]["value"][1]) if scrape else float("nan"),
            "scraped": float(series[0]["value"][1]) if series else float("nan"),
            "wall_s": time.monotonic() - t0, "warm_s": warm_s}


def report(result: dict) -> dict:
    """Print one size's figures; returns the summary that a comparison of binaries prints."""
    n = result["gpus"]
    polls = result["polls"]
    s = {g: [sec for _start, sec in evs] for g, evs in result["samples"].items()}
    base = statistics.median(s[BASELINE_GROUP]) if s.get(BASELINE_GROUP) else float("nan")
    print(f"\n{n} GPUs: {result['scraped']:.0f} samples per scrape over {-(-n // SHARD)} targets, "
          f"scrape time summed {result['scrape_s']:.2f} s, run {result['wall_s']:.0f} s of which "
          f"{result['warm_s']:.0f} s until every chain of rules had recorded")
    print(f"{'group':44} {'evals':>5} {'median s':>9} {'max s':>8} {'x baseline':>10} {'max / 1 s target':>16}"
          f" {'max without GC':>14}")
    for name in sorted(s, key=lambda g: (g == BASELINE_GROUP, g)):
        med, top = statistics.median(s[name]), max(s[name])
        calm = [sec for start, sec in result["samples"][name] if not overlapping_gcs(start, sec, result["gcs"])]
        print(f"{name:44} {len(s[name]):5d} {med:9.4f} {top:8.4f} {med / base:10.1f} {top / 1.0:16.3f}"
              f" {max(calm) if calm else float('nan'):14.4f}")
    top: dict[str, tuple[str, float]] = {}
    for key, times in result["per_rule"].items():
        group, rule = key.split(" ", 1)
        if statistics.median(times) > top.get(group, ("", -1.0))[1]:
            top[group] = (rule, statistics.median(times))
    print("most expensive rule per group (median s): " +
          "; ".join(f"{g}: {r} {t:.3f}" for g, (r, t) in sorted(top.items(), key=lambda kv: -kv[1][1])))
    slow = [(g, start, sec) for g, evs in result["samples"].items() for start, sec in evs if sec > 1.0]
    minutes = (polls[-1][0] - polls[0][0]) / 60
    during = [g for g in result["gcs"] if polls[0][0] <= g[0] <= polls[-1][0]]
    print(f"while measuring: {len(during) / minutes:.1f} garbage-collection cycles and "
          f"{(polls[-1][1] - polls[0][1]) / minutes / 1e6:.0f} MB allocated per minute; mark phases "
          f"{statistics.median([g[1] for g in during]) if during else float('nan'):.2f} s median; mark assists "
          f"(CPU s per cycle) {' '.join(f'{g[2]:.2f}' for g in during)}; heap when a cycle began, largest "
          f"{max((g[3] for g in during), default=float('nan')):.0f} MB")
    print(f"evaluations over 1 s: {len(slow)}")
    for group, start, sec in sorted(slow, key=lambda x: x[1]):
        over = overlapping_gcs(start, sec, result["gcs"])
        why = ("; ".join(f"mark {g[1]:.2f} s with {g[2]:.2f} CPU s of assists" for g in over)
               if over else "no collection cycle overlapped it")
        print(f"  {group} {sec:.2f} s: {why}")
    per_gpu = result["recorded"] / n
    print(f"recorded series: {result['recorded']:.0f} = {per_gpu:.1f} per GPU (target <= 40: {per_gpu / 40:.2f} of it)")
    rules_only = {g: v for g, v in s.items() if g != BASELINE_GROUP}
    return {"largest": max((max(v) for v in rules_only.values()), default=float("nan")),
            "largest_median": max((statistics.median(v) for v in rules_only.values()), default=float("nan")),
            "over": sum(1 for g, _start, _sec in slow if g != BASELINE_GROUP),
            "mb_per_min": (polls[-1][1] - polls[0][1]) / minutes / 1e6,
            "mark_median": statistics.median([g[1] for g in during]) if during else float("nan"),
            "heap_mb": max((g[3] for g in during), default=float("nan")), "baseline": base}


def version_of(binary: Path) -> str:
    """The first line of ``prometheus --version``, e.g. "prometheus, version 3.5.3+ds1 (...)"."""
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.splitlines()
    return out[0] if out else str(binary)


def main() -> None:
    """Run each size and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1024,10240", help="comma-separated fleet sizes")
    ap.add_argument("--evaluations", type=int, default=3, help="evaluations of every group to wait for")
    ap.add_argument("--without-rules", action="store_true",
                    help="load only the one-rule baseline group: what Prometheus allocates and collects for the "
                         "scrapes alone, the reference for the allocation figure of a run with the rules")
    ap.add_argument("--gogc", default=None, help="GOGC for Prometheus (a diagnostic of garbage collection's "
                                                 "share of the tail; the figures of record use the default)")
    ap.add_argument("--prometheus", default=None,
                    help="comma-separated Prometheus binaries to measure one after the other in this run "
                         "(default: the installed one, /usr/bin/prometheus)")
    args = ap.parse_args()
    if args.gogc:
        os.environ["GOGC"] = args.gogc  # Prometheus inherits the environment
    binaries = ([Path(b) for b in args.prometheus.split(",")] if args.prometheus
                else [stack.find_binary("prometheus", "/usr/bin/prometheus")])
    print(f"load average at start: {os.getloadavg()}; GOGC {os.environ.get('GOGC', 'default (100)')}")
    summary = []
    for binary in binaries:
        version = version_of(binary)
        print(f"\n== {version}")
        for n in (int(x) for x in args.sizes.split(",")):
            with tempfile.TemporaryDirectory(prefix="gpuhealth-bench-rules-") as tmp:
                summary.append((version, n, report(measure(
                    n, args.evaluations, Path(tmp), generated=not args.without_rules, binary=binary))))
    if len(binaries) > 1:
        print("\nside by side (the rule groups, without the one-rule baseline; the target is every evaluation "
              "<= 1 s):")
        print(f"{'prometheus':36} {'GPUs':>6} {'largest s':>9} {'/ target':>8} {'over 1 s':>8} {'largest median':>14}"
              f" {'baseline median':>15} {'MB / min':>8} {'mark median s':>13} {'heap MB':>7}")
        for version, n, r in summary:
            print(f"{version.split(' (')[0]:36} {n:6d} {r['largest']:9.3f} {r['largest'] / 1.0:8.2f} {r['over']:8d}"
                  f" {r['largest_median']:14.3f} {r['baseline']:15.3f} {r['mb_per_min']:8.0f} {r['mark_median']:13.2f}"
                  f" {r['heap_mb']:7.0f}")
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
