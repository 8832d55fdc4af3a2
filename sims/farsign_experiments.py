"""FAR-SIGN experiments: `farsign-rates` (convergence rate on smooth nonconvex functions) and
`farsign-mnist` (accuracy against time and updates, FAR-SIGN vs robust baselines, under attacks).

Every method runs on the same clock model, the same workers (adversaries are the last `adversaries` ids)
and the same attacks; asynchrony is simulated on a virtual clock (mode=sim, reproducible) or real
(mode=real: one process per worker, wall-clock seconds). `rounds` is the server-update budget.

farsign-mnist defaults, picked to run all methods x 3 attacks x 2 models x 2 runs in ~2 minutes on 2 cores:
logistic regression and a 64-unit MLP; pixels in [0, 1]; 10 workers on i.i.d. shards, 3 adversarial;
minibatch 32 per report (one gradient per report, in every method); compute time Pareto (mean 1 s, tail
index 2: heavy-tailed stragglers) plus an exponential 0.1 s delay; 150 virtual seconds; test accuracy every
virtual second on a fixed 2000-image test subset. Step sizes come from small grids on logreg under sign
flip: baselines lr in {0.1, 0.3, 1, 3} -> 1 (signSGD 0.01 from {0.003, 0.01}); FAR-SIGN a0 in
{0.001 .. 0.1} x n0 in {1 .. 1000} x b0 in {0.3, 0.5, 1} -> a0 = 0.003, n0 = 1, b0 = 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from pydantic import Field, model_validator  # noqa: E402

from coordinator import aggregators as agg  # noqa: E402
from coordinator import directions, farsign  # noqa: E402
from coordinator.report_stream import Applied, ServerRule  # noqa: E402
from nodes import attacks as classic  # noqa: E402
from nodes import farsign_attacks as fa  # noqa: E402
from nodes.farsign_workers import FirstOrder, WithAdversaries, ZerothOrder  # noqa: E402
from sims import async_clock, async_real  # noqa: E402
from sims.config import ExperimentConfig  # noqa: E402
from sims.experiment import Experiment, Tables  # noqa: E402

AttackName = Literal["none", "sign-flip", "large-value", "always-plus", "always-minus", "gaussian", "nan", "inf",
                     "random-signs", "opposite-mean", "stale-replay"]
LatencyKind = Literal["constant", "exponential", "lognormal", "pareto"]


class AsyncConfig(ExperimentConfig):
    """What both FAR-SIGN experiments share: workers, clock, attack strengths, FAR-SIGN's constants."""

    workers: int = Field(10, ge=1)
    adversaries: int = Field(3, ge=0, description="the last `adversaries` worker ids are adversarial")
    compute: LatencyKind = Field("pareto", description="law of a worker's compute time per report")
    compute_mean: float = Field(1.0, gt=0)
    compute_shape: float = Field(2.0, gt=0, description="lognormal sigma, or Pareto tail index (> 1)")
    delay: LatencyKind = Field("exponential", description="law of the network delay of a report")
    delay_mean: float = Field(0.1, ge=0)
    delay_shape: float = Field(1.0, gt=0)
    slow_workers: int = Field(0, ge=0, description="workers 0..k-1 compute `slowdown` times slower")
    slowdown: float = Field(1.0, gt=0)
    mode: Literal["sim", "real"] = Field("sim", description="virtual clock, or one OS process per worker")
    time_scale: float = Field(0.0, ge=0, description="real mode: sleep this x a clock draw per report")
    horizon: Optional[float] = Field(None, gt=0, description="stop at this (virtual or wall) time")
    large_value: float = Field(1e6, description="the large-value attack's constant")
    gaussian_sigma: float = Field(10.0, gt=0, description="gaussian attack: honest + N(0, sigma^2)")
    design: Literal["replicated-basis", "replicated-blocks", "gaussian"] = "replicated-basis"
    blocks: int = Field(2, ge=1, description="replicated-blocks: number of blocks B")
    gaussian_rows: int = Field(0, ge=0, description="gaussian design: rows per worker (0: ceil(2d/m))")
    design_seed: int = Field(0, description="public seed of the gaussian rows")
    a0: float = Field(0.03, gt=0, description="slow step a(n) = a0 (n + n0)^-alpha")
    n0: float = Field(1.0, gt=0)
    b0: float = Field(1.0, gt=0, le=1, description="fast step b(nu) = b0 (nu + 1)^-beta")
    c0: float = Field(0.1, gt=0, description="zeroth-order perturbation c(n) = c0 (n + n0)^-gamma")
    alpha: Optional[float] = Field(None, description="slow exponent (default: the variant's, 3/4 or 5/6)")
    beta: Optional[float] = Field(None, description="fast exponent (default: 0.51 or 2/3)")
    gamma: Optional[float] = Field(None, description="perturbation exponent (default: 1/6)")
    full_sum: bool = Field(True, description="slow step over all rows (False: the event-driven variant)")
    nonfinite: Literal["sign", "drop"] = "sign"

    @model_validator(mode="after")
    def _sizes(self):
        if self.adversaries > self.workers or self.slow_workers > self.workers:
            raise ValueError(f"adversaries ({self.adversaries}) and slow_workers ({self.slow_workers}) "
                             f"must not exceed workers ({self.workers})")
        return self

    def clock(self) -> async_clock.Clock:
        return async_clock.Clock(async_clock.Latency(self.compute, self.compute_mean, self.compute_shape),
                                 async_clock.Latency(self.delay, self.delay_mean, self.delay_shape),
                                 (self.slowdown,) * self.slow_workers)

    def strategy(self, name: str):
        return {"none": None, "sign-flip": classic.SignFlip(), "large-value": fa.Constant(self.large_value),
                "always-plus": fa.Constant(1.0), "always-minus": fa.Constant(-1.0),
                "gaussian": classic.Gaussian(self.gaussian_sigma), "nan": classic.NonFinite(math.nan),
                "inf": classic.NonFinite(math.inf), "random-signs": fa.RandomSigns(),
                "opposite-mean": fa.OppositeMean(), "stale-replay": fa.StaleReplay()}[name]

    def design_for(self, dim: int) -> directions.Design:
        if self.design == "replicated-basis":
            return directions.replicated_basis(dim, self.workers)
        if self.design == "replicated-blocks":
            return directions.replicated_blocks(dim, self.workers, self.blocks)
        rows = self.gaussian_rows or -(-2 * dim // self.workers)
        return directions.gaussian(dim, self.workers, rows, self.design_seed)

    def farsign_params(self, dim: int, variant: farsign.Variant) -> farsign.FarSignParams:
        return farsign.params(self.design_for(dim), variant, a0=self.a0, b0=self.b0, c0=self.c0, n0=self.n0,
                              alpha=self.alpha, beta=self.beta, gamma=self.gamma, full_sum=self.full_sum,
                              nonfinite=self.nonfinite)

    def pool(self, honest, attack: str, x0: np.ndarray):
        adv = frozenset(range(self.workers - self.adversaries, self.workers))
        strategy = self.strategy(attack)
        return honest if strategy is None or not adv else WithAdversaries(honest, adv, strategy, x0)

    def drive(self, rule: ServerRule, respond, x0: np.ndarray, seed: int, observe) -> tuple[Any, list[Applied]]:
        horizon = self.horizon or np.inf
        if self.mode == "sim":
            return async_clock.simulate(rule, respond, self.clock(), self.workers, x0, budget=self.rounds,
                                        seed=seed, horizon=horizon, observe=observe)
        return async_real.run(rule, respond, self.workers, x0, budget=self.rounds, seed=seed, horizon=horizon,
                              clock=self.clock(), time_scale=self.time_scale, observe=observe)


def trace_frame(trace: list[Applied], adversaries: int, workers: int, **labels) -> pd.DataFrame:
    t = pd.DataFrame(trace, columns=list(Applied._fields))
    return t.assign(adversarial=t["worker"] >= workers - adversaries, **labels)


def identity(worker: int, g: np.ndarray) -> np.ndarray:
    """The gradient baselines' workers send their whole gradient (a module-level function: picklable)."""
    return g


# ---------------------------------------------------------------- farsign-rates

@dataclass(frozen=True)
class Rosenbrock:
    """f(x) = sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2; minimum 0 at (1, ..., 1); start at 0."""

    dim: int = 10

    def value(self, x: np.ndarray) -> np.ndarray:
        a, b = x[..., :-1], x[..., 1:]
        return (100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2).sum(axis=-1)

    def grad(self, x: np.ndarray) -> np.ndarray:
        a, b = x[:-1], x[1:]
        g = np.zeros_like(x)
        g[:-1] = -400.0 * a * (b - a * a) - 2.0 * (1.0 - a)
        g[1:] += 200.0 * (b - a * a)
        return g

    def start(self) -> np.ndarray:
        return np.zeros(self.dim)


@dataclass(frozen=True)
class CauchyRegression:
    """f(x) = (1/N) sum_k log(1 + (b_k^T x - t_k)^2): robust regression with a smooth nonconvex loss.
    b_k ~ N(0, I), t_k = b_k^T x* + outliers (20% of them N(0, 10^2)), x* ~ N(0, I), from a fixed seed;
    start at 0."""

    dim: int = 10
    samples: int = 200
    seed: int = 0
    b: np.ndarray = field(init=False, repr=False)
    t: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        rng = np.random.default_rng(self.seed)
        b = rng.standard_normal((self.samples, self.dim))
        outliers = 10.0 * rng.standard_normal(self.samples) * (rng.random(self.samples) < 0.2)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "t", b @ rng.standard_normal(self.dim) + outliers)

    def value(self, x: np.ndarray) -> np.ndarray:
        return np.log1p((x @ self.b.T - self.t) ** 2).mean(axis=-1)

    def grad(self, x: np.ndarray) -> np.ndarray:
        r = self.b @ x - self.t
        return (2.0 * r / (1.0 + r * r)) @ self.b / self.samples

    def start(self) -> np.ndarray:
        return np.zeros(self.dim)


