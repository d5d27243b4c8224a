"""The NVML backend: every NVIDIA GPU of this machine, through nvidia-ml-py (pynvml).

A GPU whose NVML calls fail (fallen off the bus) reads as down and the others are still served; a
collector whose NVML call fails on a GPU marks that collector unsuccessful for the poll. XIDs
come from NVML's event API on a background thread, counted per code, so none is lost between
polls.
"""

from __future__ import annotations

import socket
import threading
import time
from types import ModuleType

import numpy as np

from gpuhealth.catalog import FIELDS, XID_CODES, GpuIdentity
from gpuhealth.exporter.backends import BackendUnavailable
from gpuhealth.exporter.collectors import COLLECTORS
from gpuhealth.exporter.collectors.base import GpuState
from gpuhealth.exporter.reading import MigInstance, Reading

MIB = 1024 * 1024


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class NvmlBackend:
    """Reads every GPU through NVML."""

    def __init__(self, nvml: ModuleType | None = None, hostname: str | None = None) -> None:
        if nvml is None:
            try:
                import pynvml as nvml  # nvidia-ml-py
            except ImportError as exc:  # pragma: no cover - a dependency of the package
                raise BackendUnavailable("nvidia-ml-py is not installed; try --backend sim") from exc
        self.nvml = nvml
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            raise BackendUnavailable(f"no NVIDIA driver found (NVML: {exc}); on a machine without GPUs "
                                     "run with --backend sim") from None
        count = nvml.nvmlDeviceGetCount()
        if count == 0:
            nvml.nvmlShutdown()
            raise BackendUnavailable("NVML found no GPU on this machine; run with --backend sim")
        host = hostname or socket.gethostname()
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        self.handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        self.identities = []
        for i, h in enumerate(self.handles):
            serial = self._optional_text(nvml.nvmlDeviceGetSerial, h)
            vbios = self._optional_text(nvml.nvmlDeviceGetVbiosVersion, h)
            self.identities.append(GpuIdentity(
                index=i, uuid=_text(nvml.nvmlDeviceGetUUID(h)), model_name=_text(nvml.nvmlDeviceGetName(h)),
                pci_bus_id=_text(nvml.nvmlDeviceGetPciInfo(h).busId), hostname=host, driver_version=driver,
                serial=serial, vbios=vbios))
        self.states = [GpuState() for _ in self.handles]
        self.xids = np.zeros((count, len(XID_CODES) + 1), dtype=np.int64)  # last column: unknown codes
        self.xid_extra: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._last_read = time.monotonic()
        self._events = threading.Thread(target=self._watch_xids, name="nvml-xid-events", daemon=True)
        self._events.start()

    def _optional_text(self, fn, h) -> str:
        try:
            return _text(fn(h))
        except self.nvml.NVMLError:
            return ""

    def _watch_xids(self) -> None:
        nvml = self.nvml
        try:
            events = nvml.nvmlEventSetCreate()
            for h in self.handles:
                try:
                    nvml.nvmlDeviceRegisterEvents(h, nvml.nvmlEventTypeXidCriticalError, events)
                except nvml.NVMLError:
                    pass  # a GPU without event support still serves its other metrics
        except nvml.NVMLError:
            return
        index = {id(h): i for i, h in enumerate(self.handles)}
        while not self._stop.is_set():
            try:
                data = nvml.nvmlEventSetWait_v2(events, 500)
            except nvml.NVMLError:
                continue  # NVML_ERROR_TIMEOUT: no event within the wait
            i = index.get(id(data.device))
            if i is None:
                uuids = [ident.uuid for ident in self.identities]
                try:
                    i = uuids.index(_text(nvml.nvmlDeviceGetUUID(data.device)))
                except (nvml.NVMLError, ValueError):
                    continue
            code = int(data.eventData)
            with self._lock:
                if code in XID_CODES:
                    self.xids[i, XID_CODES.index(code)] += 1
                else:
                    self.xid_extra.setdefault(code, np.zeros(len(self.handles), dtype=np.int64))[i] += 1
                self.states[i].last_xid = code

    def read(self, enabled: set[str]) -> Reading:
        """Read every GPU for the enabled collectors."""
        now = time.monotonic()
        dt, self._last_read = now - self._last_read, now
        return self.read_over(enabled, dt)

    def read_over(self, enabled: set[str], dt: float) -> Reading:
        """Read every GPU for the enabled collectors, ``dt`` seconds after the previous read."""
        nvml = self.nvml
        n = len(self.handles)
        values = {f.key: np.full(n, np.nan) for f in FIELDS}
        up = np.ones(n, dtype=bool)
        ok = {name: True for name in enabled}
        seconds = dict.fromkeys(enabled, 0.0)
        for i, h in enumerate(self.handles):
            state = self.states[i]
            state.dt = dt
            for name in sorted(enabled):
                t0 = time.perf_counter()
                try:
                    got = COLLECTORS[name].read(nvml, h, state)
                except nvml.NVMLError as exc:
                    if getattr(exc, "value", None) == nvml.NVML_ERROR_GPU_IS_LOST:
                        up[i] = False
                        break
                    ok[name] = False
                    continue
                finally:
                    seconds[name] += time.perf_counter() - t0
                for key, v in got.items():
                    values[key][i] = v
            if not up[i]:
                for arr in values.values():
                    arr[i] = np.nan
        mig = self._read_mig(up, enabled)
        with self._lock:
            xid_counts = {code: self.xids[:, j].copy() for j, code in enumerate(XID_CODES) if self.xids[:, j].any()}
            xid_counts.update({code: arr.copy() for code, arr in self.xid_extra.items()})
        return Reading(timestamp=time.time(), identities=self.identities, values=values, up=up,
                       xid_counts=xid_counts, collector_ok=ok, collector_seconds=seconds, mig=mig)

    def _read_mig(self, up: np.ndarray, enabled: set[str]) -> list[MigInstance]:
        """The MIG instances of every GPU that has MIG mode on, with their framebuffer use."""
        nvml = self.nvml
        out = []
        for i, h in enumerate(self.handles):
            if not up[i]:
                continue
            try:
                current, _pending = nvml.nvmlDeviceGetMigMode(h)
                if current != 1:
                    continue
                slots = nvml.nvmlDeviceGetMaxMigDeviceCount(h)
            except nvml.NVMLError:
                continue  # not MIG-capable
            for slot in range(slots):
                try:
                    mh = nvml.nvmlDeviceGetMigDeviceHandleByIndex(h, slot)
                except nvml.NVMLError:
                    continue  # an empty slot
                try:
                    gi = nvml.nvmlDeviceGetGpuInstanceId(mh)
                    name = _text(nvml.nvmlDeviceGetName(mh))
                    values = {}
                    if "memory" in enabled:
                        mem = nvml.nvmlDeviceGetMemoryInfo(mh)
                        values = {"fb_used": mem.used // MIB, "fb_free": mem.free // MIB}
                    out.append(MigInstance(parent=i, gpu_instance_id=int(gi), profile=name.rsplit(" ", 1)[-1],
                                           uuid=_text(nvml.nvmlDeviceGetUUID(mh)), values=values))
                except nvml.NVMLError:
                    continue
        return out

    def close(self) -> None:
        """Stop the event thread and shut NVML down."""
        self._stop.set()
        self._events.join(timeout=2)
        try:
            self.nvml.nvmlShutdown()
        except self.nvml.NVMLError:
            pass
