"""`deml sim economics` on a small seeded case: the Sybil table against the game of coding's prediction (copies of
one point gain nothing under the midrange, and raise the error under the mean), the adversary-share and ablation
tables, and the config's refusals."""
import numpy as np
import pytest

from sims.config import ConfigError, resolve
from sims.economics_experiments import plot_economics, run_economics, summarise
from sims.vista_config import EconomicsConfig


@pytest.mark.slow
def test_economics_tables_on_a_small_case(tmp_path):
    cfg = EconomicsConfig(runs=2, rounds=200, shares=[3, 7], sybils=[1, 4], baselines=[2.0, 8.0], seed=1)
    tables = run_economics(cfg)
    syb = tables["sybil"].set_index(["estimator", "identities", "method"])
    for est in ("midrange", "mean"):
        for m in (1, 4):  # each constant eta's realised MSE near the solver's (2 x 200 rounds)
            row = syb.loc[(est, m, "eta=8")]
            assert row["mse"] == pytest.approx(row["mse_star"], rel=0.1)
    assert syb.loc[("midrange", 4, "eta=8"), "mse_star"] == pytest.approx(syb.loc[("midrange", 1, "eta=8"), "mse_star"])
    assert syb.loc[("mean", 4, "eta=8"), "mse"] > 3 * syb.loc[("mean", 1, "eta=8"), "mse"]
    # every identity is paid: four identities draw four times the tokens of one at a constant eta that always passes
    assert syb.loc[("midrange", 4, "eta=8"), "adversary"] == pytest.approx(4 * syb.loc[("midrange", 1, "eta=8"),
                                                                                     "adversary"])
    share = tables["share"]
    assert sorted(share["adversaries"].unique()) == [3, 7] and set(share["method"]) == {"vista", "eta=2", "eta=8"}
    assert np.isfinite(share["tokens_per_progress"]).all()
    ab = tables["ablation"].set_index("method")
    assert set(ab.index) == {"vista", "vista, baselines' step", "eta=2", "eta=2, VISTA's step", "eta=8",
                             "eta=8, VISTA's step"}
    # the headline of the ablation (seeded): at a constant eta above eta_min, VISTA's step schedule (held while
    # not saturated) is what makes the progress; VISTA's thresholds with the baselines' decaying step lose it
    assert ab.loc["eta=8, VISTA's step", "gap"] < 0.5 * ab.loc["eta=8", "gap"]
    assert ab.loc["vista, baselines' step", "gap"] > 2 * ab.loc["vista", "gap"]
    assert summarise(tables).index.tolist() == [3, 7]
    inc = tables["incentives"].set_index(["stake", "play"])
    for stake, vetoes in ((2, 1), (10, 3), (50, 5)):  # half the stake a veto, out below the minimum of 2 rewards
        assert inc.loc[(stake, "participate"), "net_per_adversary"] > 0
        for play in ("veto", "abstain"):
            assert inc.loc[(stake, play), "out_after"] == vetoes and inc.loc[(stake, play), "members_at_end"] == 3
            assert inc.loc[(stake, play), "net_per_adversary"] < 0
    assert {p.name for p in plot_economics(tables, tmp_path)} == {"share.png", "sybil.png", "ablation.png"}


def test_economics_config_refusals():
    with pytest.raises(ConfigError, match="shares"):
        resolve(EconomicsConfig, {"shares": [10]})
    with pytest.raises(ConfigError, match="1-D objective"):
        resolve(EconomicsConfig, {"objective": "quadratic"})
