"""The `gpuhealth` command: one click group whose subcommands live beside what they run.

Each subcommand is a thin shell in its own package (``gpuhealth.<area>.command``); this module
only knows where they are, and imports one when it is called, so that ``gpuhealth --help`` stays
fast and a subcommand's heavy imports (numpy, xgboost) cost nothing to the others.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

from gpuhealth import __version__

# name -> "module:attribute" of a click command or group.
SUBCOMMANDS: dict[str, str] = {
    "exporter": "gpuhealth.exporter.command:exporter",
    "sim": "gpuhealth.sim.command:sim",
    "rules": "gpuhealth.rules.command:rules",
    "alertmanager": "gpuhealth.rules.command:alertmanager",
    "sink": "gpuhealth.sink.command:sink",
    "db": "gpuhealth.sink.command:db",
    "analyze": "gpuhealth.analyzers.command:analyze",
    "model": "gpuhealth.analyzers.command:model",
    "assets": "gpuhealth.analyzers.econ_command:assets",
    "report": "gpuhealth.analyzers.econ_command:report",
    "dashboards": "gpuhealth.dashboards.command:dashboards",
    "demo": "gpuhealth.demo:demo",
}


def _available(target: str) -> bool:
    module = target.split(":", 1)[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


class LazyGroup(click.Group):
    """A click group that imports each subcommand's module only when it is invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name, target in SUBCOMMANDS.items() if _available(target))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None or not _available(target):
            return None
        module, attr = target.split(":", 1)
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gpuhealth")
def main() -> None:
    """GPU fleet health for Prometheus: exporter, rules, remote-write sink, failure prediction
    and economics."""
