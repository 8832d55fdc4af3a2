"""Configs of the VISTA experiments: the engine's settings (nodes, game, controller, protocol) and the named
objectives `--set objective=NAME` selects. Cheap to import (pydantic and numpy): `deml sim --list` and
`deml sim show` read them without loading the engine.
"""
from __future__ import annotations

from typing import Literal, Optional

import numpy as np
from pydantic import Field, model_validator

from sims import objectives
from sims.config import ConfigError, ExperimentConfig

Estimator = Literal["mean", "midrange"]
ObjectiveName = Literal[tuple(objectives.OBJECTIVES)]  # the names, from the one place that defines them


class VistaConfig(ExperimentConfig):
    """The batched VISTA engine's settings: any objective (see sims.api) runs with these."""

    honest: int = Field(1, ge=1, description="honest nodes")
    adversaries: int = Field(1, ge=0, description="colluding adversarial nodes; may be the majority")
    delta: float = Field(1.0, gt=0, description="honest noise radius Delta: an honest report is within Delta of "
                         "the gradient")
    kappa: float = Field(1.0, gt=0, description="acceptance weight in the adversary's utility log MSE + kappa log P_A")
    utility: Literal["log", "product"] = Field("log", description="adversary utility: log MSE + kappa log P_A, or "
                                               "MSE P_A^kappa")
    estimator: Literal["auto", "mean", "midrange"] = Field(
        "auto", description="the DC's estimate from the revealed reports: auto is midrange for N > 2 nodes "
        "(Sybil-resistant), else mean")
    eta_min: float = Field(2.0, gt=0, description="smallest threshold eta = tau / Delta VISTA may announce")
    eta_max: float = Field(8.0, gt=0, description="largest eta, announced in round 1")
    eta_step: float = Field(0.05, gt=0, description="spacing of the equilibrium grid eta_min + k eta_step that "
                            "VISTA chooses from; must divide eta_max - eta_min")
    alpha0: float = Field(0.1, gt=0, description="learning rate while adaptive; keep alpha0 <= 1/(L (1 + lam)) "
                          "for an L-smooth objective, or VISTA diverges")
    lam: float = Field(1.0, gt=0, description="VISTA's signal-to-noise tolerance: eta = MSE*^-1(lam G)")
    beta: float = Field(0.9, ge=0, lt=1, description="EMA factor of the accepted estimates behind G")
    baselines: list[float] = Field([2.0, 3.0, 4.0, 5.0, 6.0, 8.0], description="constant-eta baselines run beside "
                                   "VISTA (each a point of the eta grid)")
    oracle: bool = Field(False, description="also run VISTA-oracle (G = the true ||grad f||^2)")
    scale_bits: int = Field(16, ge=4, le=24, description="fixed-point fraction bits of reports and thresholds")
    reward: float = Field(1.0, gt=0, description="tokens paid to each revealer of an accepted round")

    @model_validator(mode="after")
    def _grid(self):
        if self.honest + self.adversaries < 2:
            raise ValueError(f"honest + adversaries: {self.honest + self.adversaries} node; a round needs at least 2 "
                             f"(the contract's smallest quorum): raise honest or adversaries")
        if self.eta_min > self.eta_max:
            raise ValueError(f"eta_min {self.eta_min} > eta_max {self.eta_max}; swap them")
        steps = (self.eta_max - self.eta_min) / self.eta_step
        if abs(steps - round(steps)) > 1e-6:
            raise ValueError(f"eta_step: {self.eta_step} does not divide eta_max - eta_min = "
                             f"{self.eta_max - self.eta_min:g}; pick a divisor such as 0.05, 0.1, 0.25 or 0.5")
        grid = self.eta_grid()
        for b in self.baselines:
            if not self.eta_min - 1e-9 <= b <= self.eta_max + 1e-9:
                raise ValueError(f"baselines: {b:g} outside [eta_min, eta_max] = [{self.eta_min:g}, "
                                 f"{self.eta_max:g}]; widen the range or drop it from baselines")
            if np.abs(grid - b).min() > 1e-9:
                raise ValueError(f"baselines: {b:g} is not on the eta grid {self.eta_min:g} + k x {self.eta_step:g}; "
                                 f"pick an eta_step that reaches it (e.g. 0.05) or drop it from baselines")
        return self

    def eta_grid(self) -> np.ndarray:
        n = int(round((self.eta_max - self.eta_min) / self.eta_step))
        return np.round(np.linspace(self.eta_min, self.eta_max, n + 1), 10)

    def game_estimator(self, dim: int) -> Estimator:
        """The estimator of the d-dimensional game, or a ConfigError (a ValueError, so pydantic reports it inside
        a validator) naming the settings that fix it."""
        n = self.honest + self.adversaries
        est = ("midrange" if n > 2 else "mean") if self.estimator == "auto" else self.estimator
        if est == "midrange" and dim > 1 and self.honest > 1:
            raise ConfigError(
                f"honest={self.honest}, adversaries={self.adversaries} on a {dim}-dimensional objective: the midrange "
                f"estimator{' (auto for N > 2 nodes)' if self.estimator == 'auto' else ''} has no equilibrium table "
                f"for vectors with two or more honest nodes; --set estimator=mean (a Monte Carlo table, about a "
                f"minute the first time) or --set honest=1")
        return est


