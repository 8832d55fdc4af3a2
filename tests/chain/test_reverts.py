"""Every revert reason of the coordinator, triggered on the chain: each surfaces as the typed exception of
protocol.ledger.REASONS carrying the reason, and a refused call changes nothing (not even the block).

A trigger prepares the state and returns the call that must be refused."""
import re
from pathlib import Path

import numpy as np
import pytest

from contracts.chain_ledger import ChainLedger
from contracts.client import deploy
from protocol.ledger import REASONS, LedgerError, Reveal
from tests.chain.conftest import REWARD, STAKE, sealed, spec

SOURCE = Path(__file__).parents[2] / "contracts" / "coordinator.vy"
# catalogued reasons no call here can trigger: a bound no test reaches on the embedded chain (see test_anvil),
# and a token failure our snekmate token reports with its own reason first
UNREACHED = {"registry full", "transfer failed"}
# raised by snekmate's ecdsa inside the coordinator (a relayed commit with a malformed signature)
LIBRARY = {"ecdsa: invalid signature"}


def nodes(led: ChainLedger):
    return led.nodes[:4], led.nodes[4]


def open_and_commit(led, who, commit_blocks=32, reveal_blocks=32, values=(0.0, 0.0)):
    rid = led.open_round(spec(commit_blocks=commit_blocks, reveal_blocks=reveal_blocks))
    msgs = {a: sealed(rid, a, list(values)) for a in who}
    if who:
        led.commit(rid, [c for c, _ in msgs.values()])
    return rid, msgs


def not_owner(led):
    d = led.deployment
    return lambda: d.coordinator.transact("open_round", 65_536, 2, 16, bytes(32), REWARD, 2, 32, 32,
                                          sender=led.account(led.nodes[0]), gas=300_000, preflight=True)


def already_registered(led):
    return lambda: led.register([led.nodes[0]], STAKE)


def not_registered(led):
    return lambda: led.withdraw(nodes(led)[1])


def stake_below_minimum(led):
    return lambda: led.register([nodes(led)[1]], 0)


def stake_above_balance(led):
    return lambda: led.register([nodes(led)[1]], 3 * STAKE)


def round_in_flight_open(led):
    led.open_round(spec())
    return lambda: led.open_round(spec())


def round_in_flight_withdraw(led):
    led.open_round(spec())
    return lambda: led.withdraw(led.nodes[0])


def pool_too_small(led):
    return lambda: led.open_round(spec(reward=10**9))


def no_participants(led):
    for a in nodes(led)[0]:
        led.withdraw(a)
    return lambda: led.open_round(spec())


def bad_round(led):
    return lambda: led.commit(7, [sealed(7, led.nodes[0], [0.0, 0.0])[0]])


def commit_window_closed(led):
    rid, _ = open_and_commit(led, [], commit_blocks=2)
    led.advance(3)
    return lambda: led.commit(rid, [sealed(rid, led.nodes[0], [0.0, 0.0])[0]])


def reveal_window_not_open(led):
    rid, msgs = open_and_commit(led, nodes(led)[0][:1])
    return lambda: led.reveal(rid, [r for _, r in msgs.values()])


def reveal_window_closed(led):
    rid, msgs = open_and_commit(led, nodes(led)[0][:1], commit_blocks=2, reveal_blocks=2)
    led.advance(5)
    return lambda: led.reveal(rid, [r for _, r in msgs.values()])


def too_early_to_finalize(led):
    open_and_commit(led, nodes(led)[0][:2])
    return lambda: led.finalize(0)


def already_finalized(led):
    rid, _ = open_and_commit(led, [])
    led.advance(100)
    led.finalize(rid)
    return lambda: led.finalize(rid)


def not_participant(led):
    rid = led.open_round(spec())
    return lambda: led.commit(rid, [sealed(rid, nodes(led)[1], [0.0, 0.0])[0]])


def already_committed(led):
    rid, msgs = open_and_commit(led, nodes(led)[0][:1])
    return lambda: led.commit(rid, [c for c, _ in msgs.values()])


def already_revealed(led):
    rid, msgs = open_and_commit(led, nodes(led)[0])
    led.reveal(rid, [msgs[led.nodes[0]][1]])
    return lambda: led.reveal(rid, [msgs[led.nodes[0]][1]])


def no_commitment(led):
    rid, msgs = open_and_commit(led, nodes(led)[0][:3])
    led.advance(40)
    return lambda: led.reveal(rid, [sealed(rid, led.nodes[3], [0.0, 0.0])[1]])


def commitment_mismatch(led):
    rid, msgs = open_and_commit(led, nodes(led)[0])
    return lambda: led.reveal(rid, [sealed(rid, led.nodes[0], [0.5, 0.0])[1]])


