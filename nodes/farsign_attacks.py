"""FAR-SIGN attacks (docs/farsign.md, "Attacks") as small callables: context -> values.

An attack sees what its worker would honestly send now (`grad`, named as in nodes.context.RoundContext so
the classic attacks of nodes.attacks apply unchanged: SignFlip, Gaussian, NonFinite), and, being
omniscient, the honest mean at the model it read and an honest report computed at the initial model.
The same callables attack the gradient baselines (values = a full gradient) and FAR-SIGN (values = one
scalar per row of the worker's block).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class AttackContext:
    grad: np.ndarray  # the honest values at the model this worker read
    rng: np.random.Generator
    reference: Callable[[], np.ndarray]  # the honest mean at that model (a low-noise gradient), on demand
    stale: Callable[[], np.ndarray]  # an honest report computed at the initial model (version 0), on demand


@dataclass(frozen=True)
class Constant:
    """y = value in every entry: +-1e6 is the large-value attack; +1 / -1 are "always +1 / -1"."""

    value: float = 1e6

    def __call__(self, ctx: AttackContext) -> np.ndarray:
        return np.full_like(ctx.grad, self.value)


@dataclass(frozen=True)
class RandomSigns:
    """y = +-1 uniformly at random, independently per entry."""

    def __call__(self, ctx: AttackContext) -> np.ndarray:
        return ctx.rng.choice(np.array([-1.0, 1.0]), size=ctx.grad.shape)


@dataclass(frozen=True)
class OppositeMean:
    """y = -scale * (honest mean projection): all adversaries push against the honest consensus
    (inner-product manipulation with epsilon = scale, Xie et al. 2020)."""

    scale: float = 1.0

    def __call__(self, ctx: AttackContext) -> np.ndarray:
        return -self.scale * ctx.reference()


@dataclass(frozen=True)
class StaleReplay:
    """y = an honest report computed at the initial model, sent as if fresh (maximal staleness)."""

    def __call__(self, ctx: AttackContext) -> np.ndarray:
        return ctx.stale()
