"""Ctrl-C keeps finished work: the tables of the finished rounds (or runs), the plots, config.json marked
interrupted with how far the run got, one line saying where it is, exit 130."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sims import farsign_experiments, vista_experiments
from sims.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def interrupt_after(monkeypatch, k: int) -> None:
    """Ctrl-C in the round driver's on_round hook after round k (as a signal arriving then would)."""
    real = vista_experiments.run

    def run(*args, on_round, **kwargs):
        def hook(log, outcome):
            on_round(log, outcome)
            if log.round == k:
                raise KeyboardInterrupt
        return real(*args, on_round=hook, **kwargs)

    monkeypatch.setattr(vista_experiments, "run", run)


def test_ctrl_c_in_a_sim_keeps_the_finished_rounds(tmp_path, monkeypatch):
    interrupt_after(monkeypatch, 7)
    out = tmp_path / "r"
    res = runner.invoke(app, ["sim", "quad3d", "--runs", "2", "--rounds", "50", "--out", str(out),
                              "--set", "baselines=[2]"])
    assert res.exit_code == 130, res.output
    assert res.output.strip().splitlines()[-1] == (f"quad3d: interrupted after 7 of 50 rounds; the finished work is "
                                                   f"in {out}/ (config.json marks it interrupted)")
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["status"] == "interrupted" and cfg["interrupted"] is True and cfg["done"] == {"rounds": 7, "of": 50}
    rounds = pd.read_parquet(out / "rounds.parquet")
    assert sorted(rounds["round"].unique()) == list(range(1, 8)) and len(rounds) == 7 * 2 * 2
    assert set(pd.read_parquet(out / "summary.parquet")["rounds"]) == {7}
    assert {"gap.png", "eta.png", "acceptance.png"} <= {p.name for p in out.iterdir()}


def test_ctrl_c_before_the_first_round_leaves_a_marked_config(tmp_path, monkeypatch):
    def no_table(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(vista_experiments, "solve", no_table)
    out = tmp_path / "r"
    res = runner.invoke(app, ["sim", "quad3d", "--out", str(out)])
    assert res.exit_code == 130 and "after 0 of 3000 rounds" in res.output
    assert {p.name for p in out.iterdir()} == {"config.json"}
    assert json.loads((out / "config.json").read_text())["done"] == {"rounds": 0, "of": 3000}


def test_ctrl_c_in_a_sweep_keeps_the_finished_values_and_the_rounds_of_the_current_one(tmp_path, monkeypatch):
    real = vista_experiments.run
    calls = []

    def run(*args, on_round, **kwargs):  # the second value's run stops after round 3
        calls.append(1)

        def hook(log, outcome):
            on_round(log, outcome)
            if len(calls) == 2 and log.round == 3:
                raise KeyboardInterrupt
        return real(*args, on_round=hook, **kwargs)

    monkeypatch.setattr(vista_experiments, "run", run)
    out = tmp_path / "s"
    res = runner.invoke(app, ["sim", "quad3d", "--runs", "1", "--rounds", "10", "--out", str(out),
                              "--set", "baselines=[2]", "--sweep", "lam=0.1,1,10"])
    assert res.exit_code == 130 and "1 of 3 values of lam, then 3 of 10 rounds at lam=1" in res.output
    r = pd.read_parquet(out / "rounds.parquet")
    assert r.groupby("sweep")["round"].max().to_dict() == {0.1: 10, 1: 3}
    assert (out / "sweep_lam_gap.png").exists()
    done = json.loads((out / "config.json").read_text())["done"]
    assert done == {"sweep_values": 1, "of": 3, "then": {"lam": 1, "rounds": 3, "of": 10}}


def test_ctrl_c_in_farsign_keeps_the_finished_runs(tmp_path, monkeypatch):
    from sims.runner import run_experiment
    from sims.experiment import RunInterrupted

    real, calls = farsign_experiments.drive, []

    def drive(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(farsign_experiments, "drive", drive)
    out = tmp_path / "f"
    with pytest.raises(RunInterrupted, match="after 2 of 4 runs"):
        run_experiment("farsign-rates", {"runs": 2, "rounds": 200, "objectives": ["cauchy-regression"],
                                         "points": 20}, out)
    rounds = pd.read_parquet(out / "rounds.parquet")
    assert sorted(rounds.groupby(["variant", "run"]).groups) == [("first-order", 0), ("first-order", 1)]
    assert (out / "rates.png").exists() and json.loads((out / "config.json").read_text())["done"] == {
        "runs": 2, "of": 4}


def test_a_bug_part_way_through_a_sweep_keeps_the_values_already_run(tmp_path, monkeypatch):
    from sims.runner import run_experiment

    real, calls = vista_experiments.run_vista, []

    def run_vista(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("a bug in the second value")
        return real(*args, **kwargs)

    monkeypatch.setattr(vista_experiments, "run_vista", run_vista)
    with pytest.raises(RuntimeError, match="a bug"):
        run_experiment("quad3d", {"runs": 1, "rounds": 5, "baselines": [2]}, tmp_path / "s", sweep="lam=0.1,10")
    kept = pd.read_parquet(tmp_path / "s" / "rounds.parquet")
    assert set(kept["sweep"]) == {0.1} and kept["round"].max() == 5


@pytest.mark.slow
def test_a_real_sigint_to_a_running_sim(tmp_path):
    """SIGINT to a `deml sim` process: exit 130, and what finished is on disk and consistent."""
    from economics import solve
    from sims.vista_config import Quad3dConfig
    from sims.vista_experiments import game

    cfg = Quad3dConfig()
    solve(game(cfg, 3), cfg.eta_grid(), progress=False)  # warm the (per-session) table cache: rounds start at once
    out = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "sims.cli", "sim", "quad3d", "--runs", "1", "--rounds", "1000000",
                             "--out", str(out), "--set", "baselines=[2]"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "config.json").exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        time.sleep(5.0)  # some rounds, even on a loaded machine
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "interrupted after" in stderr and "Traceback" not in stderr
    cfg = json.loads((out / "config.json").read_text())
    done = cfg["done"]["rounds"]
    assert cfg["interrupted"] and 0 < done < 1_000_000, stderr
    rounds = pd.read_parquet(out / "rounds.parquet")
    assert rounds["round"].max() == done and len(rounds) == 2 * done
    assert np.isfinite(rounds["loss"]).all() and (out / "gap.png").exists()
