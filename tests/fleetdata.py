"""A small fleet's last cycle, by hand: what the API and admin page tests serve."""

from __future__ import annotations

import time
from types import SimpleNamespace

from gpuhealth.analyzers.cycle import CycleResult, Verdict
from gpuhealth.analyzers.economics.valuation import Valuation
from gpuhealth.catalog import Asset

UUIDS = [f"GPU-{i:08d}-0000-0000-0000-000000000000" for i in range(6)]
HOSTS = ["node-a", "node-a", "node-b", "node-b", "node-c", "node-c"]


def verdicts() -> list[Verdict]:
    out = []
    for i, uuid in enumerate(UUIDS[:5]):
        status = "down" if i == 4 else "judged"
        p7 = 1.0 if status == "down" else 0.01 * (i + 1) ** 2
        action = ("keep", "keep", "repair", "sell", "decommission")[i]
        npv = {"keep": 1000.0, "repair": 900.0 + 100 * (action == "repair"), "sell": 950.0 + 100 * (action == "sell"),
               "decommission": 100.0 + 1000 * (action == "decommission")}
        out.append(Verdict(uuid=uuid, status=status, model_name="NVIDIA H100 80GB HBM3" if i < 3 else "NVIDIA A100",
                           probability={"xgboost": {"7d": p7, "30d": min(1.0, 3 * p7)},
                                        "heuristic": {"7d": p7 / 2, "30d": p7}},
                           remaining_useful_life_days=0.0 if status == "down" else 400.0 - 50 * i,
                           anomaly={"gpu_temp": 1.0 + i, "power": 0.5}, trends={"gpu_temp": 0.1 * i},
                           factors=[("sbe_rate", 0.4), ("gpu_temp", 0.1)], history_days=7.0,
                           down_since=time.time() - 3600 if status == "down" else None,
                           valuation=Valuation(uuid=uuid, market_value_dollars=10000.0 - 1000 * i, npv_dollars=npv,
                                               recommended_action=action, drivers=[f"driver {i}"])))
    out.append(Verdict(uuid=UUIDS[5], status="unknown", model_name="NVIDIA A100"))  # in the inventory, never seen
    return out


def result() -> CycleResult:
    frame = SimpleNamespace(uuids=UUIDS[:5], hosts=HOSTS[:5])
    return CycleResult(at=time.time(), finished=time.time(), duration_seconds=0.5, verdicts=verdicts(),
                       primary="xgboost", queries=10, frame=frame)


INVENTORY = {u: Asset(uuid=u, serial=f"S{i}", model="NVIDIA A100", node=HOSTS[i], datacenter="dc1", rack=f"r{i // 2}",
                      purchase_date="2024-01-01", purchase_price_dollars=15000.0) for i, u in enumerate(UUIDS)}
