"""The gpuhealth command."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

import gpuhealth
from gpuhealth.cli import SUBCOMMANDS, main


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert gpuhealth.__version__ in result.output


def test_help_lists_available_subcommands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = main.list_commands(None)
    for name in listed:
        assert name in result.output
    assert set(listed) <= set(SUBCOMMANDS)


def test_installed_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "gpuhealth", "--version"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "gpuhealth" in out.stdout
