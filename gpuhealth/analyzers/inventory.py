"""The asset inventory: read it from a CSV/YAML file or the gpu_assets table, import it (all or nothing),
edit one field, and export it as gauges.

A file's rows are validated before anything is written; a bad row gets an ``InventoryError`` naming the
file, the line and the field. SQL is always parameterized.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, fields, replace
from datetime import UTC, date, datetime, time
from pathlib import Path

import yaml
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.samples import Sample

from gpuhealth.catalog import (
    ASSET_COLUMNS,
    ASSET_INFO,
    ASSET_PURCHASE_PRICE,
    ASSET_PURCHASE_TIMESTAMP,
    Asset,
)

STATUSES: tuple[str, ...] = ("active", "spare", "repair", "rma", "sold", "decommissioned")
REQUIRED: tuple[str, ...] = ("uuid", "model", "purchase_date", "purchase_price_dollars")
EDITABLE: tuple[str, ...] = tuple(c for c in ASSET_COLUMNS if c != "uuid")


class InventoryError(ValueError):
    """A bad inventory file, row or field; the message says where."""


def dollars(text: str, field: str) -> float:
    """An amount of dollars from its text: a finite number >= 0; ValueError naming ``field`` otherwise."""
    try:
        amount = float(text)
    except ValueError:
        raise ValueError(f"field {field!r}: {text!r} is not a number") from None
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"field {field!r}: {text!r} must be a finite number >= 0")
    return amount


def parse_field(name: str, value: object, where: str) -> object:
    """One Asset field from its text (or YAML) form, validated; raises InventoryError naming ``where``."""
    if name not in ASSET_COLUMNS:
        raise InventoryError(f"{where}: unknown field {name!r}; fields are {', '.join(ASSET_COLUMNS)}")
    text = "" if value is None else (value.isoformat() if isinstance(value, date) else str(value)).strip()
    if name in REQUIRED and not text:
        raise InventoryError(f"{where}: field {name!r} is empty")
    if name == "purchase_date":
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise InventoryError(f"{where}: field 'purchase_date': {text!r} is not a date YYYY-MM-DD") from None
    if name == "purchase_price_dollars":
        try:
            return dollars(text, name)
        except ValueError as exc:
            raise InventoryError(f"{where}: {exc}") from None
    if name == "status":
        text = text or "active"
        if text not in STATUSES:
            raise InventoryError(f"{where}: field 'status': {text!r} is not one of {', '.join(STATUSES)}")
    if name == "uuid" and any(c.isspace() for c in text):
        raise InventoryError(f"{where}: field 'uuid': {text!r} contains white space")
    return text


def asset_from_record(record: Mapping[str, object], where: str) -> Asset:
    """An Asset from one row (a mapping of field name to text); raises InventoryError naming ``where``."""
    unknown = [k for k in record if k not in ASSET_COLUMNS]
    if unknown:
        raise InventoryError(f"{where}: unknown field {unknown[0]!r}; fields are {', '.join(ASSET_COLUMNS)}")
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise InventoryError(f"{where}: field {missing[0]!r} is missing")
    values = {name: parse_field(name, record.get(name), where) for name in ASSET_COLUMNS}
    return Asset(**values)  # type: ignore[arg-type]


def _check_unique(assets: list[tuple[Asset, str]]) -> dict[str, Asset]:
    out: dict[str, Asset] = {}
    seen: dict[str, str] = {}
    for asset, where in assets:
        if asset.uuid in out:
            raise InventoryError(f"{where}: field 'uuid': {asset.uuid} already given at {seen[asset.uuid]}")
        out[asset.uuid], seen[asset.uuid] = asset, where
    return out


def parse_csv(text: str, source: str = "<csv>") -> dict[str, Asset]:
    """Assets by UUID from CSV text whose header names Asset fields (catalog.ASSET_COLUMNS)."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise InventoryError(f"{source}: empty file, expected a header line with {', '.join(ASSET_COLUMNS)}")
    rows = []
    for row in reader:
        where = f"{source}:{reader.line_num}"
        if None in row:
            raise InventoryError(f"{where}: more values than the header has fields")
        rows.append((asset_from_record({k: v for k, v in row.items() if v is not None}, where), where))
    return _check_unique(rows)


