"""The same seeded VISTA experiment on MemoryLedger and on the chain: the round driver cannot tell them apart.

1 honest node and 4 colluding rational adversaries (an adversary majority) on the 3-D quadratic; the chain runs
the coordinator contract on the embedded py-evm chain. Accept/reject sequences, payouts, slashes, balances
and the recorded aggregates must be identical, round by round.
"""
from dataclasses import replace

import numpy as np
import pytest

from contracts.chain_ledger import ChainLedger
from coordinator.driver import provision, run
from coordinator.memory_ledger import MemoryLedger
from sims.objectives import Quadratic
from sims.vista_experiments import Quad3dConfig, setup

FIELDS = ("accepted", "members", "committed", "revealed", "max_sq", "total", "count", "lo", "hi", "paid", "slashed")


def experiment(rounds: int, collude: bool = True):
    s = setup(Quad3dConfig(adversaries=4, runs=1, rounds=rounds, baselines=[]), 3, progress=False)
    return s.control, replace(s.swarm, collude=collude), s.proto


def chain_ledger(proto, chain=None, **kw) -> ChainLedger:
    return ChainLedger(*([chain] if chain is not None else []), min_stake=proto.min_stake, slash_bps=proto.slash_bps,
                       **kw)


def memory_ledger(proto) -> MemoryLedger:
    return MemoryLedger(min_stake=proto.min_stake, slash_bps=proto.slash_bps, max_dim=256)


def play(ledger, addresses, rounds, control, swarm, proto, seed=7):
    provision(ledger, addresses, proto, rounds)
    outcomes = []
    logs = run(ledger, Quadratic(), swarm, control, proto, members=addresses, rounds=rounds,
               rng=np.random.default_rng(seed), on_round=lambda log, out: outcomes.append(out))
    return logs, outcomes, ledger.balances(addresses)


def assert_same(memory, chain):
    (logs_m, outs_m, bal_m), (logs_c, outs_c, bal_c) = memory, chain
    assert [bool(o.accepted[0]) for o in outs_m] == [bool(o.accepted[0]) for o in outs_c]
    for om, oc in zip(outs_m, outs_c):
        for name in FIELDS:
            assert np.array_equal(getattr(om, name), getattr(oc, name)), (om.round_id, name)
    for lm, lc in zip(logs_m, logs_c):
        assert np.array_equal(lm.loss, lc.loss) and np.array_equal(lm.eta, lc.eta)
    for name in ("tokens", "stakes", "pool"):
        assert getattr(bal_m, name).tolist() == getattr(bal_c, name).tolist()


@pytest.mark.slow
def test_relay_chain_matches_memory_over_60_rounds_with_an_adversary_majority():
    rounds = 60
    control, swarm, proto = experiment(rounds)
    chain = chain_ledger(proto, nodes=swarm.size, seed=3, mode="relay")
    on_chain = play(chain, chain.nodes, rounds, control, swarm, proto)
    in_memory = play(memory_ledger(proto), chain.nodes, rounds, control, swarm, proto)
    accepted = np.array([o.accepted[0] for o in on_chain[1]])
    assert 0 < accepted.sum() < rounds  # both outcomes occur: the comparison covers rejections too
    assert_same(in_memory, on_chain)
    # what the contract paid is what the ledger reports: every revealer of every accepted round, once
    assert on_chain[2].tokens.sum() == proto.reward * swarm.size * int(accepted.sum())


@pytest.mark.parametrize("collude", [True, False], ids=["colluding", "independent"])
def test_per_node_chain_matches_memory(collude):
    """Independent adversaries each draw their own point, so every pair of reports differs (the colluding
    coalition's identical reports leave most pairs at distance zero)."""
    rounds = 8
    control, swarm, proto = experiment(rounds, collude)
    chain = chain_ledger(proto, nodes=swarm.size, seed=4, mode="per-node")
    on_chain = play(chain, chain.nodes, rounds, control, swarm, proto, seed=1)
    in_memory = play(memory_ledger(proto), chain.nodes, rounds, control, swarm, proto, seed=1)
    assert_same(in_memory, on_chain)
    if not collude:
        assert all(o.max_sq[0] > 0 for o in on_chain[1])
    assert set(on_chain[1][0].gas) == {"open", "commit", "reveal", "finalize"}
