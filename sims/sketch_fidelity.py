"""`sketch-fidelity`: the sketched consistency check against the full check and against its predictions.

Rounds of h honest reports and one adversarial point (the colluding nodes' common report) are drawn from two
sources: `ball` (the protocol's model: a fixed gradient plus honest noise uniform in the Delta-ball, Delta = 1)
and `lenet` (real honest minibatch gradients at models along the DC's calibration trajectory, Delta calibrated,
the adversary centred on the reference gradient). The adversary plays one of two equilibrium laws for the
announced eta: `full` (the best response to the full check) or `sketch` (to the check on k-row sketches).
Every round is encoded in fixed point and checked exactly both ways: all pairs within tau (full) and all
sketched pairs within sqrt(k) tau, with the protocol's own keccak projection under a fresh seed. Predictions:
- per honest pair, F_k(k tau^2 / rho^2) at its full distance rho (economics.sketch.pair_accept);
- per round, the Gaussian limit given that round's geometry: the sketched points are k iid rows of N(0, G),
  G the Gram matrix of the centred reports, and the round passes iff every pair does (Monte Carlo);
- per law, the equilibrium table's P_A* for the check it was solved for.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from coordinator import rules  # noqa: E402
from economics import solve  # noqa: E402
from economics.sketch import pair_accept  # noqa: E402
from nodes.honest import ball_noise  # noqa: E402
from protocol import codec, sketch  # noqa: E402
from sims.experiment import Implementation, Tables  # noqa: E402
from sims.mnist_config import SketchFidelityConfig  # noqa: E402
from sims.mnist_workload import game, prepare  # noqa: E402

def ball_geometry(cfg: SketchFidelityConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """(honest [R, h, d], centre [R, d], Delta = 1): a fixed unit gradient plus uniform ball noise."""
    g = rng.standard_normal(cfg.ball_dim)
    g /= np.linalg.norm(g)
    honest = g + ball_noise(cfg.rounds * cfg.honest, cfg.ball_dim, 1.0, rng).reshape(cfg.rounds, cfg.honest, -1)
    return honest.astype(np.float32), np.broadcast_to(g.astype(np.float32), (cfg.rounds, cfg.ball_dim)), 1.0


def lenet_geometry(cfg: SketchFidelityConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """(honest [R, h, d], centre [R, d], Delta): minibatch gradients of h nodes on their shards and the reference
    gradient, at the DC's calibration checkpoints (rounds split evenly across them)."""
    prep = prepare(cfg)
    work, models = prep.workload, prep.calibration.models
    at = np.arange(cfg.rounds) * len(models) // cfg.rounds  # checkpoint of each round
    _, centres = work.value_and_grad(models, prep.own[:cfg.reference])
    honest = np.concatenate([work.node_grads(np.repeat(models[c][None], np.sum(at == c), axis=0),
                                             work.minibatches(int(np.sum(at == c)), cfg.honest, rng))
                             for c in range(len(models))])
    return honest.astype(np.float32), centres[at].astype(np.float32), prep.delta


def gaussian_pass(points: np.ndarray, limit: float, k: int, draws: int, rng: np.random.Generator) -> float:
    """P(every pair of k-row Gaussian sketches within sqrt(limit)) for real points [m, d]: rows of S P^T are
    N(0, G) with G the Gram matrix of the centred points."""
    centred = points - points[0]
    gram = centred @ centred.T
    vals, vecs = np.linalg.eigh(gram)
    root = vecs * np.sqrt(np.maximum(vals, 0.0))  # root @ root.T = gram
    w = rng.standard_normal((draws, k, len(points))) @ root.T  # [draws, k, m]
    sq = np.sum((w[:, :, :, None] - w[:, :, None, :]) ** 2, axis=1)
    return float(np.mean(sq.max(axis=(1, 2)) <= limit))


