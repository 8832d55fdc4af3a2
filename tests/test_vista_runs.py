"""VISTA runs end to end: divergence is detected from what the DC sees and reported with its fix; the
headline (VISTA below every constant-eta baseline early on) holds on a seeded small case."""
import numpy as np
import pytest
from typer.testing import CliRunner

from coordinator.vista import diverging
from sims.cli import app
from sims.vista_config import Quad3dConfig
from sims.vista_experiments import run_vista

runner = CliRunner()


def test_geometric_growth_of_the_accepted_estimates_is_flagged():
    t = np.arange(30)
    growing = 30.0 * 1.5 ** t  # |1 - alpha L| = 1.5 per accepted round
    noisy = 3.0 + 2.5 * np.sin(t)  # near tau: what a converged run's estimates look like
    settled = np.r_[300.0 * 0.7 ** t[:20], np.full(10, 0.5)]  # large at first, then small
    norms = np.stack([growing, noisy, settled], axis=1)
    accepted, tau = np.ones_like(norms, dtype=bool), np.full(norms.shape, 8.0)
    assert diverging(norms, accepted, tau).tolist() == [True, False, False]
    # rejected rounds do not count: the same growth with every other round rejected is still growth
    sparse = accepted.copy()
    sparse[1::2, 0] = False
    assert diverging(np.where(sparse, norms, np.nan), sparse, tau)[0]
    # below tau x factor it is noise, however it moves
    assert not diverging(norms[:6], accepted[:6], tau[:6])[0]  # 30 x 1.5^5 = 228 < 10 x tau


def test_a_large_step_diverges_and_is_reported_with_the_fix(tmp_path):
    """alpha0 = 1 on the 3-D quadratic: alpha0 L (1 + lam) = 6 > 1. VISTA, adaptive at eta_max, keeps alpha = 1
    and its iterate explodes; the constant baselines decay alpha with every accepted round and recover."""
    out = tmp_path / "big"
    res = runner.invoke(app, ["sim", "quad3d", "--runs", "2", "--rounds", "40", "--out", str(out), "--set",
                              "alpha0=1", "--set", "baselines=[2,8]"], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    import pandas as pd

    summary = pd.read_parquet(out / "summary.parquet")
    assert summary.set_index(["method", "run"])["diverging"].to_dict() == {
        ("vista", 0): True, ("vista", 1): True, ("eta=2", 0): False, ("eta=2", 1): False,
        ("eta=8", 0): False, ("eta=8", 1): False}
    warning = next(line for line in res.output.splitlines() if line.startswith("warning:"))
    assert "vista diverges in runs 0, 1" in warning and "alpha0 <= 1/(L(1 + lam)) = 0.167" in warning
    assert "--set alpha0" in warning


def test_the_default_step_converges_and_is_not_flagged():
    cfg = Quad3dConfig(runs=3, rounds=150, baselines=[2, 8])
    summary = run_vista(cfg, cfg.task(), "quad3d")["summary"]
    assert not summary["diverging"].any()
    assert (summary["final_gap"] < 3.0).all()  # from 300


def test_vista_is_below_every_constant_eta_at_the_checkpoints():
    """Seeded regression of the headline (quad3d, 1 honest + 1 rational adversary, default settings, 5 runs).
    Measured on seeds 0-3 at 600 rounds: VISTA's geometric-mean loss is below the best baseline's by
    log10 margins of 1.84-2.14 at round 50, 1.97-2.35 at 100 and 1.48-1.83 at 200 (shrinking later: 0.51-1.4 at
    600, when VISTA saturates). The test asks for a factor 10 (margin 1) at 50, 100 and 200 on seed 0."""
    cfg = Quad3dConfig(runs=5, rounds=200, seed=0)
    r = run_vista(cfg, cfg.task(), "quad3d")["rounds"]
    log_loss = r.assign(lg=np.log10(r["loss"])).groupby(["round", "method"])["lg"].mean().unstack()
    for checkpoint in (50, 100, 200):
        row = log_loss.loc[checkpoint]
        margin = row.drop("vista").min() - row["vista"]
        assert margin >= 1.0, (checkpoint, row.to_dict())


@pytest.mark.parametrize("alpha0, flagged", [(0.003, False), (0.05, True)])
def test_rosenbrock_with_a_large_step_is_flagged(alpha0, flagged):
    """The 3-D Rosenbrock (curvature about 200 at the start): alpha0 = 0.05 explodes, 0.003 does not. One run
    alone: a run whose reports leave the fixed-point range silences its nodes in every run of the batch (issue 8,
    item 7), which would stop the others before they show anything."""
    cfg = Quad3dConfig(runs=1, rounds=60, objective="rosenbrock", dim=3, alpha0=alpha0, baselines=[])
    summary = run_vista(cfg, cfg.task(), "quad3d")["summary"]
    assert summary.loc[summary["method"] == "vista", "diverging"].all() == flagged
