"""The admin page in Debian's headless Chromium (selenium) against a real PostgreSQL+TimescaleDB: the fleet
table's filter, sort and links, editing an asset, an inventory import with a bad row (nothing imported, the
error shown), recording a repair (in the database, in the API); writes refused without basic auth, without
the CSRF token or from another site; form fields stored as text, never as SQL."""

from __future__ import annotations

import base64
import json
import shutil
import threading
from datetime import UTC, datetime, timedelta

import bcrypt
import psycopg
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from gpuhealth.analyzers.inventory import import_assets, load_inventory
from gpuhealth.analyzers.repairs import RepairError, parse_repair
from gpuhealth.analyzers.serve import pages
from gpuhealth.analyzers.serve.admin import AdminPages, FormError, parse_form
from gpuhealth.analyzers.serve.api import GpuFilter
from gpuhealth.analyzers.serve.collector import VerdictCollector
from gpuhealth.analyzers.serve.service import serve
from gpuhealth.sink.migrate import migrate
from gpuhealth.web import WebConfig
from tests.fleetdata import HOSTS, INVENTORY, UUIDS, result

USER, PASSWORD = "ops", "correct horse"
AUTH = (USER, PASSWORD)
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


# pure parts ---------------------------------------------------------------------------------------------------

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
GOOD = {"date": "2026-12-01", "kind": "rma", "mode": "hbm", "cost": "1200", "success": "yes", "notes": "swapped"}


def test_a_repair_form_is_read_into_a_typed_record():
    r = parse_repair("GPU-1", GOOD, NOW, "ops")
    assert (r.uuid, r.kind, r.mode, r.cost_dollars, r.success, r.recorded_by) == ("GPU-1", "rma", "hbm", 1200.0,
                                                                                  True, "ops")
    assert r.repaired_at == datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_repair("GPU-1", {**GOOD, "date": "2026-12-01T10:30+02:00", "cost": ""}, NOW).repaired_at == \
        datetime(2026, 12, 1, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(("field", "value", "says"), [
    ("date", "", "field 'date' is empty"), ("date", "yesterday", "field 'date': 'yesterday' is not a date"),
    ("date", "2027-01-01", "in the future"), ("kind", "warranty", "field 'kind': 'warranty' is not one of"),
    ("cost", "cheap", "field 'cost': 'cheap' is not a number"), ("cost", "-5", "must be a finite number >= 0"),
    ("success", "maybe", "field 'success': 'maybe' is not yes or no"), ("colour", "red", "unknown field 'colour'")])
def test_a_bad_repair_field_is_named(field, value, says):
    with pytest.raises(RepairError, match=says):
        parse_repair("GPU-1", {**GOOD, field: value}, NOW)


@given(st.dictionaries(st.text("abcdefghij_", min_size=1, max_size=8),
                       st.text(st.characters(blacklist_categories=("Cs",)), max_size=40), max_size=6),
       st.binary(max_size=300))
def test_multipart_forms_are_read_back_exactly(fields, upload):
    """Whatever a browser sends in a multipart form, text fields and a file, comes back byte for byte."""
    boundary = "----gpuhealthboundary7MA4YWxkTrZu0gW"
    body = b""
    for name, value in fields.items():
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").encode() + \
            value.encode() + b"\r\n"
    body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"inv.csv\"\r\n"
             "Content-Type: text/csv\r\n\r\n").encode() + upload + b"\r\n" + f"--{boundary}--\r\n".encode()
    got = parse_form(f"multipart/form-data; boundary={boundary}", body)
    assert got.pop("file") == ("inv.csv", upload)
    assert got == fields


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=30), max_size=5))
def test_urlencoded_forms_are_read_back_exactly(fields):
    from urllib.parse import urlencode

    assert parse_form("application/x-www-form-urlencoded", urlencode(fields).encode()) == fields


def test_unreadable_forms_are_refused_by_name():
    with pytest.raises(FormError, match="given 2 times"):
        parse_form("application/x-www-form-urlencoded", b"a=1&a=2")
    with pytest.raises(FormError, match="Content-Type application/json"):
        parse_form("application/json", b"{}")


def test_pages_escape_every_value():
    evil = "GPU-<script>alert(1)</script>"
    listing = {"total": 1, "gpus": [{"uuid": evil, "host": "<b>h</b>", "model": "m", "status": "judged",
                                     "health_score": None, "failure_probability_7d": 0.5,
                                     "failure_probability_30d": 0.6, "recommended_action": "keep",
                                     "market_value_dollars": 1.0, "anomaly_score": None}]}
    page = pages.fleet_page(listing, GpuFilter(host="'><x"), "ok").decode()
    assert "<script>" not in page and "<b>h</b>" not in page and "'><x" not in page
    assert "&lt;script&gt;" in page and "/admin/gpus/GPU-%3Cscript%3E" in page


