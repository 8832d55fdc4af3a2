"""The rational adversary of the game of coding: noise drawn from the equilibrium law for the announced eta."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nodes.context import RoundContext

if TYPE_CHECKING:  # only the table's type: the solver (scipy.stats, 0.5 s) loads where a table is solved or read
    from economics.equilibrium import EquilibriumTable


@dataclass(frozen=True)
class RationalAdversary:
    """y = grad f(theta) + Z, Z ~ g*(eta): radius r1 w.p. w1 else r2, uniformly random direction.

    It knows the gradient exactly but not the honest noise (commit-reveal keeps it so). Colluding nodes
    all send this same point (the swarm replicates it), which is the coalition's best play with the
    midrange estimator (docs/game_of_coding.md, "Many nodes and Sybil identities").
    """

    table: EquilibriumTable

    def __call__(self, ctx: RoundContext) -> np.ndarray:
        return ctx.grad + self.table.sample_noise(np.asarray(ctx.eta_index), ctx.rng)
