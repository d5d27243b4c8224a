"""XID errors: the last XID (dcgm-exporter's gauge) and a counter per XID code.

On a real GPU the counts come from NVML's event API, read by the backend's event thread, so that
no XID between two scrapes is lost; this collector only serves them.
"""

import numpy as np

from gpuhealth.catalog import XID_ERRORS_TOTAL
from gpuhealth.exporter.collectors.base import Collector, register
from gpuhealth.exporter.families import own


def read(nvml, h, state):
    """The last XID seen on this GPU (0 if none)."""
    return {"xid_errors": state.last_xid}


def families(reading, labels):
    """gpuhealth_xid_errors_total: the XIDs seen since the exporter started, by code (once one is seen)."""
    if not reading.xid_counts:
        return
    samples = []
    for code in sorted(reading.xid_counts):
        counts = reading.xid_counts[code]
        samples += [(f'{labels.own[i]},xid="{code}"', float(counts[i])) for i in np.flatnonzero(counts)]
    yield own(XID_ERRORS_TOTAL, samples)


register(Collector("xid", "XID errors from NVML events", read, families))
