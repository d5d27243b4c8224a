"""Recording and alert rules, Alertmanager configuration and dashboards, generated from one spec."""
