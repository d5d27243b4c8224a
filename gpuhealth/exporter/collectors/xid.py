"""XID errors: the last XID (dcgm-exporter's gauge) and a counter per XID code.

On a real GPU the counts come from NVML's event API, read by the backend's event thread, so that
no XID between two scrapes is lost; this collector only serves them.
"""

from gpuhealth.catalog import XID_ERRORS_TOTAL
from gpuhealth.exporter.collectors.base import Collector, register


def read(nvml, h, ctx):
    """The last XID seen on this GPU (0 if none)."""
    return {"xid_errors": ctx.get("last_xid", 0)}


register(Collector("xid", "XID errors from NVML events", read, extra_families=(XID_ERRORS_TOTAL,)))
