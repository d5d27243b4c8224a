"""The collector registry: one collector per NVML area, each switchable by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gpuhealth.catalog import FIELDS, Field

# read(nvml, handle, ctx) -> {field key: value}; ctx carries per-GPU state (e.g. previous reads)
ReadFn = Callable[[Any, Any, dict], dict[str, float]]


@dataclass(frozen=True)
class Collector:
    """A named group of families, with the NVML reads that fill them on a real GPU."""

    name: str
    help: str
    read: ReadFn
    extra_families: tuple[str, ...] = ()
    default: bool = True

    @property
    def fields(self) -> tuple[Field, ...]:
        """The catalog fields this collector serves."""
        return tuple(f for f in FIELDS if f.collector == self.name)


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
