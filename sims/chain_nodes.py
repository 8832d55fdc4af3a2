"""The node-round table and the node accounts of a chain-backed run, read from the chain: the coordinator's
events (RoundOpened, Committed, Revealed, Finalized or Expired, Paid, Slashed, Registered, Staked, Withdrawn),
the token's mints (Transfer from the zero address), and the balances the contracts hold at the end. Nothing
here comes from what the driving process remembers, so the per-node sums can be checked against the chain.

Gas: in relay mode the DC sends every round transaction, so a node's per-round gas is 0; what the nodes paid
themselves (the stake allowance and registration) is their ether spent, read from the chain's balances.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from contracts.chain_ledger import NODE_ETHER
from contracts.client import Deployment
from protocol import codec
from sims.node_table import distances, node_frame
from sims.vista_experiments import TOKEN

ZERO = "0x0000000000000000000000000000000000000000"


def _events(deployment: Deployment) -> list:
    d = deployment
    return d.coordinator.decode_logs(d.chain.logs(d.coordinator.address, 0, "latest"))


def node_rounds(deployment: Deployment, nodes: list[str], adversary: np.ndarray, delta: float,
                method: str = "vista") -> pd.DataFrame:
    """One row per settled round x node of `nodes` (the run's node order), from the coordinator's events."""
    by_round: dict[int, list] = defaultdict(list)
    for e in _events(deployment):
        if "round_id" in e.args:
            by_round[e.args["round_id"]].append(e)
    index = {a: i for i, a in enumerate(nodes)}
    n = len(nodes)
    cols: dict[str, list] = defaultdict(list)
    for number, round_id in enumerate(sorted(by_round), start=1):  # the driver's round numbers count from 1
        events = by_round[round_id]
        opened = next(e.args for e in events if e.name == "RoundOpened")
        end = next((e for e in events if e.name in ("Finalized", "Expired")), None)
        if end is None:  # still in flight: not a settled round
            continue
        member = np.isin(nodes, opened["members"])
        # a sketched round reveals k-value sketches, checked as ||dz||^2 <= k tau^2: its distances are the sketches'
        # over sqrt(k), on tau's scale
        sketched = opened["full_dim"] > opened["dim"]
        unpack = codec.unpack_sketch if sketched else codec.unpack
        scale = 2.0 ** -opened["scale_bits"] / (np.sqrt(opened["dim"]) if sketched else 1.0)
        committed = np.zeros(n, bool)
        revealed = np.zeros(n, bool)
        reports = np.zeros((1, n, opened["dim"]))
        paid, slashed = np.zeros(n), np.zeros(n)
        for e in events:
            i = index.get(e.args.get("node"))
            if i is None:
                continue
            if e.name == "Committed":
                committed[i] = True
            elif e.name == "Revealed":
                revealed[i] = True
                reports[0, i] = unpack(e.args["report"]) * scale
            elif e.name == "Paid":
                paid[i] += e.args["amount"]
            elif e.name == "Slashed":
                slashed[i] += e.args["amount"]
        farthest, far_node, to_mean = distances(reports, revealed[None], ~adversary)
        tau = opened["tau_fx"] / 2.0**opened["scale_bits"]
        accepted = end.name == "Finalized" and end.args["accepted"]
        for name, value in (("node", np.arange(n)), ("address", nodes), ("adversary", adversary.astype(int)),
                            ("committed", committed & member), ("revealed", revealed),
                            ("dist_farthest", farthest[0]), ("farthest_node", far_node[0]),
                            ("dist_honest_mean", to_mean[0]),
                            ("paid", paid / TOKEN), ("slashed", slashed / TOKEN)):
            cols[name].extend(value)
        for name, value in (("round", number), ("tau", tau), ("eta", tau / delta), ("accepted", accepted)):
            cols[name].extend([value] * n)
    rows = len(cols["round"])
    return node_frame(method=[method] * rows, run=np.zeros(rows), gas=np.zeros(rows), **cols)


def accounts(deployment: Deployment, nodes: list[str], adversary: np.ndarray, ether_of) -> pd.DataFrame:
    """Per node: what the events say it was minted, locked and got back, and what the contracts hold for it now,
    as exact base-unit integers (decimal strings: they exceed int64); ether spent on gas, in wei. `ether_of`
    reads an address's ether balance from the chain."""
    d = deployment
    minted = defaultdict(int)
    for e in d.token.decode_logs(d.chain.logs(d.token.address, 0, "latest")):
        if e.name == "Transfer" and e.args["sender"] == ZERO:
            minted[e.args["receiver"]] += e.args["value"]
    locked, withdrawn = defaultdict(int), defaultdict(int)
    for e in _events(d):
        if e.name == "Registered":
            locked[e.args["node"]] += e.args["stake"]
        elif e.name == "Staked":
            locked[e.args["node"]] += e.args["amount"]
        elif e.name == "Withdrawn":
            withdrawn[e.args["node"]] += e.args["stake"]
    tokens, stakes, _ = d.accounts(nodes)
    return pd.DataFrame({
        "node": np.arange(len(nodes), dtype=np.int32), "address": nodes,
        "role": np.where(adversary, "adversary", "honest"),
        "minted": [str(minted[a]) for a in nodes], "locked": [str(locked[a]) for a in nodes],
        "withdrawn": [str(withdrawn[a]) for a in nodes],
        "token_balance": [str(t) for t in tokens], "stake": [str(s) for s in stakes],
        "ether_spent": [str(NODE_ETHER - ether_of(a)) for a in nodes]})
