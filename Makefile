# calarb: `make demo` and `make test` do all set-up on a fresh machine (Python 3.11 + make).
# The hot-path modules are compiled to C extensions in place (setup.py, ~1 min); without a C
# compiler they stay pure, with a warning. CALARB_PURE=1 runs the .py files even when built.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
BUILT  := $(VENV)/.extensions-built
# each compiled module (src/calarb/compiled.py) has a .pxd beside its .py
PXD    := $(wildcard src/calarb/*.pxd src/calarb/*/*.pxd)
COMPILED_SOURCES := src/calarb/compiled.py setup.py $(PXD) $(PXD:.pxd=.py)

.PHONY: demo test lint bench clean venv

$(STAMP): pyproject.toml setup.py
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench,fast,build]'
	touch $(STAMP)

# An editable install compiles the extensions once; a changed .py/.pxd of a compiled module
# must be rebuilt, else the old extension keeps shadowing the new source.
$(BUILT): $(STAMP) $(COMPILED_SOURCES)
	$(PY) setup.py --quiet build_ext --inplace
	touch $(BUILT)

venv: $(BUILT)

demo: $(BUILT)
	$(VENV)/bin/calarb demo

test: $(BUILT)
	$(PY) -m ruff check src tests bench
	$(PY) -m pytest -q

bench: $(BUILT)
	$(VENV)/bin/calarb bench itch --messages 5000000 --json

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info .pytest_cache
	find src/calarb \( -name '*.c' -o -name '*.so' -o -name '*.html' \) -delete
