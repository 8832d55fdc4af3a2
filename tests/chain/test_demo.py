"""`deml demo` end to end on the embedded chain, a few rounds: the run directory `deml sim` writes, plus gas
and the report; bad input refused before anything is deployed; Ctrl-C keeps the finished on-chain rounds."""
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from sims.cli import app
from tests.test_interrupt import interrupt_after

runner = CliRunner()


@pytest.mark.slow
def test_demo_writes_its_run_directory(tmp_path):
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--rounds", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert str(out / "report.html") in result.output.replace("\n", "")
    assert "demo: results" in result.output
    rounds = pd.read_parquet(out / "rounds.parquet")
    assert rounds["round"].tolist() == [1, 2, 3, 4] and set(rounds["method"]) == {"vista"}
    gas = pd.read_parquet(out / "gas.parquet")
    assert set(gas["phase"]) == {"open", "commit", "reveal+finalize"} and (gas["gas"] > 21_000).all()
    for name in ("config.json", "gap.png", "eta.png", "gas.png", "summary.parquet"):
        assert (out / name).stat().st_size > 0
    assert (out / "report.html").read_text().count("data:image/png;base64,") >= 7
    assert json.loads((out / "config.json").read_text())["status"] == "complete"


@pytest.mark.slow
def test_ctrl_c_keeps_the_finished_on_chain_rounds(tmp_path, monkeypatch):
    interrupt_after(monkeypatch, 3)
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--rounds", "20", "--out", str(out)])
    assert result.exit_code == 130, result.output
    assert "demo: interrupted after 3 of 20 on-chain rounds" in result.output
    assert pd.read_parquet(out / "rounds.parquet")["round"].tolist() == [1, 2, 3]
    assert set(pd.read_parquet(out / "gas.parquet")["round"]) == {1, 2, 3}
    assert "3 of 20 (interrupted)" in (out / "report.html").read_text()
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["interrupted"] and cfg["done"] == {"rounds": 3, "of": 20}


def test_demo_refuses_an_unknown_chain(tmp_path):
    result = runner.invoke(app, ["demo", "--rounds", "1", "--chain", "mainnet", "--out", str(tmp_path / "d")])
    assert result.exit_code == 2 and "expected 'embedded', 'revm' or an http(s) URL" in result.output
    assert not (tmp_path / "d").exists()


def test_a_dead_chain_url_is_one_line_and_writes_nothing(tmp_path):
    result = runner.invoke(app, ["demo", "--chain", "http://127.0.0.1:9", "--out", str(tmp_path / "d")])
    assert result.exit_code == 2 and result.output.startswith("error: chain: no node answers at http://127.0.0.1:9")
    assert result.output.count("\n") == 1 and not (tmp_path / "d").exists()


def test_a_bad_out_is_refused_before_the_chain_is_touched(tmp_path, monkeypatch):
    import contracts.chain

    def no_chain(*args, **kwargs):
        raise AssertionError("connected before checking --out")

    monkeypatch.setattr(contracts.chain, "connect", no_chain)
    (tmp_path / "a-file").write_text("mine")
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "a-file")])
    assert result.exit_code == 2 and "--out" in result.output and "a file is there" in result.output
