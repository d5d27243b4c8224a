"""The remote-write sink: Prometheus samples into TimescaleDB."""
