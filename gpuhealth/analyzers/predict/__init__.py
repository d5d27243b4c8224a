"""Failure prediction: features from PromQL (or SQL), the models and their registry, training on
simulated or stored history, validation on what the models were not trained on, and anomaly scores."""
