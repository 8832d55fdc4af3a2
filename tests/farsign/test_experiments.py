"""Both experiments end to end at a tiny size: tables, columns, plots, and the command-line path."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sims.config import ConfigError, resolve
from sims.farsign_experiments import MnistConfig, RatesConfig, fit_slopes, plot_mnist, plot_rates, run_mnist, run_rates


def test_rates_end_to_end(tmp_path):
    cfg = RatesConfig(runs=2, rounds=400, dim=4, fit_from=20, points=30, a0=0.05)
    tables = run_rates(cfg)
    fits = tables["fits"]
    assert len(fits) == 4 and set(fits["reference"]) == {-1 / 4, -1 / 6}
    assert set(tables["rounds"].groupby(["objective", "variant"])["run"].nunique()) == {2}
    reports = tables["reports"]
    assert (reports["staleness"] > 0).mean() > 0.5  # asynchrony: most reports were computed at an older model
    assert (reports["adversarial"] == (reports["worker"] >= cfg.workers - cfg.adversaries)).all()
    assert [p.name for p in plot_rates(tables, tmp_path)] == ["rates.png"]


def test_first_order_slopes_are_near_the_reference_rate():
    """Seeded regression of the rate claim at a size that runs in seconds. Measured at this size (dim 4, 4 runs,
    2000 updates, sign-flip attack) on seeds 0, 10, 20, 30: first-order slopes in [-0.61, -0.22] (reference
    -1/4; the running minimum falls faster than the asymptotic rate this early), zeroth-order in [-0.66, -0.02]
    (too noisy to check here). Seed 0 gave -0.592 (Rosenbrock) and -0.497 (Cauchy); the window [ref - 0.45,
    ref + 0.05] holds them with margin 0.1 below and 0.25 above, and fails for a method that stops descending
    (slope near 0) or a gradient that collapses to zero (slope far below)."""
    cfg = RatesConfig(runs=4, rounds=2000, dim=4, points=60, seed=0, variants=["first-order"])
    fits = run_rates(cfg)["fits"].set_index("objective")
    assert set(fits.index) == {"rosenbrock", "cauchy-regression"}
    for objective, fit in fits.iterrows():
        assert fit["reference"] - 0.45 <= fit["slope"] <= fit["reference"] + 0.05, (objective, fit["slope"])


def test_farsign_reaches_the_target_first_when_stragglers_slow_synchronous_rules():
    """Seeded regression of the headline: with two persistent stragglers (5x slower) and Gaussian-noise
    adversaries, FAR-SIGN's slowest run reaches 80% test accuracy on the synthetic clusters before the fastest
    run of every robust baseline (they wait for the slowest worker each step). Measured on seeds 0-7: ratio
    (best baseline time / FAR-SIGN time) 1.87 to 4.51; seed 0: 1.87. The test asks for 1.5. a0 = 0.03: the
    synthetic task takes larger steps than MNIST's tuned 0.003 (from a0 in {0.01, 0.03, 0.1} on seeds 0-1)."""
    cfg = MnistConfig(dataset="synthetic", models=["logreg"], runs=2, rounds=300, horizon=12.0, eval_interval=0.25,
                      test_size=500, target=0.8, seed=0, batch=16, attacks=["gaussian"], a0=0.03, slow_workers=2,
                      slowdown=5.0, methods=["farsign", "median", "trimmed-mean", "krum", "multi-krum",
                                             "geometric-median", "sign-majority"])
    s = run_mnist(cfg)["summary"].fillna({"time_to_target": np.inf})
    farsign_worst = s.loc[s["method"] == "farsign", "time_to_target"].max()
    baselines_best = s[s["robust_baseline"]].groupby("method")["time_to_target"].min()
    assert np.isfinite(farsign_worst)
    assert (baselines_best > 1.5 * farsign_worst).all(), (farsign_worst, baselines_best.to_dict())


def test_slope_fit_recovers_a_known_power_law():
    n = np.unique(np.geomspace(10, 10_000, 40).astype(int))
    rounds = pd.DataFrame({"objective": "f", "variant": "first-order", "run": 0, "updates": n,
                           "min_grad_norm": 3.0 * n ** -0.25})
    fit = fit_slopes(rounds, 10).iloc[0]
    assert fit["slope"] == pytest.approx(-0.25) and np.exp(fit["intercept"]) == pytest.approx(3.0)


