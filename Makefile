# Two entry points (see README): `make demo` and `make test`. Each builds its own .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast clean chromium sandbox-deps

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

demo: $(STAMP)
	$(VENV)/bin/rsilab demo demo-experiment

# The dashboard's browser test drives Debian's Chromium through Playwright (a browser download is impossible).
chromium:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

# pytest exits 5 when it collected nothing: treat that as a failure, never a silent pass.
test: $(STAMP) chromium
	$(PY) -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi; exit $$rc

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

clean:
	rm -rf $(VENV) demo-experiment
