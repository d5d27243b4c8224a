"""The collector registry: one collector per NVML area, each switchable by name."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gpuhealth.catalog import FIELDS, OWN_FAMILIES, Field

if TYPE_CHECKING:
    from gpuhealth.exporter.families import Family, GpuLabels
    from gpuhealth.exporter.reading import Reading



@dataclass
class GpuState:
    """What the collectors and the backend keep of one GPU between polls."""

    dt: float = 0.0  # seconds since the previous poll
    last_xid: int = 0  # the last XID NVML reported (set by the backend's event thread)
    nvlinks: list[int] | None = None  # the NVLinks found up, probed on the first poll
    pcie_bytes: dict[str, float] = field(default_factory=dict)  # PCIe counters integrated from NVML's rates
    gpm: bool | None = None  # whether the GPU has NVML's GPM, probed on the first poll
    gpm_sample: Any = None  # the previous poll's GPM sample


# read(nvml, handle, state) -> {field key: value}
ReadFn = Callable[[Any, Any, GpuState], dict[str, float]]
# families(reading, labels) -> the collector's families of gpuhealth's own, beyond its catalog fields
FamiliesFn = Callable[["Reading", "GpuLabels"], Iterable["Family"]]


@dataclass(frozen=True)
class Collector:
    """A named group of families: the catalog fields it serves, filled by its NVML reads on a real GPU, and
    the families of gpuhealth's own it yields itself (``families``; the catalog declares them, OWN_FAMILIES)."""

    name: str
    help: str
    read: ReadFn
    families: FamiliesFn | None = None
    default: bool = True

    @property
    def fields(self) -> tuple[Field, ...]:
        """The catalog fields this collector serves."""
        return tuple(f for f in FIELDS if f.collector == self.name)

    @property
    def own_families(self) -> tuple[str, ...]:
        """The names of the families of gpuhealth's own this collector yields."""
        return tuple(name for name, f in OWN_FAMILIES.items() if f.collector == self.name)


COLLECTORS: dict[str, Collector] = {}


def register(collector: Collector) -> Collector:
    """Add a collector to the registry (each collector module calls this once)."""
    COLLECTORS[collector.name] = collector
    return collector


def optional(nvml: Any, fn: Callable, *args: Any) -> Any:
    """Call an NVML function; None when the GPU does not support it."""
    try:
        return fn(*args)
    except nvml.NVMLError as exc:
        unsupported = (nvml.NVML_ERROR_NOT_SUPPORTED, getattr(nvml, "NVML_ERROR_FUNCTION_NOT_FOUND", -1))
        if getattr(exc, "value", None) in unsupported:
            return None
        raise
