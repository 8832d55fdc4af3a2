"""The node's own EIP-1559 signer against eth_account's, byte for byte, and a chain that takes what it signs."""
from __future__ import annotations

import coincurve
from eth_account import Account
from hypothesis import given, settings, strategies as st

from contracts.chain import MAX_FEE, Tx, connect, signed_1559

KEY = bytes(range(1, 33))


@settings(max_examples=200, deadline=None)
@given(chain_id=st.integers(1, 2**64 - 1), nonce=st.integers(0, 2**64 - 2), gas=st.integers(21_000, 2**24),
       to=st.one_of(st.just(b""), st.binary(min_size=20, max_size=20)), value=st.integers(0, 2**96),
       data=st.binary(max_size=600), key=st.binary(min_size=32, max_size=32))
def test_the_raw_transaction_is_eth_accounts_byte_for_byte(chain_id, nonce, gas, to, value, data, key):
    if not 0 < int.from_bytes(key, "big") < coincurve.utils.GROUP_ORDER_INT:
        key = KEY
    fields = {"type": 2, "chainId": chain_id, "nonce": nonce, "gas": gas, "value": value, "data": data,
              "maxFeePerGas": MAX_FEE, "maxPriorityFeePerGas": 0, **({"to": to} if to else {})}
    expected = bytes(Account.from_key(key).sign_transaction(fields).raw_transaction)
    assert signed_1559(coincurve.PrivateKey(key), chain_id=chain_id, nonce=nonce, gas=gas, to=to, value=value,
                       data=data) == expected


def test_the_embedded_chain_mines_what_it_signs_from_the_right_sender():
    chain = connect("embedded")
    sender, receiver = chain.funded[1], chain.funded[2]
    before = chain.w3.eth.get_balance(receiver.address)
    receipts = chain.send([Tx(sender, receiver.address, b"", 21_000, value=v) for v in (7, 5)])
    assert [r.ok for r in receipts] == [True, True]
    assert chain.w3.eth.get_balance(receiver.address) == before + 12
    assert chain.w3.eth.get_transaction_count(sender.address) == 2
