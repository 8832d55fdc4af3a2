"""`deml analyse` on a quad3d run and on a sweep: what it writes, that the per-node figures add up to the run's
own totals, and bad input as one line (exit 2, no traceback, nothing overwritten)."""
import json

import pandas as pd
import pytest

from sims.cli import app
from tests.analysis.conftest import runner


def test_the_outputs_and_their_units(analysed, quad_run):
    names = {p.name for p in analysed.iterdir()}
    assert {"summary.parquet", "summary.json", "report.html"} <= names
    pngs = sorted(p for p in analysed.iterdir() if p.suffix == ".png")
    assert [p.name for p in pngs] == ["quad_play.png", "quad_progress.png", "quad_tokens.png"]
    page = (analysed / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(pngs) and "src='quad" not in page  # every image inlined
    doc = json.loads((analysed / "summary.json").read_text())
    assert doc["gas_price_gwei"] == 2 and "10^18 base units" in doc["units"]["tokens"]
    quad = next(s for s in doc["sources"] if s["source"] == quad_run.name)
    assert {(r["method"], r["role"]) for r in quad["per_role"]} == {
        (m, r) for m in ("vista", "eta=2", "eta=8") for r in ("honest", "adversary")}


def test_per_node_tokens_add_up_to_the_rounds_totals(analysed, quad_run):
    summary = pd.read_parquet(analysed / "summary.parquet")
    mine = summary[summary["source"] == quad_run.name]
    assert len(mine) == 3 * 2 * 2  # methods x runs x nodes
    rounds = pd.read_parquet(quad_run / "rounds.parquet")
    totals = rounds.groupby(["method", "run"])[["reward_honest", "reward_adversary"]].sum()
    for row in mine.itertuples():
        want = totals.loc[(row.method, row.run), f"reward_{row.role}"]
        assert row.earned_tokens == want and row.net_tokens == want - row.slashed_tokens
        assert row.paid_rounds == want  # one token per paid round


def test_cost_of_progress_per_method(analysed, quad_run):
    doc = json.loads((analysed / "summary.json").read_text())
    costs = {r["method"]: r for r in next(s for s in doc["sources"] if s["source"] == quad_run.name)["cost_of_progress"]}
    rounds = pd.read_parquet(quad_run / "rounds.parquet")
    for method, row in costs.items():
        r = rounds[rounds["method"] == method]
        progress = sum(g["loss"].iloc[0] - g["loss"].iloc[-1] for _, g in r.groupby("run"))
        tokens = (r["reward_honest"] + r["reward_adversary"]).sum()
        assert row["tokens_per_progress"] == pytest.approx(tokens / progress)
        assert row["gas_per_progress"] == 0  # an in-memory ledger spends no gas


def test_a_sweep_gets_every_figure_against_the_swept_key(sweep_analysed):
    out = sweep_analysed
    names = {p.name for p in out.iterdir()}
    for metric in ("final_loss", "tokens_per_progress", "acceptance", "net_honest", "net_adversary"):
        assert f"sweep_sweep_lam_{metric}.png" in names
    assert {"sweep_0.3_play.png", "sweep_3_play.png"} <= names  # the play figure per swept value
    summary = pd.read_parquet(out / "summary.parquet")
    assert set(summary["sweep"]) == {"0.3", "3.0"}  # the sweep column holds both as floats


def _one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("error: ")
    assert "Traceback" not in result.output
    for f in fragments:
        assert f in result.output


def test_bad_input_is_one_line(tmp_path, quad_run):
    _one_line_error(runner.invoke(app, ["analyse", str(tmp_path / "missing")]), "RUN_DIR", "no such directory")
    (tmp_path / "plain").mkdir()
    _one_line_error(runner.invoke(app, ["analyse", str(tmp_path / "plain")]), "not a deml run directory",
                    "deml sim")
    _one_line_error(runner.invoke(app, ["analyse", "receipt", str(quad_run), "--node", "0xabc", "--round", "1"]),
                    "--node 0xabc", "give one of its addresses")
    _one_line_error(runner.invoke(app, ["analyse", "receipt", str(quad_run), "--node", "0", "--round", "999"]),
                    "--round 999", "rounds 1..60")


def test_an_existing_output_is_never_overwritten(tmp_path, quad_run, analysed):
    before = {p.name: p.stat().st_mtime_ns for p in analysed.iterdir()}
    _one_line_error(runner.invoke(app, ["analyse", str(quad_run), "--out", str(analysed)]), f"--out {analysed}")
    assert {p.name: p.stat().st_mtime_ns for p in analysed.iterdir()} == before
    # a run directory is no place for an analysis either
    _one_line_error(runner.invoke(app, ["analyse", str(quad_run), "--out", str(quad_run)]), "holds an earlier run")
