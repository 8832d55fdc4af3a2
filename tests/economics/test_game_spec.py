import pytest
from pydantic import ValidationError

from economics import GameSpec


def test_defaults_are_the_two_node_scalar_game():
    spec = GameSpec()
    assert (spec.dim, spec.delta, spec.honest, spec.adversaries, spec.utility, spec.kappa, spec.estimator) == (
        1, 1.0, 1, 1, "log", 1.0, "mean"
    )
    assert not spec.monte_carlo


def test_key_is_stable_and_tells_games_apart():
    assert GameSpec(dim=3).key() == GameSpec(dim=3).key()
    keys = {GameSpec(**change).key() for change in [{}, {"dim": 3}, {"kappa": 2}, {"utility": "product"}, {"delta": 2}]}
    assert len(keys) == 5


@pytest.mark.parametrize(
    "fields, name",
    [
        ({"dim": 0}, "dim"),
        ({"delta": 0}, "delta"),
        ({"delta": float("inf")}, "delta"),
        ({"honest": 0}, "honest"),
        ({"adversaries": 0}, "adversaries"),
        ({"kappa": -1}, "kappa"),
        ({"utility": "linear"}, "utility"),
        ({"estimator": "median"}, "estimator"),
        ({"colluders": 2}, "colluders"),
    ],
)
def test_bad_field_is_refused_by_name(fields, name):
    with pytest.raises(ValidationError, match=name):
        GameSpec(**fields)


def test_vector_midrange_with_many_honest_nodes_is_refused():
    with pytest.raises(ValidationError, match="estimator='midrange'.*use estimator='mean'"):
        GameSpec(dim=3, honest=2, estimator="midrange")
    GameSpec(dim=3, honest=1, adversaries=3, estimator="midrange")  # reduces to the two-node game


def test_spec_is_frozen():
    with pytest.raises(ValidationError):
        GameSpec().dim = 2
