# calarb: `make demo` and `make test` do all set-up on a fresh machine (Python 3.11 + make).
# The hot-path modules are compiled to C extensions in place (setup.py, ~1 min); without a C
# compiler they stay pure, with a warning. CALARB_PURE=1 runs the .py files even when built.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# `make test` and `make bench` add the test and benchmark extras to the running install
TEST_STAMP := $(VENV)/.installed-test
BUILT  := $(VENV)/.extensions-built
# each compiled module (src/calarb/compiled.py) has a .pxd beside its .py
PXD    := $(wildcard src/calarb/*.pxd src/calarb/*/*.pxd)
COMPILED_SOURCES := src/calarb/compiled.py setup.py $(PXD) $(PXD:.pxd=.py)

.PHONY: demo test lint bench clean venv

$(STAMP): pyproject.toml setup.py
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[fast,build]'
	touch $(STAMP)

# The extras' requirements only (read from pyproject.toml): calarb itself is installed above.
$(TEST_STAMP): $(STAMP)
	$(PY) -c "import tomllib; x = tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']; print('\n'.join(x['test'] + x['bench']))" > $(VENV)/test-requirements.txt
	$(PY) -m pip install --quiet -r $(VENV)/test-requirements.txt
	touch $(TEST_STAMP)

# An editable install compiles the extensions once; a changed .py/.pxd of a compiled module
# must be rebuilt, else the old extension keeps shadowing the new source.
$(BUILT): $(STAMP) $(COMPILED_SOURCES)
	$(PY) setup.py --quiet build_ext --inplace
	touch $(BUILT)

venv: $(BUILT)

demo: $(BUILT)
	$(VENV)/bin/calarb demo

test: $(BUILT) $(TEST_STAMP)
	$(PY) -m ruff check src tests bench
	$(PY) -m pytest -q

bench: $(BUILT) $(TEST_STAMP)
	$(VENV)/bin/calarb bench itch --messages 5000000 --json

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info .pytest_cache
	find src/calarb \( -name '*.c' -o -name '*.so' -o -name '*.html' \) -not -path '*/static/*' -delete
