# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip --disable-pip-version-check -q

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(PIP) install -r requirements.txt
	touch $@

$(VENV)/.test-installed: requirements-test.txt $(VENV)/.installed
	$(PIP) install -r requirements-test.txt
	touch $@

## Install, migrate, create the first admin and start the whole site.
run: $(VENV)/.installed
	$(BIN)/python manage.py runall

## Install the test requirements and run the whole suite.
PYTEST_ARGS ?= -n 2
test: $(VENV)/.test-installed
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/add_members.py

clean:
	rm -rf $(VENV) var
