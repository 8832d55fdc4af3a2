"""MemoryLedger applies the protocol's rules: each refusal is typed, names its reason and records nothing."""
import numpy as np
import pytest

from coordinator import rules
from coordinator.memory_ledger import MemoryLedger
from protocol import codec
from protocol.commitment import commitments
from protocol.ledger import (BadParameter, CommitmentMismatch, DuplicateMessage, InsufficientFunds, NotParticipant,
                             LedgerError, OutOfRange, Commit, Reveal, RoundSpec, WindowError)

A, B, C, OUTSIDER = ("0x" + f"{i:02x}" * 20 for i in range(1, 5))
REWARD, STAKE, MIN_STAKE = 100, 1_000, 200


def make_ledger(nodes=(A, B, C), batch=1):
    led = MemoryLedger(batch=batch, min_stake=MIN_STAKE)
    led.fund(REWARD * 100)
    for n in nodes:
        led.grant(n, STAKE)
    led.register(list(nodes), STAKE)
    return led


def spec(tau=1.0, dim=2, batch=1, members=(A, B, C), **kw):
    return RoundSpec(tau_fx=codec.encode(np.full(batch, tau), 16), dim=dim, scale_bits=16,
                     params_digest=[bytes(32)] * batch, reward=REWARD, members=list(members), **kw)


def sealed(round_id, sender, values, salt=b"\x07" * 32):
    fx = codec.encode(np.atleast_2d(values), 16)
    return Commit(sender, commitments(round_id, sender, fx, [salt] * len(fx))), Reveal(sender, fx, [salt] * len(fx))


def play(led, reports, tau=1.0):
    rid = led.open_round(spec(tau, members=list(reports)))
    msgs = [sealed(rid, n, v) for n, v in reports.items()]
    led.commit(rid, [c for c, _ in msgs])
    led.reveal(rid, [r for _, r in msgs])
    return rid, led.finalize(rid)


def test_accepted_round_pays_every_revealer_from_the_pool():
    led = make_ledger()
    _, out = play(led, {A: [0.0, 0.0], B: [0.5, 0.0], C: [0.0, 0.5]})
    assert out.accepted.tolist() == [True]
    assert out.paid.tolist() == [[REWARD] * 3]
    bal = led.balances([A, B, C])
    assert bal.tokens.tolist() == [[REWARD] * 3]
    assert bal.pool.tolist() == [REWARD * 100 - 3 * REWARD]
    assert out.count.tolist() == [3]
    assert codec.decode(out.total, 16).tolist() == [[0.5, 0.5]]


def test_one_pair_outside_tau_rejects_and_pays_nothing():
    led = make_ledger()
    before = led.balances([A, B, C])
    _, out = play(led, {A: [0.0, 0.0], B: [0.5, 0.0], C: [-0.6, 0.0]})  # |B - C| = 1.1 > 1
    assert out.accepted.tolist() == [False]
    assert out.paid.sum() == 0
    after = led.balances([A, B, C])
    assert after.tokens.tolist() == before.tokens.tolist() and after.pool.tolist() == before.pool.tolist()


def test_boundary_is_inclusive_in_integers():
    led = make_ledger((A, B))
    _, out = play(led, {A: [0.0, 0.0], B: [1.0, 0.0]})  # distance exactly tau = 1.0
    assert out.accepted.tolist() == [True]
    _, out = play(led, {A: [0.0, 0.0], B: [1.0 + 2.0**-16, 0.0]})  # one fixed-point unit beyond
    assert out.accepted.tolist() == [False]


def test_bad_commitment_is_refused_and_nothing_recorded():
    led = make_ledger()
    rid = led.open_round(spec())
    c_a, r_a = sealed(rid, A, [0.0, 0.0])
    c_b, _ = sealed(rid, B, [0.1, 0.0])
    led.commit(rid, [c_a, c_b])
    led.advance(40)  # C never commits: wait out the commit window
    _, r_b_wrong = sealed(rid, B, [0.2, 0.0])
    with pytest.raises(CommitmentMismatch, match="commitment mismatch"):
        led.reveal(rid, [r_a, r_b_wrong])
    # the batch was atomic: A's valid reveal was not recorded either, so A can still reveal
    led.reveal(rid, [r_a])


def test_reveal_bound_to_round_and_sender():
    led = make_ledger()
    rid = led.open_round(spec())
    c_a, r_a = sealed(rid, A, [0.0, 0.0])
    led.commit(rid, [c_a])
    stolen = Reveal(B, r_a.report_fx, r_a.salt)  # B copies A's revealed report
    c_b = Commit(B, c_a.digest)  # and A's commitment
    led.commit(rid, [c_b])
    led.advance(40)
    with pytest.raises(CommitmentMismatch):
        led.reveal(rid, [stolen])


def test_out_of_range_value_refused():
    led = make_ledger()
    rid = led.open_round(spec())
    fx = np.array([[2**31, 0]])
    salt = [b"\x01" * 32]
    led.commit(rid, [Commit(A, [bytes(32)])])
    led.advance(40)
    with pytest.raises(OutOfRange, match="value out of range"):
        led.reveal(rid, [Reveal(A, fx, salt)])


