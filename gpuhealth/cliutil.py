"""Parsing of durations and moments given on the command line, shared by the subcommands."""

from __future__ import annotations

import click

from gpuhealth import durations


def parse_duration(text: str) -> int:
    """Whole seconds in a positive Prometheus-style duration such as 300s, 5m, 2h or 1d (``durations``)."""
    try:
        value = int(durations.seconds(text))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if value <= 0:
        raise click.BadParameter(f"expected a positive duration like 300s, 5m or 1h, got {text!r}")
    return value


def parse_time(text: str | None) -> float | None:
    """Unix seconds from RFC 3339 (UTC without an offset) or Unix seconds; None stays None (meaning now)."""
    if text is None:
        return None
    try:
        return durations.instant(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


SELECTOR_OPTION = click.option(
    "--selector", default=None,
    help="PromQL label matchers of the exporter's series, e.g. 'job=\"dcgm\"' (default: the rule spec's "
         "selector, so that the rules and the analyzer read the same series).")
RULE_SPEC_OPTION = click.option("--rule-spec", type=click.Path(exists=True, dir_okay=False), default=None,
                                help="Rule spec whose selector is the default (default: the packaged spec).")


def resolve_selector(selector: str | None, rule_spec: str | None) -> str:
    """--selector, or the rule spec's selector."""
    from gpuhealth.rules.spec import SpecError, load_spec

    if selector is not None:
        if not selector.strip() or "{" in selector or "}" in selector:
            raise click.BadParameter(f"expected label matchers without braces, such as job=\"dcgm\", got {selector!r}",
                                     param_hint="--selector")
        return selector.strip()
    try:
        return load_spec(rule_spec).selector
    except SpecError as exc:
        raise click.ClickException(str(exc)) from exc
