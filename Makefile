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
	@# ARM tests run the cross-built runner under user-mode qemu: install it when missing and we
	@# can (root + apt-get); otherwise those tests skip and say why.
	@command -v qemu-aarch64-static >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -qq qemu-user-static >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq qemu-user-static >/dev/null 2>&1)) || \
	    echo "note: could not install qemu-user-static; the ARM tests will be skipped"; \
	  else echo "note: qemu-user-static missing (install it as root); the ARM tests will be skipped"; fi; }

demo: setup
	$(BIN)/loadrun

test: setup-test
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build .pytest_cache