def check_rounds(honest: np.ndarray, adversary: np.ndarray, cfg: SketchFidelityConfig, k: int, tau: float,
                 rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Full and sketched checks (exact, fixed point) of rounds of honest [R, h, d] and adversarial [R, d] reports,
    with the Gaussian-limit predictions; one fresh projection seed per chunk of R / seeds rounds."""
    tau_fx = int(codec.encode(np.array(tau), cfg.scale_bits, field="tau"))
    rows, pairs = [], []
    for part in np.array_split(np.arange(len(honest)), cfg.seeds):
        fx = codec.encode(np.concatenate([honest[part], adversary[part, None]], axis=1), cfg.scale_bits)
        sketched = sketch.apply(sketch.signs(rng.bytes(32), k, fx.shape[2]), fx)
        limit = sketch.threshold_sq(tau_fx, fx.shape[2], k)
        every = np.ones(fx.shape[:2], dtype=bool)
        honest_only = every.copy()
        honest_only[:, -1] = False

        def passes(values: np.ndarray, mask: np.ndarray, bound: int) -> np.ndarray:
            return (rules.pairwise_sq_dist_max(values, mask).astype(object) <= bound).astype(bool)

        real = fx.astype(np.float64)
        rows.append(pd.DataFrame({
            "round": part, "full": passes(fx, every, tau_fx**2), "sketch": passes(sketched, every, limit),
            "predicted": [gaussian_pass(r, float(limit), k, cfg.prediction_draws, rng) for r in real],
            "honest_full": passes(fx, honest_only, tau_fx**2), "honest_sketch": passes(sketched, honest_only, limit),
            "honest_predicted": [gaussian_pass(r[:-1], float(limit), k, cfg.prediction_draws, rng) for r in real],
        }))
        pairs.append(pair_frame(real[:, :-1], sketched[:, :-1], tau_fx, k))
    return pd.concat(rows, ignore_index=True), pd.concat(pairs, ignore_index=True)


def pair_frame(honest_fx: np.ndarray, sketched: np.ndarray, tau_fx: int, k: int) -> pd.DataFrame:
    """Every honest pair: full distance / tau, sketched pass, and the chi-square prediction F_k(k tau^2 / rho^2)."""
    i, j = np.triu_indices(honest_fx.shape[1], 1)
    rho = np.linalg.norm(honest_fx[:, i] - honest_fx[:, j], axis=-1).reshape(-1)
    dz = (sketched[:, i] - sketched[:, j]).astype(np.float64)
    passed = np.sum(dz**2, axis=-1).reshape(-1) <= float(k) * tau_fx**2
    return pd.DataFrame({"rho_over_tau": rho / tau_fx, "sketch": passed,
                         "predicted": pair_accept(rho, float(tau_fx), k)})


def run_fidelity(cfg: SketchFidelityConfig) -> Tables:
    rng = np.random.default_rng(cfg.seed)
    rounds, pairs, tables = [], [], []
    for source in cfg.sources:
        honest, centre, delta = (ball_geometry if source == "ball" else lenet_geometry)(cfg, rng)
        dim = honest.shape[2]
        for k in cfg.ks:
            laws = {"full": game(cfg, dim, delta), "sketch": game(cfg, dim, delta).model_copy(update={"sketch": k})}
            for eta in cfg.etas:
                for law, spec in laws.items():
                    table = solve(spec, np.array([eta]))
                    adversary = centre + table.sample_noise(np.zeros(cfg.rounds, dtype=int), rng)
                    r, p = check_rounds(honest, adversary, cfg, k, eta * delta, rng)
                    labels = dict(source=source, k=k, eta=eta, law=law)
                    rounds.append(r.assign(**labels))
                    pairs.append(p.assign(**labels))
                    tables.append({**labels, "p_accept": table.p_accept[0], "mse": table.mse[0],
                                   "radius": table.radii[0, 0], "delta": delta, "dim": dim})
    rounds_df = pd.concat(rounds, ignore_index=True)
    return {"rounds": rounds_df, "pairs": pd.concat(pairs, ignore_index=True),
            "summary": summarise(rounds_df, pd.concat(pairs, ignore_index=True), pd.DataFrame(tables))}


def summarise(rounds: pd.DataFrame, pairs: pd.DataFrame, tables: pd.DataFrame) -> pd.DataFrame:
    """Per source, k, eta and law: accept rates with binomial standard errors beside their predictions."""
    keys = ["source", "k", "eta", "law"]
    g = rounds.groupby(keys)
    n = g.size()
    out = pd.DataFrame({"rounds": n})
    for col in ("full", "sketch", "honest_full", "honest_sketch"):
        rate = g[col].mean()
        out[col] = rate
        out[f"{col}_se"] = np.sqrt(rate * (1 - rate) / n)
    out["predicted"] = g["predicted"].mean()
    out["honest_predicted"] = g["honest_predicted"].mean()
    out["agreement"] = g.apply(lambda d: np.mean(d["full"] == d["sketch"]))
    pg = pairs.groupby(keys)
    out["pair_rate"] = pg["sketch"].mean()
    out["pair_predicted"] = pg["predicted"].mean()
    out["pair_rho_over_tau"] = pg["rho_over_tau"].mean()
    return out.reset_index().merge(tables, on=keys)


def plot_fidelity(tables: Tables, out: Path) -> list[Path]:
    """Per source: accept rates against k (log scale), honest rounds and adversarial rounds under each law."""
    s = tables["summary"]
    paths = []
    for source, fs in s.groupby("source"):
        etas = sorted(fs["eta"].unique())
        fig, axes = plt.subplots(len(etas), 3, figsize=(15, 3.8 * len(etas)), squeeze=False)
        for row, eta in zip(axes, etas):
            fe = fs[fs["eta"] == eta]
            panels = [("honest rounds", fe[fe["law"] == "full"], "honest_"), ("adversary: full-check law",
                      fe[fe["law"] == "full"], ""), ("adversary: sketch-check law", fe[fe["law"] == "sketch"], "")]
            for ax, (title, d, prefix) in zip(row, panels):
                d = d.sort_values("k")
                ax.errorbar(d["k"], d[f"{prefix}sketch"], yerr=1.96 * d[f"{prefix}sketch_se"], fmt="o-",
                            capsize=3, label="sketch check (95% CI)")
                ax.plot(d["k"], d[f"{prefix}predicted"], "s--", label="Gaussian-limit prediction")
                ax.plot(d["k"], d[f"{prefix}full"], "^:", label="full check")
                if not prefix:
                    ax.plot(d["k"], d["p_accept"], "x-.", label="table P_A*")
                ax.set_xscale("log", base=2)
                ax.set_xticks(d["k"], [str(v) for v in d["k"]])
                ax.set_ylim(-0.02, 1.02)
                ax.set_title(f"{source}, eta = {eta:g}: {title}")
                ax.set_xlabel("sketch rows k")
                ax.set_ylabel("round accept rate")
                ax.grid(alpha=0.3)
            row[1].legend(fontsize=7)
        fig.tight_layout()
        path = out / f"fidelity_{source}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


def headline(tables: Tables) -> pd.DataFrame:
    """Per source, k, eta and law: the sketch check's accept rate beside the full check's and the prediction."""
    cols = ["source", "k", "eta", "law", "honest_sketch", "honest_predicted", "sketch", "predicted", "full",
            "p_accept", "agreement"]
    return tables["summary"][cols].set_index(["source", "k", "eta", "law"])


FIDELITY = Implementation(run=run_fidelity, plot=plot_fidelity, summary=headline)
