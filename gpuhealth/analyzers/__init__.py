"""Analyzers: failure prediction, anomalies, trends and economics from PromQL."""
