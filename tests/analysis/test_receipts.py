"""Receipts for a paid, an unpaid (the pair beyond tau) and a slashed (never committed) node-round, checked
against the node table they are read from."""
import pandas as pd

from sims.cli import app
from tests.analysis.conftest import runner


def _receipt(run, row) -> str:
    result = runner.invoke(app, ["analyse", "receipt", str(run), "--node", str(row["address"]), "--round",
                                 str(row["round"]), "--method", str(row["method"]), "--run", str(row["run"])])
    assert result.exit_code == 0, result.output
    return result.output


def _row(run, query: str) -> pd.Series:
    nodes = pd.read_parquet(run / "nodes.parquet")
    return nodes.query(query).iloc[0]


def test_a_paid_round(quad_run):
    row = _row(quad_run, "method == 'eta=2' and run == 1 and accepted and node == 1")
    text = _receipt(quad_run, row)
    assert "round accepted" in text and "committed: yes; revealed: yes" in text
    assert f"within tau by {2 - float(row['dist_farthest']):.4g}" in text
    assert "PAID 1 tokens" in text


def test_an_unpaid_round_names_the_pair_and_the_excess(quad_run):
    row = _row(quad_run, "method == 'eta=2' and run == 0 and not accepted and node == 0")
    text = _receipt(quad_run, row)
    d = float(row["dist_farthest"])
    assert "round rejected" in text and "NOT PAID: the round was rejected: the pair node 0" in text
    assert f"lay {d:.4g} apart, beyond tau = 2 by {d - 2:.4g}" in text


def test_a_slashed_round(diverging_run):
    row = _row(diverging_run, "method == 'vista' and slashed > 0")
    text = _receipt(diverging_run, row)
    assert "committed: no; revealed: no" in text
    assert f"SLASHED {float(row['slashed']):g} tokens of stake" in text and "it never committed" in text


def test_a_receipt_in_a_sweep_reads_the_chosen_value(sweep_run):
    nodes = pd.read_parquet(sweep_run / "nodes.parquet")
    for value in (0.3, 3.0):
        row = nodes[(nodes["sweep"] == value) & (nodes["method"] == "vista") & (nodes["round"] == 5)].iloc[0]
        result = runner.invoke(app, ["analyse", "receipt", str(sweep_run), "--node", "0", "--round", "5",
                                     "--sweep", f"{value:g}"])
        assert result.exit_code == 0, result.output
        assert f"lam={value}" in result.output and f"(eta = {float(row['eta']):.4g})" in result.output
    result = runner.invoke(app, ["analyse", "receipt", str(sweep_run), "--node", "0", "--round", "5", "--sweep", "7"])
    assert result.exit_code == 2 and result.output.startswith("error: --sweep 7: lam took 0.3, 3")
