"""Parsing of durations and moments given on the command line, shared by the subcommands."""

from __future__ import annotations

import math
from datetime import datetime

import click


def parse_duration(text: str) -> int:
    """Seconds in a Prometheus-style duration such as 300s, 5m, 2h or 1d."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip()
    try:
        number, unit = (text[:-1], units[text[-1]]) if text and text[-1] in units else (text, 1)
        seconds = float(number) * unit
        if not math.isfinite(seconds) or seconds <= 0:
            raise ValueError(text)
        return int(seconds)
    except (ValueError, OverflowError):
        raise click.BadParameter(f"expected a positive duration like 300s, 5m or 1h, got {text!r}") from None


def parse_time(text: str | None) -> float | None:
    """Unix seconds from RFC 3339 or Unix seconds; None stays None (meaning now)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise click.BadParameter(f"expected RFC 3339 or Unix seconds, got {text!r}") from None
