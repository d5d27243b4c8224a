"""History mode: weeks of a simulated fleet as OpenMetrics files, ground truth, and Prometheus blocks.

The files use the exporter's exact metric names and labels (gpuhealth.catalog), with the
``job``/``instance`` labels a scrape of the exporter would add. They are written one per 2-hour
window aligned to 2 hours, because promtool's OpenMetrics backfill re-reads its whole input once
per block (design.md: a 3.6 GB single file did not finish in 20 minutes; per-window files took
about 70 s). Beside them: ``ground_truth.csv`` (UUID, failed_at, mode, precursor, onset),
``assets.csv`` (the asset inventory) and ``resets.csv`` (simulated driver reloads).
"""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gpuhealth.catalog import (
    ASSET_COLUMNS,
    CLOCK_EVENT_ACTIVE,
    CLOCK_EVENT_REASONS,
    FIELDS,
    GPU_INFO,
    GPU_UP,
    XID_CODES,
    XID_ERRORS_TOTAL,
    MetricType,
)
from gpuhealth.sim.engine import Engine
from gpuhealth.sim.fleet import DAY, FAULT_MODES, Fleet, FleetConfig, build_fleet
from gpuhealth.stack import find_binary

WINDOW = 7200
EXPORTER_PORT = 9494


@dataclass(frozen=True)
class HistoryConfig:
    """What history to write: a fleet, a span and a step, ending at ``end`` (unix seconds)."""

    gpus: int = 256
    days: float = 14.0
    step_seconds: int = 300
    seed: int = 7
    end: float | None = None  # default: now
    hazard_scale: float = 1.0
    sudden_share: float = 0.25
    model_mix: dict[str, float] | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.days <= 0:
            raise ValueError(f"days: expected a positive span, got {self.days}")
        if self.step_seconds <= 0 or WINDOW % self.step_seconds:
            raise ValueError(f"step: expected seconds that divide 7200 (2 h), got {self.step_seconds}")


def _quiet() -> bool:
    return not sys.stderr.isatty()


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _label_str(labels: dict[str, str]) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return ",".join(f'{k}="{esc(v)}"' for k, v in labels.items())


