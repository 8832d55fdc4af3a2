"""`vista-mnist`: VISTA training LeNet-5 (or an MLP) on MNIST while most nodes may be rational adversaries.

N nodes (default 10: 3 honest + 7 colluding rational adversaries). Honest nodes report their minibatch
gradient on their own shard; the adversary knows the low-noise reference gradient and plays the game-of-coding
equilibrium law for the announced eta in the space the check sees (full reports here: d = 61,706 for LeNet-5).
The data collector calibrates Delta on a sample of its own (nodes/calibration.py) before the first round.
Methods, each through the shared round driver over a MemoryLedger with full reports (max_dim=None):
- vista: Algorithm 1 (eta from the equilibrium MSE curve, alpha0 / sqrt(1 + s));
- eta=X: constant-eta baselines (alpha0 / sqrt(1 + a));
- eta=X steady: eta held at X with the step held at alpha0 (VISTA's schedule while it is not saturated: the
  spec's ablation of the step-size coupling between VISTA and the baselines);
- honest-sgd: the same N nodes all honest, eta pinned at eta_max, step alpha0: minibatch SGD on N x batch
  examples a step, the best a protocol can hope to match.
Runs of the adversarial methods form one batch; honest-sgd (a different swarm) a second one. wall_s is the
batch's wall-clock time without evaluations, divided by its number of models (what one run costs).
"""
from __future__ import annotations

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402

from coordinator import vista  # noqa: E402
from coordinator.driver import ProtocolConfig, RoundLog, provision, run  # noqa: E402
from coordinator.memory_ledger import MemoryLedger  # noqa: E402
from economics import solve  # noqa: E402
from economics.equilibrium import EquilibriumTable  # noqa: E402
from nodes.adversary import RationalAdversary  # noqa: E402
from nodes.calibration import Calibration  # noqa: E402
from nodes.swarm import node_addresses  # noqa: E402
from nodes.workloads import LearningSwarm, ReferenceTask, Workload  # noqa: E402
from sims.experiment import Implementation, Interrupted, Tables  # noqa: E402
from sims.mnist_config import VistaMnistConfig  # noqa: E402
from sims.mnist_workload import game, prepare  # noqa: E402
from sims.plots import band_plot, finish  # noqa: E402
from sims.vista_experiments import TOKEN, Record, VistaSetup, methods, plot_rounds, rounds_frame  # noqa: E402


def simulate(cfg: VistaMnistConfig, work: Workload, task: ReferenceTask, swarm: LearningSwarm, names: list[str],
             control: vista.VistaParams, proto: ProtocolConfig, test: tuple[torch.Tensor, torch.Tensor],
             label: str, done: list[tuple[list[pd.DataFrame], Record]]) -> None:
    """One batch through the round driver (the one call site). Its evaluations and round records are appended to
    `done` as they finish, so that a Ctrl-C keeps them."""
    ledger = MemoryLedger(batch=control.batch, min_stake=proto.min_stake, slash_bps=proto.slash_bps, max_dim=None)
    addresses = node_addresses(swarm.size, cfg.seed)
    provision(ledger, addresses, proto, cfg.rounds)
    method = np.repeat(names, cfg.runs)
    evals: list[pd.DataFrame] = []
    record = Record([], [])
    done.append((evals, record))
    clock = {"start": time.perf_counter(), "eval": 0.0}

    def evaluate(round_: int, theta: np.ndarray) -> None:
        t0 = time.perf_counter()
        acc, loss = work.evaluate(theta, *test)
        wall = (t0 - clock["start"] - clock["eval"]) / control.batch
        evals.append(pd.DataFrame({"method": method, "run": np.arange(control.batch) % cfg.runs, "round": round_,
                                   "wall_s": wall, "test_acc": acc, "test_loss": loss}))
        clock["eval"] += time.perf_counter() - t0

    evaluate(0, task.init(control.batch))
    with Progress(console=Console(stderr=True), transient=True) as bar:
        job = bar.add_task(f"vista-mnist {label}: {len(names)} methods x {cfg.runs} runs", total=cfg.rounds)

        def on_round(log: RoundLog, out) -> None:
            record.add(log, out, proto)
            bar.advance(job)
            if log.round % cfg.eval_every == 0 or log.round == cfg.rounds:
                evaluate(log.round, task.current)

        clock.update(start=time.perf_counter(), eval=0.0)  # the clock starts with the first round
        run(ledger, task, swarm, control, proto, members=addresses, rounds=cfg.rounds,
            rng=np.random.default_rng(cfg.seed), on_round=on_round)