def parse_yaml(text: str, source: str = "<yaml>") -> dict[str, Asset]:
    """Assets by UUID from YAML: a list of mappings, or a mapping with the list under ``assets``."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise InventoryError(f"{source}: not valid YAML: {exc}") from None
    if root is None:
        return {}
    if isinstance(root, yaml.MappingNode):
        items = [v for k, v in root.value if k.value == "assets"]
        if not items:
            raise InventoryError(f"{source}:{root.start_mark.line + 1}: expected a list of assets or 'assets:'")
        root = items[0]
    if not isinstance(root, yaml.SequenceNode):
        raise InventoryError(f"{source}:{root.start_mark.line + 1}: expected a list of assets")
    rows = []
    for node in root.value:
        where = f"{source}:{node.start_mark.line + 1}"
        if not isinstance(node, yaml.MappingNode):
            raise InventoryError(f"{where}: expected a mapping of asset fields")
        record = yaml.SafeLoader(io.StringIO()).construct_document(node)
        rows.append((asset_from_record({str(k): v for k, v in record.items()}, where), where))
    return _check_unique(rows)


def read_inventory_file(path: str | Path) -> dict[str, Asset]:
    """Assets by UUID from a .csv or .yaml/.yml file, validated."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InventoryError(f"{p}: cannot read: {exc.strerror}") from None
    if p.suffix.lower() in (".yaml", ".yml"):
        return parse_yaml(text, str(p))
    return parse_csv(text, str(p))


def connect(dsn: str):
    """A connection to the database; InventoryError (the DSN's password redacted) when it cannot be made."""
    import psycopg

    from gpuhealth.sink.dsn import redact
    try:
        return psycopg.connect(dsn)
    except psycopg.OperationalError as exc:
        raise InventoryError(f"cannot connect to {redact(dsn)}: {redact(str(exc), dsn)}") from None


_SELECT = ("SELECT uuid, serial, model, node, datacenter, rack, purchase_date, purchase_price_dollars, status, "
           "owner FROM gpu_assets ORDER BY uuid")


def _row_asset(row: tuple) -> Asset:
    uuid, serial, model, node, dc, rack, purchased, price, status, owner = row
    return Asset(uuid=uuid, serial=serial or "", model=model or "", node=node or "", datacenter=dc or "",
                 rack=rack or "", purchase_date=purchased.isoformat() if purchased else "",
                 purchase_price_dollars=float(price) if price is not None else math.nan, status=status,
                 owner=owner)


def load_inventory(dsn: str | None = None, path: str | Path | None = None) -> dict[str, Asset]:
    """Assets by UUID from the gpu_assets table (dsn) or from a CSV/YAML file (path); exactly one."""
    if (dsn is None) == (path is None):
        raise ValueError("load_inventory needs exactly one of dsn and path")
    if path is not None:
        return read_inventory_file(path)
    with connect(dsn) as conn:
        return {a.uuid: a for a in map(_row_asset, conn.execute(_SELECT).fetchall())}


def import_assets(dsn: str, assets: Iterable[Asset]) -> int:
    """Insert or update these assets in gpu_assets in one transaction; returns how many rows were written."""
    rows = [(a.uuid, a.serial, a.model, a.node, a.datacenter, a.rack, a.purchase_date or None,
             None if math.isnan(a.purchase_price_dollars) else a.purchase_price_dollars, a.status, a.owner)
            for a in assets]
    with connect(dsn) as conn, conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO gpu_assets (uuid, serial, model, node, datacenter, rack, purchase_date, "
            "purchase_price_dollars, status, owner) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (uuid) DO UPDATE SET serial = EXCLUDED.serial, model = EXCLUDED.model, "
            "node = EXCLUDED.node, datacenter = EXCLUDED.datacenter, rack = EXCLUDED.rack, "
            "purchase_date = EXCLUDED.purchase_date, purchase_price_dollars = EXCLUDED.purchase_price_dollars, "
            "status = EXCLUDED.status, owner = EXCLUDED.owner, updated_at = now()", rows)
    return len(rows)


