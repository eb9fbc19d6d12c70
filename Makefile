# wirelab: two commands on a fresh machine:  make tour  and  make test
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: tour test bench lint typecheck clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench,dev,history]'
	touch $(STAMP)

tour: $(STAMP)
	scripts/install-deps run
	$(VENV)/bin/wirelab tour

test: $(STAMP)
	scripts/install-deps test
	scripts/run-tests

bench: $(STAMP)
	scripts/install-deps bench
	$(PY) -m bench

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