OBJECTIVES = {"rosenbrock": Rosenbrock, "cauchy-regression": CauchyRegression}


@dataclass(frozen=True)
class NoisyObjective:
    """F(x; xi) = f(x) + xi^T x with xi ~ N(0, noise^2 I): an unbiased gradient with noise^2 d variance, and
    a function value whose noise cancels in a two-point difference taken on the same xi."""

    f: Rosenbrock | CauchyRegression
    noise: float = 1.0

    def sample(self, worker: int, rng: np.random.Generator) -> np.ndarray:
        return self.noise * rng.standard_normal(self.f.dim)

    def grads(self, x: np.ndarray, batches) -> np.ndarray:
        return self.f.grad(x)[None, :] + np.stack(batches)

    def losses(self, points: np.ndarray, xi: np.ndarray) -> np.ndarray:
        return self.f.value(points) + points @ xi

    def reference(self, x: np.ndarray) -> np.ndarray:
        return self.f.grad(x)


class RatesConfig(AsyncConfig):
    runs: int = Field(4, ge=1)
    rounds: int = Field(100_000, ge=10, description="server updates per run")
    objectives: list[Literal["rosenbrock", "cauchy-regression"]] = ["rosenbrock", "cauchy-regression"]
    variants: list[Literal["first-order", "zeroth-order"]] = ["first-order", "zeroth-order"]
    dim: int = Field(10, ge=2)
    noise: float = Field(1.0, ge=0, description="gradient noise: F(x; xi) = f(x) + xi^T x, xi ~ N(0, noise^2 I)")
    attack: AttackName = "sign-flip"
    fit_from: int = Field(10_000, ge=1, description="fit the slope over n in [fit_from, rounds]")
    points: int = Field(200, ge=10, description="log-spaced n at which the rounds table records")


