# Two commands on a fresh machine (Python 3.11+ and make):
#   make run    create .venv, install, serve on the embedded default (DuckDB under ./data/)
#   make test   create/update .venv with the test extras and run the whole suite
# Demo mode: `make run DEMO=1` also posts 50 simulated multi-platform journeys once the server
# is ready, so there is data to look at (SIM_ARGS to change them, e.g. SIM_ARGS="--journeys 200").

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=
SIM_ARGS ?= --journeys 50 --rate 5

.PHONY: run test install bench clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

run: install
	$(if $(DEMO),$(BIN)/journeytrace simulate --wait-ready $(SIM_ARGS) &) exec $(BIN)/journeytrace serve $(ARGS)

test: $(BIN)/python chromium
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pytest $(ARGS)

# The browser tests drive Debian's Chromium (no browser download): installed when missing, as root.
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "make test needs Chromium for the browser tests: sudo apt-get install chromium" >&2; exit 1; fi; }

bench: install
	$(BIN)/python bench/ingest.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info journeytrace/*.so
