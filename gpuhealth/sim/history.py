"""History mode: weeks of a simulated fleet as OpenMetrics files, ground truth, and Prometheus blocks.

The files use the exporter's exact metric names and labels (gpuhealth.catalog), with the
``job``/``instance`` labels a scrape of the exporter would add. They are written one per 2-hour
window aligned to 2 hours, because promtool's OpenMetrics backfill re-reads its whole input once
per block (a single file of weeks of a fleet takes it far longer than the same text in windows:
benchmarks/sim.py). Beside them: ``ground_truth.csv`` (UUID, failed_at, mode, precursor, onset, shape),
``assets.csv`` (the asset inventory) and ``resets.csv`` (simulated driver reloads).
"""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gpuhealth.binaries import find_binary
from gpuhealth.catalog import (
    ASSET_COLUMNS,
    CLOCK_EVENT_ACTIVE,
    CLOCK_EVENT_REASONS,
    FIELDS,
    GPU_INFO,
    GPU_UP,
    OWN_FAMILIES,
    XID_CODES,
    XID_ERRORS_TOTAL,
    Asset,
    MetricType,
)
from gpuhealth.sim.engine import Engine
from gpuhealth.sim.fleet import DAY, FAULT_MODES, PRECURSOR_DAYS, PRECURSOR_SHAPES, Fleet, FleetConfig, build_fleet

WINDOW = 7200
EXPORTER_PORT = 9494
# which families a history holds: what gpuhealth's exporter serves, or what NVIDIA's dcgm-exporter
# serves with its default counters (no ECC, retired pages, violations, NVLink errors, power limit, PCIe
# link, and none of gpuhealth's own families)
FAMILY_SETS = ("full", "dcgm-default")


@dataclass(frozen=True)
class HistoryConfig:
    """What history to write: a fleet, a span and a step, ending at ``end`` (unix seconds)."""

    gpus: int = 256
    days: float = 14.0
    step_seconds: int = 300
    seed: int = 7
    end: float | None = None  # default: now
    # accelerated-life factor on the published hazard: 25 puts about 10-20 failures into 256 GPUs x
    # 14 days, enough to train and test on; 1.0 is the published rate (about one failure)
    hazard_scale: float = 25.0
    sudden_share: float = 0.25
    model_mix: dict[str, float] | None = None
    # the scrape's instance label: one exporter per host (default) or this one for every GPU (one exporter
    # serving a whole simulated fleet, as `gpuhealth demo` runs it)
    instance: str | None = None
    variety: bool = False  # a fleet unlike the default one (fleet.FleetConfig.variety)
    families: str = "full"  # full: every family the exporter serves; dcgm-default: dcgm-exporter's defaults only

    def __post_init__(self) -> None:
        if self.families not in FAMILY_SETS:
            raise ValueError(f"families: expected one of {', '.join(FAMILY_SETS)}, got {self.families!r}")
        if self.gpus < 1:
            raise ValueError(f"gpus: expected a positive number of GPUs, got {self.gpus}")
        if self.hazard_scale < 0:
            raise ValueError(f"hazard_scale: expected a factor >= 0, got {self.hazard_scale}")
        if not 0 <= self.sudden_share <= 1:
            raise ValueError(f"sudden_share: expected a share in 0..1, got {self.sudden_share}")
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
          "sudden_share": config.sudden_share, "variety": config.variety}
    if config.model_mix:
        kw["model_mix"] = config.model_mix
    # fates are drawn past the end by the longest precursor, so that the history ends with some GPUs
    # degrading towards a failure it does not contain (censored), as a real fleet "now" does
    horizon = config.days * DAY + max(hi for _lo, hi in PRECURSOR_DAYS.values()) * DAY
    return build_fleet(FleetConfig(**kw), start=start, horizon=horizon), start


def simulate(config: HistoryConfig) -> Iterator[tuple[float, dict[str, np.ndarray], np.ndarray, np.ndarray]]:
    """Yield (unix time, values, up, xid_counts) at every step of a history, in time order."""
    fleet, start = make_fleet(config)
    engine = Engine(fleet)
    steps = round(config.days * DAY / config.step_seconds)
    for k in range(1, steps + 1):
        t = k * config.step_seconds
        values = engine.step(float(t))
        yield start + t, values, engine.up, engine.xid_counts


