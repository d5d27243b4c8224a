"""The analyzer as a service: its cycle loop and HTTP endpoints (service), the collector of its verdicts
(collector) and their exposition (exposition)."""
