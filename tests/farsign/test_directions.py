"""Direction designs: consistent projections, and the honest-dominance condition where it should hold."""
from __future__ import annotations

import numpy as np
import pytest

from coordinator import directions


def test_project_transpose_and_rows_agree(design, rng):
    for j in range(design.workers):
        g, w = rng.standard_normal(design.dim), rng.standard_normal(design.size(j))
        assert design.project(j, g) == pytest.approx(design.rows(j) @ g)
        assert design.transpose(j, w) == pytest.approx(design.rows(j).T @ w)
        assert design.project(j, g) @ w == pytest.approx(g @ design.transpose(j, w))  # adjoint


@pytest.mark.parametrize("m,s,holds", [(5, 2, True), (4, 2, False), (10, 4, True), (10, 5, False), (3, 0, True)])
def test_replicated_basis_needs_exactly_an_honest_majority(m, s, holds):
    assert (directions.dominance_margin(directions.replicated_basis(7, m), s) > 0) == holds


def test_replicated_blocks_need_a_majority_in_every_block():
    d = directions.replicated_blocks(100, 10, 2)  # r = 5 owners per block
    assert [d.size(j) for j in range(10)] == [50] * 10
    assert d.cover().tolist() == [5] * 100
    assert directions.dominance_margin(d, 2) > 0
    assert directions.dominance_margin(d, 3) <= 0  # 3 adversaries can all sit in one block of 5


def test_uneven_blocks_are_judged_by_their_weakest_block():
    d = directions.replicated_blocks(9, 7, 3)  # blocks owned by 3, 2, 2 workers
    assert sorted(set(d.cover().tolist())) == [2, 3]
    assert directions.dominance_margin(d, 1) == 0  # a 2-owner block with one adversary is a tie


def test_gaussian_rows_dominate_with_enough_rows_and_fail_without_span():
    rich = directions.gaussian(8, 10, 8, seed=3)
    assert directions.dominance_margin(rich, 3) > 0
    assert directions.dominance_margin(rich, 5) <= 0  # half the workers adversarial: no design can help
    assert directions.dominance_margin(directions.gaussian(20, 2, 3, seed=0), 0) == 0.0  # rank 6 < 20: blind spots


def test_gaussian_design_is_fixed_by_its_public_seed():
    a, b = directions.gaussian(5, 3, 2, seed=7), directions.gaussian(5, 3, 2, seed=7)
    assert all(np.array_equal(x, y) for x, y in zip(a.matrices, b.matrices))
    assert not np.array_equal(a.matrices[0], directions.gaussian(5, 3, 2, seed=8).matrices[0])


def test_blocks_refuse_impossible_counts():
    with pytest.raises(ValueError, match="blocks"):
        directions.replicated_blocks(10, 3, 4)