def run_rates(cfg: RatesConfig) -> Tables:
    grid = np.unique(np.geomspace(1, cfg.rounds, cfg.points).astype(int))
    rows, traces = [], []
    for name in cfg.objectives:
        f = OBJECTIVES[name](cfg.dim)
        task = NoisyObjective(f, cfg.noise)
        for variant in cfg.variants:
            p = cfg.farsign_params(cfg.dim, variant)
            honest = (FirstOrder(task, p.design.project) if variant == "first-order"
                      else ZerothOrder(task, p.design.rows, p.perturbation))
            for run in range(cfg.runs):
                x0 = f.start()
                norms, times = [], []

                def observe(state, time):
                    norms.append(float(np.linalg.norm(f.grad(state.x))))
                    times.append(time)

                state, trace = cfg.drive(farsign.rule(p), cfg.pool(honest, cfg.attack, x0), x0, cfg.seed + run,
                                         observe)
                n = np.arange(1, len(norms) + 1)
                at = grid[grid <= len(norms)] - 1
                running = np.minimum.accumulate(np.asarray(norms))
                rows.append(pd.DataFrame({"objective": name, "variant": variant, "run": run, "updates": n[at],
                                          "time": np.asarray(times)[at], "grad_norm": np.asarray(norms)[at],
                                          "min_grad_norm": running[at], "loss": float(f.value(state.x))}))
                traces.append(trace_frame(trace, cfg.adversaries, cfg.workers, objective=name, variant=variant,
                                          run=run))
    rounds = pd.concat(rows, ignore_index=True)
    return {"rounds": rounds, "fits": fit_slopes(rounds, cfg.fit_from),
            "reports": pd.concat(traces, ignore_index=True)}


