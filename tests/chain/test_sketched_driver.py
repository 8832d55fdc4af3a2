"""Sketched rounds through the round driver: a 40-value model checked through 16-value sketches. The same seeded
run on MemoryLedger and on the chain (revm) round by round; a model no larger than the sketch runs as before;
and the data collector's settlement of a round in which one revealer lies about its sketch and another
delivers a report it did not commit to, on both ledgers."""
import numpy as np
import pytest

from contracts.chain_ledger import ChainLedger
from coordinator import sketched, vista
from coordinator.driver import ProtocolConfig, announce, provision, run, start
from coordinator.memory_ledger import MemoryLedger
from nodes.attacks import Gaussian
from nodes.honest import HonestReport
from nodes.swarm import Swarm, node_addresses
from sims.objectives import Quadratic

TASK = Quadratic(curvature=tuple(np.linspace(1.0, 3.0, 40)))  # d = 40
K = 16
GRID = np.round(np.linspace(4.0, 8.0, 9), 10)
MSE = 0.2 * GRID**2
FIELDS = ("accepted", "members", "committed", "revealed", "max_sq", "total", "count", "lo", "hi", "paid", "slashed")


def proto(sketch: int = K) -> ProtocolConfig:
    return ProtocolConfig(delta=1.0, reward=10, stake=100, min_stake=20, sketch=sketch, sketch_secret=b"test")


def swarm(seed: int = 5) -> Swarm:
    return Swarm(1, 3, HonestReport(1.0), Gaussian(sigma=1.2), seed=seed)


def memory() -> MemoryLedger:
    return MemoryLedger(min_stake=20, max_dim=256)


def play(ledger, addresses, rounds, p, seed=5):
    provision(ledger, addresses, p, rounds)
    outs = []
    logs = run(ledger, TASK, swarm(seed), vista.params(GRID, MSE, eta_min=4.0, eta_max=8.0), p, members=addresses,
               rounds=rounds, rng=np.random.default_rng(seed), on_round=lambda log, out: outs.append(out))
    return logs, outs, ledger.balances(addresses)


def test_a_sketched_run_is_the_same_on_memory_and_on_the_chain():
    rounds = 12
    chain = ChainLedger("revm", nodes=4, seed=2, min_stake=20)
    logs_c, outs_c, bal_c = play(chain, chain.nodes, rounds, proto())
    logs_m, outs_m, bal_m = play(memory(), chain.nodes, rounds, proto())
    for om, oc in zip(outs_m, outs_c):
        for name in FIELDS:
            assert np.array_equal(getattr(om, name), getattr(oc, name)), (om.round_id, name)
        assert om.sketches.shape == (1, 4, K) and np.array_equal(om.sketches, oc.sketches)
    for lm, lc in zip(logs_m, logs_c):
        assert np.array_equal(lm.loss, lc.loss) and np.array_equal(lm.eta, lc.eta)
    for name in ("tokens", "stakes", "pool"):
        assert getattr(bal_m, name).tolist() == getattr(bal_c, name).tolist()
    accepted = np.array([bool(o.accepted[0]) for o in outs_m])
    assert 0 < accepted.sum() < rounds  # the attack gets some rounds rejected, not all
    for o, ok in zip(outs_m, accepted):  # paid on confirmation, every revealer of an accepted round
        assert o.paid.tolist() == [[10 * ok] * 4] and o.count.tolist() == [4 * ok]
        assert o.total.shape == (1, 40)  # the estimate comes from the full reports, not the sketches
    assert logs_m[-1].loss[0] < 0.5 * logs_m[0].loss[0]


def test_a_model_no_larger_than_the_sketch_is_reported_whole_as_before():
    small = Quadratic()  # d = 3 <= K: the sketch would be the identity, so there is none
    runs = []
    for k in (0, K):
        led = memory()
        addresses = node_addresses(4, 0)
        provision(led, addresses, proto(k), 10)
        outs = []
        logs = run(led, small, swarm(), vista.params(GRID, MSE, eta_min=4.0, eta_max=8.0), proto(k),
                   members=addresses, rounds=10, rng=np.random.default_rng(1), on_round=lambda g, o: outs.append(o))
        runs.append((logs, outs))
    (logs_a, outs_a), (logs_b, outs_b) = runs
    assert all(o.sketches is None for o in outs_b)
    assert all(np.array_equal(a.loss, b.loss) and np.array_equal(a.paid, b.paid) for a, b in zip(logs_a, logs_b))


@pytest.mark.parametrize("kind", ["memory", "chain"])
def test_the_dc_proves_a_lying_sketch_and_pays_only_verified_reports(kind):
    """Node 3 reveals a sketch one unit off its full report's (still within tau: the check alone cannot see it);
    node 2 delivers a full report other than the one it committed to. The DC proves node 3 a liar on chain (half
    its stake to the DC), confirms nodes 0 and 1, and estimates from their two full reports only."""
    p = proto()
    if kind == "chain":
        led = ChainLedger("revm", nodes=4, seed=4, min_stake=20)
        members = led.nodes
    else:
        led, members = memory(), node_addresses(4, 4)
    provision(led, members, p, 2)
    control = vista.params(GRID, MSE, eta_min=4.0, eta_max=8.0)
    state = start(TASK, control, 1)
    spec, announced = announce(state, control, p, members)
    assert spec.dim == K and spec.full_dim == 40
    rid = led.open_round(spec)
    commits, reveals = swarm().round(rid, members, state.theta, state.grad, announced.tau, state.vista.eta_index,
                                     p.scale_bits, np.random.default_rng(0))
    commits, delivered = sketched.digest_messages(rid, commits, reveals)
    led.commit(rid, commits)
    led.reveal_seed(rid, announced.seeds)
    sketches = sketched.reveal_sketches(delivered, announced.seeds, K)
    sketches[3].report_fx[0, 5] += 1  # a lie in row 5
    led.reveal(rid, sketches)
    out = led.finalize(rid)
    assert out.accepted.tolist() == [True] and out.confirming.tolist() == [True] and out.paid.sum() == 0
    fx2, salts2 = delivered[members[2]]
    handed = {**delivered, members[2]: (fx2 + 1, salts2)}
    before = led.balances([led.owner]).tokens[0, 0]
    settled = sketched.settle(led, rid, out, handed, announced.seeds, members, 40)
    assert settled.paid.tolist() == [[10, 10, 0, 0]]
    assert settled.count.tolist() == [2]
    assert np.array_equal(settled.total[0], delivered[members[0]][0][0] + delivered[members[1]][0][0])
    balances = led.balances(members)
    assert balances.stakes.tolist() == [[100, 100, 100, 50]]  # only the proven liar loses stake
    assert led.balances([led.owner]).tokens[0, 0] - before == 50
