"""`deml demo` end to end on the embedded chain, a few rounds: the run directory `deml sim` writes, plus gas
and the report."""
import pandas as pd
from typer.testing import CliRunner

from sims.cli import app


def test_demo_writes_its_run_directory(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--rounds", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert str(out / "report.html") in result.output.replace("\n", "")
    rounds = pd.read_parquet(out / "rounds.parquet")
    assert rounds["round"].tolist() == [1, 2, 3, 4] and set(rounds["method"]) == {"vista"}
    gas = pd.read_parquet(out / "gas.parquet")
    assert set(gas["phase"]) == {"open", "commit", "reveal+finalize"} and (gas["gas"] > 21_000).all()
    for name in ("config.json", "loss.png", "eta.png", "gas.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "report.html").read_text().count("data:image/png;base64,") >= 7


def test_demo_refuses_an_unknown_chain(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--rounds", "1", "--chain", "mainnet", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "expected 'embedded', 'revm' or an http(s) URL" in result.output
