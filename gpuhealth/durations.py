"""Durations and instants as Prometheus writes them: the one parser that the commands, the rule
generator, the analyzer's features and the report read them with.

A duration is one or more of a number and a unit, largest first as Prometheus writes them (``500ms``,
``30s``, ``5m``, ``1h30m``, ``1d``, ``1w``, ``1y``: a year of 365 days, as in Prometheus); an instant
is RFC 3339 (a time without an offset is UTC) or Unix seconds.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

UNIT_SECONDS: dict[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0,
                                  "w": 604800.0, "y": 31536000.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_ORDER = ("y", "w", "d", "h", "m", "s", "ms")


def _number(text: str) -> float | None:
    """The text as a bare number, None when it is not one."""
    try:
        return float(text)
    except ValueError:
        return None


def seconds(text: str, bare_unit: str = "s") -> float:
    """Seconds in a duration such as 500ms, 5m or 1h30m (a bare number is in ``bare_unit``); ValueError
    naming the text when it is none, or is negative, infinite or not a number."""
    s = str(text).strip()
    value = _number(s)
    if value is not None:
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"expected a duration like 30s, 5m or 1h, got {text!r}")
        return value * UNIT_SECONDS[bare_unit]
    parts = _PART.findall(s)
    if not parts or "".join(n + u for n, u in parts) != s:
        raise ValueError(f"expected a duration like 30s, 5m or 1h, got {text!r}")
    ranks = [_ORDER.index(u) for _n, u in parts]
    if ranks != sorted(set(ranks)):
        raise ValueError(f"expected a duration's units largest first and once each (like 1h30m), got {text!r}")
    return sum(float(n) * UNIT_SECONDS[u] for n, u in parts)


def whole_seconds(text: str) -> int:
    """Seconds in a duration of whole seconds (windows and intervals written into PromQL and SQL)."""
    value = seconds(text)
    if value != int(value):
        raise ValueError(f"expected a duration of whole seconds, got {text!r}")
    return int(value)


def instant(text: str) -> float:
    """Unix seconds from RFC 3339 (without an offset: UTC) or Unix seconds; ValueError naming the text."""
    s = str(text).strip()
    value = _number(s)
    if value is not None:
        if not math.isfinite(value):
            raise ValueError(f"expected RFC 3339 or Unix seconds, got {text!r}")
        return value
    try:
        t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"expected RFC 3339 or Unix seconds, got {text!r}") from None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()