def test_csrf_tokens_are_per_user_and_per_process():
    a = AdminPages(None, lambda: (None, {}), dict, lambda _: None, True)
    b = AdminPages(None, lambda: (None, {}), dict, lambda _: None, True)
    assert a.csrf_token("ops") == a.csrf_token("ops") != a.csrf_token("other")
    assert a.csrf_token("ops") != b.csrf_token("ops")


# the page on a real database ----------------------------------------------------------------------------------

@pytest.fixture
def admin(postgres):
    """The analyzer's server with the admin page over a migrated database holding the fleet's inventory."""
    migrate(postgres)
    import_assets(postgres, INVENTORY.values())
    collector = VerdictCollector(load_inventory(dsn=postgres))
    collector.result, collector.healthy = result(), True

    def changed(assets):
        collector.inventory = assets

    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4))
    pages_ = AdminPages(postgres, lambda: (collector.result, {}), lambda: collector.inventory, changed, True)
    server = serve(collector, "127.0.0.1:0", WebConfig(basic_auth_users={USER: hashed}), None, (0.1, 0.5), pages_)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.url, postgres, collector, pages_
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def browser(admin):
    """Headless Chromium sending the admin's basic-auth header on every request."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail("chromium and chromium-driver are needed (scripts/bootstrap installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-extensions", "--no-first-run"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})
    try:
        yield driver
    finally:
        driver.quit()


def _click(driver, by: str, what: str) -> None:
    """Click something that loads a page, and wait until the new page has replaced the old one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(by, what).click()
    WebDriverWait(driver, 15).until(expected_conditions.staleness_of(old))


def _rows(driver) -> list[list[str]]:
    from selenium.webdriver.common.by import By

    return [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in driver.find_elements(By.CSS_SELECTOR, "#fleet tr.gpu")]


def _asset(dsn: str, uuid: str) -> tuple | None:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT rack, owner, purchase_price_dollars, status FROM gpu_assets WHERE uuid = %s",
                            (uuid,)).fetchone()


def test_the_fleet_table_filters_sorts_and_links_to_a_gpu(admin, browser):
    from selenium.webdriver.common.by import By

    url = admin[0]
    browser.get(f"{url}/admin")
    assert len(_rows(browser)) == len(UUIDS)
    p7 = [r[5] for r in _rows(browser)]
    assert [float(x) for x in p7 if x] == sorted((float(x) for x in p7 if x), reverse=True)
    browser.find_element(By.ID, "host").send_keys("node-b")
    _click(browser, By.ID, "apply")
    rows = _rows(browser)
    assert len(rows) == HOSTS.count("node-b") and {r[1] for r in rows} == {"node-b"}
    assert browser.find_element(By.ID, "host").get_attribute("value") == "node-b"
    _click(browser, By.ID, "sort-failure_probability_7d")  # sorted descending already: now ascending
    ascending = [float(r[5]) for r in _rows(browser)]
    assert ascending == sorted(ascending) and len(ascending) == 2 and "order=asc" in browser.current_url
    _click(browser, By.LINK_TEXT, rows[0][0])
    assert browser.find_element(By.TAG_NAME, "h1").text == f"GPU {rows[0][0]}"
    assert browser.find_element(By.ID, "v-status").text == "judged"


def test_an_asset_is_edited_in_the_database_and_a_bad_value_changes_nothing(admin, browser):
    from selenium.webdriver.common.by import By

    url, dsn, collector, _ = admin
    uuid = UUIDS[2]
    browser.get(f"{url}/admin/gpus/{uuid}")
    rack = browser.find_element(By.ID, "asset-rack")
    rack.clear()
    rack.send_keys("r9")
    _click(browser, By.ID, "save-asset")
    assert browser.find_element(By.ID, "message").text == "Asset saved."
    assert _asset(dsn, uuid)[0] == "r9" and collector.inventory[uuid].rack == "r9"
    assert requests.get(f"{url}/api/v1/gpus/{uuid}", auth=AUTH, timeout=10).json()["asset"]["rack"] == "r9"
    price = browser.find_element(By.ID, "asset-purchase_price_dollars")
    price.clear()
    price.send_keys("a lot")
    _click(browser, By.ID, "save-asset")
    error = browser.find_element(By.ID, "error").text
    assert "purchase_price_dollars" in error and "'a lot' is not a number" in error
    assert _asset(dsn, uuid)[2] == INVENTORY[uuid].purchase_price_dollars, "nothing written"
    assert browser.find_element(By.ID, "asset-purchase_price_dollars").get_attribute("value") == "a lot"


