"""Named objectives (`--set objective=...`), the gap f - f* they report, and the Python API for your own."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sims import objectives, registry
from sims.api import VistaConfig, register, run_task, vista_task
from sims.cli import app
from sims.config import ConfigError, resolve
from sims.objectives import CauchyRegression, LogisticRegression, LogBowl, Quadratic, Rosenbrock
from sims.vista_config import Quad3dConfig

runner = CliRunner()


@pytest.mark.parametrize("f", [Quadratic(), Quadratic((0.5, 4.0), (1.0, -2.0)), LogBowl(), Rosenbrock(3),
                               LogisticRegression(), LogisticRegression(dim=3, samples=50, l2=0.01),
                               CauchyRegression(4, 30)], ids=repr)
def test_gradients_match_central_differences(f):
    theta = np.random.default_rng(0).normal(size=(3, f.init(1).shape[1])) * 1.5
    h = 1e-6
    numeric = np.stack([(f.loss(theta + h * e) - f.loss(theta - h * e)) / (2 * h) for e in np.eye(theta.shape[1])],
                       axis=1)
    assert f.grad(theta) == pytest.approx(numeric, rel=1e-5, abs=1e-6)
    assert f.loss(theta[0]) == pytest.approx(f.loss(theta)[0])  # one point or a batch


def test_logreg_f_star_is_the_minimum_plain_gradient_descent_reaches():
    f = LogisticRegression()
    w = np.zeros(f.dim)
    for _ in range(3000):  # strongly convex, step 1/L: linear convergence far below 1e-10
        w = w - f.grad(w) / f.smoothness
    assert 0 <= f.loss(w) - f.f_star < 1e-10
    points = np.random.default_rng(1).normal(size=(100, f.dim))
    assert (f.loss(points) > f.f_star).all()


def test_bad_objective_settings_name_the_setting():
    with pytest.raises(ValueError, match="start: 2 coordinates for a 3-dimensional"):
        Quadratic(start=(1.0, 2.0))
    with pytest.raises(ValueError, match="curvature: need positive"):
        Quadratic(curvature=(1.0, 0.0))
    with pytest.raises(ConfigError, match="dim: objective=quadratic has no such setting"):
        resolve(Quad3dConfig, {"dim": 4})
    with pytest.raises(ConfigError, match="dim: Rosenbrock needs d >= 2"):
        resolve(Quad3dConfig, {"objective": "rosenbrock", "dim": 1})


@pytest.mark.slow  # solves the 2-D equilibrium table
def test_a_quadratic_with_given_curvature_and_start(tmp_path):
    out = tmp_path / "q"
    res = runner.invoke(app, ["sim", "quad3d", "--runs", "1", "--rounds", "5", "--out", str(out), "--set",
                              "baselines=[2]", "--set", "curvature=[1,4]", "--set", "start=[3,3]"])
    assert res.exit_code == 0, res.output
    r = pd.read_parquet(out / "rounds.parquet")
    assert r.loc[r["round"] == 1, "loss"].tolist() == [22.5, 22.5]  # (9 + 4 x 9) / 2
    assert (r["gap"] == r["loss"]).all()
    about = json.loads((out / "config.json").read_text())["objective"]
    assert about["dim"] == 2 and about["f_star"] == 0.0 and about["smoothness"] == 4.0


@pytest.mark.slow  # solves the 2-D equilibrium table
def test_logreg_reports_the_gap_to_its_precise_minimum(tmp_path):
    out = tmp_path / "lr"
    res = runner.invoke(app, ["sim", "quad3d", "--runs", "2", "--rounds", "40", "--out", str(out), "--set",
                              "baselines=[8]", "--set", "objective=logreg", "--set", "dim=2", "--set", "delta=0.1"])
    assert res.exit_code == 0, res.output
    f_star = LogisticRegression(dim=2).f_star
    assert json.loads((out / "config.json").read_text())["objective"]["f_star"] == pytest.approx(f_star, abs=1e-15)
    r = pd.read_parquet(out / "rounds.parquet")
    assert r["gap"].to_numpy() == pytest.approx(r["loss"].to_numpy() - f_star, abs=1e-12)
    assert r.loc[r["round"] == 1, "gap"].iloc[0] == pytest.approx(np.log(2) - f_star)  # from w = 0
    first, last = (r[r["round"] == k].groupby("method")["gap"].mean() for k in (1, 40))
    assert (last < 0.8 * first).all()  # it descends
    assert (out / "gap.png").stat().st_size > 0


class Shifted:
    """|theta - 1|^2 in 3-D from (5, -5, 5): a task defined outside the package."""

    dim, f_star, smoothness = 3, 0.0, 2.0

    def init(self, batch):
        return np.tile([5.0, -5.0, 5.0], (batch, 1))

    def grad(self, theta):
        return 2.0 * (theta - 1.0)

    def loss(self, theta):
        return ((theta - 1.0) ** 2).sum(axis=-1)


def test_your_own_objective_gets_the_standard_run_directory(tmp_path):
    task = vista_task("shifted", "VISTA on |x - 1|^2", Shifted())
    out = run_task(task, {"runs": 2, "rounds": 30, "baselines": [2, 8]}, tmp_path / "mine")
    assert {"config.json", "rounds.parquet", "summary.parquet", "gap.png", "eta.png"} <= {p.name for p in out.iterdir()}
    r = pd.read_parquet(out / "rounds.parquet")
    assert set(r["experiment"]) == {"shifted"} and set(r["method"]) == {"vista", "eta=2", "eta=8"}
    assert r.loc[r["round"] == 1, "loss"].iloc[0] == 16 + 36 + 16
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["experiment"] == "shifted" and cfg["config"]["runs"] == 2 and cfg["status"] == "complete"
    with pytest.raises(ConfigError, match="unknown key 'lamda'"):
        run_task(task, {"lamda": 1}, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_an_objective_built_from_its_own_config(tmp_path):
    class ScaledConfig(VistaConfig):
        scale: float = 3.0

    task = vista_task("scaled", "VISTA on scale x |theta|^2 in 3-D",
                      lambda cfg: Quadratic((2 * cfg.scale,) * 3, (4.0, 0.0, 0.0)), ScaledConfig)
    register(task)
    try:
        from sims.runner import run_experiment

        out = run_experiment("scaled", {"runs": 1, "rounds": 3, "baselines": [2], "scale": 0.5}, tmp_path / "s")
    finally:
        registry._CATALOGUE.pop("scaled")
    assert pd.read_parquet(out / "rounds.parquet")["loss"].iloc[0] == pytest.approx(0.5 * 1.0 * 16)
    with pytest.raises(TypeError, match="lacks dim, f_star"):
        run_task(vista_task("broken", "no f*", lambda cfg: object()), {"rounds": 1}, tmp_path / "b")


def test_the_step_size_bound():
    assert objectives.step_bound(Quadratic(), lam=1.0) == pytest.approx(1 / 6)
    assert np.isnan(objectives.step_bound(Rosenbrock(3), lam=1.0))


@pytest.mark.slow
def test_the_python_example_in_the_docs_runs(tmp_path, monkeypatch):
    doc = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    code = doc.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    try:
        exec(compile(code, "docs/cli.md", "exec"), {})
    finally:
        registry._CATALOGUE.pop("stretched", None)
    made = sorted(p.name.rsplit("-", 2)[0] for p in (tmp_path / "runs").iterdir())
    assert made == ["shifted", "stretched"]
