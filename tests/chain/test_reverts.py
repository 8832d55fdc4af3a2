"""Every revert reason of the coordinator, triggered on the chain: each surfaces as the typed exception of
protocol.ledger.REASONS carrying the reason, and a refused call changes nothing (not even the block).

A trigger prepares the state and returns the call that must be refused."""
import re
from pathlib import Path

import numpy as np
import pytest

from contracts.chain_ledger import ChainLedger
from contracts.client import deploy
from protocol import ledger as protocol
from protocol.ledger import CLIENT_REASONS, LIBRARY_REASONS, REASONS, LedgerError, Reveal
from tests.chain.conftest import MEMBERS, MIN_STAKE, NODES, OUTSIDER, REWARD, STAKE, sealed, spec

SOURCE = Path(__file__).parents[2] / "contracts" / "coordinator.vy"
# catalogued reasons no call here can trigger: our snekmate token reports a failed transfer with its own reason
UNREACHED = {"transfer failed"}


def open_and_commit(led, who, commit_blocks=32, reveal_blocks=32, values=(0.0, 0.0)):
    rid = led.open_round(spec(commit_blocks=commit_blocks, reveal_blocks=reveal_blocks))
    msgs = {a: sealed(rid, a, list(values)) for a in who}
    if who:
        led.commit(rid, [c for c, _ in msgs.values()])
    return rid, msgs


def not_owner(led):
    d = led.deployment
    return lambda: d.coordinator.transact("open_round", MEMBERS, 65_536, 2, 2, 16, bytes(32), bytes(32), REWARD, 2,
                                          32, 32, sender=led.account(NODES[0]), gas=600_000, preflight=True)


def already_registered(led):
    return lambda: led.register([NODES[0]], STAKE)


def not_registered_withdraw(led):
    return lambda: led.withdraw(OUTSIDER)


def not_registered_add_stake(led):
    return lambda: led.add_stake(OUTSIDER, 1)


def stake_below_minimum(led):
    return lambda: led.register([OUTSIDER], MIN_STAKE - 1)


def stake_above_balance(led):
    return lambda: led.register([OUTSIDER], 3 * STAKE)


def stake_top_up_above_balance(led):
    return lambda: led.add_stake(NODES[0], 2 * STAKE)


def round_in_flight_open(led):
    led.open_round(spec())
    return lambda: led.open_round(spec())


def round_in_flight_withdraw(led):
    led.open_round(spec())
    return lambda: led.withdraw(NODES[0])


def pool_too_small(led):
    poor = ChainLedger(led.chain, nodes=2, min_stake=MIN_STAKE, preflight=True)  # a second one, empty pool
    for a in poor.nodes:
        poor.grant(a, STAKE)
    poor.register(poor.nodes, STAKE)
    return lambda: poor.open_round(spec(members=poor.nodes))


def bad_quorum_low(led):
    return lambda: led.open_round(spec(quorum=1))


def bad_quorum_high(led):
    return lambda: led.open_round(spec(quorum=5))


def bad_window_commit(led):
    return lambda: led.open_round(spec(commit_blocks=protocol.MIN_WINDOW - 1))


def bad_window_reveal(led):
    return lambda: led.open_round(spec(reveal_blocks=protocol.MAX_WINDOW + 1))


