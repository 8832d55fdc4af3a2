"""farsign-tune on the synthetic set: one budget per method, tuning seeds apart from the evaluation's, each method
evaluated at the setting its own grid scored best, and the config's refusals."""
import pytest

from sims.config import ConfigError, resolve
from sims.farsign_config import TuneConfig
from sims.farsign_tuning import edge_warnings, run_tune, summarise

SMALL = dict(dataset="synthetic", models=["logreg"], attacks=["sign-flip"], methods=["farsign", "median"], runs=1,
             horizon=20.0, rounds=400, a0_grid=[1e-3, 1e-2, 3e-2], lr_grid=[0.1, 1.0, 3.0],
             sign_lr_grid=[1e-3, 1e-2, 3e-2])


def test_each_method_is_evaluated_at_its_best_setting_on_other_seeds():
    cfg = TuneConfig(**SMALL)
    tables = run_tune(cfg)
    tuning = tables["tuning"]
    assert tuning.groupby("method").size().to_dict() == {"farsign": 3, "median": 3}  # the same budget
    assert set(tuning[tuning["method"] == "farsign"]["param"]) == {"a0"}
    for method, g in tuning.groupby("method"):
        best = g.sort_values(["time_to_target", "best_acc"], ascending=[True, False]).iloc[0]
        chosen = tables["chosen"].set_index("method").loc[method]
        assert chosen["value"] == best["value"]
    assert tuning.loc[tuning["method"] == "farsign", "time_to_target"].nunique() > 1  # the step matters
    assert set(tables["summary"]["method"]) == {"farsign", "median"} and set(tables["summary"]["run"]) == {0}
    assert "step" in summarise(tables).columns
    lines = edge_warnings(tables, cfg)
    assert all("edge of the grid" in line for line in lines)


def test_refuses_unequal_budgets_and_shared_seeds():
    with pytest.raises(ConfigError, match="same non-empty budget"):
        resolve(TuneConfig, {"a0_grid": [0.01]})
    with pytest.raises(ConfigError, match="overlap"):
        resolve(TuneConfig, {"tune_seed": 1, "runs": 2})
