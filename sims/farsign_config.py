"""Configs of the FAR-SIGN experiments. Cheap to import (pydantic and numpy): `deml sim --list` and `deml sim show`
read them without loading torch or the engine."""
from __future__ import annotations

from typing import Literal, Optional

import numpy as np
from pydantic import Field, model_validator

from sims.config import ExperimentConfig

AttackName = Literal["none", "sign-flip", "large-value", "always-plus", "always-minus", "gaussian", "nan", "inf",
                     "random-signs", "opposite-mean", "stale-replay"]
LatencyKind = Literal["constant", "exponential", "lognormal", "pareto"]


class AsyncConfig(ExperimentConfig):
    """What both FAR-SIGN experiments share: workers, clock, attack strengths, FAR-SIGN's constants."""

    workers: int = Field(10, ge=1, description="workers, each on its own data shard")
    adversaries: int = Field(3, ge=0, description="the last `adversaries` worker ids are adversarial")
    compute: LatencyKind = Field("pareto", description="law of a worker's compute time per report")
    compute_mean: float = Field(1.0, gt=0, description="mean compute time per report (virtual seconds)")
    compute_shape: float = Field(2.0, gt=0, description="lognormal sigma, or Pareto tail index (> 1)")
    delay: LatencyKind = Field("exponential", description="law of the network delay of a report")
    delay_mean: float = Field(0.1, ge=0, description="mean network delay of a report")
    delay_shape: float = Field(1.0, gt=0, description="lognormal sigma, or Pareto tail index (> 1), of the delay")
    slow_workers: int = Field(0, ge=0, description="workers 0..k-1 compute `slowdown` times slower")
    slowdown: float = Field(1.0, gt=0, description="compute-time factor of the slow workers")
    mode: Literal["sim", "real"] = Field("sim", description="virtual clock, or one OS process per worker")
    time_scale: float = Field(0.0, ge=0, description="real mode: sleep this x a clock draw per report")
    horizon: Optional[float] = Field(None, gt=0, description="stop at this (virtual or wall) time")
    large_value: float = Field(1e6, description="the large-value attack's constant")
    gaussian_sigma: float = Field(10.0, gt=0, description="gaussian attack: honest + N(0, sigma^2)")
    design: Literal["replicated-basis", "replicated-blocks", "gaussian"] = Field(
        "replicated-basis", description="which directions each worker reports on")
    blocks: int = Field(2, ge=1, description="replicated-blocks: number of blocks B")
    gaussian_rows: int = Field(0, ge=0, description="gaussian design: rows per worker (0: ceil(2d/m))")
    design_seed: int = Field(0, description="public seed of the gaussian rows")
    a0: float = Field(0.03, gt=0, description="slow step a(n) = a0 (n + n0)^-alpha")
    n0: float = Field(1.0, gt=0, description="offset n0 of the step schedules")
    b0: float = Field(1.0, gt=0, le=1, description="fast step b(nu) = b0 (nu + 1)^-beta")
    c0: float = Field(0.1, gt=0, description="zeroth-order perturbation c(n) = c0 (n + n0)^-gamma")
    alpha: Optional[float] = Field(None, description="slow exponent (default: the variant's, 3/4 or 5/6)")
    beta: Optional[float] = Field(None, description="fast exponent (default: 0.51 or 2/3)")
    gamma: Optional[float] = Field(None, description="perturbation exponent (default: 1/6)")
    full_sum: bool = Field(True, description="slow step over all rows (False: the event-driven variant)")
    nonfinite: Literal["sign", "drop"] = Field("sign", description="a NaN or inf report: count its sign, or drop it")

    @model_validator(mode="after")
    def _sizes(self):
        if self.adversaries > self.workers or self.slow_workers > self.workers:
            raise ValueError(f"adversaries ({self.adversaries}) and slow_workers ({self.slow_workers}) "
                             f"must not exceed workers ({self.workers})")
        for kind, shape, key in ((self.compute, self.compute_shape, "compute_shape"),
                                 (self.delay, self.delay_shape, "delay_shape")):
            if kind == "pareto" and shape <= 1:
                raise ValueError(f"{key}: a Pareto law needs a tail index > 1 (a finite mean), got {shape}")
        return self


