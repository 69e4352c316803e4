# calarb: `make demo` and `make test` do all set-up on a fresh machine (Python 3.11 + make).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean venv

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench,fast]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/calarb demo

test: $(STAMP)
	$(PY) -m ruff check src tests bench
	$(PY) -m pytest -q

bench: $(STAMP)
	$(VENV)/bin/calarb bench itch --messages 5000000 --json

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info .pytest_cache
