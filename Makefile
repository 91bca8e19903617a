# Splitstream. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .splitstream/tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
VEGETA_VERSION := v12.12.0
VEGETA := $(TOOLS)/bin/vegeta
# Two pytest workers, each with its own stack: the suite waits on services more than it computes.
TEST_WORKERS ?= 2
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help install jars browsers prometheus docs openapi-snapshot lint format test test-unit test-integration screenshots bench chaos demo stack-up stack-down stack-status clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	@touch $@

install: $(VENV)/.installed ## Install Python packages into .venv (pinned by uv.lock)

jars: install ## Fetch the Kafka and S3 server jars through Maven
	$(BIN)/splitstream stack install

browsers: ## Install headless Chromium and its driver from Debian's packages (browser tests)
	@if [ ! -x /usr/bin/chromedriver ]; then \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium chromium-driver; \
	fi

prometheus: ## Install Prometheus and promtool from Debian's packages (rule and scrape tests)
	@if [ ! -x /usr/bin/promtool ] || [ ! -x /usr/bin/prometheus ]; then \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends prometheus; \
	fi

docs: install ## Regenerate the README's configuration and Kafka ACL tables from the code
	$(BIN)/python -m cli.settings_doc
	$(BIN)/python -m plumbing.kafka_acls

openapi-snapshot: install ## Rewrite tests/unit/data/gateway-openapi.json from the gateway's current API
	$(BIN)/python -m tests.unit.openapi_snapshot

lint: install ## Check lint and format with ruff, and types with mypy (strict)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## Format and fix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: ## Install everything, start a stack on free ports, run every test, stop it
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory install jars browsers prometheus lint && \
	$(BIN)/pytest tests -n $(TEST_WORKERS) --durations=15; status=$$?; \
	echo "make test: $$(( $$(date +%s) - start )) s, exit $$status"; exit $$status

test-unit: install prometheus ## Run the unit tests only (no services; promtool checks the rules)
	$(BIN)/pytest tests/unit

test-integration: jars browsers prometheus ## Run the integration tests (starts and stops its own stack)
	$(BIN)/pytest tests/integration

screenshots: jars browsers ## Run the browser tests and save PNGs of / and /dashboard in screenshots/
	SPLITSTREAM_SCREENSHOTS_DIR=screenshots $(BIN)/pytest tests/integration/test_browser.py -q
	@echo "screenshots in $(CURDIR)/screenshots: $$(ls screenshots/*.png | tr '\n' ' ')"

$(VEGETA): $(UV)
	GOBIN=$(CURDIR)/$(TOOLS)/bin go install github.com/tsenart/vegeta/v12@$(VEGETA_VERSION)

bench: jars $(VEGETA) ## Start a private stack, measure latency, throughput, memory, promotion; stop it
	$(BIN)/python -m bench

chaos: jars ## Kill services under 100 req/s on a private stack, restart the broker and the promoter; check nothing was lost (CLUSTER=1: three brokers, each lost in turn)
	$(BIN)/python -m chaos $(if $(CLUSTER),--cluster)

demo: jars ## Run the whole system on port 7000 until Ctrl-C (EXIT=1: run the scenario and stop)
	$(BIN)/splitstream demo

stack-up: jars ## Start Kafka, S3 and MLflow in .splitstream/ (returns when all answer)
	$(BIN)/splitstream stack up

stack-down: install ## Stop the services and the local stack (data stays)
	$(BIN)/splitstream stack down

stack-status: install ## Show each service's state, port and log file
	$(BIN)/splitstream stack status

clean: stack-down ## Stop the stack and delete all local state, jars and the venv
	rm -rf .splitstream $(VENV)
