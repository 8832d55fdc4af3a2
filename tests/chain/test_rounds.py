"""A round on the chain: its explicit phases, what it records for the estimator, and its outcome read back from
the event log."""
import numpy as np

from coordinator import rules
from protocol import codec
from tests.chain.conftest import REWARD, STAKE, sealed, spec


def test_phases_follow_the_state_machine(ledger):
    d, members = ledger.deployment, ledger.nodes[:4]
    assert d.phase(0) == "unopened"
    rid = ledger.open_round(spec(commit_blocks=6, reveal_blocks=6))
    assert d.phase(rid) == "commit"
    msgs = [sealed(rid, a, [0.0, 0.0]) for a in members]
    ledger.commit(rid, [c for c, _ in msgs[:3]])
    assert d.phase(rid) == "commit"
    ledger.commit(rid, [msgs[3][0]])
    assert d.phase(rid) == "reveal"  # everyone committed: the reveal window opens at once
    ledger.reveal(rid, [r for _, r in msgs])
    ledger.finalize(rid)
    assert d.phase(rid) == "accepted"

    rid = ledger.open_round(spec(commit_blocks=3, reveal_blocks=3))
    ledger.commit(rid, [sealed(rid, members[0], [0.0, 0.0])[0]])
    ledger.advance(3)
    assert d.phase(rid) == "reveal"  # the commit window lapsed
    ledger.advance(4)
    ledger.finalize(rid)  # one reveal short of the quorum
    assert d.phase(rid) == "rejected"
    ledger.open_round(spec())
    assert (d.phase(0), d.phase(1)) == ("accepted", "rejected")  # settled rounds keep their outcome


def test_records_what_the_estimators_need_and_reads_it_back_from_events(ledger):
    members = ledger.nodes[:4]
    values = np.array([[0.25, -1.0], [0.5, 2.0], [-0.75, 0.125], [0.0, 0.0]])
    rid = ledger.open_round(spec(tau=8.0))
    msgs = [sealed(rid, a, v) for a, v in zip(members, values)]
    ledger.commit(rid, [c for c, _ in msgs])
    ledger.advance(40)
    ledger.reveal(rid, [r for _, r in msgs[:3]])  # the fourth committed and stays silent: slashed
    ledger.advance(40)
    out = ledger.finalize(rid)
    fx = codec.encode(values[None, :3], 16)
    total, count, lo, hi = rules.aggregates(fx, np.ones((1, 3), dtype=bool))
    assert np.array_equal(out.total, total) and np.array_equal(out.lo, lo) and np.array_equal(out.hi, hi)
    assert out.count.tolist() == [3] and out.accepted.tolist() == [True]
    assert np.allclose(rules.estimate(out.total, out.count, out.lo, out.hi, "midrange", 16), [[-0.125, 0.5]])
    back = ledger.deployment.outcome(rid)
    assert back.accepted and back.count == 3 and back.total == tuple(total[0]) and back.lo == tuple(lo[0])
    assert back.paid == {a: REWARD for a in members[:3]} and back.slashed == {members[3]: STAKE // 2}


def test_another_client_attaches_to_the_deployed_contracts(ledger):
    from contracts import attach

    d = ledger.deployment
    other = attach(ledger.chain, d.owner, d.token.address, d.coordinator.address)
    assert other.accounts() == d.accounts() and other.participants() == ledger.participants
