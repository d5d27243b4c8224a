"""Asset inventory: the simulator's assets.csv through a real PostgreSQL/TimescaleDB, all-or-nothing import,
bad rows named by line and field, the CLI, the gauges and the recommendations table."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gpuhealth.analyzers.economics.pricing import load_pricing
from gpuhealth.analyzers.economics.valuation import GpuEconInput, value_fleet
from gpuhealth.analyzers.inventory import (
    InventoryError,
    asset_metric_families,
    format_assets,
    import_assets,
    load_inventory,
    parse_csv,
    parse_yaml,
    read_inventory_file,
)
from gpuhealth.analyzers.store import write_recommendations
from gpuhealth.catalog import ASSET_COLUMNS, Asset
from gpuhealth.cli import main
from gpuhealth.sink.migrate import migrate


@pytest.fixture(scope="module")
def sim_assets(tmp_path_factory) -> Path:
    """A real assets.csv from `gpuhealth sim history`."""
    out = tmp_path_factory.mktemp("hist")
    result = CliRunner().invoke(main, ["sim", "history", "--gpus", "16", "--days", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out / "assets.csv"


@pytest.fixture
def db(postgres) -> str:
    migrate(postgres)
    return postgres


def test_sim_assets_csv_parses(sim_assets):
    assets = read_inventory_file(sim_assets)
    assert len(assets) == 16
    assert all(a.model.startswith("NVIDIA") and a.purchase_price_dollars > 0 for a in assets.values())
    assert read_inventory_file(sim_assets) == parse_csv(format_assets(assets, "csv"))


@pytest.mark.parametrize(("line", "field", "value", "message"), [
    (5, "purchase_date", "2024-13-01", ":5: field 'purchase_date'"),
    (3, "purchase_price_dollars", "lots", ":3: field 'purchase_price_dollars'"),
    (7, "purchase_price_dollars", "-5", ":7: field 'purchase_price_dollars'"),
    (2, "status", "stolen", ":2: field 'status'"),
    (9, "uuid", "", ":9: field 'uuid' is empty"),
    (4, "model", "", ":4: field 'model' is empty"),
])
def test_bad_row_named_by_line_and_field(sim_assets, tmp_path, line, field, value, message):
    lines = sim_assets.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[line - 1].split(",")
    cells[header.index(field)] = value
    lines[line - 1] = ",".join(cells)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(InventoryError, match=message) as err:
        read_inventory_file(bad)
    assert str(bad) in str(err.value)


def test_duplicate_uuid_and_unknown_column(sim_assets, tmp_path):
    lines = sim_assets.read_text().splitlines()
    dup = tmp_path / "dup.csv"
    dup.write_text("\n".join([*lines, lines[1]]) + "\n")
    with pytest.raises(InventoryError, match=r":18: field 'uuid': .* already given at .*:2"):
        read_inventory_file(dup)
    extra = tmp_path / "extra.csv"
    extra.write_text(lines[0] + ",colour\n" + lines[1] + ",red\n")
    with pytest.raises(InventoryError, match="unknown field 'colour'"):
        read_inventory_file(extra)


def test_yaml_inventory_and_its_errors(sim_assets, tmp_path):
    assets = read_inventory_file(sim_assets)
    records = [dataclasses.asdict(a) for a in assets.values()]
    good = tmp_path / "inv.yaml"
    import yaml

    good.write_text(yaml.safe_dump({"assets": records}, sort_keys=False))
    assert read_inventory_file(good) == assets
    records[2]["purchase_date"] = "yesterday"
    text = yaml.safe_dump(records, sort_keys=False)
    # the line where the third record starts
    third = [i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith("- ")][2]
    with pytest.raises(InventoryError, match=rf":{third}: field 'purchase_date'"):
        parse_yaml(text, "inv.yaml")
    with pytest.raises(InventoryError, match="expected a list"):
        parse_yaml("just text", "inv.yaml")


asset_st = st.builds(
    Asset, uuid=st.from_regex(r"GPU-[0-9a-f]{8}", fullmatch=True),
    serial=st.text("0123456789", max_size=13), model=st.sampled_from(["NVIDIA H200", "NVIDIA L40S", "x,y \"q\""]),
    node=st.text(min_size=0, max_size=12).filter(lambda s: s == s.strip() and "\r" not in s and "\x00" not in s),
    datacenter=st.sampled_from(["dc1", "dc 2", ""]), rack=st.just("r1"),
    purchase_date=st.dates().map(lambda d: d.isoformat()),
    purchase_price_dollars=st.floats(0, 1e6), status=st.sampled_from(["active", "spare", "rma"]),
    owner=st.sampled_from(["", "ml-team", "ops, infra"]))


@settings(max_examples=50, deadline=None)
@given(assets=st.lists(asset_st, max_size=8, unique_by=lambda a: a.uuid))
def test_csv_round_trip(assets):
    by_uuid = {a.uuid: a for a in assets}
    assert parse_csv(format_assets(by_uuid, "csv")) == by_uuid


pytestmark_db = pytest.mark.integration


@pytestmark_db
def test_import_list_set_through_database(sim_assets, db):
    runner = CliRunner()
    r = runner.invoke(main, ["assets", "import", str(sim_assets), "--db", db])
    assert r.exit_code == 0, r.output
    assert "imported 16 assets" in r.output
    assert load_inventory(dsn=db) == read_inventory_file(sim_assets)
    r = runner.invoke(main, ["assets", "list", "--db", db, "--format", "csv"])
    assert r.exit_code == 0 and parse_csv(r.output) == read_inventory_file(sim_assets)

    uuid = next(iter(read_inventory_file(sim_assets)))
    r = runner.invoke(main, ["assets", "set", uuid, "status=rma", "owner=ops team", "purchase_price_dollars=123.5",
                             "--db", db])
    assert r.exit_code == 0, r.output
    got = load_inventory(dsn=db)[uuid]
    assert (got.status, got.owner, got.purchase_price_dollars) == ("rma", "ops team", 123.5)
    for bad, msg in [(["colour=red"], "cannot be set"), (["status=stolen"], "field 'status'"),
                     (["uuid=GPU-x"], "cannot be set"), (["status"], "expected field=value")]:
        r = runner.invoke(main, ["assets", "set", uuid, *bad, "--db", db])
        assert r.exit_code != 0 and msg in r.output, r.output
    r = runner.invoke(main, ["assets", "set", "GPU-nope", "status=spare", "--db", db])
    assert r.exit_code != 0 and "no asset with UUID 'GPU-nope'" in r.output
    assert load_inventory(dsn=db)[uuid] == got  # failed sets changed nothing


@pytestmark_db
def test_nothing_half_imported(sim_assets, db, tmp_path):
    original = read_inventory_file(sim_assets)
    import_assets(db, original.values())
    # a file whose first rows change but whose 12th line is bad: the CLI writes nothing
    lines = sim_assets.read_text().splitlines()
    changed = [ln.replace(",active,", ",spare,") for ln in lines]
    cells = changed[11].split(",")
    cells[ASSET_COLUMNS.index("purchase_date")] = "not-a-date"
    changed[11] = ",".join(cells)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(changed) + "\n")
    r = CliRunner().invoke(main, ["assets", "import", str(bad), "--db", db])
    assert r.exit_code != 0 and ":12: field 'purchase_date'" in r.output
    assert load_inventory(dsn=db) == original
    # a row the database itself rejects (negative price, past the parser): the whole batch rolls back
    rows = [dataclasses.replace(a, status="spare") for a in original.values()]
    rows[-1] = dataclasses.replace(rows[-1], purchase_price_dollars=-1.0)
    with pytest.raises(psycopg.errors.CheckViolation):
        import_assets(db, rows)
    assert load_inventory(dsn=db) == original


def test_asset_gauges(sim_assets):
    assets = read_inventory_file(sim_assets)

    class Collector:
        def collect(self):
            return asset_metric_families(assets)

    registry = CollectorRegistry()
    registry.register(Collector())
    fams = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    info = {s.labels["UUID"]: s.labels for s in fams["gpuhealth_asset_info"].samples}
    assert set(info) == set(assets)
    for uuid, a in assets.items():
        assert (info[uuid]["model"], info[uuid]["datacenter"], info[uuid]["rack"], info[uuid]["node"]) == \
            (a.model, a.datacenter, a.rack, a.node)
    price = {s.labels["UUID"]: s.value for s in fams["gpuhealth_asset_purchase_price_dollars"].samples}
    assert price == {u: a.purchase_price_dollars for u, a in assets.items()}
    bought = {s.labels["UUID"]: s.value for s in fams["gpuhealth_asset_purchase_timestamp_seconds"].samples}
    for uuid, a in assets.items():
        assert datetime.fromtimestamp(bought[uuid], UTC).date().isoformat() == a.purchase_date


@pytestmark_db
def test_write_recommendations(sim_assets, db):
    assets = read_inventory_file(sim_assets)
    gpus = [GpuEconInput(uuid=u, model=a.model, age_days=400.0, utilization=0.8, power_watts=300.0,
                         failure_probability_7d=0.6 if i < 3 else 0.0, failure_probability_30d=0.9 if i < 3 else 0.01,
                         failure_mode="memory" if i < 3 else None, retired_pages=0, remapped_rows=0)
            for i, (u, a) in enumerate(assets.items())]
    vals = value_fleet(gpus, load_pricing())
    at = datetime(2026, 5, 1, 12, tzinfo=UTC)
    write_recommendations(db, vals, at)
    with psycopg.connect(db) as conn:
        rows = conn.execute("SELECT time, uuid, action, market_value_dollars, npv_keep, npv_repair, npv_sell, "
                            "npv_decommission, drivers FROM recommendations ORDER BY uuid").fetchall()
    assert len(rows) == len(vals)
    by_uuid = {v.uuid: v for v in vals}
    for t, uuid, action, mv, keep, repair, sell, decom, drivers in rows:
        v = by_uuid[uuid]
        assert t == at and action == v.recommended_action and math.isclose(mv, v.market_value_dollars)
        assert [keep, repair, sell, decom] == pytest.approx([v.npv_dollars[k] for k in
                                                              ("keep", "repair", "sell", "decommission")])
        assert drivers == v.drivers
    assert json.loads(json.dumps(vals[0].to_json()))["recommended_action"] == vals[0].recommended_action