def _format_values(matrix: np.ndarray, present: np.ndarray) -> np.ndarray:
    """The matrix's values as strings, in bulk: integers without a decimal point, floats as repr."""
    filled = np.where(present, matrix, 0.0)
    if np.array_equal(filled, np.floor(filled)) and np.abs(filled).max(initial=0.0) < 2**62:
        return filled.astype(np.int64).astype(str)
    return filled.astype(str)


class _Writer:
    """Renders one 2-hour window of every series as OpenMetrics text.

    Each series' label prefix is computed once. A family's lines for the series present at every
    step of a window come from one ``%`` template (cached until the set of such series changes), so
    that formatting tens of millions of lines runs in C rather than one Python format per line.
    """

    def __init__(self, fleet: Fleet, instance: str | None = None, families: str = "full") -> None:
        self.dcgm_only = families == "dcgm-default"
        def scrape(ident) -> dict[str, str]:
            return {"job": "gpuhealth", "instance": instance or f"{ident.hostname}:{EXPORTER_PORT}"}

        self.gpu_labels = [_label_str({**scrape(i), **i.labels()}) for i in fleet.identities]
        self.own_labels = [_label_str({**scrape(i), **i.labels(model=False)}) for i in fleet.identities]
        self.info = [_label_str({**scrape(i), **i.info_labels()}) for i in fleet.identities]
        self.reason_labels = [f'{lab},reason="{reason}"' for reason in CLOCK_EVENT_REASONS for lab in self.own_labels]
        self.bits = np.array(list(CLOCK_EVENT_REASONS.values()), dtype=np.int64)
        self._templates: dict[str, tuple[bytes, str]] = {}
        self.samples = 0

    def _template(self, name: str, sample_name: str, label_sets: list[str], cols: np.ndarray, steps: int) -> str:
        key = cols.tobytes() + steps.to_bytes(4, "little")
        cached = self._templates.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        line = " %s %s\n"
        text = "".join([f"{sample_name}{{{label_sets[j].replace('%', '%%')}}}{line}" * steps for j in cols])
        self._templates[name] = (key, text)
        return text

    def _family(self, out: list[str], name: str, typ: str, helptext: str, sample_name: str,
                label_sets: list[str], matrix: np.ndarray, ts: np.ndarray, cache: bool = True) -> None:
        """Append one family: matrix is (steps, series); NaN means no sample."""
        out.append(f"# HELP {name} {helptext}\n# TYPE {name} {typ}\n")
        present = ~np.isnan(matrix)
        strs = _format_values(matrix, present)
        full = present.all(axis=0)
        steps = matrix.shape[0]
        cols = np.flatnonzero(full)
        if len(cols):
            args = np.empty((len(cols), steps, 2), dtype=object)
            args[:, :, 0] = strs[:, cols].T
            args[:, :, 1] = ts[None, :]
            if cache:
                template = self._template(name, sample_name, label_sets, cols, steps)
            else:
                template = "".join([f"{sample_name}{{{label_sets[j].replace('%', '%%')}}} %s %s\n" * steps
                                    for j in cols])
            out.append(template % tuple(args.ravel().tolist()))
            self.samples += len(cols) * steps
        for j in np.flatnonzero(present.any(axis=0) & ~full):
            prefix = f"{sample_name}{{{label_sets[j]}}} "
            rows = np.flatnonzero(present[:, j])
            out.append("".join([f"{prefix}{strs[i, j]} {ts[i]}\n" for i in rows]))
            self.samples += len(rows)

    def render(self, times: list[float], values: dict[str, np.ndarray], up: np.ndarray, xids: np.ndarray) -> str:
        """One window as OpenMetrics text; arrays are (steps, gpus) and xids (steps, gpus, codes)."""
        return "".join(self.render_parts(times, values, up, xids))

    def render_parts(self, times: list[float], values: dict[str, np.ndarray], up: np.ndarray,
                     xids: np.ndarray) -> list[str]:
        """One window as OpenMetrics text in pieces (to write without joining them)."""
        ts = np.array([str(int(t)) for t in times], dtype=object)
        out: list[str] = []
        for fld in FIELDS:
            if self.dcgm_only and not fld.dcgm_default:
                continue
            # DCGM counters carry no _total suffix; OpenMetrics counters need one, and blocks keep no
            # type, so they are declared "unknown" here (as the exporter's OpenMetrics output does).
            typ = "gauge" if fld.type is MetricType.GAUGE else "unknown"
            self._family(out, fld.name, typ, fld.help, fld.name, self.gpu_labels, values[fld.key], ts)
        if self.dcgm_only:
            out.append("# EOF\n")
            return out
        self._family(out, GPU_UP, "gauge", OWN_FAMILIES[GPU_UP].help, GPU_UP, self.own_labels, up.astype(float), ts)
        mask = values["clock_event_reasons"]  # (steps, gpus)
        bits = (np.nan_to_num(mask).astype(np.int64)[:, None, :] & self.bits[None, :, None]) > 0
        active = np.where(np.isnan(mask)[:, None, :], np.nan, bits.astype(float)).reshape(len(times), -1)
        self._family(out, CLOCK_EVENT_ACTIVE, "gauge", OWN_FAMILIES[CLOCK_EVENT_ACTIVE].help,
                     CLOCK_EVENT_ACTIVE, self.reason_labels, active, ts)
        seen = np.argwhere(xids[-1] > 0)  # (gpu, code) pairs with any XID by the window's end
        if len(seen):
            labels = [f'{self.own_labels[g]},xid="{XID_CODES[c]}"' for g, c in seen]
            mat = xids[:, seen[:, 0], seen[:, 1]].astype(float)
            mat[mat == 0] = np.nan  # a counter series appears with its first XID
            base = XID_ERRORS_TOTAL.removesuffix("_total")
            self._family(out, base, "counter", OWN_FAMILIES[XID_ERRORS_TOTAL].help, XID_ERRORS_TOTAL, labels, mat,
                         ts, cache=False)
        self._family(out, GPU_INFO, "gauge", OWN_FAMILIES[GPU_INFO].help, GPU_INFO, self.info,
                     np.ones((len(times), len(self.info))), ts)
        out.append("# EOF\n")
        return out


