"""`gpuhealth demo` starts the whole system and every part answers; as a user runs it, its verdicts are few and
right, and SIGTERM stops it."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
import requests

from gpuhealth.demo import start_demo
from gpuhealth.sim.fleet import FAULT_MODES

pytestmark = pytest.mark.integration


def test_demo_starts_every_part_and_data_flows_end_to_end(workdir):
    demo = start_demo(workdir / "demo", gpus=8, speedup=120, seed=1)
    try:
        prom = demo.urls["prometheus"]
        deadline = time.monotonic() + 120
        ok = False
        while time.monotonic() < deadline and not ok:
            time.sleep(3)
            q = requests.get(f"{prom}/api/v1/query", params={"query": "count(gpu:health:score)"}, timeout=10).json()
            verdicts = requests.get(demo.urls["analyzer"] + "api/v1/verdicts", timeout=10).json()
            ok = bool(q["data"]["result"]) and len(verdicts.get("gpus", [])) == 8
        assert ok, "health scores and verdicts for all 8 GPUs"
        up = requests.get(f"{prom}/api/v1/query", params={"query": "up"}, timeout=10).json()["data"]["result"]
        assert {r["metric"]["job"]: r["value"][1] for r in up} == {"gpuhealth": "1", "gpuhealth-analyzer": "1",
                                                                  "gpuhealth-sink": "1", "prometheus": "1"}
        with psycopg.connect(demo.urls["database"]) as conn:  # remote write reached TimescaleDB
            deadline = time.monotonic() + 60
            n = 0
            while time.monotonic() < deadline and n == 0:
                n = conn.execute("SELECT count(*) FROM gpu_samples WHERE metric = 'DCGM_FI_DEV_GPU_TEMP'").fetchone()[0]
                time.sleep(2)
        assert n > 0
        assert "gpuhealth_failure_probability" in requests.get(demo.urls["analyzer"] + "metrics", timeout=10).text
        summary = requests.get(demo.urls["analyzer"] + "api/v1/fleet/summary", timeout=30).json()
        assert summary["gpus"] == 8 and sum(summary["by_status"].values()) == 8
        # the admin page: its user records a repair, which lands in the database and in the API
        admin, user, password = demo.admin
        s = requests.Session()
        s.auth = (user, password)
        assert requests.get(admin, timeout=10).status_code == 401
        uuid = verdicts["gpus"][0]["uuid"]
        page = s.get(f"{admin}/gpus/{uuid}", timeout=30).text
        token = page.split("name='csrf' value='")[1].split("'")[0]
        r = s.post(f"{admin}/gpus/{uuid}/repairs", data={"csrf": token, "date": "2026-01-02", "kind": "repair",
                                                          "mode": "fan", "cost": "80", "success": "yes"}, timeout=30)
        assert r.status_code == 200 and "Repair recorded." in r.text
        with psycopg.connect(demo.urls["database"]) as conn:
            assert conn.execute("SELECT mode, recorded_by FROM gpu_repairs WHERE uuid = %s",
                                (uuid,)).fetchall() == [("fan", user)]
        detail = requests.get(demo.urls["analyzer"] + f"api/v1/gpus/{uuid}", timeout=30).json()
        assert [x["mode"] for x in detail["repairs"]] == ["fan"]
    finally:
        demo.stop()


def _descendants(pid: int) -> set[int]:
    """The processes below pid (children in sessions of their own included), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_demo_after_five_minutes_acts_on_degrading_gpus_only_and_sigterm_stops_everything():
    """`make demo` as a user runs it: history first, then live in real time. After 5 minutes at most 16 of
    its 64 GPUs are advised anything but keep; no healthy GPU is taken out of service, and every GPU that
    is (repair, decommission) has a low health score or is down; most of the degrading GPUs are acted on.
    SIGTERM stops every part and removes the temporary folder."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "gpuhealth", "demo"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()
    try:
        deadline = time.monotonic() + 600
        while not any("Press Ctrl-C" in line for line in lines):
            assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(1)
        urls = dict(line.split(None, 1) for line in lines
                    if (line.startswith("  ") and "://" in line) or line.startswith("  data "))
        urls = {k: v.strip() for k, v in urls.items()}
        data = Path(urls["data"])
        children = _descendants(proc.pid)
        assert len(children) >= 6, children  # exporter, postgres, sink, alertmanager, prometheus, analyzer
        # after 5 minutes, and one analysis cycle (30 s) after the first GPU falls off the bus (by 4 minutes)
        time.sleep(max(0.0, 330 - (time.monotonic() - started)))
        verdicts = requests.get(urls["analyzer"] + "api/v1/verdicts", timeout=30).json()["gpus"]
        with open(data / "history" / "ground_truth.csv") as fh:
            truth = {r["UUID"]: r for r in csv.DictReader(fh)}
        degrading = {u for u, r in truth.items() if r["mode"] in FAULT_MODES and r["mode"] != "sudden"}
        advised = {g["uuid"]: g["recommended_action"] for g in verdicts if g.get("recommended_action")}
        acting = {u for u, a in advised.items() if a != "keep"}
        out_of_service = {u for u, a in advised.items() if a in ("repair", "decommission")}
        assert len(verdicts) == 64 and len(degrading) >= 8
        # what each acted-on GPU was told, and why (its first two drivers): enough to tell a failure's cause
        told = {g["uuid"]: (g["recommended_action"], g["status"], truth.get(g["uuid"], {}).get("mode"),
                            (g.get("drivers") or [])[:2]) for g in verdicts if g["uuid"] in acting}
        assert len(acting) <= 16, told
        assert out_of_service <= degrading, {u: (advised[u], truth[u]["mode"]) for u in out_of_service - degrading}
        assert len(degrading & acting) >= 5, {u: advised.get(u) for u in degrading}
        # the scores need the identity group (every 2 minutes) to have run since Prometheus started, which
        # is later than 5 minutes when writing the history took long
        deadline = time.monotonic() + 180
        scores: dict[str, float] = {}
        while len(scores) < 56 and time.monotonic() < deadline:
            answer = requests.get(urls["prometheus"] + "/api/v1/query", params={"query": "gpu:health:score"},
                                  timeout=30)
            scores = {r["metric"]["UUID"]: float(r["value"][1]) for r in answer.json()["data"]["result"]}
            time.sleep(0 if len(scores) >= 56 else 10)
        assert len(scores) >= 56, (len(scores), "".join(lines[-20:]))
        for u in out_of_service:  # taken out of service: its health score says so too, or it is down
            assert scores.get(u, 0.0) < 0.9, (u, advised[u], scores.get(u))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
    assert "stopping" in "".join(lines)
    time.sleep(1)
    assert not [p for p in children if _alive(p)], "processes left after SIGTERM"
    assert not data.exists(), f"{data} left behind"