def reward_above_penalty(led):
    return lambda: led.open_round(spec(reward=MIN_STAKE // 2 + 1))


def bad_round(led):
    return lambda: led.commit(7, [sealed(7, NODES[0], [0.0, 0.0])[0]])


def commit_window_closed(led):
    rid, _ = open_and_commit(led, [], commit_blocks=4)
    led.advance(5)
    return lambda: led.commit(rid, [sealed(rid, NODES[0], [0.0, 0.0])[0]])


def reveal_window_not_open(led):
    rid, msgs = open_and_commit(led, MEMBERS[:1])
    return lambda: led.reveal(rid, [r for _, r in msgs.values()])


def reveal_window_closed(led):
    rid, msgs = open_and_commit(led, MEMBERS[:1], commit_blocks=4, reveal_blocks=4)
    led.advance(9)
    return lambda: led.reveal(rid, [r for _, r in msgs.values()])


def too_early_to_finalize(led):
    open_and_commit(led, MEMBERS[:2])
    return lambda: led.finalize(0)


def too_early_to_expire(led):
    rid = led.open_round(spec())
    opened = led.chain.block_number
    # the next transaction lands in the last block before expiry: the reveal deadline (opened + 64) + EXPIRY_BLOCKS
    led.advance(64 + protocol.EXPIRY_BLOCKS - 1)
    assert led.chain.block_number + 1 == opened + 64 + protocol.EXPIRY_BLOCKS
    return lambda: led.expire(rid)


def already_finalized(led):
    rid, _ = open_and_commit(led, [])
    led.advance(100)
    led.finalize(rid)
    return lambda: led.finalize(rid)


def already_expired(led):
    rid, _ = open_and_commit(led, [])
    led.advance(100 + protocol.EXPIRY_BLOCKS)
    led.expire(rid)
    return lambda: led.finalize(rid)


def not_participant(led):
    rid = led.open_round(spec())
    return lambda: led.commit(rid, [sealed(rid, OUTSIDER, [0.0, 0.0])[0]])


def not_participant_below_minimum(led):
    """A candidate whose stake fell below the minimum sits the round out."""
    rid, msgs = open_and_commit(led, MEMBERS[:3])
    led.advance(70)
    led.finalize(rid)  # D never committed: slashed to STAKE / 2 < MIN_STAKE? no: 500 >= 200; slash it again
    for _ in range(2):
        rid, _ = open_and_commit(led, MEMBERS[:3])
        led.advance(70)
        led.finalize(rid)
    assert led.balances([MEMBERS[3]]).stakes.tolist() == [[STAKE // 8]] and STAKE // 8 < MIN_STAKE
    rid = led.open_round(spec())
    return lambda: led.commit(rid, [sealed(rid, MEMBERS[3], [0.0, 0.0])[0]])


def already_committed(led):
    rid, msgs = open_and_commit(led, MEMBERS[:1])
    node = led.account(NODES[0])
    return lambda: led.deployment.commit(rid, [(node, msgs[NODES[0]][0].digest[0])])


def already_revealed(led):
    rid, msgs = open_and_commit(led, MEMBERS)
    led.reveal(rid, [msgs[NODES[0]][1]])
    r = msgs[NODES[0]][1]
    opening = (led.account(NODES[0]), bytes(r.report_fx[0].astype(">i4")), r.salt[0])
    return lambda: led.deployment.reveal(rid, [opening], members=4)


def no_commitment(led):
    rid, msgs = open_and_commit(led, MEMBERS[:3])
    led.advance(40)
    return lambda: led.reveal(rid, [sealed(rid, NODES[3], [0.0, 0.0])[1]])


def commitment_mismatch(led):
    rid, msgs = open_and_commit(led, MEMBERS)
    return lambda: led.reveal(rid, [sealed(rid, NODES[0], [0.5, 0.0])[1]])


def bad_report_length_reveal(led):
    rid, _ = open_and_commit(led, MEMBERS)
    three = sealed(rid, NODES[0], [0.0, 0.0, 0.0])[1]  # 3 values in a 2-value round
    return lambda: led.reveal(rid, [three])


def bad_report_length_open(led):
    return lambda: led.open_round(spec(dim=protocol.MAX_DIM + 1))


def value_out_of_range_tau(led):
    return lambda: led.deployment.open_round(members=MEMBERS, tau_fx=2**31, dim=2, reward=REWARD)


def value_out_of_range_negative_tau(led):
    return lambda: led.deployment.open_round(members=MEMBERS, tau_fx=-1, dim=2, reward=REWARD)


def value_out_of_range_report(led):
    rid, _ = open_and_commit(led, MEMBERS)
    return lambda: led.reveal(rid, [Reveal(NODES[0], np.array([[2**31, 0]]), [b"\x07" * 32])])


def invalid_signature(led):
    led.mode = "relay"
    rid = led.open_round(spec())
    return lambda: led.deployment.commit_signed(rid, [(bytes(32), bytes(64) + b"\x1b")])


def invalid_signature_s_value(led):
    """A malleable signature: s above half the curve order (snekmate refuses it before recovering)."""
    led.mode = "relay"
    rid = led.open_round(spec())
    d, digest = led.deployment, sealed(0, NODES[0], [0.0, 0.0])[0].digest[0]
    sig = d.sign_commit(led.account(NODES[0]), rid, digest)
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    high_s = (n - int.from_bytes(sig[32:64], "big")).to_bytes(32, "big")
    return lambda: d.commit_signed(rid, [(digest, sig[:32] + high_s + bytes([55 - sig[64]]))])


def bad_slash_zero(led):
    return lambda: deploy(led.chain, slash_bps=0)


def bad_slash_above_100(led):
    return lambda: deploy(led.chain, slash_bps=10_001)


def penalty_rounds_to_zero(led):
    return lambda: deploy(led.chain, min_stake=1, slash_bps=5_000)


def too_many_members(led):
    return lambda: led.open_round(spec(members=[f"0x{i:040x}" for i in range(1, protocol.MAX_MEMBERS + 2)]))


def sketched_round(led, reveal_seed=True, settle=False):
    """A sketched round (tests/chain/test_sketch_rounds.py) with every member committed; its id and messages."""
    from tests.chain import test_sketch_rounds as sk

    fulls = sk.full_reports(np.random.default_rng(0))
    rid = led.open_round(sk.sketched_spec())
    commits, _ = sk.messages(rid, fulls, np.zeros((4, sk.K), dtype=np.int64))
    led.commit(rid, commits)
    if reveal_seed:
        led.reveal_seed(rid, [sk.SEED])
    _, reveals = sk.messages(rid, fulls, sk.sketch.sketch(fulls, sk.SEED, sk.K))
    if settle:
        led.reveal(rid, reveals)
        led.finalize(rid)
    return rid, fulls, reveals


def bad_seed(led):
    from tests.chain import test_sketch_rounds as sk

    return lambda: led.open_round(spec(dim=sk.K, full_dim=sk.D))  # sketched, but no seed hash


def not_sketched(led):
    rid, _ = open_and_commit(led, MEMBERS)
    return lambda: led.reveal_seed(rid, [bytes(32)])


def seed_mismatch(led):
    rid, *_ = sketched_round(led, reveal_seed=False)
    return lambda: led.reveal_seed(rid, [bytes(32)])


def seed_not_revealed(led):
    rid, _, reveals = sketched_round(led, reveal_seed=False)
    return lambda: led.reveal(rid, reveals[:1])


def not_confirming(led):
    rid, *_ = sketched_round(led)
    return lambda: led.confirm(rid, np.ones((1, 4), dtype=bool))


def confirm_window_closed(led):
    from protocol.ledger import CONFIRM_BLOCKS

    rid, *_ = sketched_round(led, settle=True)
    led.advance(CONFIRM_BLOCKS)
    return lambda: led.confirm(rid, np.ones((1, 4), dtype=bool))


def too_early_to_release(led):
    rid, *_ = sketched_round(led, settle=True)
    return lambda: led.release(rid)


def no_mismatch(led):
    rid, fulls, _ = sketched_round(led, settle=True)
    return lambda: led.prove_mismatch(rid, MEMBERS[0], fulls[:1], 0, led.deployment.owner.address)


CASES = {
    "not owner": [not_owner],
    "already registered": [already_registered],
    "not registered": [not_registered_withdraw, not_registered_add_stake],
    "stake too small": [stake_below_minimum, stake_above_balance, stake_top_up_above_balance],
    "round in flight": [round_in_flight_open, round_in_flight_withdraw],
    "pool too small": [pool_too_small],
    "bad quorum": [bad_quorum_low, bad_quorum_high],
    "bad window": [bad_window_commit, bad_window_reveal],
    "reward above penalty": [reward_above_penalty],
    "bad round": [bad_round],
    "commit window closed": [commit_window_closed],
    "reveal window not open": [reveal_window_not_open],
    "reveal window closed": [reveal_window_closed],
    "too early to finalize": [too_early_to_finalize],
    "too early to expire": [too_early_to_expire],
    "already finalized": [already_finalized, already_expired],
    "not participant": [not_participant, not_participant_below_minimum],
    "already committed": [already_committed],
    "already revealed": [already_revealed],
    "no commitment": [no_commitment],
    "commitment mismatch": [commitment_mismatch],
    "bad report length": [bad_report_length_reveal, bad_report_length_open],
    "value out of range": [value_out_of_range_tau, value_out_of_range_negative_tau, value_out_of_range_report],
    "ecdsa: invalid signature": [invalid_signature],
    "ecdsa: invalid signature `s` value": [invalid_signature_s_value],
    "bad slash": [bad_slash_zero, bad_slash_above_100],
    "penalty rounds to zero": [penalty_rounds_to_zero],
    "too many members": [too_many_members],
    "bad seed": [bad_seed],
    "not sketched": [not_sketched],
    "seed mismatch": [seed_mismatch],
    "seed not revealed": [seed_not_revealed],
    "not confirming": [not_confirming],
    "confirm window closed": [confirm_window_closed],
    "too early to release": [too_early_to_release],
    "no mismatch": [no_mismatch],
}
DEPLOYS = {bad_slash_zero, bad_slash_above_100, penalty_rounds_to_zero}


@pytest.mark.parametrize("reason, trigger", [(r, t) for r, ts in CASES.items() for t in ts],
                         ids=[t.__name__ for ts in CASES.values() for t in ts])
def test_revert_surfaces_as_typed_error_and_changes_nothing(ledger, reason, trigger):
    refused = trigger(ledger)  # prepares the state, returns the call that must be refused
    block, before = ledger.chain.block_number, ledger.balances(NODES)
    with pytest.raises(LedgerError) as info:
        refused()
    assert info.value.reason == reason
    assert type(info.value) is REASONS.get(reason, LedgerError)
    after = ledger.balances(NODES)
    if trigger not in DEPLOYS:  # a refused deployment leaves its token deployed; nothing else mines
        assert ledger.chain.block_number == block  # dry-run first: a refusal does not even use a block
    assert after.tokens.tolist() == before.tokens.tolist() and after.stakes.tolist() == before.stakes.tolist()
    assert after.pool.tolist() == before.pool.tolist()


def test_every_assert_in_the_coordinator_carries_a_catalogued_reason():
    text = SOURCE.read_text()
    asserts = [a.split("#")[0] for a in re.findall(r"^\s*assert (.+)$", text, flags=re.M)]
    reasons = {m.group(1) for a in asserts for m in [re.search(r', "([^"]+)"\s*$', a)] if m}
    assert len(reasons) and all(re.search(r', "[^"]+"\s*$', a) for a in asserts), "an assert without a reason"
    assert reasons | LIBRARY_REASONS | CLIENT_REASONS == set(REASONS)
    assert set(CASES) == set(REASONS) - UNREACHED


def test_bounds_agree_between_the_contract_and_the_protocol_package():
    from contracts.client import MAX_REPORT_BYTES

    constants = dict(re.findall(r"^(\w+): constant\(uint256\) = ([\d_]+)$", SOURCE.read_text(), flags=re.M))
    for name in ("MAX_MEMBERS", "MAX_DIM", "MIN_WINDOW", "MAX_WINDOW", "EXPIRY_BLOCKS", "CONFIRM_BLOCKS", "BPS"):
        assert int(constants[name]) == getattr(protocol, name), name
    assert 8 * protocol.MAX_DIM == MAX_REPORT_BYTES
    assert int(constants["MAX_FULL_DIM"]) == protocol.MAX_FULL_DIM