def pinned(cfg: VistaMnistConfig, table: EquilibriumTable, eta: float) -> vista.VistaParams:
    """eta held at `eta` with the step held at alpha0: VISTA with lam = inf announces its eta_max every round and,
    with eta_min below it, is never saturated, so alpha never decays (honest-sgd, and the steady baselines)."""
    return vista.params(table.eta, table.mse, eta_min=cfg.eta_min, eta_max=eta, lam=np.inf, alpha0=cfg.alpha0,
                        beta=cfg.beta, repeat=cfg.runs)


def run_vista_mnist(cfg: VistaMnistConfig) -> Tables:
    """The mix batch (VISTA, the baselines) and honest-only SGD; Ctrl-C raises Interrupted with every finished
    round and evaluation."""
    prep = prepare(cfg)
    work, delta = prep.workload, prep.delta
    table = solve(game(cfg, work.dim, delta), cfg.eta_grid())
    reward = int(cfg.reward * TOKEN)
    # as the synthetic experiments: the smallest slash (half the minimum stake) equals the reward
    proto = ProtocolConfig(delta=delta, reward=reward, stake=10 * reward, min_stake=2 * reward,
                           scale_bits=cfg.scale_bits, estimator="mean", quorum=2)
    reference = prep.own[:cfg.reference]
    names, control = methods(cfg, table)
    steady = [pinned(cfg, table, eta) for eta in cfg.steady]
    names, control = names + [f"eta={eta:g} steady" for eta in cfg.steady], vista.concat([control, *steady])
    adversary = RationalAdversary(table) if cfg.adversaries else None
    batches = [(names, control, LearningSwarm(work, cfg.honest, cfg.adversaries, adversary, cfg.knowledge), "mix")]
    if cfg.honest_sgd:
        batches.append((["honest-sgd"], pinned(cfg, table, cfg.eta_max), LearningSwarm(work, cfg.nodes, 0, None),
                        "honest"))
    done: list[tuple[list[pd.DataFrame], Record]] = []
    extra = {"calibration": calibration_frame(prep.calibration, delta), "equilibrium": equilibrium_frame(table)}
    try:
        for names_, control_, swarm, label in batches:
            simulate(cfg, work, ReferenceTask(work, reference, prep.inits), swarm, names_, control_, proto, prep.test,
                     label, done)
    except KeyboardInterrupt:
        finished = [(e, r, VistaSetup(table, n, c, s, proto)) for (e, r), (n, c, s, _) in zip(done, batches)
                    if r.logs]
        tables = mnist_tables(finished, cfg, extra) if finished else {}
        rounds = min((len(r.logs) for _, r, _ in finished), default=0)
        raise Interrupted(tables, {"rounds": rounds, "of": cfg.rounds, "batches": len(finished)},
                          f"{len(finished)} of {len(batches)} batches begun, the last at {rounds} of "
                          f"{cfg.rounds} rounds") from None
    return mnist_tables([(e, r, VistaSetup(table, n, c, s, proto)) for (e, r), (n, c, s, _) in zip(done, batches)],
                        cfg, extra)


