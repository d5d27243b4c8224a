"""Keeping a DSN's password out of logs and error messages."""

from __future__ import annotations

import re

from psycopg.conninfo import conninfo_to_dict


def redact(text: str, dsn: str | None = None) -> str:
    """text with any password (of dsn, or in a URL or key=value DSN) replaced by ***."""
    out = re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)
    out = re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", out, flags=re.IGNORECASE)
    if dsn:
        try:
            pw = conninfo_to_dict(dsn).get("password")
        except Exception:
            pw = None
        if pw:
            out = out.replace(str(pw), "***")
    return out
