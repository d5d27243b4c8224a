"""The fleet simulator: realistic GPU telemetry with fault models and ground truth."""