class ObjectiveConfig(VistaConfig):
    """VISTA on a named objective. Objective settings left unset take the objective's defaults."""

    objective: ObjectiveName = Field(
        "quadratic", description="quadratic: 1/2 sum c_i theta_i^2; logbowl: log(1 + x^2) + x^2/20 (1-D); "
        "rosenbrock: sum 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2; logreg: l2-regularised logistic regression on a "
        "seeded synthetic set")
    curvature: Optional[list[float]] = Field(None, description="quadratic: the c_i (default [1, 2, 3]; the "
                                             "dimension is their count)")
    start: Optional[list[float]] = Field(None, description="starting point (default: 10 in every coordinate for "
                                         "quadratic and logbowl, the origin for rosenbrock and logreg)")
    dim: Optional[int] = Field(None, ge=1, description="rosenbrock, logreg: dimension d (default 10, 5)")
    samples: Optional[int] = Field(None, ge=1, description="logreg: examples in the synthetic set (default 200)")
    l2: Optional[float] = Field(None, gt=0, description="logreg: ridge weight (default 0.1)")
    data_seed: Optional[int] = Field(None, description="logreg: seed of the synthetic set (default 0)")

    @model_validator(mode="after")
    def _objective(self):
        takes = objectives.settings(self.objective)
        for key in set(ObjectiveConfig.model_fields) - set(VistaConfig.model_fields) - {"objective"}:
            if getattr(self, key) is not None and key not in takes:
                raise ValueError(f"{key}: objective={self.objective} has no such setting (it takes "
                                 f"{', '.join(takes)})")
        self.game_estimator(self.task().dim)
        return self

    def task(self) -> objectives.Objective:
        """The objective with the settings given here (the class holds the defaults)."""
        cls = objectives.OBJECTIVES[self.objective]
        given = {k: getattr(self, k) for k in objectives.settings(self.objective) if getattr(self, k) is not None}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in given.items()})


class Quad3dConfig(ObjectiveConfig):
    pass


class Scalar1dConfig(ObjectiveConfig):
    adversaries: int = Field(4, ge=0, description="colluding adversarial nodes; may be the majority")
    # |f'| <= 1.2 here, below MSE*(eta_min) = 1.76: at lam = 1 VISTA saturates in round 1 (the paper's small-lam
    # failure mode); lam = 10 keeps it adaptive while the gradient is informative (see the lam sweep)
    lam: float = Field(10.0, gt=0, description="VISTA's signal-to-noise tolerance: eta = MSE*^-1(lam G)")
    objective: ObjectiveName = Field(
        "logbowl", description=ObjectiveConfig.model_fields["objective"].description)


class LearningConfig(ObjectiveConfig):
    """quad3d's settings, and the learning adversary's (nodes/learning.py)."""

    baselines: list[float] = Field([2.0, 3.0, 4.0, 6.0], description="constant-eta baselines (each a point of the "
                                   "eta grid); the learner's play is measured at each")
    arms: int = Field(17, ge=2, description="the learner's radius grid on [0, tau + Delta]")
    explore: float = Field(2.0, gt=0, description="exploration rate min(1, explore / sqrt(rounds at that eta))")
    tail: float = Field(0.5, gt=0, le=1, description="fraction of the rounds, at the end, over which the play is "
                        "measured")
    min_rounds: int = Field(100, ge=1, description="an eta visited fewer times in the tail is left out of the "
                            "play table")


class EconomicsConfig(ObjectiveConfig):
    """The economics tables: adversary share, Sybil identities, and where VISTA's gain comes from."""

    runs: int = Field(10, ge=1, description="independent runs per configuration")
    rounds: int = Field(1000, ge=1, description="rounds per run")
    objective: ObjectiveName = Field("logbowl", description="a 1-D objective keeps the midrange table exact for "
                                     "several honest nodes; " + ObjectiveConfig.model_fields["objective"].description)
    lam: float = Field(10.0, gt=0, description=Scalar1dConfig.model_fields["lam"].description)
    baselines: list[float] = Field([2.0, 4.0, 8.0], description="constant-eta baselines (each a point of the eta grid)")
    nodes: int = Field(10, ge=3, description="nodes in the adversary-share and ablation tables")
    shares: list[int] = Field([1, 3, 5, 7, 9], description="adversaries among `nodes`, one configuration each")
    sybils: list[int] = Field([1, 2, 4, 8], description="identities of one adversary (colluding copies of its point)")
    sybil_honest: int = Field(3, ge=1, description="honest nodes beside the Sybil identities")
    ablation_adversaries: int = Field(7, ge=1, description="adversaries among `nodes` in the ablation")

    @model_validator(mode="after")
    def _economics(self):
        for a in [*self.shares, self.ablation_adversaries]:
            if not 1 <= a < self.nodes:
                raise ValueError(f"shares / ablation_adversaries: {a} adversaries among nodes={self.nodes}; each must "
                                 f"lie in [1, {self.nodes - 1}] (at least one honest node)")
        if self.task().dim != 1 and (self.nodes > 2 or self.sybil_honest > 1):
            raise ValueError(f"objective={self.objective}: the economics tables compare the midrange estimator with "
                             f"several honest nodes, which has an exact table in one dimension only; use a 1-D "
                             f"objective (logbowl, or quadratic with curvature=[c])")
        return self