def make_fleet(config: HistoryConfig) -> tuple[Fleet, float]:
    """The fleet a history config describes, and the unix time its history starts."""
    end = time.time() if config.end is None else config.end
    end = float(int(end) // config.step_seconds * config.step_seconds)
    start = end - config.days * DAY
    kw = {"gpus": config.gpus, "seed": config.seed, "hazard_scale": config.hazard_scale,
          "sudden_share": config.sudden_share}
    if config.model_mix:
        kw["model_mix"] = config.model_mix
    return build_fleet(FleetConfig(**kw), start=start, horizon=config.days * DAY), start


def simulate(config: HistoryConfig) -> Iterator[tuple[float, dict[str, np.ndarray], np.ndarray, np.ndarray]]:
    """Yield (unix time, values, up, xid_counts) at every step of a history, in time order."""
    fleet, start = make_fleet(config)
    engine = Engine(fleet)
    steps = round(config.days * DAY / config.step_seconds)
    for k in range(1, steps + 1):
        t = k * config.step_seconds
        values = engine.step(float(t))
        yield start + t, values, engine.up, engine.xid_counts


class _Writer:
    """Renders one 2-hour window of every series as OpenMetrics text."""

    def __init__(self, fleet: Fleet) -> None:
        def scrape(ident) -> dict[str, str]:
            return {"job": "gpuhealth", "instance": f"{ident.hostname}:{EXPORTER_PORT}"}

        self.gpu_labels = [_label_str({**scrape(i), **i.labels()}) for i in fleet.identities]
        self.own_labels = [_label_str({**scrape(i), **i.labels(model=False)}) for i in fleet.identities]
        self.info = [_label_str({**scrape(i), **i.info_labels()}) for i in fleet.identities]

    def _family(self, out: list[str], name: str, typ: str, helptext: str, sample_name: str,
                label_sets: list[str], matrix: np.ndarray, ts: list[str]) -> None:
        """Append one family: matrix is (steps, series); NaN means no sample."""
        out.append(f"# HELP {name} {helptext}\n# TYPE {name} {typ}\n")
        strs = matrix.astype(str)
        present = ~np.isnan(matrix)
        for j, labels in enumerate(label_sets):
            col = strs[:, j]
            prefix = f"{sample_name}{{{labels}}} "
            if present[:, j].all():
                out.append("".join([f"{prefix}{v} {t}\n" for v, t in zip(col, ts, strict=True)]))
            else:
                out.append("".join([f"{prefix}{col[i]} {ts[i]}\n" for i in np.flatnonzero(present[:, j])]))

    def render(self, times: list[float], values: dict[str, np.ndarray], up: np.ndarray, xids: np.ndarray) -> str:
        """One window as OpenMetrics text; arrays are (steps, gpus) and xids (steps, gpus, codes)."""
        ts = [str(int(t)) for t in times]
        out: list[str] = []
        for fld in FIELDS:
            # DCGM counters carry no _total suffix; OpenMetrics counters need one, and blocks keep no
            # type, so they are declared "unknown" here (the exporter serves them as counters).
            typ = "gauge" if fld.type is MetricType.GAUGE else "unknown"
            self._family(out, fld.name, typ, fld.help, fld.name, self.gpu_labels, values[fld.key], ts)
        self._family(out, GPU_UP, "gauge", "1 when NVML answers for the GPU, 0 when it does not.", GPU_UP,
                     self.own_labels, up.astype(float), ts)
        mask = values["clock_event_reasons"]
        labels, cols = [], []
        for reason, bit in CLOCK_EVENT_REASONS.items():
            for j, lab in enumerate(self.own_labels):
                labels.append(f'{lab},reason="{reason}"')
                col = mask[:, j]
                cols.append(np.where(np.isnan(col), np.nan, (np.nan_to_num(col).astype(np.int64) & bit) > 0))
        self._family(out, CLOCK_EVENT_ACTIVE, "gauge", "1 when the clock-event (throttle) reason is active.",
                     CLOCK_EVENT_ACTIVE, labels, np.array(cols, dtype=float).T, ts)
        seen = np.argwhere(xids[-1] > 0)  # (gpu, code) pairs with any XID by the window's end
        if len(seen):
            labels = [f'{self.own_labels[g]},xid="{XID_CODES[c]}"' for g, c in seen]
            mat = xids[:, seen[:, 0], seen[:, 1]].astype(float)
            mat[mat == 0] = np.nan  # a counter series appears with its first XID
            self._family(out, XID_ERRORS_TOTAL.removesuffix("_total"), "counter", "XID errors seen, by code.",
                         XID_ERRORS_TOTAL, labels, mat, ts)
        self._family(out, GPU_INFO, "gauge", "Identity of the GPU.", GPU_INFO, self.info,
                     np.ones((len(times), len(self.info))), ts)
        out.append("# EOF\n")
        return "".join(out)


def generate_history(config: HistoryConfig, out_dir: str | Path, progress: bool | None = None) -> dict:
    """Write a history's OpenMetrics windows, ground_truth.csv, assets.csv and resets.csv.

    Returns a summary: files, samples, GPUs, failures.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("window-*.om"):
        old.unlink()
    fleet, start = make_fleet(config)
    engine = Engine(fleet)
    writer = _Writer(fleet)
    steps = round(config.days * DAY / config.step_seconds)
    bar = tqdm(total=steps, desc="history", unit="step", disable=_quiet() if progress is None else not progress)
    buf_t: list[float] = []
    buf_v: dict[str, list[np.ndarray]] = {f.key: [] for f in FIELDS}
    buf_up: list[np.ndarray] = []
    buf_x: list[np.ndarray] = []
    files = 0
    samples = 0

    def flush() -> None:
        nonlocal files, samples
        if not buf_t:
            return
        window = int(buf_t[0]) // WINDOW * WINDOW
        text = writer.render(buf_t, {k: np.array(v) for k, v in buf_v.items()}, np.array(buf_up), np.array(buf_x))
        (out / f"window-{window}.om").write_text(text)
        samples += text.count("\n") - text.count("# ")
        files += 1
        buf_t.clear()
        buf_up.clear()
        buf_x.clear()
        for v in buf_v.values():
            v.clear()

    for k in range(1, steps + 1):
        t = start + k * config.step_seconds
        if buf_t and int(t) // WINDOW != int(buf_t[0]) // WINDOW:
            flush()
        values = engine.step(float(k * config.step_seconds))
        buf_t.append(t)
        for key, v in values.items():
            buf_v[key].append(v)
        buf_up.append(engine.up.astype(float))
        buf_x.append(engine.xid_counts.copy())
        bar.update(1)
    flush()
    bar.close()
    failures = _write_truth(out, fleet, start, engine)
    return {"files": files, "samples": samples, "gpus": fleet.n, "failures": failures, "start": start,
            "end": start + steps * config.step_seconds}


def _write_truth(out: Path, fleet: Fleet, start: float, engine: Engine) -> int:
    failures = 0
    with open(out / "ground_truth.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["UUID", "failed_at", "mode", "precursor", "onset"])
        for i, ident in enumerate(fleet.identities):
            if fleet.mode[i]:
                failures += 1
                mode = FAULT_MODES[fleet.mode[i] - 1]
                w.writerow([ident.uuid, _rfc3339(start + fleet.fail_at[i]), mode,
                            "false" if mode == "sudden" else "true", _rfc3339(start + max(fleet.onset[i], 0.0))])
            else:
                w.writerow([ident.uuid, "", fleet.benign[i] or "healthy", "false", ""])
    with open(out / "assets.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(ASSET_COLUMNS)
        for a in fleet.assets:
            w.writerow([getattr(a, c) for c in ASSET_COLUMNS])
    with open(out / "resets.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["UUID", "at"])
        for i, t in engine.resets:
            w.writerow([fleet.identities[i].uuid, _rfc3339(start + t)])
    return failures


def backfill(history_dir: str | Path, tsdb_path: str | Path, parallel: int = 2,
             progress: bool | None = None) -> int:
    """Turn a history's OpenMetrics windows into Prometheus blocks under tsdb_path; returns blocks."""
    promtool = find_binary("promtool", "/usr/bin/promtool")
    files = sorted(Path(history_dir).glob("window-*.om"))
    if not files:
        raise FileNotFoundError(f"{history_dir}: no window-*.om files (write them with `gpuhealth sim history`)")
    tsdb = Path(tsdb_path)
    tsdb.mkdir(parents=True, exist_ok=True)

    def one(path: Path) -> None:
        r = subprocess.run([str(promtool), "tsdb", "create-blocks-from", "openmetrics", str(path), str(tsdb)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"promtool could not backfill {path.name}: {r.stderr.strip()[-500:]}")

    bar = tqdm(total=len(files), desc="backfill", unit="file", disable=_quiet() if progress is None else not progress)
    with ThreadPoolExecutor(parallel) as pool:
        for _ in pool.map(one, files):
            bar.update(1)
    bar.close()
    return sum(1 for p in tsdb.iterdir() if p.is_dir() and len(p.name) == 26)

