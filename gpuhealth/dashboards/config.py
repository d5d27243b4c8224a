"""The dashboard config, parsed once into a typed object: titles, tags, datasources, jobs and provisioning,
plus the exporter's selector and thresholds read from the rule spec."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from gpuhealth.rules.spec import Spec, load_spec


class DashboardConfigError(ValueError):
    """A dashboard config that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Datasource:
    """A Grafana datasource the dashboards name by uid, and the provisioning file declares."""

    name: str
    uid: str
    url: str
    database: str = ""
    user: str = ""


@dataclass(frozen=True)
class DashboardConfig:
    """Everything the dashboards are generated from."""

    title_prefix: str
    tags: tuple[str, ...]
    refresh: str
    time_from: str
    uid_prefix: str
    prometheus: Datasource
    timescaledb: Datasource
    jobs: dict[str, str]
    provisioning: dict[str, str]
    spec: Spec  # the rule spec: selector, score and probability thresholds, the primary model

    def uid(self, name: str) -> str:
        """The stable uid of the dashboard called ``name``."""
        return f"{self.uid_prefix}{name}"


def default_config_text() -> str:
    """The packaged defaults (gpuhealth/dashboards/config.yaml)."""
    return resources.files("gpuhealth.dashboards").joinpath("config.yaml").read_text()


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def _text(where: str, raw: dict, key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise DashboardConfigError(f"{where}: {key}: expected a non-empty string, got {value!r}")
    return value


def _datasource(where: str, raw: Any, name: str) -> Datasource:
    if not isinstance(raw, dict):
        raise DashboardConfigError(f"{where}: datasources.{name}: expected a mapping")
    here = f"{where}: datasources.{name}"
    unknown = set(raw) - {"name", "uid", "url", "database", "user"}
    if unknown:
        raise DashboardConfigError(f"{here}: unknown fields {sorted(unknown)}")
    return Datasource(name=_text(here, raw, "name"), uid=_text(here, raw, "uid"), url=_text(here, raw, "url"),
                      database=str(raw.get("database", "")), user=str(raw.get("user", "")))


def load_config(path: str | Path | None = None, rules_config: str | Path | None = None) -> DashboardConfig:
    """The packaged dashboard config with a user file merged over it, and the rule spec (packaged or
    ``rules_config``) it reads the selector and thresholds from."""
    raw = yaml.safe_load(default_config_text())
    where = "dashboards config.yaml (packaged)"
    if path is not None:
        where = str(path)
        try:
            user = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise DashboardConfigError(f"{where}: cannot read: {exc}") from exc
        if not isinstance(user, dict):
            raise DashboardConfigError(f"{where}: expected a mapping at the top level")
        unknown = set(user) - set(raw)
        if unknown:
            raise DashboardConfigError(f"{where}: unknown fields {sorted(unknown)}; expected some of {sorted(raw)}")
        raw = _merge(raw, user)
    tags = raw.get("tags")
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        raise DashboardConfigError(f"{where}: tags: expected a list of strings, got {tags!r}")
    for section in ("datasources", "jobs", "provisioning"):
        if not isinstance(raw.get(section), dict):
            raise DashboardConfigError(f"{where}: {section}: expected a mapping")
    unknown = set(raw["datasources"]) - {"prometheus", "timescaledb"}
    if unknown:
        raise DashboardConfigError(f"{where}: datasources: unknown {sorted(unknown)}; expected prometheus, timescaledb")
    jobs = {k: _text(f"{where}: jobs", raw["jobs"], k) for k in ("analyzer", "sink", "prometheus")}
    provisioning = {k: _text(f"{where}: provisioning", raw["provisioning"], k)
                    for k in ("path", "folder", "configmap_name", "configmap_namespace", "sidecar_label")}
    return DashboardConfig(
        title_prefix=str(raw.get("title_prefix", "")), tags=tuple(tags), refresh=_text(where, raw, "refresh"),
        time_from=_text(where, raw, "time_from"), uid_prefix=_text(where, raw, "uid_prefix"),
        prometheus=_datasource(where, raw["datasources"].get("prometheus"), "prometheus"),
        timescaledb=_datasource(where, raw["datasources"].get("timescaledb"), "timescaledb"),
        jobs=jobs, provisioning=provisioning, spec=load_spec(rules_config))
