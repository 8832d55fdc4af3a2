"""The shared round loop over a MemoryLedger: rejected rounds change nothing, seeds replay, rewards follow rules."""
import numpy as np

from coordinator import vista
from coordinator.driver import ProtocolConfig, provision, run
from coordinator.memory_ledger import MemoryLedger
from nodes.attacks import Gaussian, Mimic, NonFinite
from nodes.honest import HonestReport
from nodes.swarm import Swarm, node_addresses
from sims.objectives import Quadratic

GRID = np.round(np.linspace(2.0, 8.0, 13), 10)
MSE = 0.2 * GRID**2


def simulate(seed, attack, rounds=60, batch=3, adversaries=3):
    swarm = Swarm(1, adversaries, HonestReport(1.0), attack, seed=seed)
    control = vista.params(GRID, MSE, eta_min=2.0, eta_max=8.0, repeat=batch)
    proto = ProtocolConfig(delta=1.0, reward=10, stake=100, min_stake=20)
    led = MemoryLedger(batch=batch, min_stake=proto.min_stake)
    members = node_addresses(swarm.size, seed)
    provision(led, members, proto, rounds)
    logs = run(led, Quadratic(), swarm, control, proto, members=members, rounds=rounds,
               rng=np.random.default_rng(seed))
    return logs, led, members


def test_same_seed_replays_the_same_trajectory_and_another_does_not():
    a, *_ = simulate(5, Gaussian(sigma=3.0))
    b, *_ = simulate(5, Gaussian(sigma=3.0))
    c, *_ = simulate(6, Gaussian(sigma=3.0))
    assert all(np.array_equal(x.loss, y.loss) and np.array_equal(x.accepted, y.accepted) for x, y in zip(a, b))
    assert any(not np.array_equal(x.loss, y.loss) for x, y in zip(a, c))


def test_rejected_rounds_leave_the_model_and_balances_unchanged():
    logs, *_ = simulate(1, Gaussian(sigma=3.0))
    accepted = np.stack([g.accepted for g in logs])
    assert 0 < accepted.mean() < 1  # the attack gets some rounds rejected, not all
    loss = np.stack([g.loss for g in logs])
    for t in range(len(logs) - 1):
        rej = ~accepted[t]
        assert np.array_equal(loss[t + 1][rej], loss[t][rej])
        assert logs[t].paid[rej].sum() == 0
        assert np.all(logs[t].paid[~rej] == 10)


def test_adversary_majority_of_mimics_is_always_accepted_and_paid():
    logs, led, members = simulate(2, Mimic(), rounds=20, adversaries=4)
    assert all(g.accepted.all() for g in logs)
    assert np.array_equal(led.balances(members).tokens.astype(int), np.full((3, 5), 100 * 0 + 20 * 10))
    assert logs[-1].loss.max() < logs[0].loss.min()  # the honest signal still drives descent


def test_a_silent_node_is_slashed_until_it_falls_below_the_minimum_and_the_honest_quorum_still_decides():
    swarm = Swarm(2, 1, HonestReport(1.0), NonFinite())  # the adversary's NaN report cannot be encoded
    control = vista.params(GRID, MSE, eta_min=2.0, eta_max=8.0, repeat=2)
    proto = ProtocolConfig(delta=1.0, reward=10, stake=100, min_stake=20, commit_blocks=8, reveal_blocks=8)
    led = MemoryLedger(batch=2, min_stake=proto.min_stake)
    members = node_addresses(3, 0)
    provision(led, members, proto, 10)
    logs = run(led, Quadratic(), swarm, control, proto, members=members, rounds=10, rng=np.random.default_rng(0))
    assert all(g.accepted.all() for g in logs)  # two honest reports within 2 delta <= tau
    assert all(np.array_equal(g.paid, np.tile([10, 10, 0], (2, 1))) for g in logs)
    # a member that never commits stalls the round, so it pays: 50, 25, 12 (then 13 < 20: it sits out)
    assert [int(g.slashed[0, 2]) for g in logs] == [50, 25, 12, 0, 0, 0, 0, 0, 0, 0]
    assert [int(g.members[0]) for g in logs] == [3, 3, 3] + [2] * 7
    assert led.balances(members).stakes[:, 2].tolist() == [13, 13]


class Vetoing:
    """The swarm, but its adversaries commit and never reveal (a veto)."""

    def __init__(self, swarm):
        self.swarm, self.size = swarm, swarm.size

    def round(self, round_id, addresses, *args):
        commits, reveals = self.swarm.round(round_id, addresses, *args)
        vetoing = {a for a, bad in zip(addresses, self.swarm.is_adversary) if bad}
        return commits, [m for m in reveals if m.sender not in vetoing]


def test_a_veto_rejects_rounds_until_the_slashes_take_the_vetoing_node_out():
    """Every member commits (the commit phase ends at once), the adversary never reveals: the driver waits out the
    reveal window, which ends a fixed time after the round opened, and the round is rejected. Each veto costs half
    the stake: after three (100 -> 50 -> 25 -> 13, below the minimum 20) the node is no longer a member, sends
    nothing, and the two honest nodes' rounds are accepted."""
    swarm = Swarm(2, 1, HonestReport(1.0), Mimic())
    control = vista.params(GRID, MSE, eta_min=2.0, eta_max=8.0)
    proto = ProtocolConfig(delta=1.0, reward=10, stake=100, min_stake=20)
    led = MemoryLedger(min_stake=proto.min_stake)
    members = node_addresses(3, 0)
    provision(led, members, proto, 5)
    logs = run(led, Quadratic(), Vetoing(swarm), control, proto, members=members, rounds=5,
               rng=np.random.default_rng(0))
    assert [bool(g.accepted[0]) for g in logs] == [False, False, False, True, True]
    assert [int(g.slashed[0, 2]) for g in logs] == [50, 25, 12, 0, 0]
    assert [int(g.members[0]) for g in logs] == [3, 3, 3, 2, 2]
    assert logs[2].loss[0] == logs[0].loss[0] and logs[4].loss[0] < logs[3].loss[0]


def test_a_round_of_64_members_gets_windows_long_enough_for_each_members_transaction():
    """MemoryLedger mines a block per message, as a devnet does: 64 reveals need more than the default 32 blocks."""
    swarm = Swarm(2, 62, HonestReport(1.0), Mimic(), seed=0)
    control = vista.params(GRID, MSE, eta_min=2.0, eta_max=8.0)
    proto = ProtocolConfig(delta=1.0, reward=10, stake=100, min_stake=20)
    assert proto.windows(64) == (66, 66) and proto.windows(3) == (32, 32)
    led = MemoryLedger(min_stake=proto.min_stake)
    members = node_addresses(64, 0)
    provision(led, members, proto, 3)
    logs = run(led, Quadratic(), swarm, control, proto, members=members, rounds=3, rng=np.random.default_rng(0))
    assert all(g.accepted.all() for g in logs) and all((g.paid == 10).all() for g in logs)
