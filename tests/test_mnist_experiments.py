"""vista-mnist on the synthetic dataset (learns; tables and plots), its config errors, sketch-fidelity's Monte
Carlo against its formulas, and on the real MNIST files where present."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from nodes import data
from sims.config import ConfigError, resolve
from sims.mnist_config import SketchFidelityConfig, VistaMnistConfig
from sims.mnist_experiments import plot_vista_mnist, run_vista_mnist
from sims.sketch_fidelity import run_fidelity

SMALL = dict(dataset="synthetic", model="mlp", dc_sample=400, reference=200, test_size=300, eval_every=10,
             calibration_steps=[0, 30, 60], calibration_draws=16, baselines=[2.0, 8.0], steady=[4.0])

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = [os.environ.get("DEML_DATA_DIR"), str(ROOT.parent / "shared" / "data" / "mnist")]
MNIST_DIR = next((c for c in CANDIDATES if c and data.find(Path(c), data.FILES["train"][0])), None)


@pytest.mark.slow
def test_vista_mnist_learns_on_synthetic_data(tmp_path):
    cfg = VistaMnistConfig(rounds=60, **SMALL)
    tables = run_vista_mnist(cfg)
    evals, summary = tables["evals"], tables["summary"]
    assert set(evals["method"]) == {"vista", "eta=2", "eta=8", "eta=4 steady", "honest-sgd"}
    assert {"method", "run", "round", "wall_s", "test_acc", "test_loss"} <= set(evals.columns)
    first, last = evals[evals["round"] == 0], evals[evals["round"] == 60]
    assert first["test_acc"].max() < 0.5  # ten classes, an untrained model
    assert last.set_index("method").loc["honest-sgd", "test_acc"] > 0.9
    assert last.set_index("method").loc["vista", "test_acc"] > 0.8  # 3 honest + 7 rational adversaries
    assert np.all(np.diff(evals[evals["method"] == "vista"]["wall_s"]) >= 0)
    rounds = tables["rounds"]
    assert rounds.groupby("method")["reward_adversary"].sum()["honest-sgd"] == 0
    steps = rounds.groupby("method")["lr"]
    assert steps.min()["eta=4 steady"] == steps.max()["eta=4 steady"] == cfg.alpha0  # the step never decays
    assert steps.min()["eta=2"] < cfg.alpha0 and set(rounds[rounds["method"] == "eta=4 steady"]["eta"]) == {4.0}
    sgd = summary.set_index("method").loc["honest-sgd"]
    assert np.isnan(sgd["rounds_to_target"]) or sgd["vs_honest_sgd"] == 1.0
    cal = tables["calibration"]
    assert cal["delta"].iloc[0] == pytest.approx(cal["calibrated_delta"].iloc[0])
    assert len(plot_vista_mnist(tables, tmp_path)) >= 8 and (tmp_path / "accuracy_rounds.png").exists()


def test_config_refuses_inconsistent_settings():
    with pytest.raises(ConfigError, match="nodes"):
        resolve(VistaMnistConfig, {"honest": 5, "adversaries": 7})
    with pytest.raises(ConfigError, match="eta_min"):
        resolve(VistaMnistConfig, {"eta_min": 1.5})
    with pytest.raises(ConfigError, match="steady"):
        resolve(VistaMnistConfig, {"steady": [2.0]})
    with pytest.raises(ConfigError, match="model=lenet needs"):
        resolve(VistaMnistConfig, {"dataset": "synthetic"})
    assert resolve(VistaMnistConfig, {"adversaries": 5}).honest == 5


@pytest.mark.slow
def test_sketch_fidelity_matches_its_predictions():
    """Ball noise at d = 3000: sketched accept rates within binomial CIs of the Gaussian-limit prediction and of
    the sketched table's P_A*; honest pairs within CI of F_k(k tau^2 / rho^2)."""
    cfg = SketchFidelityConfig(sources=["ball"], ks=[32], etas=[2.0], rounds=240, seeds=12, ball_dim=3000,
                               prediction_draws=300)
    tables = run_fidelity(cfg)
    s = tables["summary"].set_index("law")
    for law in ("full", "sketch"):
        row = s.loc[law]
        assert abs(row["sketch"] - row["predicted"]) <= 4 * max(row["sketch_se"], 0.02)
    # each law is accepted as its own table says by the check it was solved for; the full-check law sits at the
    # knee, where the sketch rejects it about half the time, and the sketch-check law stays inside the full knee
    assert s.loc["full", "full"] == pytest.approx(s.loc["full", "p_accept"], abs=4 * s.loc["full", "full_se"] + 0.02)
    assert s.loc["sketch", "full"] == 1.0
    assert s.loc["sketch", "sketch"] == pytest.approx(s.loc["sketch", "p_accept"], abs=4 * s.loc["sketch", "sketch_se"] + 0.03)
    assert s.loc["full", "sketch"] < s.loc["sketch", "sketch"] - 0.2
    pairs = tables["pairs"]
    assert abs(pairs["sketch"].mean() - pairs["predicted"].mean()) <= 4 * np.sqrt(
        pairs["predicted"].mean() * (1 - pairs["predicted"].mean()) / len(pairs)) + 1e-3


@pytest.mark.mnist
@pytest.mark.slow
@pytest.mark.skipif(MNIST_DIR is None, reason="MNIST IDX files absent (set DEML_DATA_DIR)")
def test_lenet_calibration_on_mnist():
    """The DC's Delta on real LeNet-5 gradients grows as the model leaves its initial point."""
    cfg = VistaMnistConfig(data_dir=MNIST_DIR, nodes=2, adversaries=1, calibration_steps=[0, 120],
                           calibration_draws=16, test_size=100)
    from sims.mnist_workload import prepare

    prep = prepare(cfg)
    assert prep.workload.dim == 61_706
    spread = prep.calibration.spread()
    assert spread[1] > 1.5 * spread[0] and prep.delta == pytest.approx(spread.max() + prep.calibration.rounding)


def test_the_calibration_cache_is_keyed_by_the_dcs_sample_not_only_the_settings(tmp_path, monkeypatch):
    """Other data under the same settings (say, another IDX folder) is calibrated afresh; the same data is not."""
    import torch

    from sims.mnist_workload import calibrated, workload

    monkeypatch.setenv("DEML_CACHE_DIR", str(tmp_path))
    cfg = resolve(VistaMnistConfig, SMALL)
    ds = data.synthetic(seed=cfg.seed)
    work, own = workload(cfg, ds, torch.device("cpu"))
    theta0 = work.model.initial()
    first = calibrated(cfg, work, own, theta0)
    assert calibrated(cfg, work, own, theta0).delta == first.delta and len(list(tmp_path.glob("*.npz"))) == 1
    wider = data.Dataset(ds.x_train * 3.0, ds.y_train, ds.x_test, ds.y_test)
    other = calibrated(cfg, workload(cfg, wider, torch.device("cpu"))[0], own, theta0)
    assert other.delta != first.delta and len(list(tmp_path.glob("*.npz"))) == 2
