"""Ground truth: read ground_truth.csv and record its failures in the gpu_failures table."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class Truth:
    """One GPU's fate in a simulated history."""

    uuid: str
    failed_at: datetime | None  # None when censored (survived the history)
    mode: str  # failure mode, or "healthy" / a benign look-alike's kind when censored
    precursor: bool
    onset: datetime | None


def read_ground_truth(path: str | Path) -> list[Truth]:
    """Parse ground_truth.csv; a bad row raises ValueError naming the line and field."""
    rows = []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"UUID", "failed_at", "mode", "precursor"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)}")
        for line, row in enumerate(reader, start=2):
            try:
                failed = datetime.fromisoformat(row["failed_at"].replace("Z", "+00:00")) if row["failed_at"] else None
                onset_text = row.get("onset") or ""
                onset = datetime.fromisoformat(onset_text.replace("Z", "+00:00")) if onset_text else None
            except ValueError as exc:
                raise ValueError(f"{path}:{line}: failed_at/onset: expected RFC 3339 ({exc})") from None
            if row["precursor"] not in ("true", "false"):
                raise ValueError(f"{path}:{line}: precursor: expected true or false, got {row['precursor']!r}")
            rows.append(Truth(row["UUID"], failed, row["mode"], row["precursor"] == "true", onset))
    return rows


def load_ground_truth(dsn: str, path: str | Path) -> int:
    """Insert the failures of ground_truth.csv into gpu_failures (idempotent); returns how many."""
    import psycopg

    failures = [t for t in read_ground_truth(path) if t.failed_at is not None]
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO gpu_failures (uuid, failed_at, mode, precursor, source) VALUES (%s, %s, %s, %s, 'simulator') "
            "ON CONFLICT (uuid, failed_at) DO NOTHING",
            [(t.uuid, t.failed_at, t.mode, t.precursor) for t in failures])
    return len(failures)