def bad_report_length_reveal(led):
    rid, _ = open_and_commit(led, nodes(led)[0])
    three = sealed(rid, led.nodes[0], [0.0, 0.0, 0.0])[1]  # 3 values in a 2-value round
    return lambda: led.reveal(rid, [three])


def bad_report_length_open(led):
    return lambda: led.open_round(spec(dim=257))


def value_out_of_range_tau(led):
    return lambda: led.deployment.open_round(tau_fx=2**31, dim=2, reward=REWARD)


def value_out_of_range_negative_tau(led):
    return lambda: led.deployment.open_round(tau_fx=-1, dim=2, reward=REWARD)


def value_out_of_range_report(led):
    rid, _ = open_and_commit(led, nodes(led)[0])
    return lambda: led.reveal(rid, [Reveal(led.nodes[0], np.array([[2**31, 0]]), [b"\x07" * 32])])


def invalid_signature(led):
    led.mode = "relay"
    rid = led.open_round(spec())
    return lambda: led.deployment.commit_signed(rid, [(bytes(32), bytes(64) + b"\x1b")])


def slash_above_100(led):
    return lambda: deploy(led.chain, slash_bps=10_001)


CASES = {
    "not owner": [not_owner],
    "already registered": [already_registered],
    "not registered": [not_registered],
    "stake too small": [stake_below_minimum, stake_above_balance],
    "round in flight": [round_in_flight_open, round_in_flight_withdraw],
    "pool too small": [pool_too_small],
    "no participants": [no_participants],
    "bad round": [bad_round],
    "commit window closed": [commit_window_closed],
    "reveal window not open": [reveal_window_not_open],
    "reveal window closed": [reveal_window_closed],
    "too early to finalize": [too_early_to_finalize],
    "already finalized": [already_finalized],
    "not participant": [not_participant],
    "already committed": [already_committed],
    "already revealed": [already_revealed],
    "no commitment": [no_commitment],
    "commitment mismatch": [commitment_mismatch],
    "bad report length": [bad_report_length_reveal, bad_report_length_open],
    "value out of range": [value_out_of_range_tau, value_out_of_range_negative_tau, value_out_of_range_report],
    "ecdsa: invalid signature": [invalid_signature],
    "slash above 100%": [slash_above_100],
}


@pytest.mark.parametrize("reason, trigger", [(r, t) for r, ts in CASES.items() for t in ts],
                         ids=[t.__name__ for ts in CASES.values() for t in ts])
def test_revert_surfaces_as_typed_error_and_changes_nothing(ledger, reason, trigger):
    refused = trigger(ledger)  # prepares the state, returns the call that must be refused
    block, before = ledger.chain.block_number, ledger.balances()
    with pytest.raises(LedgerError) as info:
        refused()
    assert info.value.reason == reason
    assert type(info.value) is REASONS.get(reason, LedgerError)
    after = ledger.balances()
    if trigger is not slash_above_100:  # a refused deployment leaves its token deployed; nothing else mines
        assert ledger.chain.block_number == block  # dry-run first: a refusal does not even use a block
    assert after.tokens.tolist() == before.tokens.tolist() and after.stakes.tolist() == before.stakes.tolist()
    assert after.pool.tolist() == before.pool.tolist()


def test_every_assert_in_the_coordinator_carries_a_catalogued_reason():
    text = SOURCE.read_text()
    asserts = [a.split("#")[0] for a in re.findall(r"^\s*assert (.+)$", text, flags=re.M)]
    reasons = {m.group(1) for a in asserts for m in [re.search(r', "([^"]+)"\s*$', a)] if m}
    assert len(reasons) and all(re.search(r', "[^"]+"\s*$', a) for a in asserts), "an assert without a reason"
    assert reasons | LIBRARY == set(REASONS)
    assert set(CASES) == set(REASONS) - UNREACHED


def test_bounds_agree_between_the_contract_and_memory_ledger():
    from contracts.client import MAX_REPORT_BYTES
    from coordinator import memory_ledger

    constants = dict(re.findall(r"^(MAX_\w+): constant\(uint256\) = (\d+)$", SOURCE.read_text(), flags=re.M))
    assert int(constants["MAX_NODES"]) == memory_ledger.MAX_PARTICIPANTS
    assert int(constants["MAX_REGISTRY"]) == memory_ledger.MAX_REGISTRY
    assert 4 * int(constants["MAX_DIM"]) == MAX_REPORT_BYTES


def test_memory_ledger_refuses_a_registration_beyond_the_registry():
    from coordinator.memory_ledger import MAX_REGISTRY, MemoryLedger

    led = MemoryLedger()
    addresses = ["0x" + f"{i:040x}" for i in range(MAX_REGISTRY + 1)]
    for a in addresses:
        led.grant(a, 1)
    led.register(addresses[:-1], 1)
    with pytest.raises(LedgerError, match="registry full"):
        led.register(addresses[-1:], 1)