def set_asset_fields(dsn: str, uuid: str, assignments: Sequence[str]) -> Asset:
    """Apply ``field=value`` assignments to one asset in gpu_assets; returns the asset as stored."""
    changes: dict[str, object] = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise InventoryError(f"{item!r}: expected field=value")
        if name not in EDITABLE:
            raise InventoryError(f"{item!r}: field {name!r} cannot be set; settable: {', '.join(EDITABLE)}")
        changes[name] = parse_field(name, value, f"assets set {uuid}")
    with connect(dsn) as conn, conn.transaction():
        row = conn.execute(_SELECT.replace(" ORDER BY uuid", " WHERE uuid = %s FOR UPDATE"), (uuid,)).fetchone()
        if row is None:
            raise InventoryError(f"no asset with UUID {uuid!r} in gpu_assets")
        asset = replace(_row_asset(row), **changes)  # type: ignore[arg-type]
        # column names come from the fixed EDITABLE list, never from the input's text
        sets = ", ".join(f"{name} = %s" for name in changes)
        conn.execute(f"UPDATE gpu_assets SET {sets}, updated_at = now() WHERE uuid = %s",
                     (*[changes[n] for n in changes], uuid))
    return asset


def format_assets(assets: Mapping[str, Asset], fmt: str = "table") -> str:
    """The inventory as text: an aligned table, CSV (header = ASSET_COLUMNS) or JSON lines."""
    records = [asdict(a) for a in assets.values()]
    if fmt == "json":
        return "".join(json.dumps(r) + "\n" for r in records)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(ASSET_COLUMNS), lineterminator="\n")
        w.writeheader()
        w.writerows(records)
        return buf.getvalue()
    cols = [f.name for f in fields(Asset)]
    cells = [[str(r[c]) for c in cols] for r in records]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines) + "\n"


def asset_metric_families(assets: Mapping[str, Asset]) -> Iterable[Metric]:
    """gpuhealth_asset_info{UUID,serial,model,datacenter,rack,node,owner} = 1, the purchase price and the
    purchase time (midnight UTC of the purchase date) per GPU, for the rules to join on UUID."""
    info = GaugeMetricFamily(ASSET_INFO, "GPU asset inventory record (value 1).",
                             labels=["UUID", "serial", "model", "datacenter", "rack", "node", "owner", "status"])
    price = GaugeMetricFamily(ASSET_PURCHASE_PRICE, "Purchase price of the GPU in dollars.", labels=["UUID"])
    bought = GaugeMetricFamily(ASSET_PURCHASE_TIMESTAMP, "Purchase date of the GPU as a Unix timestamp.",
                               labels=["UUID"])
    for a in assets.values():
        info.samples.append(Sample(ASSET_INFO, {"UUID": a.uuid, "serial": a.serial, "model": a.model,
                                                "datacenter": a.datacenter, "rack": a.rack, "node": a.node,
                                                "owner": a.owner, "status": a.status}, 1.0, None, None))
        if not math.isnan(a.purchase_price_dollars):
            price.samples.append(Sample(ASSET_PURCHASE_PRICE, {"UUID": a.uuid}, a.purchase_price_dollars, None, None))
        if a.purchase_date:
            ts = datetime.combine(date.fromisoformat(a.purchase_date), time(0), UTC).timestamp()
            bought.samples.append(Sample(ASSET_PURCHASE_TIMESTAMP, {"UUID": a.uuid}, ts, None, None))
    return [info, price, bought]
