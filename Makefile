# stockstream: make demo · make test · make bench · make kafka-up / kafka-down
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install tools browser demo test unit integration e2e bench chaos kafka-up kafka-down kafka-status clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench]'
	@touch $(STAMP)

# Go-built tools the deployment checks use (cached in .tools/bin, rebuilt when the pin moves):
# helm renders and lints the chart, compose-config renders docker-compose.yml as Compose does.
TOOLS := .tools/bin
tools: $(TOOLS)/helm $(TOOLS)/compose-config

$(TOOLS)/helm: scripts/install-helm
	scripts/install-helm $(TOOLS)

$(TOOLS)/compose-config: scripts/install-compose-config $(wildcard tools/compose-config/*)
	scripts/install-compose-config $(TOOLS)

# Debian's Chromium for the operations page's end-to-end test (tests/e2e); nothing when present.
browser:
	scripts/install-browser

kafka-up:
	scripts/kafka-local up

kafka-down:
	scripts/kafka-local down

kafka-status:
	scripts/kafka-local status

# The whole suite; the integration tests run against the real local broker.
test: install tools kafka-up browser
	$(BIN)/pytest -q --durations=30

unit: install
	$(BIN)/pytest -q tests/unit

integration: install kafka-up
	$(BIN)/pytest -q tests/integration

e2e: install kafka-up browser
	$(BIN)/pytest -q tests/e2e

demo: install kafka-up
	scripts/demo

bench: install kafka-up
	$(BIN)/python bench/ceiling.py
	$(BIN)/python bench/ceiling.py --workers 2
	$(BIN)/python bench/decrease_latency.py --rate 1000 --decreases 20000
	$(BIN)/python bench/reservations.py
	$(BIN)/python bench/storm.py
	$(BIN)/python bench/open_reservations.py
	$(BIN)/python bench/republish.py
	$(BIN)/python bench/hot_sku.py
	$(BIN)/python bench/recovery.py
	$(BIN)/python bench/sink_catchup.py

# Every fault of issue 13 with 100,000 events each (make test runs short forms), then the
# results table (bench/chaos_table.py -> bench/results/chaos-<time>.md), also when one failed.
CHAOS_RESULTS = bench/results/chaos.jsonl
CHAOS_TESTS = tests/chaos/test_faults.py tests/chaos/test_poison.py tests/chaos/test_sink_stall.py \
	tests/chaos/test_reservation_chaos.py
chaos: install kafka-up
	mkdir -p bench/results && rm -f $(CHAOS_RESULTS)
	STOCKSTREAM_CHAOS_EVENTS=$${STOCKSTREAM_CHAOS_EVENTS:-100000} STOCKSTREAM_CHAOS_RESULTS=$(CHAOS_RESULTS) \
		$(BIN)/pytest -q -s $(CHAOS_TESTS) -k "not killed_before_it_answered"; status=$$?; \
		$(BIN)/python bench/chaos_table.py $(CHAOS_RESULTS); exit $$status

clean:
	rm -rf .stockstream .pytest_cache .hypothesis
