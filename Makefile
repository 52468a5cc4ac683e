# Two commands on a fresh machine (Python 3.11+ and make):
#   make run    create .venv, install, serve on the embedded default (DuckDB under ./data/)
#   make test   create/update .venv with the test extras and run the whole suite

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: run test install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

run: install
	$(BIN)/journeytrace serve $(ARGS)

test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pytest $(ARGS)

bench: install
	$(BIN)/python bench/ingest.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info journeytrace/*.so
