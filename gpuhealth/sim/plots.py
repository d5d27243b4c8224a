"""PNG plots for docs/simulator.md: per fault mode, a failing GPU's precursors next to a healthy peer.

`python -m gpuhealth.sim.plots docs/img` writes docs/img/sim_<mode>.png for every fault mode.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from gpuhealth.catalog import DCGM_PREFIX, FIELDS_BY_KEY
from gpuhealth.sim.fleet import DAY, FAULT_MODES, MODE_INDEX
from gpuhealth.sim.history import HistoryConfig, make_fleet, simulate

# signals shown per mode: (field key, how to show it) - "rate" plots the per-hour increase of a counter
PANELS: dict[str, list[tuple[str, str]]] = {
    "memory": [("ecc_sbe_agg", "rate"), ("correctable_remapped_rows", "level"), ("ecc_dbe_agg", "level")],
    "thermal": [("gpu_temp", "level"), ("thermal_violation", "rate"), ("sm_clock", "level")],
    "power": [("power_usage", "level"), ("power_violation", "rate"), ("sm_clock", "level")],
    "interconnect": [("pcie_replay_counter", "rate"), ("nvlink_crc_flit_errors", "rate"), ("pcie_link_width", "level")],
    "sudden": [("gpu_temp", "level"), ("power_usage", "level"), ("ecc_sbe_agg", "rate")],
}
CONFIG = HistoryConfig(gpus=192, days=24, step_seconds=900, seed=16, end=1_790_000_000.0, hazard_scale=60)


def write_plots(out_dir: str | Path, config: HistoryConfig = CONFIG) -> list[Path]:
    """Simulate ``config`` and write one PNG per fault mode into out_dir; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fleet, start = make_fleet(config)
    times, values, up = [], {k: [] for k in FIELDS_BY_KEY}, []
    for t, v, u, _x in simulate(config):
        times.append(t)
        up.append(u.copy())
        for k, arr in v.items():
            values[k].append(arr)
    t_rel = (np.array(times) - start) / DAY
    vals = {k: np.array(v) for k, v in values.items()}
    span = config.days * DAY
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for mode in FAULT_MODES:
        failing = [i for i in range(fleet.n) if fleet.mode[i] == MODE_INDEX[mode] and fleet.onset[i] > DAY
                   and fleet.fail_at[i] < span - DAY]
        if not failing:
            continue
        i = failing[0]
        peers = [j for j in range(fleet.n) if fleet.mode[j] == 0 and not fleet.benign[j]
                 and fleet.specs[j].key == fleet.specs[i].key]
        j = peers[0]
        fig, axes = plt.subplots(len(PANELS[mode]), 1, figsize=(9, 2.3 * len(PANELS[mode])), sharex=True)
        for ax, (key, how) in zip(axes, PANELS[mode], strict=True):
            fld = FIELDS_BY_KEY[key]
            for g, label, color in ((i, f"failing ({mode})", "tab:red"), (j, "healthy peer", "tab:blue")):
                y = vals[key][:, g]
                if how == "rate":
                    y = np.diff(y, prepend=y[0]) / (config.step_seconds / 3600.0)
                    y = np.where(y < 0, np.nan, y)
                    if key.endswith("violation"):
                        y = y / 1e9 / 3600.0  # ns per hour -> share of time throttled
                ax.plot(t_rel, y, color=color, lw=0.8, label=label)
            unit = "share of time" if key.endswith("violation") and how == "rate" else (
                f"{fld.unit}/h" if how == "rate" else fld.unit)
            ax.set_ylabel(f"{fld.name.removeprefix(DCGM_PREFIX)}\n({unit})", fontsize=7)
            ax.axvline(fleet.onset[i] / DAY, color="orange", ls="--", lw=0.8)
            ax.axvline(fleet.fail_at[i] / DAY, color="black", ls="--", lw=0.8)
        axes[0].legend(fontsize=7, loc="upper left")
        axes[0].set_title(f"{mode}: {fleet.specs[i].model_name}; precursor onset (orange) and failure (black)",
                          fontsize=9)
        axes[-1].set_xlabel("days")
        fig.tight_layout()
        path = out / f"sim_{mode}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


if __name__ == "__main__":  # pragma: no cover
    for p in write_plots(sys.argv[1] if len(sys.argv) > 1 else "docs/img"):
        print(p)
