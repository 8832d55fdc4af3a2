import numpy as np
import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def ball_noise(rng):
    """draw(size, dim, delta=1): uniform in the Delta-ball of R^dim (Gaussian direction, radius Delta U^(1/d))."""

    def draw(size: int, dim: int, delta: float = 1.0) -> np.ndarray:
        x = rng.standard_normal((size, dim))
        return x / np.linalg.norm(x, axis=1, keepdims=True) * delta * rng.random((size, 1)) ** (1 / dim)

    return draw
