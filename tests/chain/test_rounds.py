"""A round on the chain: its explicit phases, what it records for the estimator, and its outcome read back from
the event log."""
import numpy as np
import pytest

from coordinator import rules
from protocol import codec
from protocol.ledger import EXPIRY_BLOCKS, WindowError, aggregates
from tests.chain.conftest import MEMBERS, REWARD, STAKE, sealed, spec


def test_phases_follow_the_state_machine(ledger):
    d, members = ledger.deployment, MEMBERS
    start = d.chain.block_number + 1

    def all_committed() -> list[tuple[int, int]]:
        """(round, block) of each AllCommitted event since the test began: what a node waits for to reveal."""
        topics = [[d.coordinator.topic("AllCommitted")]]
        return [(int.from_bytes(e.topics[1], "big"), e.block)
                for e in d.chain.log_entries(d.coordinator.address, start, d.chain.block_number, topics)]

    assert d.phase(0) == "unopened"
    rid = ledger.open_round(spec(commit_blocks=6, reveal_blocks=6))
    assert d.phase(rid) == "commit"
    msgs = [sealed(rid, a, [0.0, 0.0]) for a in members]
    ledger.commit(rid, [c for c, _ in msgs[:3]])
    assert d.phase(rid) == "commit" and all_committed() == []
    ledger.commit(rid, [msgs[3][0]])
    assert d.phase(rid) == "reveal"  # everyone committed: the reveal window opens at once
    assert all_committed() == [(rid, d.chain.block_number)]  # once, with the last commit
    first = rid
    ledger.reveal(rid, [r for _, r in msgs])
    ledger.finalize(rid)
    assert d.phase(rid) == "accepted"

    rid = ledger.open_round(spec(commit_blocks=4, reveal_blocks=4))
    ledger.commit(rid, [sealed(rid, members[0], [0.0, 0.0])[0]])
    ledger.advance(3)
    assert d.phase(rid) == "reveal"  # the commit window lapsed
    ledger.advance(5)
    ledger.finalize(rid)  # one reveal short of the quorum
    assert d.phase(rid) == "rejected"
    assert [r for r, _ in all_committed()] == [first]  # a lapsed window opens the reveals without the event
    ledger.open_round(spec())
    assert (d.phase(0), d.phase(1)) == ("accepted", "rejected")  # settled rounds keep their outcome


def test_records_what_the_estimators_need_and_reads_it_back_from_events(ledger):
    members = MEMBERS
    values = np.array([[0.25, -1.0], [0.5, 2.0], [-0.75, 0.125], [0.0, 0.0]])
    rid = ledger.open_round(spec(tau=8.0))
    msgs = [sealed(rid, a, v) for a, v in zip(members, values)]
    ledger.commit(rid, [c for c, _ in msgs[:3]])  # the fourth never commits: slashed, but blocks nothing
    ledger.advance(40)
    ledger.reveal(rid, [r for _, r in msgs[:3]])
    out = ledger.finalize(rid)  # every committed member revealed and the commit window is over: no need to wait
    fx = codec.encode(values[None, :3], 16)
    total, count, lo, hi = aggregates(fx, np.ones((1, 3), dtype=bool))
    assert np.array_equal(out.total[:, :], total) and np.array_equal(out.lo, lo) and np.array_equal(out.hi, hi)
    assert out.count.tolist() == [3] and out.accepted.tolist() == [True]
    assert np.allclose(rules.estimate(out.total, out.count, out.lo, out.hi, "midrange", 16), [[-0.125, 0.5]])
    sq = ((fx[0, :, None] - fx[0, None, :]) ** 2).sum(axis=-1)
    assert out.max_sq.tolist() == [sq.max()]
    back = ledger.deployment.outcome(rid)
    assert back.accepted and back.count == 3 and back.members == tuple(members) and back.max_sq == sq.max()
    assert [codec.unpack(back.reports[a]).tolist() for a in members[:3]] == fx[0].tolist()
    # each reveal names the farthest earlier reveal and its squared distance: what a receipt explains
    assert back.farthest[members[2]] == (max(sq[2, 0], sq[2, 1]), members[int(np.argmax(sq[2, :2]))])
    assert back.paid == {a: REWARD for a in members[:3]} and back.slashed == {members[3]: STAKE // 2}


def test_a_round_nobody_settles_can_be_closed_by_anyone_paying_nothing(ledger):
    rid = ledger.open_round(spec(commit_blocks=4, reveal_blocks=4))
    msgs = [sealed(rid, a, [0.0, 0.0]) for a in MEMBERS]
    ledger.commit(rid, [c for c, _ in msgs])
    ledger.reveal(rid, [r for _, r in msgs])
    before = ledger.balances(MEMBERS)
    with pytest.raises(WindowError, match="round in flight"):
        ledger.withdraw(MEMBERS[0])
    ledger.advance(8 + EXPIRY_BLOCKS)
    outsider = ledger.account(ledger.nodes[4])
    ledger.deployment.expire(rid, sender=outsider)  # anyone: here a node that is not even registered
    assert ledger.deployment.phase(rid) == "rejected" and ledger.deployment.outcome(rid).expired
    after = ledger.balances(MEMBERS)
    assert after.tokens.tolist() == before.tokens.tolist() and after.stakes.tolist() == before.stakes.tolist()
    ledger.withdraw(MEMBERS[0])  # stakes are free again
    assert ledger.token_balance(MEMBERS[0]).tolist() == [2 * STAKE]


def test_another_client_attaches_to_the_deployed_contracts(ledger):
    from contracts import attach

    d = ledger.deployment
    other = attach(ledger.chain, d.owner, d.token.address, d.coordinator.address)
    assert other.accounts(MEMBERS) == d.accounts(MEMBERS) and other.registered(MEMBERS[0])


def test_a_ledger_that_did_not_open_a_round_settles_it_from_the_chain(ledger):
    """A second ChainLedger on the same deployment (a restarted data collector) finds the round in flight in the
    RoundOpened event and settles it, laid out over its members as the opener would have."""
    from contracts.chain_ledger import ChainLedger

    rid = ledger.open_round(spec())
    msgs = [sealed(rid, a, [0.1 * i, 0.0]) for i, a in enumerate(MEMBERS)]
    ledger.commit(rid, [c for c, _ in msgs])
    ledger.reveal(rid, [r for _, r in msgs])
    ledger._flush()
    other = ChainLedger(ledger.chain, deployment=ledger.deployment)
    assert ledger.deployment.preflight  # attaching leaves the shared client's dry runs as they were
    out = other.finalize(rid)
    assert out.accepted.tolist() == [True] and out.revealed.tolist() == [[True] * 4]
    assert out.paid.tolist() == [[REWARD] * 4] and out.count.tolist() == [4]
