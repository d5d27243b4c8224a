"""The exporter: golden exposition over a fake NVML, a failing GPU, formats, promtool, a real scrape."""

from __future__ import annotations

import gzip
import os
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from gpuhealth.catalog import FIELDS, GPU_UP
from gpuhealth.exporter.backends import BackendUnavailable
from gpuhealth.exporter.backends.nvml import NvmlBackend
from gpuhealth.exporter.backends.sim import SimBackend
from gpuhealth.exporter.collectors import COLLECTORS
from gpuhealth.exporter.exposition import Renderer
from gpuhealth.exporter.poller import Poller
from gpuhealth.exporter.server import serve
from gpuhealth.sim.live import LiveFleet
from tests.fake_pynvml import FakeDevice, FakeNvml

GOLDEN = Path(__file__).parent / "golden" / "exporter_nvml.prom"
ALL = set(COLLECTORS)


def _fake(lost: bool = False) -> FakeNvml:
    return FakeNvml([FakeDevice(uuid="GPU-00000000-0000-0000-0000-000000000000"),
                     FakeDevice(uuid="GPU-11111111-1111-1111-1111-111111111111", bus_id="00000000:28:00.0",
                                temp=83, lost=lost)])


def _render(nvml: FakeNvml, enabled=ALL) -> tuple[str, str, NvmlBackend]:
    backend = NvmlBackend(nvml, hostname="node-a")
    reading = backend.read(enabled)
    reading.timestamp = 1_700_000_000.0
    reading.collector_seconds = dict.fromkeys(reading.collector_seconds, 0.001)
    text, om = Renderer(backend.identities, "nvml").render(reading, enabled)
    return text.decode(), om.decode(), backend


VOLATILE = ("pythonversion", "PCIE_TX_THROUGHPUT{", "PCIE_RX_THROUGHPUT{")  # build; rate x poll interval


def _strip_volatile(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not any(v in line for v in VOLATILE))


