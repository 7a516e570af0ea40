# Two entry points (see README): `make demo` and `make test`. Each builds its own .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo demo-transformer weights test test-fast clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "rsilab needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/rsilab demo demo-experiment

# The weights loop's extra (torch pinned to the CPU build; a CUDA machine may install its own build).
WEIGHTS_STAMP := $(VENV)/.weights-installed
$(WEIGHTS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,weights,lora]'
	touch $(WEIGHTS_STAMP)

weights: $(WEIGHTS_STAMP)

# A small transformer pushes its own addition frontier, round by round (about ten minutes on 2 cores).
demo-transformer: $(WEIGHTS_STAMP)
	$(VENV)/bin/rsilab demo transformer-demo --template transformer

# pytest exits 5 when it collected nothing: treat that as a failure, never a silent pass.
test: $(STAMP) $(WEIGHTS_STAMP)
	$(PY) -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi; exit $$rc

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

clean:
	rm -rf $(VENV) demo-experiment transformer-demo