class RatesConfig(AsyncConfig):
    runs: int = Field(4, ge=1, description="independent runs per objective and variant")
    rounds: int = Field(100_000, ge=10, description="server updates per run")
    objectives: list[Literal["rosenbrock", "cauchy-regression"]] = Field(
        ["rosenbrock", "cauchy-regression"], description="objectives whose rates are measured")
    variants: list[Literal["first-order", "zeroth-order"]] = Field(
        ["first-order", "zeroth-order"], description="FAR-SIGN variants (reference slopes -1/4 and -1/6)")
    dim: int = Field(10, ge=2, description="dimension of the objectives")
    noise: float = Field(1.0, ge=0, description="gradient noise: F(x; xi) = f(x) + xi^T x, xi ~ N(0, noise^2 I)")
    attack: AttackName = Field("sign-flip", description="what the adversarial workers send")
    fit_from: Optional[int] = Field(None, ge=1, description="fit the slope over n in [fit_from, rounds] "
                                    "(default rounds / 10)")
    points: int = Field(200, ge=10, description="log-spaced n at which the rounds table records")

    @model_validator(mode="after")
    def _fit_window(self):
        start = self.fit_start
        if start >= self.rounds:
            raise ValueError(f"fit_from: {start} is not below rounds ({self.rounds}); lower it, e.g. "
                             f"--set fit_from={max(1, self.rounds // 10)}, or leave it unset (rounds / 10)")
        if len(self.record_points(start)) < 3:
            raise ValueError(f"fit_from: only {len(self.record_points(start))} recorded points fall in "
                             f"[{start}, {self.rounds}]; lower fit_from or raise points")
        return self

    @property
    def fit_start(self) -> int:
        return self.fit_from if self.fit_from is not None else max(1, self.rounds // 10)

    def record_points(self, lo: int = 1) -> list[int]:
        """The update counts n at which the rounds table records (log-spaced in [1, rounds]), from lo on."""
        grid = np.unique(np.geomspace(1, self.rounds, self.points).astype(int))
        return [int(n) for n in grid if n >= lo]


MethodName = Literal["farsign", "mean", "median", "trimmed-mean", "krum", "multi-krum", "geometric-median",
                     "sign-majority", "async-sgd"]
ROBUST = ("median", "trimmed-mean", "krum", "multi-krum", "geometric-median", "sign-majority")  # baselines

# the largest f each fault-count rule is defined for, given m reports per step
FAULT_LIMIT = {"trimmed-mean": lambda m: (m - 1) // 2, "krum": lambda m: m - 3, "multi-krum": lambda m: m - 3}


class MnistConfig(AsyncConfig):
    runs: int = Field(2, ge=1, description="independent runs per model (seed + r)")
    rounds: int = Field(4000, ge=1, description="server-update budget per method and run")
    horizon: Optional[float] = Field(150.0, gt=0, description="stop at this (virtual or wall) time, seconds")
    dataset: Literal["mnist", "synthetic"] = Field("mnist", description="synthetic: tiny Gaussian clusters "
                                                   "(no files needed)")
    data_dir: Optional[str] = Field(None, description="MNIST IDX files (default $DEML_DATA_DIR, then ./data)")
    download: bool = Field(False, description="allow torchvision to download MNIST if it is missing")
    models: list[Literal["logreg", "mlp", "lenet"]] = Field(["logreg", "mlp"], description="models trained")
    hidden: int = Field(64, ge=1, description="MLP hidden width")
    methods: list[MethodName] = Field(["farsign", "mean", "median", "trimmed-mean", "krum", "multi-krum",
                                       "geometric-median", "sign-majority", "async-sgd"],
                                      description="FAR-SIGN and the baselines it is held against")
    attacks: list[AttackName] = Field(["sign-flip", "large-value", "gaussian"], description="attacks, one run each")
    batch: int = Field(32, ge=1, description="minibatch per report")
    test_size: int = Field(2000, ge=1, description="fixed random test subset used for every evaluation")
    eval_interval: float = Field(1.0, gt=0, description="evaluate when this much (virtual) time has passed")
    target: float = Field(0.8, gt=0, le=1, description="accuracy whose first-passage time is reported")
    lr: float = Field(1.0, gt=0, description="SGD step of the gradient baselines")
    sign_lr: float = Field(0.01, gt=0, description="step of signSGD with majority vote")
    a0: float = Field(0.003, gt=0, description="FAR-SIGN slow step a(n) = a0 (n + n0)^-alpha")
    torch_threads: int = Field(1, ge=1, description="intra-op threads (more only contend at these sizes)")
    assumed_faults: Optional[int] = Field(
        None, ge=0, description="f told to trimmed mean, Krum and Multi-Krum (default: the true adversary count, "
        "capped at the most each rule is defined for, so sweeps may cross one half)")

    @model_validator(mode="after")
    def _faults(self):
        for method in sorted(set(self.methods) & set(FAULT_LIMIT)):
            limit = FAULT_LIMIT[method](self.workers)
            if self.assumed_faults is not None and self.assumed_faults > limit:
                raise ValueError(f"assumed_faults={self.assumed_faults}: {method} with {self.workers} workers is "
                                 f"defined for f <= {limit}; lower assumed_faults or drop {method} from methods")
        return self

    def faults(self, method: str) -> int:
        """The f a fault-count rule is built with: the assumed count, else the true one capped at the rule's limit."""
        limit = FAULT_LIMIT[method](self.workers)
        return self.assumed_faults if self.assumed_faults is not None else min(self.adversaries, limit)


STEP_PARAM = {"farsign": "a0", "sign-majority": "sign_lr"}  # every other method's step is `lr`


class TuneConfig(MnistConfig):
    """farsign-mnist with each method at its own best step size, found with the same budget for every method on
    seeds held out from the evaluation."""

    a0_grid: list[float] = Field([1e-3, 3e-3, 1e-2, 3e-2], description="FAR-SIGN's a0 values tried")
    lr_grid: list[float] = Field([0.1, 0.3, 1.0, 3.0], description="SGD steps tried for each gradient baseline")
    sign_lr_grid: list[float] = Field([1e-3, 3e-3, 1e-2, 3e-2], description="signSGD-majority steps tried")
    tune_runs: int = Field(1, ge=1, description="tuning runs per setting (seeds tune_seed + r)")
    tune_seed: int = Field(1000, description="first tuning seed; the evaluation uses seed + r, never these")

    @model_validator(mode="after")
    def _budget(self):
        sizes = {len(self.a0_grid), len(self.lr_grid), len(self.sign_lr_grid)}
        if len(sizes) != 1 or 0 in sizes:
            raise ValueError(f"a0_grid, lr_grid, sign_lr_grid: {len(self.a0_grid)}, {len(self.lr_grid)} and "
                             f"{len(self.sign_lr_grid)} values; give every method the same non-empty budget")
        tune = set(range(self.tune_seed, self.tune_seed + self.tune_runs))
        if tune & set(range(self.seed, self.seed + self.runs)):
            raise ValueError(f"tune_seed={self.tune_seed}: its seeds overlap the evaluation's seed..seed+runs-1; "
                             f"pick a tune_seed beyond {self.seed + self.runs - 1}")
        return self

    def grid(self, method: str) -> tuple[str, list[float]]:
        """The step parameter `method` is tuned over, and its values."""
        param = STEP_PARAM.get(method, "lr")
        return param, getattr(self, f"{param}_grid")
