"""The failure itself, by mode: a memory failure is a row-remap failure (XIDs 64 and 95; the GPU stays
on the bus, drained); a sudden one is a GSP fault (XID 119) four times in ten, else the GPU falls off
the bus (XID 79), as every other mode's failure does."""

from __future__ import annotations

from gpuhealth.sim.fleet import MODE_INDEX


def step(e, t: float) -> None:
    """Fail the GPUs of engine ``e`` whose failure time has come."""
    f, n = e.fleet, e.n
    newly = (t >= f.fail_at) & ~e.failed
    if not newly.any():
        return
    e.failed |= newly
    mem_fail = newly & (f.mode == MODE_INDEX["memory"])
    e.remap_failure[mem_fail] = 1.0
    e.xid(64, mem_fail.astype(float))
    e.xid(95, mem_fail.astype(float))
    sudden = newly & (f.mode == MODE_INDEX["sudden"])
    gsp = sudden & (e.rng.random(n) < 0.4)
    e.xid(119, gsp.astype(float))
    e.xid(79, (newly & ~mem_fail & ~gsp).astype(float))
    e.up &= ~(newly & ~mem_fail)
