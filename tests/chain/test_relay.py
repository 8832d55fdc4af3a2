"""The relayer path: nodes sign commitments off-chain and the DC submits them in one transaction; reveals are
checked at once by a dry run and travel with the finalizing transaction."""
import pytest

from protocol.ledger import CommitmentMismatch, DuplicateMessage, NotParticipant, WindowError
from tests.chain.conftest import REWARD, STAKE, sealed, spec


@pytest.fixture
def relay(ledger):
    ledger.mode = "relay"
    return ledger


def test_one_transaction_commits_all_and_one_reveals_and_finalizes(relay):
    members = relay.nodes[:4]
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
    members = relay.nodes[:4]
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
    a, outsider = relay.account(relay.nodes[0]), relay.account(relay.nodes[4])
    rid = relay.open_round(spec())
    mine, other = sealed(rid, a.address, [0.0, 0.0])[0].digest[0], sealed(rid, a.address, [1.0, 0.0])[0].digest[0]
    signature = d.sign_commit(a, rid, mine)
    with pytest.raises(NotParticipant):  # altered: the signature recovers to some unrelated address
        d.commit_signed(rid, [(other, signature)])
    with pytest.raises(NotParticipant):  # signed by a node that is not a participant
        d.commit_signed(rid, [(mine, d.sign_commit(outsider, rid, mine))])
    d.commit_signed(rid, [(mine, signature)])
    with pytest.raises(DuplicateMessage, match="already committed"):
        d.commit_signed(rid, [(mine, signature)])
    relay.advance(100)
    relay.finalize(rid)
    nxt = relay.open_round(spec())
    with pytest.raises(NotParticipant):  # replayed into the next round: the round is part of what was signed
        d.commit_signed(nxt, [(mine, signature)])


def test_deferred_reveals_are_sent_before_blocks_pass(relay):
    members = relay.nodes[:4]
    rid = relay.open_round(spec(commit_blocks=4, reveal_blocks=4))
    msgs = [sealed(rid, a, [0.0, 0.0]) for a in members]
    relay.commit(rid, [c for c, _ in msgs])
    relay.reveal(rid, [r for _, r in msgs[:3]])
    relay.advance(10)  # past the reveal window: the three reveals must already be on-chain
    out = relay.finalize(rid)
    assert out.revealed.tolist() == [[True, True, True, False]]
    assert out.paid.tolist() == [[REWARD, REWARD, REWARD, 0]] and out.slashed.tolist() == [[0, 0, 0, STAKE // 2]]


def test_reveals_stand_when_finalizing_is_refused(relay):
    members = relay.nodes[:4]
    rid = relay.open_round(spec())
    msgs = [sealed(rid, a, [0.0, 0.0]) for a in members]
    relay.commit(rid, [c for c, _ in msgs])
    relay.reveal(rid, [r for _, r in msgs[:3]])
    with pytest.raises(WindowError, match="too early to finalize"):
        relay.finalize(rid)
    with pytest.raises(DuplicateMessage, match="already revealed"):
        relay.reveal(rid, [msgs[0][1]])
    relay.reveal(rid, [msgs[3][1]])
    assert relay.finalize(rid).count.tolist() == [4]
