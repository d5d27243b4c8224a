"""Where the folders the commands read at run time are: in the installed package (gpuhealth/_data/, put
there by the build) or, in a checkout, at its top level (sql/, recording_rules/, alert_rules/,
alertmanager/, grafana/)."""

from __future__ import annotations

from pathlib import Path

PACKAGED = Path(__file__).resolve().with_name("_data")
CHECKOUT = Path(__file__).resolve().parent.parent
DATA_DIRS = ("sql", "recording_rules", "alert_rules", "alertmanager", "grafana")


def data_dir(name: str) -> Path:
    """The folder ``name`` (one of DATA_DIRS): the installed package's copy, else the checkout's."""
    if name not in DATA_DIRS:
        raise ValueError(f"{name!r} is not one of the packaged folders {', '.join(DATA_DIRS)}")
    packaged = PACKAGED / name
    return packaged if packaged.is_dir() else CHECKOUT / name
