"""Configs refuse unknown or ill-typed keys with a message naming them, from Python and from the CLI."""
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from sims.cli import app
from sims.config import ConfigError, parse_assignments, resolve
from sims.vista_experiments import Quad3dConfig

runner = CliRunner()


def test_unknown_key_is_refused_naming_it_and_listing_known_keys():
    with pytest.raises(ConfigError, match=r"unknown key 'lamda'; known keys: .*lam"):
        resolve(Quad3dConfig, {"lamda": 0.3})


def test_ill_typed_key_is_refused_naming_it():
    with pytest.raises(ConfigError, match=r"runs: .*integer.*'many'"):
        resolve(Quad3dConfig, {"runs": "many"})
    with pytest.raises(ConfigError, match=r"baselines: 9.0 outside"):
        resolve(Quad3dConfig, {"baselines": [2, 9]})


def test_list_written_without_json_quotes_gets_the_json_form_as_fix():
    bad = parse_assignments(["baselines=[2,x]"])
    with pytest.raises(ConfigError, match=r"""baselines: .*valid list.*--set 'baselines=\["2", "x"\]'"""):
        resolve(Quad3dConfig, bad)


def test_set_values_parse_as_json_where_they_can():
    assert parse_assignments(["lam=0.3", "baselines=[2,4]", "oracle=true", "utility=log"]) == {
        "lam": 0.3, "baselines": [2, 4], "oracle": True, "utility": "log"}
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_assignments(["lam"])


def test_cli_reports_config_errors_with_exit_code_2(tmp_path):
    res = runner.invoke(app, ["sim", "quad3d", "--out", str(tmp_path / "r"), "--set", "lamda=1"])
    assert res.exit_code == 2
    assert "unknown key 'lamda'" in res.output
    assert not (tmp_path / "r").exists()  # nothing half-written
    res = runner.invoke(app, ["sim", "nosuch"])
    assert res.exit_code == 2 and "known:" in res.output and "quad3d" in res.output


def test_cli_lists_experiments():
    res = runner.invoke(app, ["sim", "--list"])
    assert res.exit_code == 0
    assert "quad3d" in res.output and "scalar1d" in res.output


def test_small_sim_writes_a_complete_run_directory(tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(app, ["sim", "quad3d", "--runs", "2", "--rounds", "40", "--out", str(out),
                              "--set", "baselines=[2,8]", "--set", "seed=3"])
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["experiment"] == "quad3d" and cfg["config"]["seed"] == 3 and cfg["config"]["runs"] == 2
    r = pd.read_parquet(out / "rounds.parquet")
    assert set(r["method"]) == {"vista", "eta=2", "eta=8"}
    assert len(r) == 3 * 2 * 40
    for col in ["experiment", "method", "run", "round", "loss", "grad_norm", "eta", "tau", "accepted", "lr",
                "reward_honest", "reward_adversary"]:
        assert col in r.columns
    assert (r.loc[~r["accepted"], ["reward_honest", "reward_adversary"]] == 0).all().all()
    assert (r.loc[r["accepted"], "reward_adversary"] == 1.0).all()  # one adversary, one token per accepted round
    assert {"loss.png", "grad_norm.png", "eta.png", "acceptance.png"} <= {p.name for p in out.iterdir()}


def test_sweep_writes_one_table_with_the_swept_values(tmp_path):
    out = tmp_path / "sweep"
    res = runner.invoke(app, ["sim", "quad3d", "--runs", "1", "--rounds", "20", "--out", str(out),
                              "--set", "baselines=[2]", "--sweep", "lam=0.1,10"])
    assert res.exit_code == 0, res.output
    r = pd.read_parquet(out / "rounds.parquet")
    assert sorted(r["sweep"].unique()) == [0.1, 10]
    assert (out / "sweep_lam_loss.png").exists()
    # a stricter tolerance can only announce a stricter (or equal) threshold on the first adaptive step
    v = r[(r["method"] == "vista") & (r["round"] == 2)]
    assert v.loc[v["sweep"] == 0.1, "eta"].iloc[0] <= v.loc[v["sweep"] == 10, "eta"].iloc[0]