def test_an_import_with_a_bad_row_imports_nothing_and_says_where(admin, browser, tmp_path):
    from selenium.webdriver.common.by import By

    url, dsn, collector, _ = admin
    header = "uuid,serial,model,node,datacenter,rack,purchase_date,purchase_price_dollars,status,owner\n"
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "GPU-new-1,S1,NVIDIA H100,n1,dc2,r1,2025-01-02,30000,active,ml\n"
                   "GPU-new-2,S2,NVIDIA H100,n1,dc2,r1,2025-13-40,30000,active,ml\n")
    browser.get(f"{url}/admin/import")
    browser.find_element(By.ID, "import-file").send_keys(str(bad))
    _click(browser, By.ID, "import")
    error = browser.find_element(By.ID, "error").text
    assert error.startswith("nothing imported: bad.csv:3: field 'purchase_date'"), error
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM gpu_assets").fetchone()[0] == len(INVENTORY)
    good = tmp_path / "good.yaml"
    good.write_text("- {uuid: GPU-new-1, model: H100, purchase_date: 2025-01-02, purchase_price_dollars: 30000}\n"
                    "- {uuid: GPU-new-2, model: H100, purchase_date: 2025-02-03, purchase_price_dollars: 31000}\n")
    browser.find_element(By.ID, "import-file").send_keys(str(good))
    _click(browser, By.ID, "import")
    assert browser.find_element(By.ID, "message").text == "2 assets imported from good.yaml."
    assert _asset(dsn, "GPU-new-2") == ("", "", 31000.0, "active") and "GPU-new-1" in collector.inventory


def test_a_repair_is_recorded_in_the_database_and_served_by_the_api(admin, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    url, dsn, _collector, _ = admin
    uuid = UUIDS[3]
    with psycopg.connect(dsn) as conn:
        conn.execute("UPDATE gpu_assets SET status = 'repair' WHERE uuid = %s", (uuid,))
    when = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    browser.get(f"{url}/admin/gpus/{uuid}")
    date = browser.find_element(By.ID, "repair-date")
    date.clear()
    date.send_keys(when)
    Select(browser.find_element(By.NAME, "kind")).select_by_value("rma")
    browser.find_element(By.ID, "repair-mode").send_keys("hbm row remap failure")
    browser.find_element(By.ID, "repair-cost").send_keys("1200")
    browser.find_element(By.ID, "repair-notes").send_keys("board swapped")
    _click(browser, By.ID, "record-repair")
    assert browser.find_element(By.ID, "message").text == "Repair recorded."
    shown = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#repairs tr.repair td")]
    assert shown[1:5] == ["rma", "hbm row remap failure", "1,200", "True"]
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT kind, mode, cost_dollars, success, notes, recorded_by, repaired_at "
                           "FROM gpu_repairs WHERE uuid = %s", (uuid,)).fetchone()
    assert row[:6] == ("rma", "hbm row remap failure", 1200.0, True, "board swapped", USER)
    assert row[6] == datetime.fromisoformat(when).replace(tzinfo=UTC)
    assert _asset(dsn, uuid)[3] == "active", "a successful repair puts the GPU back in service"
    repairs = requests.get(f"{url}/api/v1/gpus/{uuid}", auth=AUTH, timeout=10).json()["repairs"]
    assert repairs == [{"repaired_at": row[6].isoformat().replace("+00:00", "Z"), "kind": "rma",
                        "mode": "hbm row remap failure", "cost_dollars": 1200.0, "success": True,
                        "notes": "board swapped", "recorded_by": USER}]
    # the same moment twice is refused by name, and the page says so
    browser.find_element(By.ID, "repair-date").clear()
    browser.find_element(By.ID, "repair-date").send_keys(when)
    _click(browser, By.ID, "record-repair")
    assert "already has a repair recorded" in browser.find_element(By.ID, "error").text


def _form(session: requests.Session, url: str, uuid: str) -> str:
    page = session.get(f"{url}/admin/gpus/{uuid}", timeout=10).text
    return page.split("name='csrf' value='")[1].split("'")[0]


