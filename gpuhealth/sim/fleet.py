"""The simulated fleet: layout, GPU models, ages, and each GPU's fate.

A fleet is nodes of ``gpus_per_node`` GPUs, ``nodes_per_rack`` nodes to a rack and
``racks_per_datacenter`` racks to a datacenter. Each GPU gets a model from the mix, a purchase
date, an identity (UUID, serial, PCI bus id) and a *fate*: either a failure at a time drawn from
an age-dependent Weibull hazard, with a failure mode and a precursor period, or survival to the
end (censored), possibly as a benign look-alike.

Rates and shapes come from published fleet figures (see ../../shared/reference/failure_econ.md):
- Weibull shape 2.6 and scale about 7 years: ORNL Titan's 18,688 K20X GPUs, re-analysed from
  olcf/TitanGPULife's gc_summary_loc.csv (wear-out; KM survival 87.7 % at 3 years).
- Annual failure rates by part: A100 memory-UE events 3.1 %/GPU-year, H100 9.9 %/GPU-year
  (NCSA Delta, Cui et al., SC25, MTBE 283,271 h vs 88,768 h); Meta's Llama 3 run: faulty GPU +
  HBM3 = 9.1 %/GPU-year on young H100s (arXiv 2407.21783, Table 5). We set the hazard so that a
  2-year-old GPU fails at: A100 4 %, H100 8 %, H200 8 %, L40S 2.5 % per year.
- Failure-mode mix: Llama 3 interruptions by GPU cause (faulty GPU 148, HBM3 72, SRAM 19, GSP 17,
  thermal 6) and Delta's XID mix; memory dominates on HBM parts.
- Share without precursor (GSP faults, off-the-bus with "minimal numeric precursor", GWDG arXiv
  2603.28781): 25 % by default.
``hazard_scale`` multiplies the hazard (accelerated-life testing) so that short histories hold
enough failures to train and test on; 1.0 is the published rate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from gpuhealth.catalog import Asset, GpuIdentity
from gpuhealth.sim.specs import SPECS, GpuSpec

DAY = 86400.0
YEAR = 365.25 * DAY

FAULT_MODES: tuple[str, ...] = ("memory", "thermal", "power", "interconnect", "sudden")
MODE_INDEX = {m: i + 1 for i, m in enumerate(FAULT_MODES)}  # 0 = no fault
BENIGN_KINDS: tuple[str, ...] = ("hot_rack", "power_capped", "sbe_burst", "driver_reload", "idle",
                                 "noisy_pcie", "hot_spot", "one_off_remap")
# how a precursor grows with its progress p (0 at onset, 1 at failure), for fleets with variety; the
# simulator's own is "convex" (error rates ~ p^2). docs/simulator.md says where each is seen.
PRECURSOR_SHAPES: tuple[str, ...] = ("convex", "linear", "step", "bursty", "intermittent")
VARIETY_LEAD_DAYS = (0.25, 21.0)  # precursor lengths with variety: log-uniform from hours to three weeks
VARIETY_BENIGN = ("noisy_pcie", "hot_spot", "one_off_remap")  # look-alikes only fleets with variety hold
VARIETY_RELOAD_SHARE = 0.15  # GPUs of a fleet with variety whose driver is reloaded once, at any time

WEIBULL_SHAPE = 2.6
AFR_AT_TWO_YEARS = {"a100": 0.04, "h100": 0.08, "h200": 0.08, "l40s": 0.025}
# Precursor period (days) by mode: (min, max). Fleet studies report precursors over days to weeks.
PRECURSOR_DAYS = {"memory": (5.0, 21.0), "thermal": (7.0, 28.0), "power": (4.0, 14.0),
                  "interconnect": (4.0, 14.0), "sudden": (0.0, 0.0)}
# Mode shares among failures with a precursor, HBM parts and GDDR parts.
MODE_MIX_HBM = {"memory": 0.45, "thermal": 0.15, "power": 0.2, "interconnect": 0.2}
MODE_MIX_GDDR = {"memory": 0.2, "thermal": 0.3, "power": 0.3, "interconnect": 0.2}


@dataclass(frozen=True)
class FleetConfig:
    """What fleet to simulate. Everything random is drawn from ``seed``."""

    gpus: int = 64
    seed: int = 0
    gpus_per_node: int = 8
    nodes_per_rack: int = 4
    racks_per_datacenter: int = 8
    model_mix: dict[str, float] = field(default_factory=lambda: {"h100": 0.4, "a100": 0.3, "h200": 0.2,
                                                                 "l40s": 0.1})
    sudden_share: float = 0.25
    hazard_scale: float = 1.0
    benign_share: float = 0.15  # share of GPUs that are benign look-alikes
    hot_rack_share: float = 0.15  # share of racks that run hot, stably
    max_age_years: float = 4.0
    hostname_prefix: str = "gpu-node"
    driver_version: str = "550.90.07"
    # a fleet unlike the default one, drawn apart (the default fleet of a seed stays the same): per GPU
    # a precursor shape, length (hours to three weeks) and magnitude, a baseline error-rate noise level,
    # and more benign look-alikes (noisy-but-stable PCIe links, hot spots, one-off row remaps)
    variety: bool = False
    variety_benign_share: float = 0.12

    def __post_init__(self) -> None:
        if self.gpus < 1:
            raise ValueError(f"gpus: expected a positive number, got {self.gpus}")
        if self.gpus_per_node < 1:
            raise ValueError(f"gpus_per_node: expected a positive number, got {self.gpus_per_node}")
        unknown = set(self.model_mix) - set(SPECS)
        if unknown:
            raise ValueError(f"model_mix: unknown GPU models {sorted(unknown)}; known: {sorted(SPECS)}")
        if not 0 <= self.sudden_share <= 1:
            raise ValueError(f"sudden_share: expected 0..1, got {self.sudden_share}")


@dataclass
class Fleet:
    """A fleet's static description and fates, as arrays over GPUs (index = GPU number)."""

    config: FleetConfig
    start: float  # unix seconds at which sim time 0 falls
    specs: list[GpuSpec]
    identities: list[GpuIdentity]
    assets: list[Asset]
    node: np.ndarray  # int node number
    rack: np.ndarray  # int rack number
    ambient: np.ndarray  # per-GPU inlet temperature (rack ambient), C
    age0: np.ndarray  # age at sim time 0, seconds
    fail_at: np.ndarray  # sim seconds of failure, inf when censored within horizon
    mode: np.ndarray  # int: 0 none, else MODE_INDEX
    onset: np.ndarray  # sim seconds when the precursor starts (== fail_at for sudden)
    benign: np.ndarray  # object array: "" or one of BENIGN_KINDS
    benign_at: np.ndarray  # sim seconds of a benign event (SBE burst, driver reload)
    shape: np.ndarray | None = None  # index into PRECURSOR_SHAPES (None: all convex)
    magnitude: np.ndarray | None = None  # factor on the precursor's error rates (None: 1)
    noise: np.ndarray | None = None  # factor on the healthy baseline error rates (None: 1)
    reload_at: np.ndarray | None = None  # sim seconds of a driver reload of any GPU (inf: none; None: no such)

    @property
    def n(self) -> int:
        """The number of GPUs."""
        return len(self.identities)

    def spec_array(self, attr: str) -> np.ndarray:
        """One spec attribute as a float array over GPUs."""
        return np.array([float(getattr(s, attr)) for s in self.specs])


