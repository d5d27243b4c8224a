# gpuhealth: the two commands a fresh machine needs are `make demo` and `make test`.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: bootstrap demo test lint rules benchmarks

bootstrap:            ## install what is missing: Prometheus, Alertmanager, PostgreSQL+TimescaleDB, VictoriaMetrics, .venv
	scripts/bootstrap

demo: bootstrap       ## the whole system on a simulated fleet, until Ctrl-C
	$(BIN)/gpuhealth demo

test: bootstrap       ## lint, then the whole suite (integration tests start real services)
	$(MAKE) lint
	$(BIN)/pytest -q -p no:cacheprovider

lint:
	$(BIN)/ruff check .

rules:                ## regenerate the committed rule files and Alertmanager configuration
	$(BIN)/gpuhealth rules generate --out .
	$(BIN)/gpuhealth alertmanager generate --out .
	$(BIN)/gpuhealth dashboards generate --out .
	$(BIN)/gpuhealth rules generate --format prometheusrule --out deploy/kubernetes

benchmarks:
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done