def test_writes_need_basic_auth_the_csrf_token_and_the_same_site(admin):
    url, dsn, _collector, pages_ = admin
    uuid = UUIDS[0]
    target = f"{url}/admin/gpus/{uuid}/asset"
    assert requests.post(target, data={"rack": "x"}, timeout=10).status_code == 401
    s = requests.Session()
    s.auth = AUTH
    token = _form(s, url, uuid)
    assert token == pages_.csrf_token(USER)
    r = s.post(target, data={"rack": "x"}, timeout=10)
    assert r.status_code == 403 and "CSRF token" in r.text
    assert s.post(target, data={"rack": "x", "csrf": pages_.csrf_token("someone else")}, timeout=10).status_code == 403
    r = s.post(target, data={"rack": "x", "csrf": token}, headers={"Origin": "http://evil.example"}, timeout=10)
    assert r.status_code == 403 and "cross-site" in r.text
    assert s.get(target, timeout=10).status_code == 404, "no write through GET"
    assert _asset(dsn, uuid)[0] == INVENTORY[uuid].rack, "nothing written by a refused request"
    r = s.post(target, data={"rack": "x", "csrf": token}, allow_redirects=False, timeout=10)
    assert r.status_code == 303 and _asset(dsn, uuid)[0] == "x"


def test_without_basic_auth_users_the_page_is_read_only(postgres):
    migrate(postgres)
    import_assets(postgres, INVENTORY.values())
    collector = VerdictCollector(load_inventory(dsn=postgres))
    collector.result = result()
    pages_ = AdminPages(postgres, lambda: (collector.result, {}), lambda: collector.inventory, lambda _: None, False)
    server = serve(collector, "127.0.0.1:0", None, None, (0.1, 0.5), pages_)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert requests.get(f"{server.url}/admin", timeout=10).status_code == 200
        r = requests.post(f"{server.url}/admin/gpus/{UUIDS[0]}/asset",
                          data={"rack": "x", "csrf": pages_.csrf_token("")}, timeout=10)
        assert r.status_code == 403 and "basic_auth_users" in r.text
        assert _asset(postgres, UUIDS[0])[0] == INVENTORY[UUIDS[0]].rack
    finally:
        server.shutdown()
        server.server_close()


def test_form_fields_and_uuids_reach_sql_only_as_values(admin):
    url, dsn, _collector, pages_ = admin
    s = requests.Session()
    s.auth = AUTH
    token = pages_.csrf_token(USER)
    evil = "x'); DROP TABLE gpu_assets; --"
    r = s.post(f"{url}/admin/gpus/{UUIDS[1]}/asset", data={"owner": evil, "csrf": token}, allow_redirects=False,
               timeout=10)
    assert r.status_code == 303 and _asset(dsn, UUIDS[1])[1] == evil
    weird = "GPU-';DELETE_FROM_gpu_repairs;--"  # a UUID holds no white space, anything else goes
    r = s.post(f"{url}/admin/import", files={"file": ("odd.yaml", f"- {{uuid: \"{weird}\", model: NVIDIA A100, "
                                                       "purchase_date: 2024-01-01, purchase_price_dollars: 1}\n")},
               data={"csrf": token}, timeout=10)
    assert r.status_code == 200 and "1 assets imported" in r.text
    r = s.post(f"{url}/admin/gpus/{requests.utils.quote(weird, safe='')}/asset", data={"rack": "r'1", "csrf": token},
               allow_redirects=False, timeout=10)
    assert r.status_code == 303 and _asset(dsn, weird) == ("r'1", "", 1.0, "active")
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM gpu_assets").fetchone()[0] == len(INVENTORY) + 1
    r = s.post(f"{url}/admin/gpus/GPU-nobody/asset", data={"rack": "x", "csrf": token}, timeout=10)
    assert r.status_code == 404 and "neither reporting nor in the inventory" in r.text
    body = json.loads(requests.get(f"{url}/api/v1/gpus", auth=AUTH, timeout=10).text)
    assert body["total"] == len(UUIDS)


def test_with_the_database_down_the_api_and_the_page_say_what_cannot_be_read():
    """The verdicts are still in memory: the GPU's API record answers 503 naming gpu_repairs, its page shows
    the verdict and the error, and the service keeps serving."""
    down = "postgresql://gpuhealth@127.0.0.1:1/gpuhealth"  # nothing listens on port 1
    collector = VerdictCollector(dict(INVENTORY))
    collector.result = result()
    pages_ = AdminPages(down, lambda: (collector.result, {}), lambda: collector.inventory, lambda _: None, False)
    server = serve(collector, "127.0.0.1:0", None, None, (0.1, 0.5), pages_)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        r = requests.get(f"{server.url}/api/v1/gpus/{UUIDS[0]}", timeout=30)
        assert r.status_code == 503 and r.json()["error"].startswith("cannot read gpu_repairs: cannot connect to")
        page = requests.get(f"{server.url}/admin/gpus/{UUIDS[0]}", timeout=30)
        assert page.status_code == 200 and "cannot read gpu_repairs" in page.text and "id='verdict'" in page.text
        assert requests.get(f"{server.url}/api/v1/gpus", timeout=30).json()["total"] == len(UUIDS)
    finally:
        server.shutdown()
        server.server_close()