def _write_parts(path: Path, parts: list[str]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.writelines(parts)
    tmp.rename(path)


def generate_history(config: HistoryConfig, out_dir: str | Path, progress: bool | None = None,
                     backfill_to: str | Path | None = None, fleet: Fleet | None = None,
                     keep_text: bool = True) -> dict:
    """Write a history's OpenMetrics windows, ground_truth.csv, assets.csv and resets.csv.

    Files are written by a background thread while the next window is simulated. With
    ``backfill_to``, each finished window is also turned into a Prometheus block there at once
    (promtool runs beside the simulation), which is what ``backfill`` would do afterwards.
    ``keep_text=False`` (with ``backfill_to``) deletes each window's text once its block is written, so
    that a long history never holds more than a few windows of text on disk.
    ``fleet`` (its start the history's) replaces the one the config describes, for a history that
    a live fleet continues (``sim.live.continued_fleet``).
    Returns a summary: files, samples, GPUs, failures, start and end (unix seconds), blocks.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("window-*.om"):
        old.unlink()
    described, start = make_fleet(config)
    if fleet is not None and fleet.start != start:
        raise ValueError(f"fleet: starts at {fleet.start:.0f}, the history at {start:.0f}")
    fleet = fleet or described
    engine = Engine(fleet)
    writer = _Writer(fleet, config.instance, config.families)
    steps = round(config.days * DAY / config.step_seconds)
    bar = tqdm(total=steps, desc="history", unit="step", disable=_quiet() if progress is None else not progress)
    buf_t: list[float] = []
    buf_v: dict[str, list[np.ndarray]] = {f.key: [] for f in FIELDS}
    buf_up: list[np.ndarray] = []
    buf_x: list[np.ndarray] = []
    paths: list[Path] = []
    io_pool = ThreadPoolExecutor(1)
    block_pool = ThreadPoolExecutor(2) if backfill_to is not None else None
    pending: list[Future] = []
    if backfill_to is not None:
        Path(backfill_to).mkdir(parents=True, exist_ok=True)

    def block(path: Path) -> None:
        _promtool_block(path, Path(backfill_to))
        if not keep_text:
            path.unlink()

    def write_and_backfill(path: Path, parts: list[str]) -> None:
        _write_parts(path, parts)
        if block_pool is not None:
            pending.append(block_pool.submit(block, path))

    def flush() -> None:
        if not buf_t:
            return
        window = int(buf_t[0]) // WINDOW * WINDOW
        parts = writer.render_parts(buf_t, {k: np.array(v) for k, v in buf_v.items()}, np.array(buf_up),
                                    np.array(buf_x))
        # at most one window waits for the disk, so memory stays bounded
        while pending and len([f for f in pending if not f.done()]) > 1:
            pending[0].result()
            pending.pop(0)
        path = out / f"window-{window}.om"
        pending.append(io_pool.submit(write_and_backfill, path, parts))
        paths.append(path)
        buf_t.clear()
        buf_up.clear()
        buf_x.clear()
        for v in buf_v.values():
            v.clear()

    try:
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
    finally:
        io_pool.shutdown(wait=True)
        if block_pool is not None:
            block_pool.shutdown(wait=True)
        bar.close()
    for fut in pending:
        fut.result()  # raise the first write or promtool error
    failures = _write_truth(out, fleet, start, steps * config.step_seconds, engine)
    blocks = _count_blocks(Path(backfill_to)) if backfill_to is not None else 0
    return {"files": len(paths), "samples": writer.samples, "gpus": fleet.n, "failures": failures, "start": start,
            "end": start + steps * config.step_seconds, "blocks": blocks}


def _write_truth(out: Path, fleet: Fleet, start: float, span: float, engine: Engine) -> int:
    """ground_truth.csv: one row per GPU. A row is a failure iff failed_at is set; a GPU whose fault
    is in progress at the end is censored (failed_at empty) with its mode and onset; the others
    read "healthy" or the kind of benign look-alike they are."""
    failures = 0
    with open(out / "ground_truth.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["UUID", "failed_at", "mode", "precursor", "onset", "shape"])
        for i, ident in enumerate(fleet.identities):
            mode = FAULT_MODES[fleet.mode[i] - 1] if fleet.mode[i] else ""
            precursor = "false" if mode in ("", "sudden") else "true"
            # the precursor's shape (PRECURSOR_SHAPES; the simulator's own is convex)
            shape = "" if precursor == "false" else (
                "convex" if fleet.shape is None else PRECURSOR_SHAPES[int(fleet.shape[i])])
            if mode and fleet.fail_at[i] <= span:
                failures += 1
                w.writerow([ident.uuid, _rfc3339(start + fleet.fail_at[i]), mode, precursor,
                            _rfc3339(start + fleet.onset[i]), shape])
            elif mode and fleet.onset[i] < span:
                w.writerow([ident.uuid, "", mode, precursor, _rfc3339(start + fleet.onset[i]), shape])
            else:
                w.writerow([ident.uuid, "", fleet.benign[i] or "healthy", "false", "", ""])
    write_assets_csv(fleet.assets, out / "assets.csv")
    with open(out / "resets.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["UUID", "at"])
        for i, t in engine.resets:
            w.writerow([fleet.identities[i].uuid, _rfc3339(start + t)])
    return failures


def _promtool_block(path: Path, tsdb: Path) -> None:
    promtool = find_binary("promtool", "/usr/bin/promtool")
    r = subprocess.run([str(promtool), "tsdb", "create-blocks-from", "openmetrics", str(path), str(tsdb)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"promtool could not backfill {path}: {r.stderr.strip()[-500:]}")


def _count_blocks(tsdb: Path) -> int:
    return sum(1 for p in tsdb.iterdir() if p.is_dir() and len(p.name) == 26)


def backfill(history_dir: str | Path, tsdb_path: str | Path, parallel: int = 2,
             progress: bool | None = None) -> int:
    """Turn a history's OpenMetrics windows into Prometheus blocks under tsdb_path; returns blocks.

    Runs ``promtool tsdb create-blocks-from openmetrics`` on ``parallel`` window files at a time.
    """
    find_binary("promtool", "/usr/bin/promtool")
    files = sorted(Path(history_dir).glob("window-*.om"))
    if not files:
        raise FileNotFoundError(f"{history_dir}: no window-*.om files (write them with `gpuhealth sim history`)")
    tsdb = Path(tsdb_path)
    tsdb.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(files), desc="backfill", unit="file", disable=_quiet() if progress is None else not progress)
    with ThreadPoolExecutor(parallel) as pool:
        for _ in pool.map(lambda path: _promtool_block(path, tsdb), files):
            bar.update(1)
    bar.close()
    return _count_blocks(tsdb)


def write_assets_csv(assets: list[Asset], path: Path) -> Path:
    """The fleet's asset inventory as the CSV `gpuhealth assets import` reads."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(ASSET_COLUMNS)
        for a in assets:
            w.writerow([getattr(a, c) for c in ASSET_COLUMNS])
    return path
