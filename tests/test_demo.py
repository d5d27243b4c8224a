"""`gpuhealth demo` starts the whole system and every part answers (a small fleet)."""

from __future__ import annotations

import time

import psycopg
import pytest
import requests

from gpuhealth.demo import start_demo

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
        assert {r["metric"]["job"]: r["value"][1] for r in up} == {"gpuhealth": "1", "gpuhealth-analyzer": "1"}
        with psycopg.connect(demo.urls["database"]) as conn:  # remote write reached TimescaleDB
            deadline = time.monotonic() + 60
            n = 0
            while time.monotonic() < deadline and n == 0:
                n = conn.execute("SELECT count(*) FROM gpu_samples WHERE metric = 'DCGM_FI_DEV_GPU_TEMP'").fetchone()[0]
                time.sleep(2)
        assert n > 0
        assert "gpuhealth_failure_probability" in requests.get(demo.urls["analyzer"] + "metrics", timeout=10).text
    finally:
        demo.stop()
