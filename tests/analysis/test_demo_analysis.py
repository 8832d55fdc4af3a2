"""The demo's node table comes from the chain's events, and its per-node sums equal the balances the contracts
hold; a receipt of an on-chain round."""
import json

import pandas as pd
import pytest

from sims.analysis.load import load
from sims.analysis.tokens import balance_check
from tests.analysis.conftest import runner
from sims.cli import app

pytestmark = pytest.mark.slow


def test_the_node_table_is_the_chains_record(demo_run):
    nodes = pd.read_parquet(demo_run / "nodes.parquet")
    rounds = pd.read_parquet(demo_run / "rounds.parquet")
    cfg = json.loads((demo_run / "config.json").read_text())
    honest, adversaries = cfg["nodes"]["honest"], cfg["nodes"]["adversaries"]
    assert list(dict.fromkeys(nodes["address"].astype(str))) == honest + adversaries  # the chain's addresses
    assert nodes.groupby("address", observed=True)["role"].first().astype(str).to_dict() == {
        **{a: "honest" for a in honest}, **{a: "adversary" for a in adversaries}}
    assert len(nodes) == 5 * len(rounds) and nodes["round"].max() == len(rounds)
    per_round = nodes.groupby("round")
    assert (per_round["accepted"].first().to_numpy() == rounds["accepted"].to_numpy()).all()
    assert (per_round["eta"].first().to_numpy() == pytest.approx(rounds["eta"].to_numpy(), abs=1e-4))
    paid = nodes.pivot_table(index="round", columns="role", values="paid", aggfunc="sum", observed=True)
    assert (paid["honest"].to_numpy() == rounds["reward_honest"].to_numpy()).all()
    assert (paid["adversary"].to_numpy() == rounds["reward_adversary"].to_numpy()).all()
    assert nodes["committed"].all() and nodes["revealed"].all()


def test_per_node_sums_equal_the_on_chain_balances(demo_run, demo_analysed):
    run = load(demo_run)
    check = balance_check(run)
    assert len(check) == 5 and check["equal"].all()
    assert (check["token_balance"].map(int) > 0).all()  # rounds were paid: the check compares non-trivial sums
    doc = json.loads((demo_analysed / "summary.json").read_text())
    assert next(s for s in doc["sources"] if s["source"] == demo_run.name)["balance_check"]["all_equal"] is True
    assert "every node's token balance and stake equal what its events imply" in (
        demo_analysed / "report.html").read_text()


def test_the_check_catches_a_missing_payment(demo_run):
    """One Paid event fewer in the table than on chain: the sums no longer match, for that node only."""
    run = load(demo_run)
    nodes = run.nodes.copy()
    first_paid = nodes.index[nodes["paid"] > 0][0]
    nodes.loc[first_paid, "paid"] = 0.0
    check = balance_check(type(run)(run.path, run.doc, run.rounds, nodes, run.accounts, run.gas))
    assert check["equal"].tolist() == [i != nodes.loc[first_paid, "node"] for i in range(5)]


def test_a_receipt_of_an_on_chain_round(demo_run):
    address = json.loads((demo_run / "config.json").read_text())["nodes"]["adversaries"][0]
    result = runner.invoke(app, ["analyse", "receipt", str(demo_run), "--node", address.lower(), "--round", "2"])
    assert result.exit_code == 0, result.output
    rows = pd.read_parquet(demo_run / "nodes.parquet")
    me = rows[(rows["round"] == 2) & (rows["address"] == address)].iloc[0]
    assert f"node 1 ({address}, adversary)" in result.output
    assert f"its report lay {float(me['dist_farthest']):.4g} from the farthest other revealed report" in result.output
    assert ("PAID 1 tokens" in result.output) == bool(me["accepted"])


def test_the_sums_hold_on_the_revm_chain_over_rejected_rounds_too(make_run):
    """30 rounds on revm: VISTA tightens eta and some rounds are rejected; the chain's table still adds up."""
    run = load(make_run("demo-revm", "demo", "--rounds", "30", "--chain", "revm"))
    assert not run.nodes["accepted"].all() and run.nodes["accepted"].any()
    assert balance_check(run)["equal"].all()
    per_node = run.nodes.groupby("node")["paid"].sum()
    assert (per_node == run.nodes[run.nodes["accepted"]]["round"].nunique()).all()  # paid once per accepted round
