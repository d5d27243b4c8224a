"""Backends read every GPU into a Reading: ``nvml`` (real GPUs) and ``sim`` (the simulator)."""

from __future__ import annotations

from typing import Protocol

from gpuhealth.catalog import GpuIdentity
from gpuhealth.exporter.reading import Reading


class BackendUnavailable(RuntimeError):
    """The backend cannot run here (no driver, no GPU); the message says what to do instead."""


class Backend(Protocol):
    """What the poller needs of a backend."""

    identities: list[GpuIdentity]

    def read(self, enabled: set[str]) -> Reading:
        """Read every GPU for the enabled collectors."""
        ...

    def close(self) -> None:
        """Release the backend's resources."""
        ...