REFERENCE_SLOPE = {"first-order": -1 / 4, "zeroth-order": -1 / 6}


def log_mean_curve(g: pd.DataFrame) -> pd.Series:
    """mean over runs of log min_{k<=n} ||grad f(x_k)||, indexed by n."""
    return g.groupby("updates")["min_grad_norm"].apply(lambda v: np.log(v).mean())


def fit_slopes(rounds: pd.DataFrame, fit_from: int) -> pd.DataFrame:
    """Least-squares slope of mean_runs log min_{k<=n} ||grad f(x_k)|| against log n, for n >= fit_from,
    per objective and variant; also each run's own slope, for the spread."""
    out = []
    for (obj, var), g in rounds[rounds["updates"] >= fit_from].groupby(["objective", "variant"]):
        mean = log_mean_curve(g)
        per_run = [np.polyfit(np.log(r["updates"]), np.log(r["min_grad_norm"]), 1)[0]
                   for _, r in g.groupby("run") if len(r) > 1]
        slope, icpt = np.polyfit(np.log(mean.index.to_numpy(float)), mean.to_numpy(), 1)
        out.append({"objective": obj, "variant": var, "slope": slope, "intercept": icpt,
                    "slope_std": float(np.std(per_run)), "reference": REFERENCE_SLOPE[var],
                    "fit_from": fit_from, "fit_to": int(g["updates"].max()), "runs": g["run"].nunique()})
    return pd.DataFrame(out)


