import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from economics import GameSpec, solve
from economics.commands import equilibrium


@pytest.fixture
def invoke(tmp_path, monkeypatch):
    monkeypatch.setenv("DEML_CACHE_DIR", str(tmp_path / "cache"))
    app = typer.Typer()
    app.command("equilibrium")(equilibrium)
    app.command("other")(lambda: None)  # two commands: the name "equilibrium" must be given, as under sims/cli.py
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["equilibrium", *args])


def test_json_lines_match_solve(invoke):
    flags = ["--dim", "3", "--kappa", "1", "--delta", "1", "--eta-min", "1.5", "--eta-max", "8", "--points", "4"]
    result = invoke(*flags, "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    table = solve(GameSpec(dim=3), np.linspace(1.5, 8, 4), progress=False)
    assert len(rows) == 4
    for i, row in enumerate(rows):
        assert set(row) == {"eta", "tau", "p_accept", "mse", "noise"}
        assert row["eta"] == pytest.approx(table.eta[i]) and row["tau"] == pytest.approx(table.tau[i])
        assert row["p_accept"] == pytest.approx(table.p_accept[i]) and row["mse"] == pytest.approx(table.mse[i])
        assert sum(atom["weight"] for atom in row["noise"]) == pytest.approx(1.0)
        assert row["noise"][0]["radius"] == pytest.approx(table.radii[i, 0])


def test_table_plot_and_monotonicity_warning(invoke, tmp_path):
    plot = tmp_path / "curves.png"
    flags = ["--dim", "3", "--kappa", "2", "--eta-min", "1", "--eta-max", "2", "--points", "3"]
    result = invoke(*flags, "--plot", str(plot))
    assert result.exit_code == 0, result.output
    assert "P_A*" in result.stdout and "0.8013" in result.stdout
    assert "warning" in result.stdout and "[1, 1.5]" in result.stdout
    assert plot.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--dim", "0"], "--dim"),
        (["--kappa", "0"], "--kappa"),
        (["--eta-min", "5", "--eta-max", "2"], "--eta-min"),
        (["--estimator", "median"], "--estimator"),
        (["--points", "0"], "--points"),
    ],
)
def test_bad_input_names_the_flag(invoke, args, flag):
    result = invoke(*args, "--json")
    assert result.exit_code != 0
    assert flag in result.output


@pytest.mark.parametrize("where", ["missing-dir/curves.png", "a-dir"])
def test_an_unwritable_plot_path_is_refused_before_solving(invoke, tmp_path, monkeypatch, where):
    import economics.equilibrium

    def no_solve(*args, **kwargs):
        raise AssertionError("solved before checking --plot")

    monkeypatch.setattr(economics.equilibrium, "solve", no_solve)
    (tmp_path / "a-dir").mkdir()
    result = invoke("--dim", "3", "--points", "3", "--plot", str(tmp_path / where))
    assert result.exit_code == 2 and "--plot" in result.output and "cannot write" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "missing-dir").exists()


def test_sketched_tables_from_the_command(invoke):
    """--sketch K solves the game the sketched check plays (one honest node: closed form, fast)."""
    flags = ["--dim", "61706", "--eta-min", "2", "--eta-max", "4", "--points", "2", "--sketch", "64"]
    result = invoke(*flags, "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    table = solve(GameSpec(dim=61706, sketch=64), np.array([2.0, 4.0]), progress=False)
    assert [r["p_accept"] for r in rows] == pytest.approx(table.p_accept.tolist())
    assert all(r["p_accept"] < 0.99 for r in rows)  # the sketch makes acceptance a real trade-off
