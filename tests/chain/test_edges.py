"""The edges a planted bug hides behind: reports exactly on tau, the one pair that fails being the last one
checked, and every window's last block. Each case runs on the chain and on MemoryLedger side by side (the
memory ledger is told the block the chain's next transaction lands in), and both must agree with the rule."""
import numpy as np
import pytest

from contracts.chain_ledger import ChainLedger
from coordinator.memory_ledger import MemoryLedger
from protocol import codec
from protocol.ledger import EXPIRY_BLOCKS, MAX_DIM, LedgerError, RoundSpec
from tests.chain.conftest import MEMBERS, MIN_STAKE, REWARD, STAKE, sealed, spec

UNIT = 2.0**-16  # one fixed-point step at scale 16



def play(do, values, tau=1.0, order=None):
    """A round where every member reveals `values[i]` (in `order`); its outcomes on both ledgers."""
    rid, _ = do(lambda led: led.open_round(spec(tau=tau, dim=len(values[0]))))
    msgs = [sealed(rid, a, v) for a, v in zip(MEMBERS, values)]
    do(lambda led: led.commit(rid, [c for c, _ in msgs]))
    for i in order or range(len(MEMBERS)):  # one reveal at a time, so each is checked against the earlier ones
        do(lambda led: led.reveal(rid, [msgs[i][1]]))
    return do(lambda led: led.finalize(rid))


def test_a_pair_exactly_on_tau_is_accepted_and_one_unit_beyond_is_not(both):
    do, *_ = both
    on = play(do, [[0.0, 0.0], [1.0, 0.0], [0.5, 0.0], [0.25, 0.0]])  # ||A - B|| = tau exactly
    assert [bool(o.accepted[0]) for o in on] == [True, True]
    assert [int(o.max_sq[0]) for o in on] == [2**32] * 2  # (1.0 * 2^16)^2 = tau_fx^2
    beyond = play(do, [[0.0, 0.0], [1.0 + UNIT, 0.0], [0.5, 0.0], [0.25, 0.0]])
    assert [bool(o.accepted[0]) for o in beyond] == [False, False]
    # on tau along a diagonal: a 3-4-5 triangle, (3/16, 4/16) from the origin with tau = 5/16, exact in fixed point
    edge = play(do, [[0.0, 0.0], [3 / 16, 4 / 16], [0.0, 0.0], [0.0, 0.0]], tau=5 / 16)
    assert [bool(o.accepted[0]) for o in edge] == [True, True]
    past = play(do, [[0.0, 0.0], [3 / 16, 4 / 16 + UNIT], [0.0, 0.0], [0.0, 0.0]], tau=5 / 16)
    assert [bool(o.accepted[0]) for o in past] == [False, False]


def test_the_largest_report_is_taken_whole_and_compared_to_its_last_value(both):
    """MAX_DIM values, 32 full words: B differs from the others in the first and the very last value, on tau."""
    do, *_ = both
    values = np.zeros((4, MAX_DIM))
    values[1, 0], values[1, -1] = 3 / 16, 4 / 16  # a 3-4-5 triangle with tau = 5/16, exact in fixed point
    out = play(do, values, tau=5 / 16)
    assert [bool(o.accepted[0]) for o in out] == [True, True]
    assert [int(o.max_sq[0]) for o in out] == [(5 * 2**12) ** 2] * 2


@pytest.mark.parametrize("order", [(0, 1, 2, 3), (3, 2, 1, 0), (2, 3, 0, 1)], ids=["last", "first", "middle"])
def test_the_only_failing_pair_is_found_wherever_it_comes_in_the_reveals(both, order):
    """C and D are 1.2 apart (tau = 1); every other pair is within 0.6. With the reveals in registration order the
    failing pair is the very last one compared."""
    do, *_ = both
    out = play(do, [[0.0, 0.0], [0.0, 0.0], [0.6, 0.0], [-0.6, 0.0]], order=list(order))
    assert [bool(o.accepted[0]) for o in out] == [False, False]
    c, d = codec.encode(np.array([0.6, -0.6]), 16)
    assert out[0].max_sq.tolist() == out[1].max_sq.tolist() == [int(c - d) ** 2]