def mnist_tables(batches: list[tuple[list[pd.DataFrame], Record, VistaSetup]], cfg: VistaMnistConfig,
                 extra: Tables) -> Tables:
    """evals, rounds (the VISTA experiments' rows: `gap` is the reference loss, its f* taken as 0), summary."""
    evals = pd.concat([pd.concat(e, ignore_index=True) for e, _, _ in batches], ignore_index=True)
    rounds = pd.concat([rounds_frame(r, s, cfg.runs, "vista-mnist", ReferenceTask) for _, r, s in batches],
                       ignore_index=True)
    return {"evals": evals, "rounds": rounds, "summary": summarise(evals, rounds, cfg.target), **extra}


def calibration_frame(cal: Calibration, delta: float) -> pd.DataFrame:
    """One row per checkpoint x draw: the DC's measured noise norms, and the Delta the run used."""
    p, draws = cal.norms.shape
    return pd.DataFrame({"step": np.repeat(cal.steps, draws), "draw": np.tile(np.arange(draws), p),
                         "noise_norm": cal.norms.reshape(-1), "grad_norm": np.repeat(cal.grad_norm, draws),
                         "quantile": cal.quantile, "calibrated_delta": cal.delta, "delta": delta})


def equilibrium_frame(table: EquilibriumTable) -> pd.DataFrame:
    return table.to_frame().assign(dim=table.spec.dim, delta=table.spec.delta, honest=table.spec.honest,
                                   adversaries=table.spec.adversaries, kappa=table.spec.kappa)


def summarise(evals: pd.DataFrame, rounds: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per method and run: first evaluated round (and wall_s) at test_acc >= target (NaN if never), best and final
    accuracy, acceptance rate, and rounds to target against honest-sgd's in the same run."""
    out = []
    acceptance = rounds.groupby(["method", "run"])["accepted"].mean()
    for (method, run_), g in evals.groupby(["method", "run"], sort=False):
        hit = g[g["test_acc"] >= target]
        out.append({"method": method, "run": run_, "target": target,
                    "rounds_to_target": hit["round"].min() if len(hit) else np.nan,
                    "wall_to_target": hit["wall_s"].min() if len(hit) else np.nan,
                    "best_acc": g["test_acc"].max(), "final_acc": g["test_acc"].iloc[-1],
                    "acceptance": acceptance.get((method, run_), np.nan)})
    summary = pd.DataFrame(out)
    sgd = summary[summary["method"] == "honest-sgd"].set_index("run")["rounds_to_target"]
    return summary.assign(vs_honest_sgd=summary["rounds_to_target"] / summary["run"].map(sgd))


def accuracy_axes(ax, evals: pd.DataFrame, x: str, target: float, zoom: bool) -> None:
    for method in _methods(evals):
        g = evals[evals["method"] == method]
        wide = g.pivot_table(index=x if x == "round" else "round", columns="run", values="test_acc")
        xs = wide.index if x == "round" else g.groupby("round")["wall_s"].mean().reindex(wide.index)
        mid, sd = wide.mean(axis=1), wide.std(axis=1).fillna(0)
        (line,) = ax.plot(xs, mid, label=method, lw=2.0 if method.startswith("vista") else 1.0,
                          ls="--" if method == "honest-sgd" else "-")
        ax.fill_between(xs, mid - sd, mid + sd, color=line.get_color(), alpha=0.15, lw=0)
    ax.axhline(target, color="gray", ls=":", lw=0.8)
    ax.set_ylim((max(0.0, target - 0.07), 1.0) if zoom else (0.0, 1.0))
    ax.set_xlabel("round" if x == "round" else "wall-clock seconds per run (batch time / models)")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)


def _methods(frame: pd.DataFrame) -> list[str]:
    def order(m: str) -> tuple:
        eta = float(m.split("=")[1].split()[0]) if "=" in m else 0.0
        return not m.startswith("vista"), m == "honest-sgd", m.endswith("steady"), eta

    return sorted(frame["method"].unique(), key=order)


