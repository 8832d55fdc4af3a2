"""`farsign-tune`: FAR-SIGN and its baselines each at its own best step size, with one budget for all.

Every method is tuned over its own step parameter (FAR-SIGN's a0, the gradient baselines' SGD step, signSGD's
step), each on a grid of the same size, on tuning seeds (`tune_seed + r`) that the evaluation never uses; a
setting's score is its mean time to the target accuracy over every model, attack and tuning run (a run that never
reaches it counts as the horizon), ties broken by the best accuracy. Each method is then evaluated at its chosen
setting on the evaluation seeds, exactly as `farsign-mnist` runs it. Tables: `tuning` (every setting's score),
`chosen` (each method's setting), and farsign-mnist's `evals`, `rounds` and `summary`.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sims.experiment import Implementation, Interrupted, Tables  # noqa: E402
from sims.farsign_config import MnistConfig, TuneConfig  # noqa: E402
from sims.farsign_experiments import check_mnist, plot_mnist, run_mnist, summarise_mnist  # noqa: E402
from sims.plots import finish  # noqa: E402


def mnist_config(cfg: TuneConfig, **update) -> MnistConfig:
    return MnistConfig(**{**{k: getattr(cfg, k) for k in MnistConfig.model_fields}, **update})


def score(summary: pd.DataFrame, horizon: float) -> tuple[float, float]:
    """(mean time to target, a run that never reached it counting as the horizon; mean best accuracy)."""
    return float(summary["time_to_target"].fillna(horizon).mean()), float(summary["best_acc"].mean())


def run_tune(cfg: TuneConfig) -> Tables:
    horizon = cfg.horizon or float("inf")
    rows: list[dict] = []
    tables: list[Tables] = []
    try:
        for method in cfg.methods:
            param, grid = cfg.grid(method)
            for value in grid:
                s = run_mnist(mnist_config(cfg, methods=[method], seed=cfg.tune_seed, runs=cfg.tune_runs,
                                           **{param: value}))["summary"]
                time, acc = score(s, horizon)
                rows.append({"method": method, "param": param, "value": value, "time_to_target": time,
                             "best_acc": acc})
        tuning = pd.DataFrame(rows)
        chosen = (tuning.sort_values(["time_to_target", "best_acc"], ascending=[True, False])
                  .groupby("method", sort=False).head(1).set_index("method").loc[cfg.methods].reset_index())
        for _, row in chosen.iterrows():
            tables.append(run_mnist(mnist_config(cfg, methods=[row["method"]], **{row["param"]: row["value"]})))
    except (KeyboardInterrupt, Interrupted):
        done = {"tuning": pd.DataFrame(rows)} if rows else {}
        raise Interrupted(done, {"settings": len(rows), "evaluated": len(tables)},
                          f"{len(rows)} tuning settings and {len(tables)} evaluations") from None
    out = {name: pd.concat([t[name] for t in tables], ignore_index=True) for name in ("evals", "rounds", "summary")}
    return {"tuning": tuning, "chosen": chosen, **out}


def summarise(tables: Tables) -> pd.DataFrame:
    """Per method: its chosen step and, at it, the best accuracy for each model and attack."""
    best = summarise_mnist(tables)
    chosen = tables["chosen"].set_index("method")
    return best.assign(step=[f"{chosen.loc[m, 'param']}={chosen.loc[m, 'value']:g}" for m in best.index])


def edge_warnings(tables: Tables, cfg: TuneConfig) -> list[str]:
    """A method whose best setting sits at an end of its grid may do better beyond it: say so, with the fix."""
    lines = []
    for _, row in tables["chosen"].iterrows():
        grid = cfg.grid(row["method"])[1]
        if len(grid) > 1 and row["value"] in (min(grid), max(grid)):
            lines.append(f"{row['method']}: its best {row['param']} = {row['value']:g} is at the edge of the grid "
                         f"{grid}; widen {row['param']}_grid (--set '{row['param']}_grid=[...]') to be sure it is best")
    return lines


def plot_tuning(tuning: pd.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for method, g in tuning.groupby("method", sort=False):
        ax.plot(np.arange(len(g)), g["time_to_target"], "o-", label=f"{method} ({g['param'].iloc[0]})")
    ax.set_xlabel("grid position (each method's own step, increasing)")
    ax.set_ylabel("mean time to target (horizon if never)")
    ax.set_title("tuning on held-out seeds: one budget per method")
    return finish(fig, ax, path)


def plot_tune(tables: Tables, out: Path) -> list[Path]:
    return [plot_tuning(tables["tuning"], out / "tuning.png"), *plot_mnist(tables, out)]


TUNE = Implementation(run=run_tune, plot=plot_tune, summary=summarise, check=check_mnist, warnings=edge_warnings)
