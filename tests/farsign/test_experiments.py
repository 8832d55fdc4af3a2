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
    assert fits["slope"].le(1e-12).all()  # min ||grad f|| is a running minimum: it cannot rise
    r = tables["rounds"]
    assert r.groupby(["objective", "variant", "run"])["min_grad_norm"].apply(lambda v: v.is_monotonic_decreasing).all()
    assert (tables["reports"]["staleness"] >= 0).all()
    assert [p.name for p in plot_rates(tables, tmp_path)] == ["rates.png"]


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


def test_a_sweep_that_fails_part_way_keeps_the_values_already_run(tmp_path):
    from sims.runner import run_experiment

    tiny = {"models": ["logreg"], "runs": 1, "rounds": 60, "horizon": 4.0, "attacks": ["sign-flip"],
            "methods": ["farsign"], "eval_interval": 2.0, "test_size": 100, "batch": 8,
            "data_dir": str(tmp_path / "no-mnist-here")}
    with pytest.raises(FileNotFoundError):
        run_experiment("farsign-mnist", tiny, tmp_path / "s", sweep="dataset=synthetic,mnist")
    kept = pd.read_parquet(tmp_path / "s" / "evals.parquet")
    assert set(kept["sweep"]) == {"synthetic"} and len(kept) >= 2
