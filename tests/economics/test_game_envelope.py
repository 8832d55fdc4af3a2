import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from economics.envelope import ORIGIN, price, upper_envelope, vertices
from economics.game import GameSpec
from economics.response import price_curve
from economics.utility import LogUtility, ProductUtility, best_response

points = st.integers(0, 2**31).map(lambda seed: np.random.default_rng(seed).random((2, 40)) * [[1.0], [5.0]])


@given(points)
def test_envelope_is_concave_and_covers_every_point(pts):
    p, h = pts
    index = upper_envelope(p, h)
    alpha_v, psi_v = vertices(p, h, index)
    assert index[0] == ORIGIN and alpha_v[0] == 0 and psi_v[0] == 0
    assert np.all(np.diff(alpha_v) > 0)
    slopes = np.diff(psi_v) / np.diff(alpha_v)
    assert np.all(np.diff(slopes) <= 1e-9 * (1 + np.abs(slopes[1:])))
    assert alpha_v[-1] == p.max()
    assert np.all(np.interp(p, alpha_v, psi_v) >= h - 1e-12)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([1, 2, 3, 10, 1000]), st.floats(1.0, 8.0))
def test_price_curve_is_non_increasing(dim, eta):
    c = price_curve(GameSpec(dim=dim), eta, np.geomspace(1e-4, 1.0, 200))
    c = c[np.isfinite(c)]
    assert c.size > 0 and np.all(np.diff(c) <= 1e-9 * c[:-1])


@settings(max_examples=40, deadline=None)
@given(points, st.floats(0.05, 5.0))
def test_best_response_beats_a_dense_search(pts, kappa):
    p, h = pts
    alpha_v, psi_v = vertices(p, h, upper_envelope(p, h))
    utility = LogUtility(kappa)
    best = best_response(alpha_v, psi_v, utility, 0.25)
    grid = np.linspace(1e-4, alpha_v[-1], 20_001)
    dense = utility(price(grid, alpha_v, psi_v, 0.25), grid).max()
    assert utility(price(best, alpha_v, psi_v, 0.25), best) >= dense - 1e-9
    # exp(log utility) is the product utility: a monotone transform, the same best response
    assert best_response(alpha_v, psi_v, ProductUtility(kappa), 0.25) == pytest.approx(best, abs=1e-6)