def plot_accuracy(evals: pd.DataFrame, target: float, path: Path, x: str, title: str) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for ax, zoom in zip(axes, (False, True)):
        accuracy_axes(ax, evals, x, target, zoom)
    axes[0].legend(fontsize=8)
    axes[0].set_title(title)
    axes[1].set_title(f"zoom near the {target:.0%} target")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_calibration(cal: pd.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    by = cal.groupby("step")["noise_norm"]
    q = cal["quantile"].iloc[0]
    ax.plot(by.median().index, by.median(), "o-", label="median ||g_minibatch - g_sample||")
    ax.plot(by.quantile(q).index, by.quantile(q), "s-", label=f"{q:g}-quantile")
    ax.plot(by.median().index, cal.groupby("step")["grad_norm"].first(), "^:", label="||g_sample||")
    ax.axhline(cal["delta"].iloc[0], color="k", ls="--", lw=0.8, label="Delta used")
    ax.set_xlabel("DC's SGD steps")
    ax.set_ylabel("norm")
    ax.set_title("honest noise radius along the DC's calibration trajectory")
    return finish(fig, ax, path)


def plot_vista_mnist(tables: Tables, out: Path) -> list[Path]:
    evals, target = tables["evals"], tables["summary"]["target"].iloc[0]
    return [plot_accuracy(evals, target, out / "accuracy_rounds.png", "round", "test accuracy against rounds"),
            plot_accuracy(evals, target, out / "accuracy_wall.png", "wall_s", "test accuracy against wall time"),
            plot_calibration(tables["calibration"], out / "calibration.png"),
            *plot_rounds(tables, out)]


def plot_vista_mnist_sweep(tables: Tables, key: str, out: Path) -> list[Path]:
    """One accuracy panel per swept value (all methods), and rounds to target against the swept value."""
    evals, summary = tables["evals"], tables["summary"]
    values = list(dict.fromkeys(evals["sweep"]))
    target = summary["target"].iloc[0]
    fig, axes = plt.subplots(1, len(values) + 1, figsize=(5 * (len(values) + 1), 4.2), squeeze=False)
    for ax, value in zip(axes[0], values):
        accuracy_axes(ax, evals[evals["sweep"] == value], "round", target, zoom=True)
        ax.set_title(f"{key} = {value}")
    axes[0][0].legend(fontsize=7)
    ax = axes[0][-1]
    for method in _methods(summary):
        g = summary[summary["method"] == method].groupby("sweep", sort=False)["rounds_to_target"].mean()
        ax.plot(range(len(values)), g.reindex(values).to_numpy(), "o-", label=method)
    ax.set_xticks(range(len(values)), [str(v) for v in values])
    ax.set_xlabel(key)
    ax.set_ylabel(f"rounds to {target:.0%} (gap: not reached)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = out / f"sweep_{key}_accuracy.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    r = tables["rounds"]
    vista_rows = r[r["method"] == "vista"].assign(**{key: lambda d: d["sweep"].astype(str)})
    return [path, band_plot(vista_rows, "eta", out / f"sweep_{key}_eta.png", by=key, logx=True,
                            title=f"VISTA eta across {key}")]


def headline(tables: Tables) -> pd.DataFrame:
    """Per method, means over runs: rounds (and seconds) to the target accuracy, best and final accuracy,
    acceptance, and rounds to target against honest-only SGD's."""
    g = tables["summary"].groupby("method", sort=False)
    return pd.DataFrame({"rounds to target": g["rounds_to_target"].mean(), "seconds": g["wall_to_target"].mean(),
                         "best acc.": g["best_acc"].mean(), "final acc.": g["final_acc"].mean(),
                         "accepted": g["acceptance"].mean(), "vs honest-sgd": g["vs_honest_sgd"].mean()})


VISTA_MNIST = Implementation(run=run_vista_mnist, plot=plot_vista_mnist, summary=headline,
                             sweep_plot=plot_vista_mnist_sweep)
