"""What one poll of a backend read: every GPU's values, up flags, XID counts and collector health."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gpuhealth.catalog import GpuIdentity


@dataclass(frozen=True)
class MigInstance:
    """One MIG GPU instance of a physical GPU, with the values NVML gives per instance."""

    parent: int  # index of the physical GPU in Reading.identities
    gpu_instance_id: int
    profile: str  # e.g. "1g.10gb", from the instance's name
    uuid: str
    values: dict[str, float]  # catalog Field.key -> value (framebuffer used and free)


@dataclass
class Reading:
    """One poll of every GPU. ``values`` maps catalog Field.key to a per-GPU array; NaN = no value."""

    timestamp: float
    identities: list[GpuIdentity]
    values: dict[str, np.ndarray]
    up: np.ndarray
    xid_counts: dict[int, np.ndarray]
    collector_ok: dict[str, bool] = field(default_factory=dict)
    collector_seconds: dict[str, float] = field(default_factory=dict)
    mig: list[MigInstance] = field(default_factory=list)