def _weibull_scale(afr_at_2y: float, k: float = WEIBULL_SHAPE) -> float:
    """The Weibull scale (years) whose hazard at 2 years equals afr_at_2y per year."""
    return (k * 2.0 ** (k - 1) / afr_at_2y) ** (1.0 / k)


def build_fleet(config: FleetConfig, start: float, horizon: float) -> Fleet:
    """Lay out a fleet and draw each GPU's fate over ``horizon`` sim seconds from ``start``."""
    rng = np.random.default_rng(config.seed)
    n = config.gpus
    keys = list(config.model_mix)
    weights = np.array([config.model_mix[k] for k in keys], dtype=float)
    weights /= weights.sum()
    node = np.arange(n) // config.gpus_per_node
    # a node holds one model, as real nodes do
    n_nodes = int(node.max()) + 1
    node_model = rng.choice(len(keys), size=n_nodes, p=weights)
    specs = [SPECS[keys[node_model[node[i]]]] for i in range(n)]
    rack = node // config.nodes_per_rack
    n_racks = int(rack.max()) + 1
    dc = rack // config.racks_per_datacenter
    rack_ambient = rng.normal(24.0, 1.5, n_racks)
    hot_racks = rng.random(n_racks) < config.hot_rack_share
    rack_ambient[hot_racks] += rng.uniform(6.0, 9.0, hot_racks.sum())
    ambient = rack_ambient[rack]
    # purchase: nodes bought together
    node_age = rng.uniform(0.05, config.max_age_years, n_nodes) * YEAR
    age0 = node_age[node]

    # fate: conditional Weibull failure time given survival to age0
    lam = np.array([_weibull_scale(AFR_AT_TWO_YEARS[s.key]) for s in specs]) * YEAR
    k = WEIBULL_SHAPE
    e = rng.exponential(1.0, n) / config.hazard_scale
    t_fail = lam * ((age0 / lam) ** k + e) ** (1.0 / k) - age0
    hbm = np.array([s.hbm for s in specs])
    sudden = rng.random(n) < config.sudden_share
    mode = np.zeros(n, dtype=int)
    for i in range(n):
        if sudden[i]:
            mode[i] = MODE_INDEX["sudden"]
        else:
            mix = MODE_MIX_HBM if hbm[i] else MODE_MIX_GDDR
            names = list(mix)
            mode[i] = MODE_INDEX[names[rng.choice(len(names), p=np.array(list(mix.values())))]]
    lo = np.array([PRECURSOR_DAYS[FAULT_MODES[m - 1]][0] for m in mode]) * DAY
    hi = np.array([PRECURSOR_DAYS[FAULT_MODES[m - 1]][1] for m in mode]) * DAY
    precursor = rng.uniform(lo, np.maximum(hi, lo))
    fails = t_fail < horizon
    fail_at = np.where(fails, t_fail, np.inf)
    mode = np.where(fails, mode, 0)
    onset = np.where(fails, fail_at - precursor, np.inf)

    benign = np.full(n, "", dtype=object)
    benign_at = rng.uniform(0.1, 0.9, n) * horizon
    candidates = np.flatnonzero(~fails)
    chosen = candidates[rng.random(len(candidates)) < config.benign_share]
    kinds = ["power_capped", "sbe_burst", "driver_reload", "idle"]
    for j, i in enumerate(rng.permutation(chosen)):  # round robin: every kind shows up in small fleets
        benign[i] = kinds[j % len(kinds)]
    benign[(~fails) & (benign == "") & hot_racks[rack]] = "hot_rack"

    identities, assets = [], []
    start_dt = datetime.fromtimestamp(start, UTC)
    for i in range(n):
        host = f"{config.hostname_prefix}-{node[i]:04d}"
        digest = hashlib.sha256(f"{config.seed}:{i}".encode()).hexdigest()
        uuid = f"GPU-{digest[0:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
        slot = i % config.gpus_per_node
        identities.append(GpuIdentity(
            index=slot, uuid=uuid, model_name=specs[i].model_name,
            pci_bus_id=f"00000000:{0x18 + 0x10 * slot:02X}:00.0", hostname=host,
            driver_version=config.driver_version, serial=f"{1650000000000 + int(digest[32:40], 16) % 10**9}",
            vbios=f"{specs[i].vbios_prefix}.{int(digest[40:42], 16) % 100:02d}.00.01"))
        purchased = (start_dt - timedelta(seconds=float(age0[i]))).date().isoformat()
        assets.append(Asset(uuid=uuid, serial=identities[-1].serial, model=specs[i].model_name, node=host,
                            datacenter=f"dc{dc[i] + 1}", rack=f"dc{dc[i] + 1}-r{rack[i]:03d}",
                            purchase_date=purchased, purchase_price_dollars=_list_price(specs[i].key)))
    fleet = Fleet(config=config, start=start, specs=specs, identities=identities, assets=assets, node=node,
                  rack=rack, ambient=ambient, age0=age0, fail_at=fail_at, mode=mode, onset=onset,
                  benign=benign, benign_at=benign_at)
    if config.variety:
        _add_variety(fleet, np.random.default_rng(config.seed + 271828), horizon)
    return fleet


