"""Configs refuse unknown or ill-typed keys with a message naming them, from Python and from the CLI."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sims.cli import app
from sims.config import ConfigError, describe, parse_assignments, resolve
from sims.vista_experiments import Quad3dConfig

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def test_unknown_key_is_refused_naming_it_and_listing_known_keys():
    with pytest.raises(ConfigError, match=r"unknown key 'lamda'; known keys: .*lam"):
        resolve(Quad3dConfig, {"lamda": 0.3})


def test_ill_typed_key_is_refused_naming_it():
    with pytest.raises(ConfigError, match=r"runs: .*integer.*'many'"):
        resolve(Quad3dConfig, {"runs": "many"})
    with pytest.raises(ConfigError, match=r"baselines: 9 outside"):
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
    assert {"gap.png", "grad_norm.png", "eta.png", "acceptance.png"} <= {p.name for p in out.iterdir()}


def test_sweep_writes_one_table_with_the_swept_values(tmp_path):
    out = tmp_path / "sweep"
    res = runner.invoke(app, ["sim", "quad3d", "--runs", "1", "--rounds", "20", "--out", str(out),
                              "--set", "baselines=[2]", "--sweep", "lam=0.1,10"])
    assert res.exit_code == 0, res.output
    r = pd.read_parquet(out / "rounds.parquet")
    assert sorted(r["sweep"].unique()) == [0.1, 10]
    assert (out / "sweep_lam_gap.png").exists()
    # a stricter tolerance can only announce a stricter (or equal) threshold on the first adaptive step
    v = r[(r["method"] == "vista") & (r["round"] == 2)]
    assert v.loc[v["sweep"] == 0.1, "eta"].iloc[0] <= v.loc[v["sweep"] == 10, "eta"].iloc[0]


# ------------------------------------------------------------------ bad input: one line, exit 2, nothing written

def one_line_error(res) -> str:
    """The refusal is a single line starting "error:", without a trace."""
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and res.output.count("\n") == 1, res.output
    assert res.output.startswith("error: ")
    return res.output


@pytest.mark.parametrize("args, says", [
    (["--set", "eta_step=0.3"], "baselines: 3 is not on the eta grid 2 + k x 0.3"),
    (["--set", "eta_step=0.7"], "eta_step: 0.7 does not divide eta_max - eta_min = 6"),
    (["--set", "honest=2", "--set", "adversaries=3"], "--set estimator=mean"),
    (["--set", "objective=rosenbrock", "--set", "curvature=[1,2]"], "curvature: objective=rosenbrock has no such"),
    (["--set", "start=[1,2]"], "start: 2 coordinates for a 3-dimensional objective"),
])
def test_vista_settings_that_cannot_run_are_refused_naming_the_key(tmp_path, args, says):
    out = tmp_path / "r"
    assert says in one_line_error(runner.invoke(app, ["sim", "quad3d", "--out", str(out), *args]))
    assert not out.exists()


def test_the_advice_for_more_honest_nodes_names_a_key_that_works():
    with pytest.raises(ConfigError, match="estimator=mean"):
        resolve(Quad3dConfig, {"honest": 2, "adversaries": 3})
    assert resolve(Quad3dConfig, {"honest": 2, "adversaries": 3, "estimator": "mean"}).game_estimator(3) == "mean"


def test_rates_refuse_a_fit_window_beyond_the_rounds(tmp_path):
    from sims.farsign_config import RatesConfig

    assert RatesConfig(rounds=2000).fit_start == 200  # the default follows the rounds
    res = runner.invoke(app, ["sim", "farsign-rates", "--rounds", "2000", "--set", "fit_from=10000",
                              "--out", str(tmp_path / "r")])
    assert "fit_from: 10000 is not below rounds (2000)" in one_line_error(res)
    assert not (tmp_path / "r").exists()


def test_missing_mnist_is_one_line_naming_the_ways_out(tmp_path, monkeypatch):
    monkeypatch.delenv("DEML_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["sim", "farsign-mnist", "--out", str(tmp_path / "m")])
    line = one_line_error(res)
    assert "--set dataset=synthetic" in line and "--set data_dir=PATH" in line
    assert not (tmp_path / "m").exists()


# ------------------------------------------------------------------ run directories: never mixed, never reused

def test_out_at_a_file_or_an_unwritable_path_is_refused_before_anything_runs(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("mine")
    res = runner.invoke(app, ["sim", "quad3d", "--runs", "1", "--rounds", "3", "--out", str(target)])
    assert "a file is there" in one_line_error(res) and target.read_text() == "mine"
    res = runner.invoke(app, ["sim", "quad3d", "--runs", "1", "--rounds", "3", "--out", str(target / "sub")])
    assert "cannot create it" in one_line_error(res)


def test_out_at_an_earlier_run_is_refused_unless_forced_which_clears_it(tmp_path):
    out = tmp_path / "r"
    small = ["sim", "quad3d", "--runs", "1", "--rounds", "4", "--out", str(out), "--set", "baselines=[2]"]
    assert runner.invoke(app, small).exit_code == 0
    (out / "stale.png").write_bytes(b"old plot")  # as an older run of another experiment would leave
    (out / "notes.txt").write_text("mine")
    assert "holds an earlier run (quad3d)" in one_line_error(runner.invoke(app, small))
    res = runner.invoke(app, [*small, "--force", "--set", "seed=5"])
    assert res.exit_code == 0, res.output
    assert not (out / "stale.png").exists() and (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "config.json").read_text())["config"]["seed"] == 5


def test_out_at_a_folder_of_other_files_is_refused_even_with_force(tmp_path):
    (tmp_path / "thesis.tex").write_text("mine")
    res = runner.invoke(app, ["sim", "quad3d", "--rounds", "3", "--out", str(tmp_path), "--force"])
    assert "not a deml run directory" in one_line_error(res)


def test_the_default_run_directory_is_always_new(tmp_path, monkeypatch):
    from sims import rundir

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(rundir.time, "strftime", lambda fmt, *a: "20260101-000000")  # two runs in one second
    first, second = rundir.prepare(None, "quad3d"), rundir.prepare(None, "quad3d")
    assert first != second and first.is_dir() and second.is_dir()
    assert second.name == "quad3d-20260101-000000-2"


# ------------------------------------------------------------------ basics

def test_version_and_short_help_everywhere():
    from importlib.metadata import version

    assert runner.invoke(app, ["--version"]).output.strip() == f"deml {version('deml')}"
    for args in ([], ["sim"], ["sim", "run"], ["sim", "show"], ["demo"], ["chain"], ["runs"], ["equilibrium"]):
        res = runner.invoke(app, [*args, "-h"])
        assert res.exit_code == 0 and "Usage:" in res.output, (args, res.output)


def test_show_lists_every_setting_with_default_type_and_meaning():
    res = runner.invoke(app, ["sim", "show", "quad3d"], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    for key, field in Quad3dConfig.model_fields.items():
        assert key in res.output and field.description, key  # every field says what it means
    assert "one of quadratic" in res.output
    rows = {key: (default, kind) for key, default, kind, _ in describe(Quad3dConfig)}
    assert rows["objective"] == ('"quadratic"', "one of quadratic | logbowl | rosenbrock | logreg")
    assert rows["baselines"] == ("[2.0, 3.0, 4.0, 5.0, 6.0, 8.0]", "list[float]")
    assert rows["start"] == ("null", "list[float] or null")
    assert "show" not in {e.name for e in __import__("sims.registry").registry.all_experiments()}
    assert "unknown experiment 'nosuch'" in one_line_error(runner.invoke(app, ["sim", "show", "nosuch"]))


def test_every_config_field_has_a_meaning():
    from sims import registry

    for exp in registry.all_experiments():
        assert all(f.description for f in exp.config.model_fields.values()), exp.name


def test_the_catalogue_loads_no_engine():
    """`deml sim --list`, `deml sim show` and `deml --help` import neither torch, matplotlib, web3, scipy nor
    pandas (the reason listing used to take seconds)."""
    code = ("import sys; from typer.testing import CliRunner; from sims.cli import app; r = CliRunner(); "
            "[r.invoke(app, a) for a in (['--help'], ['sim', '--list'], ['sim', 'show', 'farsign-mnist'])]; "
            "print(sorted(m for m in ('torch', 'matplotlib', 'web3', 'scipy', 'pandas') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert res.stdout.strip() == "[]", res.stdout + res.stderr


def test_each_sim_ends_with_a_summary_and_runs_lists_it(tmp_path):
    out = tmp_path / "runs" / "small"
    res = runner.invoke(app, ["sim", "quad3d", "--runs", "2", "--rounds", "30", "--out", str(out),
                              "--set", "baselines=[2,8]"], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert "quad3d: results" in res.output and "f - f*" in res.output and "accepted" in res.output
    summary = pd.read_parquet(out / "summary.parquet")
    assert len(summary) == 3 * 2 and not summary["diverging"].any()
    assert json.loads((out / "config.json").read_text())["status"] == "complete"
    listing = runner.invoke(app, ["runs", str(tmp_path / "runs")], env={"COLUMNS": "250"})
    assert listing.exit_code == 0, listing.output
    row = next(line for line in listing.output.splitlines() if "small" in line)
    vista_gap = summary.loc[summary["method"] == "vista", "final_gap"].mean()
    assert "quad3d" in row and "complete" in row and f"vista {vista_gap:.3g}" in row
    assert "no such folder" in one_line_error(runner.invoke(app, ["runs", str(tmp_path / "none")]))
