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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from coordinator import aggregators as agg  # noqa: E402
from coordinator import directions, farsign  # noqa: E402
from coordinator.report_stream import Applied, ServerRule  # noqa: E402
from nodes import attacks as classic  # noqa: E402
from nodes import farsign_attacks as fa  # noqa: E402
from nodes.farsign_workers import FirstOrder, WithAdversaries, ZerothOrder  # noqa: E402
from sims import async_clock, async_real  # noqa: E402
from sims.config import ConfigError  # noqa: E402
from sims.experiment import Implementation, Interrupted, Tables  # noqa: E402
from sims.farsign_config import FAULT_LIMIT, ROBUST, AsyncConfig, MnistConfig, RatesConfig  # noqa: E402
from sims.objectives import CauchyRegression, Rosenbrock  # noqa: E402


def clock(cfg: AsyncConfig) -> async_clock.Clock:
    return async_clock.Clock(async_clock.Latency(cfg.compute, cfg.compute_mean, cfg.compute_shape),
                             async_clock.Latency(cfg.delay, cfg.delay_mean, cfg.delay_shape),
                             (cfg.slowdown,) * cfg.slow_workers)


def strategy(cfg: AsyncConfig, name: str):
    return {"none": None, "sign-flip": classic.SignFlip(), "large-value": fa.Constant(cfg.large_value),
            "always-plus": fa.Constant(1.0), "always-minus": fa.Constant(-1.0),
            "gaussian": classic.Gaussian(cfg.gaussian_sigma), "nan": classic.NonFinite(math.nan),
            "inf": classic.NonFinite(math.inf), "random-signs": fa.RandomSigns(),
            "opposite-mean": fa.OppositeMean(), "stale-replay": fa.StaleReplay()}[name]