def test_mnist_experiment_on_synthetic_data(tmp_path):
    cfg = MnistConfig(dataset="synthetic", models=["logreg"], runs=1, rounds=300, horizon=15.0,
                      attacks=["sign-flip", "nan"], eval_interval=2.0, test_size=300, target=0.5, batch=16)
    tables = run_mnist(cfg)
    evals = tables["evals"]
    assert {"method", "attack", "run", "time", "updates", "test_acc", "test_loss"} <= set(evals.columns)
    assert set(evals["method"]) == set(cfg.methods) and set(evals["attack"]) == {"sign-flip", "nan"}
    fs = evals[evals["method"] == "farsign"]
    assert np.isfinite(fs["test_loss"]).all()  # no NaN ever reaches FAR-SIGN's model
    assert fs["test_acc"].max() > 0.5  # it learns the clusters under both attacks
    summary = tables["summary"]
    assert len(summary) == 2 * len(cfg.methods) and summary["best_acc"].le(1).all()
    sync = tables["rounds"].query("method == 'median'")
    assert (sync["staleness"] == 0).all()
    assert [p.name for p in plot_mnist(tables, tmp_path)] == ["accuracy_logreg.png"]


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="unknown key 'adversary'"):
        resolve(MnistConfig, {"adversary": 3})
    with pytest.raises(ConfigError, match="attacks"):
        resolve(MnistConfig, {"attacks": ["sign-flop"]})
    with pytest.raises(ConfigError, match="must not exceed workers"):
        resolve(RatesConfig, {"workers": 2, "adversaries": 3})


def test_command_line_path_writes_the_run_directory(tmp_path):
    from sims.runner import run_experiment

    out = run_experiment("farsign-rates", {"runs": 1, "rounds": 200, "objectives": ["cauchy-regression"],
                                           "variants": ["first-order"], "fit_from": 10, "points": 20}, tmp_path / "r")
    assert {p.name for p in out.iterdir()} == {"config.json", "rounds.parquet", "fits.parquet", "reports.parquet",
                                              "rates.png"}


def test_mnist_sweep_across_the_adversary_count(tmp_path):
    from sims.runner import run_experiment

    out = run_experiment("farsign-mnist", {"dataset": "synthetic", "models": ["logreg"], "runs": 1, "rounds": 150,
                                           "horizon": 8.0, "attacks": ["sign-flip"], "methods": ["farsign", "median", "krum"],
                                           "eval_interval": 2.0, "test_size": 200, "target": 0.5, "batch": 16},
                         tmp_path / "s", sweep="adversaries=1,6")
    summary = pd.read_parquet(out / "summary.parquet")
    assert sorted(summary["sweep"]) == [1] * 3 + [6] * 3 and set(summary["method"]) == {"farsign", "median", "krum"}
    assert (out / "sweep_adversaries_logreg.png").stat().st_size > 0
    # with 6 of 10 workers flipping signs, the honest signs are outvoted: FAR-SIGN must do worse than at 1
    fs = summary[summary["method"] == "farsign"].set_index("sweep")["best_acc"]
    assert fs[6] < fs[1]


def test_fault_count_rules_are_capped_unless_told_and_refuse_an_undefined_f():
    crossing = MnistConfig(adversaries=7)
    assert (crossing.faults("trimmed-mean"), crossing.faults("krum")) == (4, 7)
    assert MnistConfig(adversaries=7, assumed_faults=2).faults("trimmed-mean") == 2
    with pytest.raises(ConfigError, match=r"assumed_faults=5: trimmed-mean with 10 workers is defined for f <= 4"):
        resolve(MnistConfig, {"assumed_faults": 5})
    assert resolve(MnistConfig, {"assumed_faults": 5, "methods": ["farsign", "krum"]}).faults("krum") == 5


def test_a_sweep_needing_missing_mnist_is_refused_before_anything_runs(tmp_path):
    from sims.runner import run_experiment

    tiny = {"models": ["logreg"], "runs": 1, "rounds": 60, "horizon": 4.0, "attacks": ["sign-flip"],
            "methods": ["farsign"], "data_dir": str(tmp_path / "no-mnist-here")}
    with pytest.raises(ConfigError, match="--set dataset=synthetic"):
        run_experiment("farsign-mnist", tiny, tmp_path / "s", sweep="dataset=synthetic,mnist")
    assert not (tmp_path / "s").exists()
