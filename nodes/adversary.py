"""The rational adversary of the game of coding: noise drawn from the equilibrium law for the announced eta."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from economics.equilibrium import EquilibriumTable
from nodes.context import RoundContext


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
