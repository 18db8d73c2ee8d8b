# The two commands: `make demo` and `make test`. Everything else is optional.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint adr venv openapi docs screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# `make demo PORT=8100` when 8000 is taken.
PORT ?= 8000
demo: $(STAMP)
	$(BIN)/hitmachine demo --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Ruff over all the code; mypy --strict over the packages, the tools and the tests (benchmarks/
# are scripts run by hand, checked by ruff only); import-linter checks the layering contracts.
# Settings in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy hitmachine hitmachine_adapter hitmachine_keyservice tools tests
	$(BIN)/lint-imports

# The NLGov API Design Rules linter (Logius' Spectral ruleset, tools/adr/) over the committed
# OpenAPI document; any error fails. Needs `npm ci --prefix tools/adr` once; .ci/run does it.
SPECTRAL := tools/adr/node_modules/.bin/spectral
adr:
	@test -x $(SPECTRAL) || { echo "Spectral is missing: npm ci --prefix tools/adr --no-audit --no-fund" >&2; exit 1; }
	$(SPECTRAL) lint openapi/openapi.json --ruleset .spectral.yaml --fail-severity error

openapi: $(STAMP)
	$(BIN)/python -m hitmachine.cli.openapi_export > openapi/openapi.json

# docs/privacy.md's adversary table, from hitmachine/data/dpia/adversaries.toml (the DPIA's too).
docs: $(STAMP)
	$(BIN)/python -m hitmachine.services.dpia docs/privacy.md

# The web pages' screenshots in docs/screenshots (Chromium; npm ci --prefix tests/web).
screenshots: $(STAMP)
	HITMACHINE_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q tests/web/test_browser.py -k axe

clean:
	rm -rf $(VENV) .demo .pytest_cache .hypothesis .mypy_cache .ruff_cache
