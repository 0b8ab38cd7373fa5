# Two entry points from a fresh clone:
#   make demo   set up .venv, build the native runtime, run loadrun on its embedded demo model
#   make test   set up .venv with the test extras, build, run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test setup setup-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

setup: $(BIN)/python
	$(BIN)/python -m pip install -q -e .

setup-test: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'

demo: setup
	$(BIN)/loadrun

test: setup-test
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build .pytest_cache
