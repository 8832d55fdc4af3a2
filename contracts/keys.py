"""Keyed node accounts for the in-process chain clients (ChainLedger, ChainBoard): keys derived from a label and a
seed (the same seed, the same addresses), ether for their gas, and an allowance for the contract that takes their
tokens. A swarm's nodes hold their own keys instead (nodes/runtime.py)."""
from __future__ import annotations

from typing import Callable

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from contracts.chain import Chain
from protocol.commitment import keccak

NODE_ETHER = 10**19  # 10 ether: gas for a node's own transactions at the client's fee cap


class Keyring:
    def __init__(self, chain: Chain, label: str, seed: int, allow: Callable[[LocalAccount], None], holder: str):
        """`label`: what the keys derive from (with the seed and their index); `allow`: the allowance each new
        account sends; `holder`: the client's name, for the error a foreign address meets."""
        self.chain, self.label, self.seed, self.allow, self.holder = chain, label, seed, allow, holder
        self._keys: dict[str, LocalAccount] = {}

    def add(self, n: int) -> list[str]:
        """n more accounts: keys from the seed, ether for gas, the allowance. Their addresses."""
        out = []
        for _ in range(n):
            account = Account.from_key(keccak(f"{self.label}-{self.seed}-{len(self._keys)}".encode()))
            self.chain.give_ether(account.address, NODE_ETHER)
            self.allow(account)
            self._keys[account.address] = account
            out.append(account.address)
        return out

    def account(self, address: str) -> LocalAccount:
        try:
            return self._keys[to_checksum_address(address)]
        except (KeyError, ValueError):
            raise ValueError(f"{address}: this {self.holder} holds no key for it; use the addresses from its "
                             f"`nodes` (or add_nodes(n))") from None
