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