def test_golden_exposition_from_fake_nvml():
    nvml = _fake()
    text, _om, backend = _render(nvml)
    backend.close()
    if os.environ.get("GPUHEALTH_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(_strip_volatile(text) + "\n")
    assert _strip_volatile(text) + "\n" == GOLDEN.read_text()


def test_values_units_and_labels_follow_dcgm_exporter():
    text, _om, backend = _render(_fake())
    backend.close()
    fams = {f.name: f for f in parse_text(text)}
    power = fams["DCGM_FI_DEV_POWER_USAGE"].samples[0]
    assert power.value == pytest.approx(412.345)  # NVML mW -> W
    assert list(power.labels) == ["gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname",
                                  "DCGM_FI_DRIVER_VERSION"]
    assert fams["DCGM_FI_DEV_FB_USED"].samples[0].value == 50 * 1024  # bytes -> MiB
    assert fams["DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL"].samples[0].value == 8  # summed over 2 links
    assert "DCGM_FI_DEV_FAN_SPEED" not in fams  # not supported on SXM parts: left out, not zero
    assert "DCGM_FI_DEV_RETIRED_SBE" not in fams
    active = {s.labels["reason"] for s in fams["gpuhealth_clock_event_active"].samples if s.value == 1}
    assert active == {"power_cap", "sw_thermal"}


def test_profiling_fields_come_from_two_gpm_samples_and_are_absent_without_gpm():
    nvml = FakeNvml([FakeDevice(uuid="GPU-00000000-0000-0000-0000-000000000000"),
                     FakeDevice(uuid="GPU-11111111-1111-1111-1111-111111111111", bus_id="00000000:28:00.0",
                                name="NVIDIA A100-SXM4-80GB", gpm=None)])
    backend = NvmlBackend(nvml, hostname="node-a")
    first = backend.read({"profiling"})
    assert np.isnan(first.values["gr_engine_active"]).all(), "one sample gives no rate: absent, not zero"
    second = backend.read({"profiling"})
    backend.close()
    v = {k: second.values[k] for k in ("gr_engine_active", "sm_active", "pipe_tensor_active", "pcie_tx_bytes",
                                       "nvlink_rx_bytes")}
    assert v["gr_engine_active"][0] == pytest.approx(0.96) and v["sm_active"][0] == pytest.approx(0.815)
    assert v["pipe_tensor_active"][0] == pytest.approx(0.33)
    assert v["pcie_tx_bytes"][0] == pytest.approx(1500 * 2**20) and v["nvlink_rx_bytes"][0] == 41000 * 2**20
    assert all(np.isnan(x[1]) for x in v.values()), "a GPU without GPM (pre-Hopper) serves no profiling field"
    assert second.collector_ok["profiling"] and second.up.all()
    assert len(nvml.gpm_samples) == 1, "each poll frees the previous poll's sample"


def test_a_profiling_metric_the_gpu_lacks_is_left_out_and_the_rest_served():
    device = FakeDevice(uuid="GPU-00000000-0000-0000-0000-000000000000")
    del device.gpm[FakeNvml([]).NVML_GPM_METRIC_FP64_UTIL]
    backend = NvmlBackend(FakeNvml([device]), hostname="node-a")
    backend.read({"profiling"})
    reading = backend.read({"profiling"})
    backend.close()
    assert np.isnan(reading.values["pipe_fp64_active"][0])
    assert reading.values["pipe_fp32_active"][0] == pytest.approx(0.12)


@pytest.mark.parametrize("hour", [3, 12])  # the inference load follows the time of day: at night and at noon
def test_sim_profiling_follows_the_workload(hour):
    start = datetime(2026, 12, 7, hour, tzinfo=UTC).timestamp()
    fleet = LiveFleet(gpus=64, seed=2, speedup=60, start=start)  # some of its nodes idle, the rest train or serve
    v = fleet.snapshot(now=start + 60).values  # what the sim backend reads
    busy = v["gpu_util"] > 0
    assert busy.any() and (~busy).any()
    assert np.abs(v["gr_engine_active"] - v["gpu_util"] / 100).max() <= 0.005 + 1e-9  # NVML rounds to whole percent
    assert (v["sm_active"] <= v["gr_engine_active"] + 1e-9).all() and (v["sm_occupancy"] <= v["sm_active"]).all()
    assert (v["pipe_tensor_active"] <= v["sm_active"]).all() and (v["pipe_tensor_active"][busy] > 0).all()
    assert (v["pipe_tensor_active"][~busy] == 0).all() and (v["pcie_tx_bytes"][~busy] == 0).all()
    assert (v["pcie_rx_bytes"][busy] > 1e8).all(), "a busy GPU moves hundreds of MB/s over PCIe"


def test_lost_gpu_is_down_and_the_others_still_served():
    text, _om, backend = _render(_fake(lost=True))
    backend.close()
    fams = {f.name: f for f in parse_text(text)}
    up = {s.labels["UUID"]: s.value for s in fams[GPU_UP].samples}
    assert up == {"GPU-00000000-0000-0000-0000-000000000000": 1, "GPU-11111111-1111-1111-1111-111111111111": 0}
    temps = {s.labels["UUID"] for s in fams["DCGM_FI_DEV_GPU_TEMP"].samples}
    assert temps == {"GPU-00000000-0000-0000-0000-000000000000"}


def test_a_failing_collector_reports_failure_and_the_rest_are_served():
    nvml = _fake()
    nvml.nvmlDeviceGetRemappedRows = lambda h: (_ for _ in ()).throw(nvml.NVMLError(nvml.NVML_ERROR_UNKNOWN))
    text, _om, backend = _render(nvml)
    backend.close()
    fams = {f.name: f for f in parse_text(text)}
    ok = {s.labels["collector"]: s.value for s in fams["gpuhealth_exporter_collector_success"].samples}
    assert ok["row_remap"] == 0 and ok["clocks"] == 1
    assert "DCGM_FI_DEV_GPU_TEMP" in fams and "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS" not in fams


def _read_after_events(nvml: FakeNvml, backend: NvmlBackend):
    """One poll once the backend's event thread has taken every XID emitted, then the backend closed."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not nvml.events.empty():
        time.sleep(0.05)
    time.sleep(0.1)
    reading = backend.read(ALL)
    backend.close()
    return reading


def test_xid_events_between_polls_are_all_counted():
    nvml = _fake()
    backend = NvmlBackend(nvml, hostname="node-a")
    for xid in (48, 48, 79, 13):
        nvml.emit_xid(1, xid)
    nvml.emit_xid(0, 63)
    reading = _read_after_events(nvml, backend)
    assert reading.xid_counts[48].tolist() == [0, 2]
    assert reading.xid_counts[79].tolist() == [0, 1]
    assert reading.xid_counts[63].tolist() == [1, 0]
    assert reading.values["xid_errors"].tolist() == [63, 13]  # dcgm-exporter's gauge: the last one


def test_no_driver_is_a_clear_error():
    with pytest.raises(BackendUnavailable, match="--backend sim"):
        NvmlBackend(FakeNvml([], init_error=9))
    with pytest.raises(BackendUnavailable, match="no GPU"):
        NvmlBackend(FakeNvml([]))


def test_cli_without_gpu_exits_1_with_one_line():
    out = subprocess.run(["gpuhealth", "exporter", "--backend", "nvml"], capture_output=True, text=True,
                         env={**os.environ, "PATH": f"{Path(__file__).parents[1] / '.venv/bin'}:{os.environ['PATH']}"})
    assert out.returncode == 1
    assert len(out.stderr.strip().splitlines()) == 1 and "--backend sim" in out.stderr


def test_collectors_can_be_switched_off():
    text, _om, backend = _render(_fake(), enabled=ALL - {"nvlink", "ecc"})
    backend.close()
    names = {f.name for f in parse_text(text)}
    assert "DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL" not in names and "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL" not in names
    assert "DCGM_FI_DEV_GPU_TEMP" in names


def test_openmetrics_parses_and_own_families_pass_promtool(tmp_path):
    backend = SimBackend(gpus=16, seed=3, speedup=3600, degrading=4)
    backend.fleet.snapshot(time.time() + 60)  # 60 simulated hours on: the degrading GPUs have XIDs
    backend.read(ALL)  # the profiling fields come from the second poll (two GPM samples)
    reading = backend.read(ALL)
    text, om = Renderer(backend.fleet.identities, "sim").render(reading, ALL)
    families = list(parse_openmetrics(om.decode()))
    assert {f.name for f in families} >= {fld.name for fld in FIELDS if fld.key not in ("fan_speed", "retired_pending")
                                           and fld.collector != "info"} - {"DCGM_FI_DEV_FAN_SPEED"}
    path = tmp_path / "own.prom"
    path.write_text("".join("# HELP " + b for b in text.decode().split("# HELP ")[1:] if b.startswith("gpuhealth_")))
    r = subprocess.run(["promtool", "check", "metrics"], stdin=path.open(), capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "gpuhealth_gpu_up" in path.read_text() and "gpuhealth_xid_errors_total" in path.read_text()


@pytest.fixture
def sim_exporter():
    backend = SimBackend(gpus=8, seed=1, speedup=600, degrading=2)
    poller = Poller(backend, Renderer(backend.fleet.identities, "sim"), ALL, interval=1.0)
    poller.start()
    server = serve(poller, "127.0.0.1:0", None, 4)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, backend
    server.shutdown()
    poller.stop()


def test_http_endpoints_gzip_and_negotiation(sim_exporter):
    server, _ = sim_exporter
    assert requests.get(f"{server.url}/", timeout=5).text.count("/metrics") >= 1
    assert requests.get(f"{server.url}/-/healthy", timeout=5).status_code == 200
    assert requests.get(f"{server.url}/-/ready", timeout=5).status_code == 200
    r = requests.get(f"{server.url}/metrics", headers={"Accept-Encoding": "gzip"}, timeout=5, stream=True)
    raw = r.raw.read()
    assert r.headers["Content-Encoding"] == "gzip" and b"DCGM_FI_DEV_GPU_TEMP" in gzip.decompress(raw)
    r = requests.get(f"{server.url}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"},
                     timeout=5)
    assert r.headers["Content-Type"].startswith("application/openmetrics-text") and r.text.endswith("# EOF\n")
    assert requests.get(f"{server.url}/nope", timeout=5).status_code == 404


@pytest.mark.integration
def test_real_prometheus_scrapes_every_family_for_every_gpu(sim_exporter, prometheus_factory):
    server, backend = sim_exporter
    prom = prometheus_factory(scrape_configs=[{"job_name": "gpuhealth", "scrape_interval": "1s",
                                               "static_configs": [{"targets": [server.url.split("//")[1]]}]}])
    prom.wait_for('up{job="gpuhealth"} == 1', timeout=30)
    prom.wait_for("DCGM_FI_DEV_GPU_TEMP", timeout=30, min_results=8)
    fleet = backend.fleet.fleet
    for fld in FIELDS:
        want = sum(1 for s in fleet.specs if not (fld.key == "fan_speed" and s.hbm))
        got = prom.query(f"count(last_over_time({fld.name}[1m]) >= 0) or vector(0)")
        if fld.key in ("retired_pending", "retired_sbe", "retired_dbe"):
            continue  # only GDDR parts retire pages; HBM parts remap rows
        assert float(got[0]["value"][1]) >= want - 2, fld.name  # failed GPUs (down) serve no values
    assert len(prom.query(GPU_UP)) == 8
    assert len(prom.query("gpuhealth_gpu_info")) == 8


def test_mig_instances_are_served_with_dcgm_exporter_labels():
    nvml = _fake()
    nvml.devices[0].mig = [FakeDevice(uuid="MIG-aaaa", name="NVIDIA H100 80GB HBM3 MIG 1g.10gb", gi_id=7,
                                      fb=(8 * 1024**3, 2 * 1024**3)),
                           FakeDevice(uuid="MIG-bbbb", name="NVIDIA H100 80GB HBM3 MIG 3g.40gb", gi_id=2,
                                      fb=(30 * 1024**3, 10 * 1024**3))]
    text, _om, backend = _render(nvml)
    backend.close()
    fams = {f.name: f for f in parse_text(text)}
    mig = [s for s in fams["DCGM_FI_DEV_FB_USED"].samples if "GPU_I_ID" in s.labels]
    assert {(s.labels["GPU_I_PROFILE"], s.labels["GPU_I_ID"], s.value) for s in mig} == {("1g.10gb", "7", 2048),
                                                                                           ("3g.40gb", "2", 10240)}
    assert all(s.labels["UUID"] == "GPU-00000000-0000-0000-0000-000000000000" for s in mig)
    info = {s.labels["mig_uuid"] for s in fams["gpuhealth_mig_instance_info"].samples}
    assert info == {"MIG-aaaa", "MIG-bbbb"}


def test_each_collector_yields_the_own_families_the_catalog_gives_it_and_only_when_enabled():
    """The XID counter, the clock-event bits and the identity come from their collectors' own hooks: with MIG on
    and an XID seen, each yields exactly the families the catalog assigns it; switched off, none of them."""
    from gpuhealth.catalog import OWN_FAMILIES

    nvml = _fake()
    nvml.devices[0].mig = [FakeDevice(uuid="MIG-aaaa", name="NVIDIA H100 80GB HBM3 MIG 1g.10gb", gi_id=7)]
    backend = NvmlBackend(nvml, hostname="node-a")
    nvml.emit_xid(1, 48)
    reading = _read_after_events(nvml, backend)
    renderer = Renderer(backend.identities, "nvml")
    hooked = {name: c for name, c in COLLECTORS.items() if c.families is not None}
    assert set(hooked) == {"xid", "clock_events", "info"}
    for name, collector in hooked.items():
        yielded = [f.name for f in collector.families(reading, renderer.labels)]
        assert sorted(yielded) == sorted(collector.own_families), name
        assert all(OWN_FAMILIES[f].collector == name for f in yielded)
    served = {f.name for f in renderer.families(reading, ALL)}
    assert {f for c in hooked.values() for f in c.own_families} <= served
    off = {f.name for f in renderer.families(reading, ALL - set(hooked))}
    assert not off & {f for c in hooked.values() for f in c.own_families}


def test_the_sim_backend_reads_the_fleet_through_the_collectors_with_their_own_success_and_duration():
    """The simulated GPUs answer NVML's calls (gpuhealth.sim.nvml): every value the collectors read is the
    simulator's (the profiling fields from the second poll, as GPM needs two samples), each collector's
    duration is its own, and a collector whose call fails on a simulated GPU reports it."""
    backend = SimBackend(gpus=16, seed=4, speedup=60)
    first = backend.read(ALL)
    assert np.isnan(first.values["gr_engine_active"]).all()
    reading = backend.read(ALL)
    truth = backend.nvml.values  # the snapshot the collectors read, with the counters scaled to real time
    up = reading.up
    assert up.all()
    for key, values in reading.values.items():
        if key == "xid_errors":
            continue
        np.testing.assert_allclose(values[up], truth[key][up], rtol=1e-12, err_msg=key)
    assert all(reading.collector_ok.values()) and set(reading.collector_ok) == ALL
    seconds = reading.collector_seconds
    assert all(s > 0 for s in seconds.values()) and len(set(seconds.values())) > 1, seconds
    backend.nvml.nvmlDeviceGetRemappedRows = lambda h: (_ for _ in ()).throw(
        backend.nvml.NVMLError(backend.nvml.NVML_ERROR_UNKNOWN))
    failing = backend.read(ALL)
    backend.close()
    assert failing.collector_ok["row_remap"] is False and failing.collector_ok["ecc"] is True
    assert np.isnan(failing.values["correctable_remapped_rows"]).all()