def test_every_window_admits_its_last_block_and_refuses_the_next(both):
    do, chain, _ = both
    # commit: the deadline block itself is inside the window
    rid, _ = do(lambda led: led.open_round(spec(commit_blocks=8, reveal_blocks=8)))
    opened = chain.chain.block_number
    msgs = [sealed(rid, a, [0.0, 0.0]) for a in MEMBERS]
    do(lambda led: led.commit(rid, [msgs[0][0]]))
    do(lambda led: led.advance(opened + 8 - chain.chain.block_number - 1))  # the next tx lands at the deadline
    assert do(lambda led: led.commit(rid, [msgs[1][0]])) == [None, None]
    assert do(lambda led: led.commit(rid, [msgs[2][0]])) == ["commit window closed"] * 2
    # reveal: opens the block after the commit deadline, closes after the reveal deadline's block
    do(lambda led: led.reveal(rid, [msgs[0][1]]))
    do(lambda led: led.advance(opened + 16 - chain.chain.block_number - 1))  # next tx lands at the reveal deadline
    assert do(lambda led: led.finalize(rid)) == ["too early to finalize"] * 2  # B committed but has not revealed
    assert do(lambda led: led.reveal(rid, [msgs[1][1]])) == [None, None]
    # every committed member has revealed: settling may come at once, before the window is out
    outs = do(lambda led: led.finalize(rid))
    assert [o.accepted.tolist() for o in outs] == [[True], [True]]


def test_settling_waits_for_the_reveal_deadline_while_a_committed_report_is_missing(both):
    do, chain, _ = both
    rid, _ = do(lambda led: led.open_round(spec(commit_blocks=4, reveal_blocks=4)))
    opened = chain.chain.block_number
    msgs = [sealed(rid, a, [0.0, 0.0]) for a in MEMBERS]
    do(lambda led: led.commit(rid, [c for c, _ in msgs]))
    do(lambda led: led.reveal(rid, [r for _, r in msgs[:3]]))
    do(lambda led: led.advance(opened + 8 - chain.chain.block_number - 1))  # next tx at the reveal deadline
    assert do(lambda led: led.finalize(rid)) == ["too early to finalize"] * 2
    assert do(lambda led: led.reveal(rid, [msgs[3][1]])) == [None, None]  # still in time
    outs = do(lambda led: led.finalize(rid))
    assert [o.accepted.tolist() for o in outs] == [[True], [True]]


def test_expiry_opens_exactly_after_its_grace(both):
    do, chain, _ = both
    rid, _ = do(lambda led: led.open_round(spec(commit_blocks=4, reveal_blocks=4)))
    opened = chain.chain.block_number
    do(lambda led: led.advance(opened + 8 + EXPIRY_BLOCKS - chain.chain.block_number - 1))
    assert do(lambda led: led.expire(rid)) == ["too early to expire"] * 2  # lands at deadline + grace
    do(lambda led: led.advance(1))
    assert do(lambda led: led.expire(rid)) == [None, None]  # one block later
    assert do(lambda led: led.finalize(rid)) == ["already finalized"] * 2
    assert chain.deployment.outcome(rid).expired and chain.balances(MEMBERS).stakes.tolist() == [[STAKE] * 4]


def test_a_pool_holding_exactly_one_reward_opens_a_round_of_one_member():
    """Two candidates, one of them registered: the round has one member, and a pool of exactly one reward pays it
    (the contract divides the pool by the members, at least one)."""
    chain = ChainLedger("revm", nodes=2, seed=5, min_stake=MIN_STAKE)
    memory = MemoryLedger(min_stake=MIN_STAKE)
    for led in (chain, memory):
        led.fund(REWARD)
        led.grant(chain.nodes[0], STAKE)
        led.register(chain.nodes[:1], STAKE)
        assert led.open_round(spec(members=chain.nodes)) == 0
    for led in (ChainLedger("revm", nodes=2, seed=5, min_stake=MIN_STAKE), MemoryLedger(min_stake=MIN_STAKE)):
        with pytest.raises(LedgerError, match="pool too small"):  # no member and no pool: refused alike
            led.open_round(spec(members=chain.nodes))


@pytest.mark.parametrize("tau_fx", [-1, 2**31], ids=["negative", "past-int32"])
def test_a_threshold_outside_int32_is_refused_alike(both, tau_fx):
    do, *_ = both
    bad = spec()
    bad = RoundSpec(**{**bad.__dict__, "tau_fx": np.array([tau_fx])})
    assert do(lambda led: led.open_round(bad)) == ["value out of range"] * 2
