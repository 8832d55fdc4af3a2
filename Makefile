# Entry points on a fresh machine: `make demo` needs only Python >= 3.11; `make test` also needs npm (for anvil).
VENV ?= .venv
PY := $(VENV)/bin/python
# real MNIST when the shared data folder is beside the checkout (tests needing it skip otherwise)
DEML_DATA_DIR ?= $(abspath $(wildcard ../shared/data/mnist))
export DEML_DATA_DIR

.PHONY: install demo test test-fast bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/deml demo

test: install
	$(PY) -m contracts.anvil install
	$(PY) -m pytest -n 2 -q

# everything but the tests marked slow (end-to-end runs, the chain state machine)
test-fast: install
	$(PY) -m contracts.anvil install
	$(PY) -m pytest -n 2 -q -m "not slow"

bench: install
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .deml runs
