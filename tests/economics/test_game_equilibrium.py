import numpy as np
import pytest

from economics import EquilibriumTable, GameSpec, solve
from economics import equilibrium as equilibrium_module

# game_of_coding.md, scalar oracle (Delta = 1): kappa, eta, P_A*, MSE*, [(radius, weight)]
SCALAR_ORACLE = [
    (0.5, 2, 0.2692, 2.5539, [(2.4616, 1.0)]),
    (0.5, 6, 0.5384, 10.2158, [(5.9232, 1.0)]),
    (1, 1, 0.3398, 0.9903, [(1.3204, 1.0)]),
    (1, 2, 0.4531, 1.7605, [(2.0938, 1.0)]),
    (1, 4, 0.6796, 3.9611, [(3.6408, 1.0)]),
    (2, 1, 0.5993, 0.4196, [(1.0714, 0.748), (0.0, 0.252)]),
    (2, 2, 0.6946, 0.9580, [(1.6107, 1.0)]),
    (2, 4, 1.0000, 2.3333, [(3.0, 1.0)]),
]

# game_of_coding.md, d = 3 table: kappa -> P_A*, MSE* at these eta
VECTOR_ETA = [1.5, 2, 3, 4, 6]
VECTOR_ORACLE = {
    0.5: ([0.233, 0.302, 0.426, 0.536, 0.708], [1.414, 1.885, 3.072, 4.601, 8.828]),
    1: ([0.486, 0.583, 0.727, 0.823, 0.922], [0.840, 1.185, 2.115, 3.424, 7.392]),
    2: ([0.801, 0.850, 0.923, 0.959, 0.984], [0.417, 0.704, 1.529, 2.791, 6.782]),
}
VECTOR_RADII_KAPPA_1 = [1.340, 1.758, 2.609, 3.485, 5.318]


def closed_form(kappa: float) -> tuple[float, float]:
    """k(kappa), m(kappa) of the scalar game: alpha* = k (eta + 2), MSE* = m (eta + 2)^2 Delta^2."""
    k = (6 * (kappa + 1) - np.sqrt(36 * (kappa + 1) ** 2 - 112 / 3 * kappa * (kappa + 2))) / (56 / 3 * (kappa + 2))
    return k, (1 - 6 * k + 28 / 3 * k**2) / 4


@pytest.mark.parametrize("kappa, eta, p_accept, mse, noise", SCALAR_ORACLE)
def test_scalar_oracle(kappa, eta, p_accept, mse, noise, tmp_path):
    table = solve(GameSpec(kappa=kappa), np.array([eta]), cache_dir=tmp_path, progress=False)
    assert table.p_accept[0] == pytest.approx(p_accept, abs=2e-3)
    assert table.mse[0] == pytest.approx(mse, abs=2e-3)
    atoms = [(r, w) for r, w in zip(table.radii[0], table.weights[0]) if w > 0]
    assert len(atoms) == len(noise)
    for (r, w), (r_ref, w_ref) in zip(atoms, noise):
        assert r == pytest.approx(r_ref, abs=2e-3) and w == pytest.approx(w_ref, abs=2e-3)


@pytest.mark.parametrize("kappa", [0.3, 0.5, 1.0])
def test_scalar_closed_form_on_the_concave_branch(kappa, tmp_path):
    k, m = closed_form(kappa)
    eta = np.array([8 / 3, 3.0, 4.0, 5.0, 6.0])
    eta = eta[k * (eta + 2) < 1]  # alpha* inside [0, 1]
    delta = 2.0
    table = solve(GameSpec(kappa=kappa, delta=delta), eta, cache_dir=tmp_path, progress=False)
    np.testing.assert_allclose(table.p_accept, k * (eta + 2), atol=2e-4)
    np.testing.assert_allclose(table.mse, m * (eta + 2) ** 2 * delta**2, rtol=2e-4)
    np.testing.assert_allclose(table.radii[:, 0], (eta + 1 - 2 * k * (eta + 2)) * delta, atol=2e-3)
    np.testing.assert_allclose(table.tau, eta * delta)