def plot_rates(tables: Tables, out: Path) -> list[Path]:
    rounds, fits = tables["rounds"], tables["fits"]
    objectives = list(dict.fromkeys(rounds["objective"]))
    fig, axes = plt.subplots(1, len(objectives), figsize=(6 * len(objectives), 4.5), squeeze=False)
    for ax, obj in zip(axes[0], objectives):
        for var, g in rounds[rounds["objective"] == obj].groupby("variant"):
            mean = np.exp(log_mean_curve(g))
            (line,) = ax.plot(mean.index, mean.to_numpy(), label=f"{var} (geometric mean of {g['run'].nunique()})")
            fit = fits[(fits["objective"] == obj) & (fits["variant"] == var)]
            if len(fit):
                fit = fit.iloc[0]
                n = np.geomspace(fit["fit_from"], fit["fit_to"], 20)
                ax.plot(n, np.exp(fit["intercept"]) * n ** fit["slope"], "--", color=line.get_color(),
                        label=f"fit slope {fit['slope']:.3f}")
                ax.plot(n, np.exp(fit["intercept"]) * n[0] ** (fit["slope"] - fit["reference"]) * n ** fit["reference"],
                        ":", color="gray" if var == "first-order" else "black",
                        label=f"reference slope {fit['reference']:.3f}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("server updates n")
        ax.set_ylabel("min_{k<=n} ||grad f(x_k)||")
        ax.set_title(obj)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "rates.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


# ---------------------------------------------------------------- farsign-mnist

MethodName = Literal["farsign", "mean", "median", "trimmed-mean", "krum", "multi-krum", "geometric-median",
                     "sign-majority", "async-sgd"]
ROBUST = ("median", "trimmed-mean", "krum", "multi-krum", "geometric-median", "sign-majority")  # baselines


# the largest f each fault-count rule is defined for, given m reports per step
FAULT_LIMIT = {"trimmed-mean": lambda m: (m - 1) // 2, "krum": lambda m: m - 3, "multi-krum": lambda m: m - 3}


class MnistConfig(AsyncConfig):
    runs: int = Field(2, ge=1)
    rounds: int = Field(4000, ge=1, description="server-update budget per method and run")
    horizon: Optional[float] = Field(150.0, gt=0, description="stop at this (virtual or wall) time, seconds")
    dataset: Literal["mnist", "synthetic"] = Field("mnist", description="synthetic: tiny Gaussian clusters")
    data_dir: Optional[str] = Field(None, description="MNIST IDX files (default $DEML_DATA_DIR, then ./data)")
    download: bool = Field(False, description="allow torchvision to download MNIST if it is missing")
    models: list[Literal["logreg", "mlp", "lenet"]] = ["logreg", "mlp"]
    hidden: int = Field(64, ge=1, description="MLP hidden width")
    methods: list[MethodName] = ["farsign", "mean", "median", "trimmed-mean", "krum", "multi-krum",
                                 "geometric-median", "sign-majority", "async-sgd"]
    attacks: list[AttackName] = ["sign-flip", "large-value", "gaussian"]
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



def baseline_rule(cfg: MnistConfig, method: str) -> ServerRule:
    if method == "async-sgd":
        return agg.asynchronous_sgd(cfg.lr)
    if method == "sign-majority":
        return agg.synchronous(agg.SignMajority(), cfg.sign_lr, cfg.workers)
    aggregate = {"mean": agg.Mean, "median": agg.CoordinateMedian, "geometric-median": agg.GeometricMedian,
                 "trimmed-mean": agg.TrimmedMean, "krum": agg.Krum, "multi-krum": agg.MultiKrum}[method]
    return agg.synchronous(aggregate(cfg.faults(method)) if method in FAULT_LIMIT else aggregate(), cfg.lr,
                           cfg.workers)


def run_mnist(cfg: MnistConfig) -> Tables:
    import torch

    from nodes import data as datasets
    from nodes.models import MODELS, FlatModel, SupervisedTask

    torch.set_num_threads(cfg.torch_threads)
    ds = datasets.load_mnist(cfg.data_dir, cfg.download) if cfg.dataset == "mnist" else datasets.synthetic()
    pick = np.random.default_rng(cfg.seed).permutation(len(ds.y_test))[:cfg.test_size]
    x_test, y_test = ds.x_test[pick], ds.y_test[pick]
    evals, traces = [], []
    for model_name in cfg.models:
        for run in range(cfg.runs):
            seed = cfg.seed + run
            torch.manual_seed(seed)
            kw = {"hidden": cfg.hidden} if model_name == "mlp" else {}
            model = FlatModel(MODELS[model_name](ds.features, 10, **kw))
            x0 = model.initial()
            task = SupervisedTask(model, ds.x_train, ds.y_train, datasets.shards(len(ds.y_train), cfg.workers, seed),
                                  cfg.batch)
            p = cfg.farsign_params(model.dim, "first-order")
            for attack in cfg.attacks:
                for method in cfg.methods:
                    rule = farsign.rule(p) if method == "farsign" else baseline_rule(cfg, method)
                    honest = FirstOrder(task, p.design.project if method == "farsign" else identity)
                    rows = []

                    def evaluate(x, time, updates):
                        acc, loss = model.evaluate(x, x_test, y_test)
                        rows.append({"time": time, "updates": updates, "test_acc": acc, "test_loss": loss})

                    def observe(state, time):
                        if time >= rows[-1]["time"] + cfg.eval_interval:
                            evaluate(state.x, time, state.n)

                    evaluate(x0, 0.0, 0)
                    state, trace = cfg.drive(rule, cfg.pool(honest, attack, x0), x0, seed, observe)
                    if rows[-1]["updates"] != state.n:
                        evaluate(state.x, trace[-1].time, state.n)
                    labels = dict(model=model_name, method=method, attack=attack, run=run)
                    evals.append(pd.DataFrame(rows).assign(**labels))
                    traces.append(trace_frame(trace, cfg.adversaries, cfg.workers, **labels))
    evals_df = pd.concat(evals, ignore_index=True)
    return {"evals": evals_df, "rounds": pd.concat(traces, ignore_index=True),
            "summary": summarise(evals_df, cfg.target)}


def summarise(evals: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per model x attack x method x run: first (virtual) time and update count with test_acc >= target
    (NaN if never), best and final accuracy; robust_baseline marks the rules FAR-SIGN is held against."""
    out = []
    for keys, g in evals.groupby(["model", "attack", "method", "run"], sort=False):
        hit = g[g["test_acc"] >= target]
        out.append(dict(zip(["model", "attack", "method", "run"], keys),
                        time_to_target=hit["time"].min() if len(hit) else np.nan,
                        updates_to_target=hit["updates"].min() if len(hit) else np.nan,
                        best_acc=g["test_acc"].max(), final_acc=g["test_acc"].iloc[-1],
                        end_time=g["time"].iloc[-1], updates=g["updates"].iloc[-1], target=target,
                        robust_baseline=keys[2] in ROBUST))
    return pd.DataFrame(out)


def on_grid(evals: pd.DataFrame, x: str, grid: np.ndarray) -> np.ndarray:
    """Mean over runs of test_acc interpolated on a common x grid (NaN beyond a run's last evaluation)."""
    curves = np.array([np.interp(grid, g[x], g["test_acc"], right=np.nan) for _, g in evals.groupby("run")])
    counts = (~np.isnan(curves)).sum(axis=0)
    return np.where(counts > 0, np.nansum(curves, axis=0) / np.maximum(counts, 1), np.nan)


def per_model_and_attack(frame: pd.DataFrame, out: Path, filename: str, panels: list) -> list[Path]:
    """One PNG per model: a row per attack, a column per panel; `panel(ax, rows)` draws one line per method."""
    paths = []
    for model, fm in frame.groupby("model"):
        attacks = list(dict.fromkeys(fm["attack"]))
        fig, axes = plt.subplots(len(attacks), len(panels), figsize=(12, 3.8 * len(attacks)), squeeze=False)
        for row, attack in zip(axes, attacks):
            for panel, ax in zip(panels, row):
                panel(ax, fm[fm["attack"] == attack])
                ax.set_title(f"{model}, attack: {attack}")
                ax.grid(alpha=0.3)
            row[0].legend(fontsize=7, ncol=2)
        fig.tight_layout()
        path = out / filename.format(model=model)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


def line_width(method: str) -> float:
    return 2.0 if method == "farsign" else 1.0


def plot_mnist(tables: Tables, out: Path) -> list[Path]:
    target = tables["summary"]["target"].iloc[0]

    def accuracy_against(x: str):
        def panel(ax, ea: pd.DataFrame):
            top = ea[x].max()
            grid = np.linspace(0, top, 300) if x == "time" else np.r_[0, np.geomspace(1, top, 300)]
            for method, g in ea.groupby("method", sort=False):
                ax.plot(grid, on_grid(g, x, grid), label=method, lw=line_width(method))
            ax.axhline(target, color="gray", ls=":", lw=0.8)
            ax.set_xlabel("virtual seconds" if x == "time" else "server updates")
            if x == "updates":
                ax.set_xscale("symlog", linthresh=1)
            ax.set_xlim(0, top)
            ax.set_ylabel("test accuracy")
            ax.set_ylim(0, 1)
        return panel

    return per_model_and_attack(tables["evals"], out, "accuracy_{model}.png",
                                [accuracy_against("time"), accuracy_against("updates")])


def plot_mnist_sweep(tables: Tables, key: str, out: Path) -> list[Path]:
    """Per model: best accuracy and time to target against the swept value, one line per method. A time is
    drawn only where every run reached the target, so a gap means some run never did."""
    summary = tables["summary"]
    values = list(dict.fromkeys(summary["sweep"]))

    def against_sweep(col: str, label: str):
        def panel(ax, sa: pd.DataFrame):
            for method, g in sa.groupby("method", sort=False):
                by = g.groupby("sweep", sort=False)[col]
                y = by.mean().where(by.count() == by.size()).reindex(values)
                ax.plot(range(len(values)), y.to_numpy(), marker="o", label=method, lw=line_width(method))
            ax.set_xticks(range(len(values)), [str(v) for v in values])
            ax.set_xlabel(key)
            ax.set_ylabel(label)
        return panel

    target = summary["target"].iloc[0]
    return per_model_and_attack(summary, out, f"sweep_{key}_{{model}}.png",
                                [against_sweep("best_acc", "best test accuracy"),
                                 against_sweep("time_to_target", f"virtual s to {target:.0%}")])


EXPERIMENTS = (
    Experiment(
        "farsign-rates", "FAR-SIGN min ||grad f|| vs updates on Rosenbrock-10 and Cauchy regression; fitted slopes "
        "vs -1/4 (first-order) and -1/6 (zeroth-order)", RatesConfig, run_rates, plot_rates),
    Experiment(
        "farsign-mnist", "FAR-SIGN vs synchronous robust aggregation, signSGD and async SGD on MNIST under "
        "attacks: accuracy against virtual time and updates", MnistConfig, run_mnist, plot_mnist,
        plot_mnist_sweep),
)
