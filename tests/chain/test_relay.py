"""The relayer path: nodes sign commitments off-chain and the DC submits them in one transaction; reveals are
checked at once by a dry run and travel with the finalizing transaction."""
import pytest

from contracts.chain import TX_GAS_CAP
from protocol.ledger import CommitmentMismatch, DuplicateMessage, NotParticipant, WindowError
from tests.chain.conftest import MEMBERS, OUTSIDER, REWARD, STAKE, sealed, spec


@pytest.fixture
def relay(ledger):
    ledger.mode = "relay"
    return ledger


def test_one_transaction_commits_all_and_one_reveals_and_finalizes(relay):
    members = MEMBERS
    start = relay.chain.block_number
    rid = relay.open_round(spec())
    msgs = [sealed(rid, a, [0.1 * i, 0.0]) for i, a in enumerate(members)]
    relay.commit(rid, [c for c, _ in msgs])
    relay.reveal(rid, [r for _, r in msgs])
    out = relay.finalize(rid)
    assert relay.chain.block_number - start == 3  # open, commit_signed, reveal_and_finalize
    assert out.accepted.tolist() == [True] and out.paid.tolist() == [[REWARD] * 4]
    assert set(out.gas) == {"open", "commit", "reveal+finalize"}


def test_a_bad_reveal_raises_from_reveal_and_sends_nothing(relay):
    members = MEMBERS
    rid = relay.open_round(spec())
    msgs = [sealed(rid, a, [0.0, 0.0]) for a in members]
    relay.commit(rid, [c for c, _ in msgs])
    block = relay.chain.block_number
    forged = sealed(rid, members[1], [0.5, 0.0])[1]  # not what members[1] committed to
    with pytest.raises(CommitmentMismatch, match="commitment mismatch"):
        relay.reveal(rid, [msgs[0][1], forged])
    assert relay.chain.block_number == block
    relay.reveal(rid, [r for _, r in msgs])  # the refused batch left nothing behind: all four can reveal
    assert relay.finalize(rid).count.tolist() == [4]


def test_a_relayer_cannot_alter_forge_or_replay_a_signed_commitment(relay):
    d = relay.deployment
    a, outsider = relay.account(MEMBERS[0]), relay.account(OUTSIDER)
    rid = relay.open_round(spec())
    mine, other = sealed(rid, a.address, [0.0, 0.0])[0].digest[0], sealed(rid, a.address, [1.0, 0.0])[0].digest[0]
    signature = d.sign_commit(a, rid, mine)
    with pytest.raises(NotParticipant):  # altered: the signature recovers to some unrelated address
        d.commit_signed(rid, [(other, signature)])
    with pytest.raises(NotParticipant):  # signed by a node that is not a participant
        d.commit_signed(rid, [(mine, d.sign_commit(outsider, rid, mine))])
    d.commit_signed(rid, [(mine, signature)])
    d.commit_signed(rid, [(mine, signature)])  # relayed again: skipped, the first stands
    with pytest.raises(DuplicateMessage, match="already committed"):  # the node's own second commit
        d.commit(rid, [(a, other)])
    relay.advance(100)
    relay.finalize(rid)
    nxt = relay.open_round(spec())
    with pytest.raises(NotParticipant):  # replayed into the next round: the round is part of what was signed
        d.commit_signed(nxt, [(mine, signature)])


def test_deferred_reveals_are_sent_before_blocks_pass(relay):
    members = MEMBERS
    rid = relay.open_round(spec(commit_blocks=4, reveal_blocks=4))
    msgs = [sealed(rid, a, [0.0, 0.0]) for a in members]
    relay.commit(rid, [c for c, _ in msgs])
    relay.reveal(rid, [r for _, r in msgs[:3]])
    relay.advance(10)  # past the reveal window: the three reveals must already be on-chain
    out = relay.finalize(rid)
    assert out.revealed.tolist() == [[True, True, True, False]]
    # the fourth withheld its committed report: the round is rejected and the withholder slashed
    assert out.accepted.tolist() == [False]
    assert out.paid.tolist() == [[0, 0, 0, 0]] and out.slashed.tolist() == [[0, 0, 0, STAKE // 2]]


def test_reveals_stand_when_finalizing_is_refused(relay):
    members = MEMBERS
    rid = relay.open_round(spec())
    msgs = [sealed(rid, a, [0.0, 0.0]) for a in members]
    relay.commit(rid, [c for c, _ in msgs])
    relay.reveal(rid, [r for _, r in msgs[:3]])
    with pytest.raises(WindowError, match="too early to finalize"):
        relay.finalize(rid)
    relay.reveal(rid, [msgs[0][1], msgs[3][1]])  # the one already revealed is skipped
    assert relay.finalize(rid).count.tolist() == [4]


def test_a_node_front_running_the_relayer_does_not_sink_the_batch(relay):
    """Item 5 of the hardening issue: each relayed batch skips entries their node already sent itself."""
    rid = relay.open_round(spec())
    msgs = [sealed(rid, a, [0.0, 0.0]) for a in MEMBERS]
    d, first = relay.deployment, relay.account(MEMBERS[0])
    d.commit(rid, [(first, msgs[0][0].digest[0])])  # the node commits on its own first
    relay.commit(rid, [c for c, _ in msgs])  # the relayer's batch still lands
    d.reveal(rid, [(first, bytes(msgs[0][1].report_fx[0].astype(">i4")), msgs[0][1].salt[0])], members=4)
    relay.reveal(rid, [r for _, r in msgs])  # and so does its batch of reveals
    out = relay.finalize(rid)
    assert out.accepted.tolist() == [True] and out.count.tolist() == [4]
    assert out.paid.tolist() == [[REWARD] * 4]


def test_relayed_reveals_beyond_one_transaction_are_split_under_the_cap(relay):
    """Reveals that do not fit one transaction travel in several, each under the per-transaction cap."""
    d = relay.deployment
    rid = relay.open_round(spec(dim=256, tau=1000.0))
    msgs = [sealed(rid, a, [float(i)] * 256) for i, a in enumerate(MEMBERS)]
    relay.commit(rid, [c for c, _ in msgs])
    relay.reveal(rid, [r for _, r in msgs])
    d.gas_cap, cap = 2_500_000, d.gas_cap  # as if the cap were this low: no two of these reveals fit together
    try:
        start = relay.chain.block_number
        out = relay.finalize(rid)
    finally:
        d.gas_cap = cap
    assert relay.chain.block_number - start >= 3 and out.accepted.tolist() == [True] and out.count.tolist() == [4]
    assert d.last_gas < 4 * 2_500_000 <= TX_GAS_CAP
