"""nodes.parquet of the batched simulations: distances from the revealed reports, consistency with
rounds.parquet and the protocol's rule, compact types."""
import numpy as np
import pandas as pd

from sims.node_table import distances


def test_distances_to_the_farthest_peer_and_the_honest_mean():
    reports = np.array([[[0.0], [3.0], [1.0], [9.0]]])  # node 3 did not reveal: its value must not count
    revealed = np.array([[True, True, True, False]])
    honest = np.array([True, False, True, True])
    farthest, node, to_mean = distances(reports, revealed, honest)
    assert np.allclose(farthest[0, :3], [3.0, 3.0, 2.0]) and np.isnan(farthest[0, 3])
    assert node[0].tolist() == [1, 0, 1, -1]
    assert np.allclose(to_mean[0, :3], [0.5, 2.5, 0.5]) and np.isnan(to_mean[0, 3])  # honest mean (0 + 1) / 2


def test_a_lone_reveal_has_no_peer():
    farthest, node, _ = distances(np.zeros((1, 2, 3)), np.array([[True, False]]), np.array([True, False]))
    assert np.isnan(farthest).all() and node.tolist() == [[-1, -1]]


def test_node_rows_agree_with_the_rounds_and_the_rule(quad_run):
    nodes = pd.read_parquet(quad_run / "nodes.parquet")
    rounds = pd.read_parquet(quad_run / "rounds.parquet")
    assert len(nodes) == 2 * len(rounds)  # two nodes per method x run x round
    assert {c: str(t) for c, t in nodes.dtypes.items()} == {
        "method": "category", "run": "int32", "round": "int32", "node": "int32", "address": "category",
        "role": "category", "committed": "bool", "revealed": "bool", "dist_farthest": "float32",
        "farthest_node": "int32", "dist_honest_mean": "float32", "tau": "float32", "eta": "float32",
        "accepted": "bool", "paid": "float32", "slashed": "float32", "gas": "int32"}
    assert list(nodes["role"].cat.categories) == ["honest", "adversary"]
    key = ["method", "run", "round"]
    per_round = nodes.astype({"method": str}).pivot_table(index=key, columns="role", values="paid", observed=True)
    merged = rounds.set_index(key).join(per_round)
    assert (merged["honest"] == merged["reward_honest"]).all() and (merged["adversary"] == merged["reward_adversary"]).all()
    first = nodes[nodes["node"] == 0].set_index(key)["accepted"]
    assert (first.reindex(rounds.set_index(key).index).to_numpy() == rounds["accepted"].to_numpy()).all()
    # the pairwise check: with two nodes a round is accepted iff their distance is within tau (to fixed point)
    d, tau = nodes["dist_farthest"], nodes["tau"]
    assert (d[nodes["accepted"]] <= tau[nodes["accepted"]] + 1e-3).all()
    assert (d[~nodes["accepted"]] > tau[~nodes["accepted"]] - 1e-3).all()
    assert (~nodes["accepted"]).sum() > 20  # eta = 2 rejects: both sides of the rule are exercised
    honest = nodes[nodes["role"] == "honest"]
    assert (honest["dist_honest_mean"] == 0).all()  # the one honest report is the honest mean
    assert (nodes["gas"] == 0).all() and (nodes["slashed"] == 0).all()