@pytest.mark.parametrize("kappa", sorted(VECTOR_ORACLE))
def test_vector_oracle_d3(kappa, tmp_path):
    """The table is given to 3 digits: 2e-3 on P_A*, 1% on MSE*."""
    table = solve(GameSpec(dim=3, kappa=kappa), np.array(VECTOR_ETA, dtype=float), cache_dir=tmp_path, progress=False)
    p_ref, mse_ref = VECTOR_ORACLE[kappa]
    np.testing.assert_allclose(table.p_accept, p_ref, atol=2e-3)
    np.testing.assert_allclose(table.mse, mse_ref, rtol=1e-2)
    if kappa == 1:
        np.testing.assert_allclose(table.radii[:, 0], VECTOR_RADII_KAPPA_1, atol=2e-3)


@pytest.mark.parametrize(
    "dim, kappa, eta",
    [(1, 2.0, [1.0, 1.2, 3.0]), (1, 0.5, [2.0, 5.0]), (3, 1.0, [1.5, 4.0]), (3, 2.0, [1.1, 2.0])],
)
def test_monte_carlo_agrees_with_the_table(dim, kappa, eta, ball_noise, rng, tmp_path):
    """Honest noise sampled in the ball, adversarial noise from the table's law: P_A* and MSE* within 3 sigma."""
    table = solve(GameSpec(dim=dim, kappa=kappa), np.array(eta), cache_dir=tmp_path, progress=False)
    draws = 300_000
    for i in range(len(eta)):
        honest = ball_noise(draws, dim)
        adversary = table.sample_noise(np.full(draws, i), rng)
        accepted = np.linalg.norm(honest - adversary, axis=1) <= table.tau[i]
        error2 = np.sum(((honest + adversary) / 2)[accepted] ** 2, axis=1)
        assert abs(accepted.mean() - table.p_accept[i]) <= 3 * accepted.std() / np.sqrt(draws) + 1e-9
        assert abs(error2.mean() - table.mse[i]) <= 3 * error2.std() / np.sqrt(error2.size)


def test_sample_noise_follows_the_law(rng):
    table = EquilibriumTable(
        spec=GameSpec(dim=4),
        eta=np.array([1.0, 2.0]),
        tau=np.array([1.0, 2.0]),
        p_accept=np.array([0.5, 0.6]),
        mse=np.array([1.0, 1.0]),
        radii=np.array([[1.5, 0.5], [2.0, 2.0]]),
        weights=np.array([[0.25, 0.75], [1.0, 0.0]]),
    )
    index = np.array([0] * 40_000 + [1] * 10)
    noise = table.sample_noise(index, rng)
    assert noise.shape == (index.size, 4)
    norms = np.linalg.norm(noise, axis=1)
    assert np.mean(np.isclose(norms[:40_000], 1.5)) == pytest.approx(0.25, abs=0.01)
    assert np.all(np.isclose(norms[:40_000], 1.5) | np.isclose(norms[:40_000], 0.5))
    np.testing.assert_allclose(norms[40_000:], 2.0)
    np.testing.assert_allclose(noise[:40_000].mean(axis=0), 0, atol=0.02)  # symmetric: unbiased estimate


def test_scalar_noise_is_a_random_sign(rng, tmp_path):
    table = solve(GameSpec(), np.array([2.0]), cache_dir=tmp_path, progress=False)
    noise = table.sample_noise(np.zeros(10_000, dtype=int), rng)
    np.testing.assert_allclose(np.abs(noise[:, 0]), table.radii[0, 0])
    assert np.mean(noise[:, 0] > 0) == pytest.approx(0.5, abs=0.03)