def _add_variety(f: Fleet, rng: np.random.Generator, horizon: float) -> None:
    """Redraw the precursors' lengths and give each GPU a shape, magnitude and noise level; make some
    healthy GPUs look-alikes of the kinds only such fleets hold; reload some GPUs' drivers."""
    n = f.n
    lo, hi = np.log(VARIETY_LEAD_DAYS[0]), np.log(VARIETY_LEAD_DAYS[1])
    lead = np.exp(rng.uniform(lo, hi, n)) * DAY
    precursor = np.isfinite(f.fail_at) & (f.mode != MODE_INDEX["sudden"])
    f.onset = np.where(precursor, f.fail_at - lead, f.onset)
    f.shape = rng.integers(0, len(PRECURSOR_SHAPES), n)
    f.magnitude = np.exp(rng.normal(0.0, 0.6, n))
    f.noise = np.exp(rng.normal(0.0, 0.8, n))
    candidates = np.flatnonzero(~np.isfinite(f.fail_at) & (f.benign == ""))
    chosen = candidates[rng.random(len(candidates)) < f.config.variety_benign_share]
    for j, i in enumerate(rng.permutation(chosen)):
        f.benign[i] = VARIETY_BENIGN[j % len(VARIETY_BENIGN)]
    # driver reloads that reset the volatile counters: of any GPU at any time, and of half the GPUs whose
    # errors grow, during their precursor (what an operator tries first on a GPU that logs errors)
    f.reload_at = np.where(rng.random(n) < VARIETY_RELOAD_SHARE, rng.uniform(0.0, horizon, n), np.inf)
    during = precursor & (rng.random(n) < 0.5)
    with np.errstate(invalid="ignore"):  # inf - inf where a GPU does not fail: not chosen
        f.reload_at = np.where(during, f.onset + rng.uniform(0.2, 0.9, n) * (f.fail_at - f.onset), f.reload_at)


def _list_price(key: str) -> float:
    """Purchase price used for simulated assets (failure_econ.md §4.1 street prices)."""
    return {"a100": 15000.0, "h100": 30000.0, "h200": 32000.0, "l40s": 9000.0}[key]