def test_non_participant_cannot_commit():
    led = make_ledger()
    rid = led.open_round(spec())
    c, _ = sealed(rid, OUTSIDER, [0.0, 0.0])
    with pytest.raises(NotParticipant, match="not participant"):
        led.commit(rid, [c])


def test_node_registered_after_open_is_not_a_participant():
    led = make_ledger((A, B))
    rid = led.open_round(spec())
    led.grant(C, STAKE)
    led.register([C], STAKE)
    with pytest.raises(NotParticipant):
        led.commit(rid, [sealed(rid, C, [0.0, 0.0])[0]])


def test_a_message_already_done_is_skipped_as_the_relayer_skips_it():
    led = make_ledger()
    rid = led.open_round(spec())
    c, r = sealed(rid, A, [0.0, 0.0])
    other, _ = sealed(rid, A, [1.0, 0.0], salt=b"\x09" * 32)
    led.commit(rid, [c])
    led.commit(rid, [other, c])  # both skipped: A's first commitment stands
    led.advance(40)
    led.reveal(rid, [r])
    led.reveal(rid, [r])  # skipped
    assert led._rounds[rid].revealed.tolist() == [[True, False, False]]


def test_windows_are_enforced():
    led = make_ledger()
    rid = led.open_round(spec(commit_blocks=4, reveal_blocks=4))
    c_a, r_a = sealed(rid, A, [0.0, 0.0])
    led.commit(rid, [c_a])
    with pytest.raises(WindowError, match="reveal window not open"):
        led.reveal(rid, [r_a])
    with pytest.raises(WindowError, match="too early to finalize"):
        led.finalize(rid)
    led.advance(4)
    with pytest.raises(WindowError, match="commit window closed"):
        led.commit(rid, [sealed(rid, B, [0.0, 0.0])[0]])
    led.advance(4)
    with pytest.raises(WindowError, match="reveal window closed"):
        led.reveal(rid, [r_a])
    led.finalize(rid)
    with pytest.raises(WindowError, match="already finalized"):
        led.finalize(rid)


