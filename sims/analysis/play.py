"""The adversary's realised play against the solver's equilibrium, per announced eta: the acceptance
probability P_A and the error of an accepted estimate MSE = E[||g_hat - grad f||^2 | accepted], with confidence
intervals, beside P_A*(eta) and MSE*(eta) of the run's game (the acceptance-error curve a data collector can
learn from its own logs)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from sims.analysis.intervals import t_interval, wilson
from sims.analysis.load import Run

LEVEL = 0.99  # per eta; many etas are shown at once, so each interval is wider than the usual 95%
MIN_ROUNDS = 200  # an eta visited less often is listed but not judged


def realised(rounds: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """Per (sweep,) eta: rounds, acceptance with Wilson's interval, accepted rounds and the MSE with a t
    interval. eta is read at grid precision (the controller's grid and the constants are on it)."""
    by = (["sweep"] if "sweep" in rounds.columns else []) + ["eta"]
    r = rounds.assign(eta=rounds["eta"].round(6), sq=rounds["estimate_error"] ** 2)
    g = r.groupby(by, sort=True)
    out = g.agg(rounds=("accepted", "size"), accepted=("accepted", "sum"), mse=("sq", "mean"),
                sq_sd=("sq", "std")).reset_index()
    out["p_accept"] = out["accepted"] / out["rounds"]
    out["p_lo"], out["p_hi"] = wilson(out["accepted"], out["rounds"], level)
    out["mse_lo"], out["mse_hi"] = t_interval(out["mse"], out["sq_sd"], out["accepted"], level)
    return out.drop(columns="sq_sd")


def equilibrium_table(run: Run, config: dict):
    """The solver's table for the game the run played (the same GameSpec the experiment built)."""
    from economics import solve
    from sims import registry
    from sims.vista_config import Quad3dConfig
    from sims.vista_experiments import game

    if run.experiment == "swarm" and "model" in config:  # a learning workload: the sketched check's table
        from sims.mnist_config import SwarmMnistConfig
        from sims.mnist_swarm import prepared

        return prepared(SwarmMnistConfig(**config))[1]  # cached on disk by the run that played it
    # the demo and a swarm run the objective engine with an ObjectiveConfig of their own (no catalogue entry)
    cls = Quad3dConfig if run.experiment in ("demo", "swarm") else registry.get(run.experiment).config
    cfg = cls(**config)
    return solve(game(cfg, cfg.task().dim), cfg.eta_grid(), progress=False)


def against_solver(run: Run, level: float = LEVEL) -> pd.DataFrame:
    """`realised` joined with P_A*(eta), MSE*(eta) of each sweep value's game; `judged` marks the etas visited at
    least MIN_ROUNDS times, `inside` whether both predictions lie in both intervals there."""
    real = realised(run.rounds, level)
    sweep = run.sweep
    parts = []
    for i, config in enumerate(run.configs()):
        part = real if sweep is None else real[real["sweep"] == sweep["values"][i]]
        table = equilibrium_table(run, config)
        idx = np.abs(table.eta[None, :] - part["eta"].to_numpy()[:, None]).argmin(axis=1)
        parts.append(part.assign(p_star=table.p_accept[idx], mse_star=table.mse[idx]))
    out = pd.concat(parts, ignore_index=True)
    out["judged"] = out["rounds"] >= MIN_ROUNDS
    out["inside"] = ((out["p_lo"] <= out["p_star"]) & (out["p_star"] <= out["p_hi"])
                     & (out["mse_lo"] <= out["mse_star"]) & (out["mse_star"] <= out["mse_hi"]))
    out.insert(0, "source", run.name)
    return out
