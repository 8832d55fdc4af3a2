# Entry points on a fresh machine: `make demo` needs only Python >= 3.11; `make test` also needs npm (for anvil).
VENV ?= .venv
PY := $(VENV)/bin/python
# real MNIST when the shared data folder is beside the checkout (tests needing it skip otherwise)
DEML_DATA_DIR ?= $(abspath $(wildcard ../shared/data/mnist))
export DEML_DATA_DIR

.PHONY: install demo test test-fast bench mutate mutate-quick clean

# the extras installed; CI adds ray (.ci/run), whose test (tests/swarm/test_ray.py) skips without it
EXTRAS ?= test
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
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

# mutation testing (not part of `make test`): mutmut module by module, then our Vyper mutator; scores per module
# in .mutation/{python,vyper}.md. mutate-quick samples N mutants per module (N=10) and N of the contract's.
N ?= 10
$(VENV)/.mutation: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test,mutation]'
	touch $@

mutate: $(VENV)/.mutation
	$(PY) -m tools.mutate_python
	$(PY) -m tools.mutate_vyper

mutate-quick: $(VENV)/.mutation
	$(PY) -m tools.mutate_python --sample $(N)
	$(PY) -m tools.mutate_vyper --sample $(N)

bench: install
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .deml runs mutants .mutation