def design_for(cfg: AsyncConfig, dim: int) -> directions.Design:
    if cfg.design == "replicated-basis":
        return directions.replicated_basis(dim, cfg.workers)
    if cfg.design == "replicated-blocks":
        return directions.replicated_blocks(dim, cfg.workers, cfg.blocks)
    rows = cfg.gaussian_rows or -(-2 * dim // cfg.workers)
    return directions.gaussian(dim, cfg.workers, rows, cfg.design_seed)


def farsign_params(cfg: AsyncConfig, dim: int, variant: farsign.Variant) -> farsign.FarSignParams:
    return farsign.params(design_for(cfg, dim), variant, a0=cfg.a0, b0=cfg.b0, c0=cfg.c0, n0=cfg.n0,
                          alpha=cfg.alpha, beta=cfg.beta, gamma=cfg.gamma, full_sum=cfg.full_sum,
                          nonfinite=cfg.nonfinite)


def pool(cfg: AsyncConfig, honest, attack: str, x0: np.ndarray):
    adv = frozenset(range(cfg.workers - cfg.adversaries, cfg.workers))
    attacker = strategy(cfg, attack)
    return honest if attacker is None or not adv else WithAdversaries(honest, adv, attacker, x0)


def drive(cfg: AsyncConfig, rule: ServerRule, respond, x0: np.ndarray, seed: int,
          observe) -> tuple[Any, list[Applied]]:
    horizon = cfg.horizon or np.inf
    if cfg.mode == "sim":
        return async_clock.simulate(rule, respond, clock(cfg), cfg.workers, x0, budget=cfg.rounds, seed=seed,
                                    horizon=horizon, observe=observe)
    return async_real.run(rule, respond, cfg.workers, x0, budget=cfg.rounds, seed=seed, horizon=horizon,
                          clock=clock(cfg), time_scale=cfg.time_scale, observe=observe)


def units(run_unit: Callable[..., None], keys: list[tuple], assemble: Callable[[], Tables], name: str) -> Tables:
    """Run every unit (one method x run x ...) in turn; Ctrl-C keeps the finished units' tables."""
    for i, key in enumerate(keys):
        try:
            run_unit(*key)
        except KeyboardInterrupt:
            raise Interrupted(assemble() if i else {}, {name: i, "of": len(keys)},
                              f"{i} of {len(keys)} {name}") from None
    return assemble()


def trace_frame(trace: list[Applied], adversaries: int, workers: int, **labels) -> pd.DataFrame:
    t = pd.DataFrame(trace, columns=list(Applied._fields))
    return t.assign(adversarial=t["worker"] >= workers - adversaries, **labels)


def identity(worker: int, g: np.ndarray) -> np.ndarray:
    """The gradient baselines' workers send their whole gradient (a module-level function: picklable)."""
    return g


# ---------------------------------------------------------------- farsign-rates

RATE_OBJECTIVES = {"rosenbrock": Rosenbrock, "cauchy-regression": CauchyRegression}


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
        return self.f.loss(points) + points @ xi

    def reference(self, x: np.ndarray) -> np.ndarray:
        return self.f.grad(x)


def run_rates(cfg: RatesConfig) -> Tables:
    grid = np.asarray(cfg.record_points())
    rows, traces = [], []

    def run_one(name: str, variant: str, run: int) -> None:
        f = RATE_OBJECTIVES[name](cfg.dim)
        task = NoisyObjective(f, cfg.noise)
        p = farsign_params(cfg, cfg.dim, variant)
        honest = (FirstOrder(task, p.design.project) if variant == "first-order"
                  else ZerothOrder(task, p.design.rows, p.perturbation))
        x0 = f.init(1)[0]
        norms, times = [], []

        def observe(state, time):
            norms.append(float(np.linalg.norm(f.grad(state.x))))
            times.append(time)

        state, trace = drive(cfg, farsign.rule(p), pool(cfg, honest, cfg.attack, x0), x0, cfg.seed + run, observe)
        n = np.arange(1, len(norms) + 1)
        at = grid[grid <= len(norms)] - 1
        running = np.minimum.accumulate(np.asarray(norms))
        rows.append(pd.DataFrame({"objective": name, "variant": variant, "run": run, "updates": n[at],
                                  "time": np.asarray(times)[at], "grad_norm": np.asarray(norms)[at],
                                  "min_grad_norm": running[at], "loss": float(f.loss(state.x))}))
        traces.append(trace_frame(trace, cfg.adversaries, cfg.workers, objective=name, variant=variant, run=run))

    def assemble() -> Tables:
        rounds = pd.concat(rows, ignore_index=True)
        return {"rounds": rounds, "fits": fit_slopes(rounds, cfg.fit_start),
                "reports": pd.concat(traces, ignore_index=True)}

    keys = [(name, variant, run) for name in cfg.objectives for variant in cfg.variants for run in range(cfg.runs)]
    return units(run_one, keys, assemble, "runs")


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
        if len(mean) < 2:
            continue
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

def baseline_rule(cfg: MnistConfig, method: str) -> ServerRule:
    if method == "async-sgd":
        return agg.asynchronous_sgd(cfg.lr)
    if method == "sign-majority":
        return agg.synchronous(agg.SignMajority(), cfg.sign_lr, cfg.workers)
    aggregate = {"mean": agg.Mean, "median": agg.CoordinateMedian, "geometric-median": agg.GeometricMedian,
                 "trimmed-mean": agg.TrimmedMean, "krum": agg.Krum, "multi-krum": agg.MultiKrum}[method]
    return agg.synchronous(aggregate(cfg.faults(method)) if method in FAULT_LIMIT else aggregate(), cfg.lr,
                           cfg.workers)


def check_mnist(cfg: MnistConfig) -> None:
    """Before anything is written: the MNIST files must be there (or downloading allowed)."""
    if cfg.dataset != "mnist" or cfg.download:
        return
    from nodes import data as datasets

    root = datasets.data_root(cfg.data_dir)
    missing = [n for pair in datasets.FILES.values() for n in pair if datasets.find(root, n) is None]
    if missing:
        raise ConfigError(f"MNIST not found in {root} (missing {', '.join(missing)}); point --set data_dir=PATH "
                          f"or $DEML_DATA_DIR at the IDX files, --set download=true to fetch them, or "
                          f"--set dataset=synthetic to run without them")


def run_mnist(cfg: MnistConfig) -> Tables:
    import torch

    from nodes import data as datasets
    from nodes.models import MODELS, FlatModel, SupervisedTask

    torch.set_num_threads(cfg.torch_threads)
    ds = datasets.load_mnist(cfg.data_dir, cfg.download) if cfg.dataset == "mnist" else datasets.synthetic()
    pick = np.random.default_rng(cfg.seed).permutation(len(ds.y_test))[:cfg.test_size]
    x_test, y_test = ds.x_test[pick], ds.y_test[pick]
    evals, traces, built = [], [], {}

    def build(model_name: str, run: int):
        """The model, its start, its data shards and FAR-SIGN's parameters, once per model and run."""
        if (model_name, run) not in built:
            seed = cfg.seed + run
            torch.manual_seed(seed)
            kw = {"hidden": cfg.hidden} if model_name == "mlp" else {}
            model = FlatModel(MODELS[model_name](ds.features, 10, **kw))
            task = SupervisedTask(model, ds.x_train, ds.y_train, datasets.shards(len(ds.y_train), cfg.workers, seed),
                                  cfg.batch)
            built[model_name, run] = model, model.initial(), task, farsign_params(cfg, model.dim, "first-order")
        return built[model_name, run]

    def run_one(model_name: str, run: int, attack: str, method: str) -> None:
        model, x0, task, p = build(model_name, run)
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
        state, trace = drive(cfg, rule, pool(cfg, honest, attack, x0), x0, cfg.seed + run, observe)
        if rows[-1]["updates"] != state.n:
            evaluate(state.x, trace[-1].time, state.n)
        labels = dict(model=model_name, method=method, attack=attack, run=run)
        evals.append(pd.DataFrame(rows).assign(**labels))
        traces.append(trace_frame(trace, cfg.adversaries, cfg.workers, **labels))

    def assemble() -> Tables:
        evals_df = pd.concat(evals, ignore_index=True)
        return {"evals": evals_df, "rounds": pd.concat(traces, ignore_index=True),
                "summary": summarise(evals_df, cfg.target)}

    keys = [(m, r, a, method) for m in cfg.models for r in range(cfg.runs) for a in cfg.attacks
            for method in cfg.methods]
    return units(run_one, keys, assemble, "runs")


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


def summarise_rates(tables: Tables) -> pd.DataFrame:
    """Per objective and variant: the fitted slope against the reference rate."""
    fits = tables["fits"]
    out = fits.assign(**{"objective / variant": fits["objective"] + " / " + fits["variant"]})
    return out.set_index("objective / variant")[["slope", "slope_std", "reference", "runs"]]


def summarise_mnist(tables: Tables) -> pd.DataFrame:
    """Per method: best test accuracy (mean over runs) for each model and attack."""
    s = tables["summary"]
    wide = s.assign(case=s["model"] + " / " + s["attack"]).pivot_table(
        index="method", columns="case", values="best_acc", aggfunc="mean", sort=False)
    wide.columns.name = None
    return wide.rename_axis("best accuracy")


RATES = Implementation(run=run_rates, plot=plot_rates, summary=summarise_rates)
MNIST = Implementation(run=run_mnist, plot=plot_mnist, summary=summarise_mnist, sweep_plot=plot_mnist_sweep,
                       check=check_mnist)
