"""`gpuhealth rules` and `gpuhealth alertmanager`: generate and check the rules and the Alertmanager config."""

from __future__ import annotations

from pathlib import Path

import click

from gpuhealth.rules.spec import SpecError, load_spec


def _spec(config: Path | None):
    try:
        return load_spec(config)
    except SpecError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def rules() -> None:
    """Recording and alert rules generated from the rule spec."""


@rules.command()
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A rule spec merged over the packaged defaults.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True)
@click.option("--format", "fmt", type=click.Choice(["files", "prometheusrule"]), default="files", show_default=True)
def generate(config: Path | None, out: Path, fmt: str) -> None:
    """Write OUT/recording_rules/ and OUT/alert_rules/ (and the promtool tests with --format files)."""
    from gpuhealth.rules.generate import generate as write_rules
    from gpuhealth.rules.unittests import write_tests

    spec = _spec(config)
    for path in write_rules(spec, out, fmt):
        click.echo(f"wrote {path}")
    if fmt == "files":
        for path in write_tests(spec, out):
            click.echo(f"wrote {path}")


@rules.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("."))
def check(directory: Path) -> None:
    """Run promtool check rules and promtool test rules on DIRECTORY's generated rules."""
    from gpuhealth.rules.promtool import check_rules, test_rules

    ok = True
    for name, (code, output) in (("check rules", check_rules(directory)), ("test rules", test_rules(directory))):
        click.echo(f"promtool {name}: {'ok' if code == 0 else 'FAILED'}")
        if code != 0:
            click.echo(output)
            ok = False
    if not ok:
        raise SystemExit(1)


@click.group()
def alertmanager() -> None:
    """The Alertmanager configuration generated from the rule spec."""


@alertmanager.command("generate")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True)
def am_generate(config: Path | None, out: Path) -> None:
    """Write OUT/alertmanager/alertmanager.yml and its templates."""
    from gpuhealth.rules.alertmanager import generate as write_am

    for path in write_am(_spec(config), out):
        click.echo(f"wrote {path}")
