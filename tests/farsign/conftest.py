"""Shared fixtures for the FAR-SIGN tests: a cheap noisy objective and small designs."""
from __future__ import annotations

import numpy as np
import pytest

from coordinator import directions
from sims.farsign_experiments import CauchyRegression, NoisyObjective


@pytest.fixture
def objective() -> NoisyObjective:
    return NoisyObjective(CauchyRegression(dim=6, samples=50), noise=0.5)


DESIGNS = {
    "basis": lambda: directions.replicated_basis(6, 5),
    "blocks": lambda: directions.replicated_blocks(6, 6, 2),
    "gaussian": lambda: directions.gaussian(6, 5, 4, seed=1),
}


@pytest.fixture(params=sorted(DESIGNS))
def design(request) -> directions.Design:
    return DESIGNS[request.param]()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
