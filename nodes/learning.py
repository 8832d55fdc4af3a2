"""A learning adversary: it is not told the game's solution and learns its noise law from what it observes.

Arms. Noise of radius r_a = rho_a (tau + Delta), rho_a on a grid of [0, 1], in a uniformly random direction (the
form of the solver's laws). A radius above tau + Delta can never pass against an honest report, so the grid
spans every radius worth playing, in units of the announced threshold: one grid serves every eta.

What it observes, per round: whether the round was accepted, and the squared error ||g_hat - grad f||^2 of the
estimate the data collector formed (the revealed reports are public once the round settles, and the worst-case
adversary knows grad f). Per announced eta e and arm a it keeps plays n, acceptances k and the summed squared
error of its accepted rounds s, so that p_a = k / n estimates P_A and m_a = s / n estimates E[err^2 1{accepted}].

Its law is a mixture w over arms, valued by the game's own utility of the mixture's aggregates:
    P(w) = sum_a w_a p_a,   MSE(w) = sum_a w_a m_a / P(w),   U(w) = log MSE(w) + kappa log P(w)  (or MSE P^kappa).
U is not linear in w, so playing the best single arm is not enough; as in the solver (the concave envelope of
the price curve), the best law mixes at most two arms, and the greedy law is searched over pairs of arms and a
grid of weights. Each round it explores a uniformly random arm with probability min(1, c / sqrt(n_e)) (n_e:
rounds played at that eta) and otherwise plays its greedy law: an explore-then-exploit learner whose play
converges to the best response to the check it faces, whatever the data collector does (constant or adaptive
eta), if the statistics of each eta settle.

Pure functions over explicit state, optax-style: `init` -> state, `act(params, state, eta_index, rng)` -> arms,
`update(state, eta_index, arms, accepted, err2)` -> state. `LearningAdversary` wraps them as a colluding swarm's
strategy (one point a round) with an `observe` hook the round loop calls after each round.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np

from nodes.context import RoundContext


@dataclass(frozen=True)
class LearnerParams:
    delta: float  # the protocol's honest noise radius (public)
    etas: int  # size of the announced-eta grid (the table's rows)
    arms: int = 17  # radius grid rho in [0, 1]
    kappa: float = 1.0
    utility: Literal["log", "product"] = "log"
    explore: float = 2.0  # c in the exploration rate min(1, c / sqrt(n_e))
    weights: int = 21  # mixing-weight grid of the greedy two-arm law

    @property
    def rho(self) -> np.ndarray:
        return np.linspace(0.0, 1.0, self.arms)


class LearnerState(NamedTuple):
    plays: np.ndarray  # [B, E, A]
    accepts: np.ndarray  # [B, E, A]
    err2: np.ndarray  # [B, E, A] summed squared error of the accepted rounds


def init(params: LearnerParams, batch: int) -> LearnerState:
    shape = (batch, params.etas, params.arms)
    return LearnerState(np.zeros(shape), np.zeros(shape), np.zeros(shape))


def law_utility(params: LearnerParams, pa: np.ndarray, ma: np.ndarray) -> np.ndarray:
    """U of laws with acceptance pa and error mass ma = E[err^2 1{acc}] (MSE = ma / pa); -inf where pa = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mse = ma / pa
        u = np.log(mse) + params.kappa * np.log(pa) if params.utility == "log" else mse * pa**params.kappa
    return np.where(pa > 0, np.nan_to_num(u, nan=-np.inf), -np.inf)


def greedy(params: LearnerParams, p: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The best two-arm law for statistics p, m [B, A]: (first arm [B], second arm [B], weight of the first [B])."""
    b, a = p.shape
    lam = np.linspace(0.0, 1.0, params.weights)  # [W]
    # P and the error mass of every pair (i, j) at every weight: [B, A, A, W], linear in the weight
    pa = lam * p[:, :, None, None] + (1 - lam) * p[:, None, :, None]
    ma = lam * m[:, :, None, None] + (1 - lam) * m[:, None, :, None]
    best = law_utility(params, pa, ma).reshape(b, -1).argmax(axis=1)
    i, j, k = np.unravel_index(best, (a, a, params.weights))
    return i, j, lam[k]


def act(params: LearnerParams, state: LearnerState, eta_index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The arm [B] each run plays at its announced eta: an unplayed arm first, else explore or the greedy law."""
    rows = np.arange(len(eta_index))
    n = state.plays[rows, eta_index]  # [B, A]
    seen = n.sum(axis=1)
    unplayed = n == 0
    first_unplayed = np.where(unplayed.any(axis=1), unplayed.argmax(axis=1), -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, state.accepts[rows, eta_index] / n, 0.0)
        m = np.where(n > 0, state.err2[rows, eta_index] / n, 0.0)
    i, j, w = greedy(params, p, m)
    law = np.where(rng.random(len(rows)) < w, i, j)
    explore = rng.random(len(rows)) < np.minimum(1.0, params.explore / np.sqrt(np.maximum(seen, 1)))
    arms = np.where(explore, rng.integers(0, params.arms, len(rows)), law)
    return np.where(first_unplayed >= 0, first_unplayed, arms)


def update(state: LearnerState, eta_index: np.ndarray, arms: np.ndarray, accepted: np.ndarray,
           err2: np.ndarray) -> LearnerState:
    """One observed round per run: its arm was played at its eta; accepted with squared error err2 (NaN if not)."""
    rows = np.arange(len(arms))
    plays, accepts, errs = state.plays.copy(), state.accepts.copy(), state.err2.copy()
    acc = np.asarray(accepted, dtype=bool)
    plays[rows, eta_index, arms] += 1
    accepts[rows, eta_index, arms] += acc
    errs[rows, eta_index, arms] += np.where(acc, np.nan_to_num(err2), 0.0)
    return LearnerState(plays, accepts, errs)


def noise(params: LearnerParams, arms: np.ndarray, tau: np.ndarray, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Noise [B, dim] of radius rho_arm (tau + Delta) in a uniformly random direction."""
    radius = params.rho[arms] * (np.asarray(tau) + params.delta)
    direction = rng.standard_normal((len(arms), dim))
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    return radius[:, None] * direction


@dataclass
class LearningAdversary:
    """y = grad f(theta) + noise of the arm the learner plays. Colluding: the swarm asks for one point a round,
    and the round loop reports the outcome back through `observe` before the next round."""

    params: LearnerParams
    state: LearnerState
    played: tuple[np.ndarray, np.ndarray] | None = field(default=None)  # (eta_index, arms) of the last round

    @classmethod
    def start(cls, params: LearnerParams, batch: int) -> "LearningAdversary":
        return cls(params, init(params, batch))

    def __call__(self, ctx: RoundContext) -> np.ndarray:
        eta_index = np.asarray(ctx.eta_index)
        arms = act(self.params, self.state, eta_index, ctx.rng)
        self.played = (eta_index, arms)
        return ctx.grad + noise(self.params, arms, ctx.tau, ctx.grad.shape[1], ctx.rng)

    def observe(self, accepted: np.ndarray, estimate_error: np.ndarray) -> np.ndarray:
        """Learn from the last round's outcome; returns the rho [B] each run played in it."""
        if self.played is None:
            raise RuntimeError("observe: no round played since the last observation")
        eta_index, arms = self.played
        self.state = update(self.state, eta_index, arms, accepted, np.asarray(estimate_error) ** 2)
        self.played = None
        return self.params.rho[arms]
