import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Equilibrium tables cache into a per-session folder, never the user's home."""
    monkeypatch.setenv("DEML_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "deml-cache"))
