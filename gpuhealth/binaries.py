"""Where the real tools gpuhealth runs are installed (promtool, amtool, Prometheus, PostgreSQL, ...)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class ComponentMissing(RuntimeError):
    """A real component that gpuhealth needs is not installed."""


def find_binary(name: str, *candidates: str | Path) -> Path:
    """The path of an installed binary (the first executable candidate, else ``name`` on the PATH), or
    ComponentMissing naming scripts/bootstrap."""
    for c in candidates:
        if Path(c).is_file() and os.access(c, os.X_OK):
            return Path(c)
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ComponentMissing(f"{name} is not installed: run scripts/bootstrap (it installs the real components)")
