"""Analyzers, one way through: PromQL (``promql``, the one client) -> features -> predictions
(``predict``) -> valuations (``economics``) -> a cycle's result (``cycle``), which the service
(``serve``), the database writers (``inventory``, ``cycle``) and the HTML report (``report``) consume.
The asset inventory (``inventory``) feeds the economics and the exposition."""
