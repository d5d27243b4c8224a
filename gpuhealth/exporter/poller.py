"""Background polling: read the backend every interval and keep the rendered latest snapshot.

A scrape never calls NVML: it serves the bytes rendered after the last poll, so a slow or hung
NVML call delays the next poll, never a scrape.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
from dataclasses import dataclass

from gpuhealth.exporter.backends import Backend
from gpuhealth.exporter.exposition import Renderer

log = logging.getLogger("gpuhealth.exporter")


@dataclass(frozen=True)
class Exposition:
    """The latest rendered poll, in both formats, plain and gzipped."""

    text: bytes
    openmetrics: bytes
    text_gz: bytes
    openmetrics_gz: bytes
    polled_at: float


class Poller:
    """Polls a backend on a thread and publishes each poll's exposition."""

    def __init__(self, backend: Backend, renderer: Renderer, enabled: set[str], interval: float) -> None:
        self.backend = backend
        self.renderer = renderer
        self.enabled = enabled
        self.interval = interval
        self.latest: Exposition | None = None
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="poller", daemon=True)

    def poll_once(self) -> Exposition:
        """Read, render and publish one poll."""
        reading = self.backend.read(self.enabled)
        text, om = self.renderer.render(reading, self.enabled)
        self.latest = Exposition(text, om, gzip.compress(text, 1), gzip.compress(om, 1), time.time())
        return self.latest

    def start(self) -> None:
        """Poll once now (so that the first scrape has data), then every interval in the background."""
        self.poll_once()
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll_once()
            except Exception:  # a failing poll must not stop the exporter; the last poll stays served
                self.errors += 1
                log.exception("poll failed; serving the previous poll")

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 5)