def test_nonmonotone_acceptance_is_reported(tmp_path):
    """d = 3, kappa = 2: P_A* is 1 at eta = 1 and 0.80 at eta = 1.5."""
    table = solve(GameSpec(dim=3, kappa=2), np.array([1.0, 1.5, 2.0, 3.0]), cache_dir=tmp_path, progress=False)
    assert table.p_accept[0] == pytest.approx(1.0, abs=1e-3)
    assert table.nonmonotone() == [(1.0, 1.5)]
    smooth = solve(GameSpec(dim=3), np.linspace(1.5, 8, 14), cache_dir=tmp_path, progress=False)
    assert smooth.nonmonotone() == []


def test_high_dimension_limit(tmp_path):
    """kappa = 1: MSE* -> eta^2 Delta^2 / 4 and P_A* -> 1 as d grows."""
    eta = np.array([2.0, 4.0])
    gaps, misses = [], []
    for dim in [10, 1000, 61_706, 10**7]:
        table = solve(GameSpec(dim=dim), eta, cache_dir=tmp_path, progress=False)
        gaps.append(np.abs(table.mse / (eta**2 / 4) - 1).max())
        misses.append((1 - table.p_accept).max())
    assert np.all(np.diff(gaps) < 0) and gaps[-1] < 2e-3
    assert np.all(np.diff(misses) < 0) and misses[-1] < 1e-3


def test_lenet_dimension_small_kappa(tmp_path):
    """d = 61,706: kappa = 0.003 gives P_A* ~0.02-0.45 over eta in [1.2, 5]; kappa = 0.01 ~0.61-0.90."""
    eta = np.linspace(1.2, 5, 9)
    low = solve(GameSpec(dim=61_706, kappa=0.003), eta, cache_dir=tmp_path, progress=False).p_accept
    high = solve(GameSpec(dim=61_706, kappa=0.01), eta, cache_dir=tmp_path, progress=False).p_accept
    assert 0.01 < low.min() < 0.03 and 0.43 < low.max() < 0.47
    assert 0.59 < high.min() < 0.63 and 0.88 < high.max() < 0.92


def test_second_solve_loads_from_disk(tmp_path, monkeypatch):
    spec, eta = GameSpec(dim=3), np.linspace(1.5, 3, 4)
    first = solve(spec, eta, cache_dir=tmp_path, progress=False)
    assert len(list(tmp_path.glob("*.npz"))) == 1

    def recompute(*args, **kwargs):
        raise AssertionError("solved again instead of loading the cache")

    monkeypatch.setattr(equilibrium_module, "compute", recompute)
    second = solve(spec, eta, cache_dir=tmp_path, progress=False)
    assert second.spec == spec
    for name in ("eta", "tau", "p_accept", "mse", "radii", "weights"):
        np.testing.assert_array_equal(getattr(second, name), getattr(first, name))
    with pytest.raises(AssertionError, match="solved again"):  # another grid is another table
        solve(spec, np.linspace(1.5, 3, 5), cache_dir=tmp_path, progress=False)


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DEML_CACHE_DIR", str(tmp_path / "env"))
    solve(GameSpec(), np.array([2.0]), progress=False)
    assert len(list((tmp_path / "env").glob("*.npz"))) == 1


def test_save_load_and_frame(tmp_path):
    table = solve(GameSpec(kappa=2), np.array([1.0, 2.0, 4.0]), cache_dir=tmp_path, progress=False)
    table.save(tmp_path / "t.npz")
    loaded = EquilibriumTable.load(tmp_path / "t.npz")
    assert loaded.spec == table.spec
    np.testing.assert_array_equal(loaded.radii, table.radii)
    frame = table.to_frame()
    assert list(frame.columns) == ["eta", "tau", "p_accept", "mse", "radius_1", "weight_1", "radius_2", "weight_2"]
    assert len(frame) == 3 and frame["p_accept"].iloc[2] == table.p_accept[2]


@pytest.mark.parametrize("eta", [[], [2.0, 1.0], [0.0, 1.0], [1.0, np.nan], [[1.0, 2.0]]])
def test_bad_eta_grid_is_refused(eta, tmp_path):
    with pytest.raises(ValueError, match="eta"):
        solve(GameSpec(), np.array(eta), cache_dir=tmp_path, progress=False)
