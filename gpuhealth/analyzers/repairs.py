"""Repairs and RMAs an operator recorded: validate one from a form, store it in gpu_repairs, and read back
when each GPU's current life began.

A successful repair starts the GPU's new life: the analyzer judges it from the repair on (its windows
reach no further back) and training counts the rows after it as a new GPU's. SQL is always parameterized.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from gpuhealth.analyzers.inventory import InventoryError, connect, dollars
from gpuhealth.analyzers.predict.features import LONGEST_WINDOW_SECONDS

KINDS: tuple[str, ...] = ("repair", "rma")


class RepairError(ValueError):
    """A bad repair record; the message names the field."""


@dataclass(frozen=True)
class Repair:
    """One repair or RMA outcome of one GPU."""

    uuid: str
    repaired_at: datetime  # timezone-aware
    kind: str  # repair | rma
    mode: str  # what was wrong or done: "hbm", "fan", "board swap" ...
    cost_dollars: float  # nan when not given
    success: bool
    notes: str = ""
    recorded_by: str = ""


def parse_repair(uuid: str, form: Mapping[str, str], now: datetime, recorded_by: str = "") -> Repair:
    """A Repair from a form's fields (date, kind, mode, cost, success, notes); RepairError names the bad one.

    ``date`` is an ISO date or date and time (UTC when it has no offset), not after ``now``."""
    unknown = sorted(set(form) - {"date", "kind", "mode", "cost", "success", "notes"})
    if unknown:
        raise RepairError(f"unknown field {unknown[0]!r}; fields are date, kind, mode, cost, success, notes")
    text = form.get("date", "").strip()
    if not text:
        raise RepairError("field 'date' is empty")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise RepairError(f"field 'date': {text!r} is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when > now:
        raise RepairError(f"field 'date': {text} is in the future")
    kind = form.get("kind", "").strip()
    if kind not in KINDS:
        raise RepairError(f"field 'kind': {kind!r} is not one of {', '.join(KINDS)}")
    cost_text = form.get("cost", "").strip()
    cost = math.nan
    if cost_text:
        try:
            cost = dollars(cost_text, "cost")
        except ValueError as exc:
            raise RepairError(str(exc)) from None
    success = form.get("success", "").strip().lower()
    if success not in ("yes", "no", "true", "false"):
        raise RepairError(f"field 'success': {success!r} is not yes or no")
    return Repair(uuid=uuid, repaired_at=when, kind=kind, mode=form.get("mode", "").strip(), cost_dollars=cost,
                  success=success in ("yes", "true"), notes=form.get("notes", "").strip(), recorded_by=recorded_by)


def record_repair(dsn: str, repair: Repair) -> None:
    """Store a repair; a successful one also puts the asset back in service (status active), in one transaction.

    RepairError when the GPU has no asset or already has a repair at that moment."""
    import psycopg

    cost = None if math.isnan(repair.cost_dollars) else repair.cost_dollars
    try:
        with connect(dsn) as conn, conn.transaction():
            if conn.execute("SELECT 1 FROM gpu_assets WHERE uuid = %s", (repair.uuid,)).fetchone() is None:
                raise RepairError(f"no asset with UUID {repair.uuid!r} in gpu_assets")
            conn.execute("INSERT INTO gpu_repairs (uuid, repaired_at, kind, mode, cost_dollars, success, notes, "
                         "recorded_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                         (repair.uuid, repair.repaired_at, repair.kind, repair.mode, cost, repair.success,
                          repair.notes, repair.recorded_by))
            if repair.success:
                conn.execute("UPDATE gpu_assets SET status = 'active', updated_at = now() WHERE uuid = %s",
                             (repair.uuid,))
    except psycopg.errors.UniqueViolation:
        raise RepairError(f"{repair.uuid} already has a repair recorded at {repair.repaired_at.isoformat()}") from None
    except InventoryError as exc:
        raise RepairError(str(exc)) from None


def list_repairs(dsn: str, uuid: str) -> list[Repair]:
    """A GPU's recorded repairs, newest first."""
    with connect(dsn) as conn:
        rows = conn.execute("SELECT uuid, repaired_at, kind, mode, cost_dollars, success, notes, recorded_by "
                            "FROM gpu_repairs WHERE uuid = %s ORDER BY repaired_at DESC", (uuid,)).fetchall()
    return [Repair(u, t, k, m, math.nan if c is None else float(c), s, n, b) for u, t, k, m, c, s, n, b in rows]


def lives_since(dsn: str, at: float, reach_seconds: float = LONGEST_WINDOW_SECONDS) -> dict[str, float]:
    """UUID -> when its current life began (Unix seconds), for GPUs whose last successful repair is within
    ``reach_seconds`` before ``at`` (older ones shorten no feature's window): the analyzer reads their
    telemetry from that moment only."""
    ts = datetime.fromtimestamp(at, UTC)
    with connect(dsn) as conn:
        rows = conn.execute("SELECT uuid, extract(epoch FROM max(repaired_at)) FROM gpu_repairs WHERE success "
                            "AND repaired_at <= %s AND repaired_at > %s - make_interval(secs => %s) GROUP BY uuid",
                            (ts, ts, reach_seconds)).fetchall()
    return {u: float(t) for u, t in rows}


def repairs_by_gpu(dsn: str) -> dict[str, list[float]]:
    """UUID -> the moments of its successful repairs (Unix seconds, in order), for training's lives."""
    with connect(dsn) as conn:
        rows = conn.execute("SELECT uuid, extract(epoch FROM repaired_at) FROM gpu_repairs WHERE success "
                            "ORDER BY uuid, repaired_at").fetchall()
    out: dict[str, list[float]] = {}
    for u, t in rows:
        out.setdefault(u, []).append(float(t))
    return out
