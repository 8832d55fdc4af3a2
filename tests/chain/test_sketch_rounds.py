"""Sketched rounds (a model larger than a report) on the chain and on MemoryLedger side by side: the honest path,
a sketch that lies, a full report never delivered, a data collector that never confirms, one that never reveals
its seed. Every step must give both ledgers the same answer, and the outcome what docs/protocol.md says."""
import numpy as np
import pytest

from protocol import codec, sketch
from protocol.commitment import digest_commitment, keccak, report_digests
from protocol.ledger import CONFIRM_BLOCKS, Commit, Reveal, RoundSpec
from tests.chain.conftest import MEMBERS, POOL, REWARD, STAKE

D, K = 603, 16  # full reports of 603 values (three 256-column blocks, the last word partial), 16-value sketches
SEED = bytes.fromhex("5eed" * 16)
TAU = 1.0



def sketched_spec(full_dim=D, **kw) -> RoundSpec:
    return RoundSpec(tau_fx=codec.encode(np.array([TAU]), 16), dim=K, scale_bits=16, params_digest=[bytes(32)],
                     reward=REWARD, members=list(MEMBERS), full_dim=full_dim, seed_hash=[keccak(SEED)], **kw)


def full_reports(rng, spread=0.01, d=D):
    """Four full reports close to one another (an honest round): fixed point [4, d]."""
    base = rng.normal(size=d) * 0.05
    return codec.encode(base + spread * rng.normal(size=(4, d)) / np.sqrt(d), 16)


def messages(rid, fulls, sketches, salt=b"\x07" * 32):
    commits = [Commit(a, [digest_commitment(rid, a, d, salt)]) for a, d in zip(MEMBERS, report_digests(fulls))]
    reveals = [Reveal(a, z[None], [salt], [d]) for a, z, d in zip(MEMBERS, sketches, report_digests(fulls))]
    return commits, reveals


def open_and_commit(do, fulls, **kw):
    rid, _ = do(lambda led: led.open_round(sketched_spec(full_dim=fulls.shape[1], **kw)))
    commits, _ = messages(rid, fulls, np.zeros((4, K), dtype=np.int64))
    do(lambda led: led.commit(rid, commits))
    return rid


def settle_honestly(do, seed):
    """Four close full reports, committed, the seed revealed, every sketch revealed, settled: (round, fulls)."""
    fulls = full_reports(np.random.default_rng(seed))
    rid = open_and_commit(do, fulls)
    do(lambda led: led.reveal_seed(rid, [SEED]))
    _, reveals = messages(rid, fulls, sketch.sketch(fulls, SEED, K))
    do(lambda led: led.reveal(rid, reveals))
    do(lambda led: led.finalize(rid))
    return rid, fulls


def test_the_honest_path_checks_sketches_and_pays_on_confirmation(both):
    do, chain, memory = both
    fulls = full_reports(np.random.default_rng(0))
    rid = open_and_commit(do, fulls)
    z = sketch.sketch(fulls, SEED, K)
    _, reveals = messages(rid, fulls, z)
    assert do(lambda led: led.reveal(rid, reveals[:1])) == ["seed not revealed"] * 2  # the projection is unknown
    do(lambda led: led.reveal_seed(rid, [SEED]))
    do(lambda led: led.reveal(rid, reveals))
    outs = do(lambda led: led.finalize(rid))
    sq = ((z[:, None] - z[None]) ** 2).sum(axis=-1).max()
    for out in outs:
        assert out.accepted.tolist() == [True] and out.confirming.tolist() == [True]
        assert out.paid.sum() == 0 and out.max_sq.tolist() == [sq] and sq <= K * (2**16) ** 2  # k tau_fx^2
        assert list(out.digests[0]) == report_digests(fulls)
    assert do(lambda led: led.open_round(sketched_spec())) == ["round in flight"] * 2  # awaiting confirmation
    # the DC fetched the four full reports, checked each against its digest and its sketch: it pays them all
    assert (sketch.sketch(fulls, SEED, K) == z).all()
    paid = do(lambda led: led.confirm(rid, np.ones((1, 4), dtype=bool)))
    assert [p.tolist() for p in paid] == [[[REWARD] * 4]] * 2
    assert chain.deployment.phase(rid) == "accepted" and chain.deployment.outcome(rid).confirmed == 0b1111
    pools = [led.balances(MEMBERS).pool.tolist() for led in (memory, chain)]
    assert pools == [[POOL - 4 * REWARD]] * 2  # the rewards left the pool (and only once)
    assert do(lambda led: led.confirm(rid, np.ones((1, 4), dtype=bool))) == ["not confirming"] * 2


