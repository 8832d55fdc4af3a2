import os

import pytest
from hypothesis import Phase, settings

# tools/mutate_*: the same examples for every mutant, no database shared between them, and no shrinking (a failing
# example is all a mutation run needs)
settings.register_profile("mutation", derandomize=True, database=None,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])

os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_modifyitems(config, items):
    """tools/mutate_python.py names the module's tests, fastest and strongest first, in DEML_TEST_ORDER (paths or
    node ids, os.pathsep apart): mutmut hands them to pytest in no particular order, and with -x the first
    failure ends a mutant's run. Within a file, tests keep their order of definition."""
    order = [p for p in os.environ.get("DEML_TEST_ORDER", "").split(os.pathsep) if p]
    if order:
        rank = {}
        for item in items:
            nodeid = item.nodeid.removeprefix("mutants/")
            rank[item] = (next((k for k, p in enumerate(order) if nodeid.startswith(p)), len(order)),
                          item.location[0], item.location[1] or 0)
        items.sort(key=rank.__getitem__)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Equilibrium tables cache into a per-session folder, never the user's home."""
    monkeypatch.setenv("DEML_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "deml-cache"))