def test_unrevealed_committer_is_slashed_into_the_pool_and_tokens_are_conserved():
    led = make_ledger()
    total = lambda b: b.tokens.sum() + b.stakes.sum() + b.pool.sum()  # noqa: E731
    start = total(led.balances([A, B, C]))
    rid = led.open_round(spec())
    msgs = {n: sealed(rid, n, [0.0, 0.0]) for n in (A, B, C)}
    led.commit(rid, [m[0] for m in msgs.values()])
    led.advance(40)
    led.reveal(rid, [msgs[A][1], msgs[B][1]])
    led.advance(40)
    out = led.finalize(rid)
    assert out.accepted.tolist() == [False]  # quorum 2 met by A and B, but C withheld its committed report
    assert out.paid.tolist() == [[0, 0, 0]]
    assert out.slashed.tolist() == [[0, 0, STAKE // 2]]
    assert total(led.balances([A, B, C])) == start


def test_withdraw_only_without_round_in_flight_and_pool_must_cover_rewards():
    led = make_ledger((A, B, C))
    rid = led.open_round(spec(members=(A, B)))
    with pytest.raises(WindowError, match="round in flight"):
        led.withdraw(A)
    led.withdraw(C)  # registered but not a member of the live round
    led.advance(100)
    led.finalize(rid)
    led.withdraw(A)
    assert led.token_balance(A).tolist() == [STAKE // 2]  # slashed once: it never committed
    poor = MemoryLedger(min_stake=MIN_STAKE)
    for n in (A, B):
        poor.grant(n, STAKE)
    poor.register([A, B], STAKE)
    with pytest.raises(InsufficientFunds, match="pool too small"):
        poor.open_round(spec(members=(A, B)))


def test_batched_ledger_keeps_runs_independent():
    led = make_ledger((A, B), batch=2)
    rid = led.open_round(spec(batch=2, members=(A, B)))
    ca, ra = sealed(rid, A, [[0.0, 0.0], [0.0, 0.0]])
    cb, rb = sealed(rid, B, [[0.5, 0.0], [5.0, 0.0]])  # run 0 consistent, run 1 not
    led.commit(rid, [ca, cb])
    led.reveal(rid, [ra, rb])
    out = led.finalize(rid)
    assert out.accepted.tolist() == [True, False]
    assert led.balances([A, B]).tokens.tolist() == [[REWARD, REWARD], [0, 0]]


def test_pairwise_check_exact_beyond_int64():
    # values near the int32 edge with k = 64: the squared sum passes 2**63 and must still be exact
    big = np.full((1, 2, 64), 2**31 - 1, dtype=np.int64)
    big[0, 1] = -(2**31)
    sq = rules.pairwise_sq_dist_max(big, np.ones((1, 2), dtype=bool))
    assert sq[0] == 64 * (2**32 - 1) ** 2


def test_a_run_whose_report_failed_keeps_the_failure_to_itself():
    """Item 7 of the hardening issue: a node silent in one run (its report could not be encoded there) is absent
    from that run only: it is slashed there and the others go on; the other run is untouched."""
    led = make_ledger((A, B, C), batch=2)
    rid = led.open_round(spec(batch=2))
    msgs = {n: sealed(rid, n, [[0.0, 0.0], [0.1, 0.0]]) for n in (A, B, C)}
    c_a, r_a = msgs[A]
    msgs[A] = (Commit(A, [c_a.digest[0], None]), Reveal(A, r_a.report_fx, [r_a.salt[0], None]))
    led.commit(rid, [c for c, _ in msgs.values()])
    led.advance(40)  # A is silent in run 1: its reveal window opens when the commit window lapses
    led.reveal(rid, [r for _, r in msgs.values()])
    out = led.finalize(rid)
    assert out.committed.tolist() == [[True] * 3, [False, True, True]]
    assert out.accepted.tolist() == [True, True]
    assert out.paid.tolist() == [[REWARD] * 3, [0, REWARD, REWARD]]
    assert out.slashed.tolist() == [[0, 0, 0], [STAKE // 2, 0, 0]]


def test_a_candidate_below_the_minimum_stake_sits_out_only_the_runs_where_it_is():
    led = make_ledger((A, B, C), batch=2)
    for _ in range(3):  # C never commits in run 0: slashed there to STAKE / 8 < MIN_STAKE
        rid = led.open_round(spec(batch=2))
        msgs = {n: sealed(rid, n, [[0.0, 0.0], [0.0, 0.0]]) for n in (A, B, C)}
        c_c, r_c = msgs[C]
        msgs[C] = (Commit(C, [None, c_c.digest[1]]), Reveal(C, r_c.report_fx, [None, r_c.salt[1]]))
        led.commit(rid, [c for c, _ in msgs.values()])
        led.advance(40)
        led.reveal(rid, [r for _, r in msgs.values()])
        led.finalize(rid)
    assert led.balances([C]).stakes.tolist() == [[STAKE // 8], [STAKE]]
    rid = led.open_round(spec(batch=2))
    assert led._rounds[rid].members.tolist() == [[True, True, False], [True, True, True]]
    led.grant(C, MIN_STAKE)
    led.add_stake(C, MIN_STAKE)  # topping up does not make it a member of the round already open
    c_c, _ = sealed(rid, C, [[0.0, 0.0], [0.0, 0.0]])
    led.commit(rid, [c_c])  # counted where C is a member (run 1), ignored in run 0
    assert led._rounds[rid].committed[:, 2].tolist() == [False, True]


def test_the_registry_is_unbounded_and_a_round_lists_at_most_64_candidates():
    """Item 2 of the hardening issue: registrations beyond 64 block nothing; a round's members are an explicit list."""
    led = MemoryLedger(min_stake=MIN_STAKE)
    led.fund(REWARD * 10_000)
    nodes = ["0x" + f"{i:040x}" for i in range(1, 101)]
    for n in nodes:
        led.grant(n, STAKE)
    led.register(nodes, STAKE)
    rid = led.open_round(spec(members=nodes[36:]))  # the last 64 registered
    assert led._rounds[rid].members.sum() == 64
    led.advance(100)
    led.finalize(rid)
    with pytest.raises(BadParameter, match="too many members"):
        led.open_round(spec(members=nodes[:65]))


@pytest.mark.parametrize("field, value, reason", [
    ("quorum", 1, "bad quorum"), ("quorum", 4, "bad quorum"), ("commit_blocks", 3, "bad window"),
    ("reveal_blocks", 7_201, "bad window")])
def test_round_parameters_are_bounded(field, value, reason):
    led = make_ledger()
    with pytest.raises(BadParameter, match=reason):
        led.open_round(spec(**{field: value}))


def test_the_reward_may_not_exceed_the_smallest_slash_and_slashing_never_rounds_to_zero():
    led = make_ledger()
    with pytest.raises(BadParameter, match="reward above penalty"):
        led.open_round(RoundSpec(tau_fx=np.array([1]), dim=2, scale_bits=16, params_digest=[bytes(32)],
                                 reward=MIN_STAKE // 2 + 1, members=[A, B, C]))
    with pytest.raises(BadParameter, match="penalty rounds to zero"):
        MemoryLedger(min_stake=1, slash_bps=5_000)
    with pytest.raises(BadParameter, match="bad slash"):
        MemoryLedger(slash_bps=0)


def test_a_commit_with_a_digest_count_other_than_the_batch_is_refused_whole():
    led = make_ledger()
    rid = led.open_round(spec())
    c_a, _ = sealed(rid, A, [0.0, 0.0])
    with pytest.raises(LedgerError) as refused:
        led.commit(rid, [c_a, Commit(B, c_a.digest * 2)])  # two digests in a batch of one run
    assert refused.value.reason == "bad report length"
    led.commit(rid, [c_a])  # nothing was recorded: A's commit is still its first


def test_a_round_that_does_not_exist_is_refused_by_name():
    led = make_ledger()
    with pytest.raises(LedgerError) as refused:
        led.finalize(3)
    assert refused.value.reason == "bad round"
