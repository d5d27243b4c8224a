"""promtool and amtool, run on generated files."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gpuhealth.binaries import find_binary


def _run(argv: list[str], cwd: Path | None = None) -> tuple[int, str]:
    r = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
    return r.returncode, (r.stdout + r.stderr).strip()


def rule_files(directory: Path) -> list[Path]:
    """The generated rule files under directory."""
    return sorted(p for d in ("recording_rules", "alert_rules") for p in (directory / d).glob("*.yml"))


def check_rules(directory: Path) -> tuple[int, str]:
    """promtool check rules on every generated rule file."""
    files = rule_files(directory)
    if not files:
        return 1, f"{directory}: no rule files under recording_rules/ or alert_rules/"
    return _run([str(find_binary("promtool", "/usr/bin/promtool")), "check", "rules", *map(str, files)])


def test_rules(directory: Path) -> tuple[int, str]:
    """promtool test rules on every test file under alert_rules/tests/."""
    tests = sorted((directory / "alert_rules" / "tests").glob("*.yml"))
    if not tests:
        return 1, f"{directory}: no promtool tests under alert_rules/tests/"
    return _run([str(find_binary("promtool", "/usr/bin/promtool")), "test", "rules", *map(str, tests)])


def amtool(*args: str) -> tuple[int, str]:
    """Run amtool with arguments."""
    return _run([str(find_binary("amtool", "/usr/bin/amtool")), *args])