@pytest.mark.parametrize("d", [D, 515], ids=["tail-inside-a-block", "tail-opens-a-block"])
def test_a_sketch_that_lies_is_proven_wrong_on_chain_and_never_paid(both, d):
    """D reveals the sketch of another report (one near the honest ones): it passes the check, but its full report,
    which its digest binds, says otherwise; the DC proves one row on chain and pays only the honest three. At
    d = 515 the report's last values (512..514) open a new 256-column block of signs inside the proof's tail."""
    do, chain, memory = both
    rng = np.random.default_rng(1)
    fulls = full_reports(rng, d=d)
    rid = open_and_commit(do, fulls)
    do(lambda led: led.reveal_seed(rid, [SEED]))
    z = sketch.sketch(fulls, SEED, K)
    lie = z.copy()
    lie[3] = sketch.sketch(fulls[:1] + 3, SEED, K)[0]  # a plausible sketch, not of D's committed full report
    _, reveals = messages(rid, fulls, lie)
    do(lambda led: led.reveal(rid, reveals))
    outs = do(lambda led: led.finalize(rid))
    assert [o.accepted.tolist() for o in outs] == [[True], [True]]  # the lie passed the check
    row = int(np.flatnonzero(lie[3] != z[3])[0])
    dc = chain.deployment.owner.address  # the data collector proves
    for honest_row in range(K):  # every row recomputed right, the tail's block of signs included
        assert do(lambda led: led.prove_mismatch(rid, MEMBERS[0], fulls[:1], honest_row, dc)) == ["no mismatch"] * 2
    assert do(lambda led: led.prove_mismatch(rid, MEMBERS[3], fulls[:1], row, dc)) == \
        ["commitment mismatch"] * 2  # not the full report D's digest names
    before = chain.token_balance(dc)[0]
    assert do(lambda led: led.prove_mismatch(rid, MEMBERS[3], fulls[3:], row, dc)) == [None, None]
    assert chain.token_balance(dc)[0] - before == memory.token_balance(dc)[0] == STAKE // 2  # the liar's slash
    paid = do(lambda led: led.confirm(rid, np.ones((1, 4), dtype=bool)))  # even if the DC confirmed D, it is not paid
    assert [p.tolist() for p in paid] == [[[REWARD] * 3 + [0]]] * 2
    assert chain.balances([MEMBERS[3]]).stakes.tolist() == memory.balances([MEMBERS[3]]).stakes.tolist() == \
        [[STAKE // 2]]
    assert chain.deployment.outcome(rid).disproved == {MEMBERS[3]: STAKE // 2}


def test_a_full_report_never_delivered_is_not_paid(both):
    do, *_ = both
    rid, _ = settle_honestly(do, 2)
    delivered = np.array([[True, True, False, True]])  # C never put its full report in the store
    paid = do(lambda led: led.confirm(rid, delivered))
    assert [p.tolist() for p in paid] == [[[REWARD, REWARD, 0, REWARD]]] * 2


def test_a_dc_that_never_confirms_cannot_keep_the_rewards(both):
    do, chain, _ = both
    rid, _ = settle_honestly(do, 3)
    assert do(lambda led: led.release(rid)) == ["too early to release"] * 2
    do(lambda led: led.advance(CONFIRM_BLOCKS))
    assert do(lambda led: led.confirm(rid, np.ones((1, 4), dtype=bool))) == ["confirm window closed"] * 2
    paid = do(lambda led: led.release(rid))
    assert [p.tolist() for p in paid] == [[[REWARD] * 4]] * 2
    assert chain.deployment.outcome(rid).confirmed == 0b1111


def test_a_dc_that_never_reveals_its_seed_slashes_nobody_who_committed(both):
    do, chain, memory = both
    fulls = full_reports(np.random.default_rng(4))
    rid, _ = do(lambda led: led.open_round(sketched_spec(commit_blocks=4, reveal_blocks=4)))
    commits, _ = messages(rid, fulls, np.zeros((4, K), dtype=np.int64))
    do(lambda led: led.commit(rid, commits[:3]))  # D never commits
    do(lambda led: led.advance(10))
    outs = do(lambda led: led.finalize(rid))
    for out in outs:
        assert out.accepted.tolist() == [False] and out.slashed.tolist() == [[0, 0, 0, STAKE // 2]]


def test_sketch_parameters_are_refused_as_the_contract_refuses_them(both):
    do, *_ = both
    no_seed = RoundSpec(tau_fx=codec.encode(np.array([TAU]), 16), dim=K, scale_bits=16, params_digest=[bytes(32)],
                        reward=REWARD, members=list(MEMBERS), full_dim=D)
    assert do(lambda led: led.open_round(no_seed)) == ["bad seed"] * 2
    classic = RoundSpec(tau_fx=codec.encode(np.array([TAU]), 16), dim=K, scale_bits=16, params_digest=[bytes(32)],
                        reward=REWARD, members=list(MEMBERS))
    rid, _ = do(lambda led: led.open_round(classic))
    do(lambda led: led.advance(40))
    assert do(lambda led: led.reveal_seed(rid, [SEED])) == ["not sketched"] * 2
    do(lambda led: led.finalize(rid))
    fulls = full_reports(np.random.default_rng(5))
    rid = open_and_commit(do, fulls)
    assert do(lambda led: led.reveal_seed(rid, [bytes(32)])) == ["seed mismatch"] * 2
    assert do(lambda led: led.confirm(rid, np.zeros((1, 4), dtype=bool))) == ["not confirming"] * 2


def test_the_sketched_verbs_refuse_their_misuses_with_the_contracts_reasons(both):
    """D never commits (silent: the other three decide). A seed revealed twice, a sketch without its digest, a proof
    of a row beyond the sketch and a confirmation of D: each refused with the same reason on both ledgers."""
    do, chain, _ = both
    fulls = full_reports(np.random.default_rng(6))
    rid, _ = do(lambda led: led.open_round(sketched_spec()))
    z = sketch.sketch(fulls, SEED, K)
    commits, reveals = messages(rid, fulls, z)
    do(lambda led: led.commit(rid, commits[:3]))
    do(lambda led: led.advance(40))  # past the commit window D holds open
    do(lambda led: led.reveal_seed(rid, [SEED]))
    assert do(lambda led: led.reveal_seed(rid, [SEED])) == ["already revealed"] * 2
    bare = Reveal(reveals[0].sender, reveals[0].report_fx, reveals[0].salt)  # no digest
    assert do(lambda led: led.reveal(rid, [bare])) == ["bad report length"] * 2
    do(lambda led: led.reveal(rid, reveals[:3]))
    outs = do(lambda led: led.finalize(rid))
    assert [o.confirming.tolist() for o in outs] == [[True]] * 2
    dc = chain.deployment.owner.address
    assert do(lambda led: led.prove_mismatch(rid, MEMBERS[0], fulls[:1], K, dc)) == ["bad report length"] * 2
    assert do(lambda led: led.confirm(rid, np.ones((1, 4), dtype=bool))) == ["not participant"] * 2
    paid = do(lambda led: led.confirm(rid, np.array([[True, True, True, False]])))
    assert [p.tolist() for p in paid] == [[[REWARD] * 3 + [0]]] * 2
