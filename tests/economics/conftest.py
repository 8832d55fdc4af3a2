import numpy as np
import pytest

from nodes import honest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def ball_noise(rng):
    """draw(size, dim, delta=1): uniform in the Delta-ball of R^dim (the honest workers' own sampler)."""
    return lambda size, dim, delta=1.0: honest.ball_noise(size, dim, delta, rng)
