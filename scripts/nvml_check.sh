#!/usr/bin/env bash
# One-off check of `gpuhealth exporter --backend nvml` on a machine with an NVIDIA GPU.
#
# Starts the exporter from .venv on a free loopback port (2 s poll interval), scrapes /metrics
# twice a few polls apart (text and OpenMetrics), and prints:
#   - for every DCGM_* and gpuhealth_* family the exporter can serve, how many series returned a
#     value on this machine, and which families returned none;
#   - gpuhealth_exporter_collector_success per collector;
#   - the NVML cost per poll: gpuhealth_exporter_collector_duration_seconds summed over collectors
#     (the wall time of every NVML call of one poll), per poll and per GPU, at both scrapes;
#   - the exporter process's CPU between the scrapes, as a share of one core, and at a 10 s interval.
# Scrapes and the summary are kept in $OUT (or a temporary folder). Exit status 1 if the exporter
# does not start. Usage, from the repository root:  bash scripts/nvml_check.sh
# (NVML_CHECK_BACKEND="sim --sim.gpus 8" dry-runs the same steps on a simulated fleet.)
set -euo pipefail

cd "$(dirname "$0")/.."
PY=.venv/bin/python
GPUHEALTH=.venv/bin/gpuhealth
OUT=${OUT:-$(mktemp -d -t gpuhealth-nvml-check.XXXXXX)}
mkdir -p "$OUT"
INTERVAL=2
WAIT=${NVML_CHECK_WAIT:-8}

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=index,name,driver_version,pci.bus_id --format=csv \
  | tee "$OUT/nvidia-smi.csv" || echo "nvidia-smi not found (NVML may still work)"

PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
BACKEND=${NVML_CHECK_BACKEND:-nvml}
# shellcheck disable=SC2086 # the backend may carry extra flags
"$GPUHEALTH" exporter --backend $BACKEND --web.listen-address="127.0.0.1:$PORT" --collect-interval="${INTERVAL}s" \
  >"$OUT/exporter.log" 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true' EXIT

for _ in $(seq 1 150); do
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "the exporter exited:"; cat "$OUT/exporter.log"; exit 1
  fi
  curl -fsS "$URL/-/ready" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "$URL/-/ready" >/dev/null || { echo "the exporter is not ready after 30 s:"; cat "$OUT/exporter.log"; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
curl -fsS "$URL/metrics" -o "$OUT/scrape1.prom"
T1=$(date +%s.%N); C1=$(cpu_ticks)
sleep "$WAIT"
curl -fsS "$URL/metrics" -o "$OUT/scrape2.prom"
T2=$(date +%s.%N); C2=$(cpu_ticks)
curl -fsS -H 'Accept: application/openmetrics-text; version=1.0.0' "$URL/metrics" -o "$OUT/scrape2.om"
HZ=$(getconf CLK_TCK)

"$PY" - "$OUT" "$T1" "$T2" "$C1" "$C2" "$HZ" "$INTERVAL" <<'PYEOF' | tee "$OUT/summary.txt"
import sys
from pathlib import Path

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text

from gpuhealth.catalog import FIELDS
from gpuhealth.exporter.docs import OWN

out = Path(sys.argv[1])
t1, t2, c1, c2, hz, interval = map(float, sys.argv[2:])


def families(path):
    fams = {}
    for f in parse_text(path.read_text()):
        fams[f.name] = f
        if f.type == "counter":  # the parser strips _total from counter names
            fams[f.name + "_total"] = f
    return fams


s1, s2 = families(out / "scrape1.prom"), families(out / "scrape2.prom")
list(parse_om((out / "scrape2.om").read_text()))  # raises if the OpenMetrics exposition does not parse
gpus = len(s2["gpuhealth_gpu_up"].samples)
up = sum(s.value for s in s2["gpuhealth_gpu_up"].samples)
print(f"\nGPUs: {gpus}, up: {up:.0f}")
for s in s2["gpuhealth_gpu_info"].samples if "gpuhealth_gpu_info" in s2 else []:
    print(f"  gpu {s.labels['gpu']}: {s.labels['model']} driver {s.labels['driver']} vbios {s.labels['vbios']}")

names = [f.name for f in FIELDS] + list(OWN)
got = {n: len(s2[n].samples) for n in names if n in s2 and s2[n].samples}
print(f"\nfamilies with values: {len(got)} of {len(names)}")
for n in names:
    if n in got:
        print(f"  {n:50} {got[n]:4d} series")
missing = [n for n in names if n not in got]
print(f"families with no value on this machine ({len(missing)}):")
for n in missing:
    note = " (appears with the first XID event; none is expected on a healthy GPU)" if n.startswith(
        "gpuhealth_xid_errors") else ""
    print(f"  {n}{note}")

print("\ncollector success (second scrape):")
for s in s2["gpuhealth_exporter_collector_success"].samples:
    print(f"  {s.labels['collector']:14} {s.value:.0f}")

print("\nNVML cost per poll (sum of gpuhealth_exporter_collector_duration_seconds):")
for label, fams in (("scrape 1", s1), ("scrape 2", s2)):
    per = {s.labels["collector"]: s.value for s in fams["gpuhealth_exporter_collector_duration_seconds"].samples}
    total = sum(per.values())
    top = ", ".join(f"{c} {v * 1000:.2f} ms" for c, v in sorted(per.items(), key=lambda kv: -kv[1])[:4])
    print(f"  {label}: {total * 1000:.2f} ms per poll, {total * 1000 / max(gpus, 1):.2f} ms per GPU (largest: {top})")
cpu = (c2 - c1) / hz
share = cpu / (t2 - t1) * 100
print(f"\nexporter CPU between the scrapes: {cpu:.2f} s in {t2 - t1:.1f} s = {share:.2f} % of one core at a "
      f"{interval:.0f} s poll interval, about {share * interval / 10:.2f} % at the default 10 s")
print(f"\nfiles: {out}")
PYEOF
