"""ChainBoard: the `protocol.board.Board` verbs over a deployed report board (contracts/board.vy).

It deploys the reward token and the board (or takes an existing token), holds the keys of the nodes it creates
(deterministic from a seed, as ChainLedger's), and reads every record back from the chain's events: the posts
in the board's order (Posted), the published versions (Published). Each call is one transaction from its
sender; a refusal raises the typed error of the contract's reason. Reports are sent with an explicit gas limit
from their size, never estimated.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from contracts.chain import EMBEDDED, Chain, connect
from contracts.client import MAX_UINT, _create
from contracts.keys import Keyring
from protocol import codec
from protocol.board import MAX_VALUES, BoardParams, Post, Published
from protocol.ledger import ledger_error


def post_gas(values: int) -> int:
    """An upper bound on `post`'s gas: calldata (up to 40 gas a byte under EIP-7623's floor) and the event's data
    (8 a byte plus its memory), the rate window's and the pool's slots, the fee transfer; measured in
    tests/chain/test_board.py."""
    return 180_000 + 250 * values


class ChainBoard:
    def __init__(self, chain: Chain | str = EMBEDDED, params: BoardParams = BoardParams(), *, nodes: int = 0,
                 seed: int = 0, owner: LocalAccount | None = None):
        self.chain = connect(chain) if isinstance(chain, str) else chain
        self.params = params
        self.owner = owner or self.chain.funded[0]
        self.token = _create(self.chain, self.owner, "reward_token", b"")
        args = abi_encode(["address"] + ["uint256"] * 5, [self.token.address, params.min_stake, params.fee,
                                                          params.window_blocks, params.max_posts, params.max_staleness])
        self.board = _create(self.chain, self.owner, "board", args)
        self.token.transact("approve", self.board.address, MAX_UINT, sender=self.owner, gas=60_000)
        self.deploy_block = self.chain.block_number
        self._keys = Keyring(self.chain, "deml-board-key", seed, self._allow, "ChainBoard")
        self.nodes = self.add_nodes(nodes)
        self.last_gas = 0

    def _allow(self, node: LocalAccount) -> None:
        self.token.transact("approve", self.board.address, MAX_UINT, sender=node, gas=60_000)

    def add_nodes(self, n: int) -> list[str]:
        return self._keys.add(n)

    def account(self, address: str) -> LocalAccount:
        return self._keys.account(address)

    def _send(self, fn: str, *args, sender: LocalAccount, gas: int):
        receipt = self.board.transact(fn, *args, sender=sender, gas=gas)
        self.last_gas = receipt.gas_used
        return receipt

    # ------------------------------------------------------------------------------------------ accounts
    def grant(self, address: str, amount: int) -> None:
        self.token.transact("mint", to_checksum_address(address), amount, sender=self.owner, gas=80_000)

    def fund(self, amount: int) -> None:
        self.token.transact("mint", self.owner.address, amount, sender=self.owner, gas=80_000)
        self._send("fund", amount, sender=self.owner, gas=100_000)

    def register(self, addresses: Sequence[str], stake: int) -> None:
        for a in addresses:
            self._send("register", stake, sender=self.account(a), gas=180_000)

    def add_stake(self, address: str, amount: int) -> None:
        self._send("add_stake", amount, sender=self.account(address), gas=120_000)

    def withdraw(self, address: str) -> None:
        self._send("withdraw", sender=self.account(address), gas=120_000)

    def accounts(self, addresses: Sequence[str]) -> tuple[list[int], list[int], int]:
        tokens = [self.token.call("balanceOf", to_checksum_address(a)) for a in addresses]
        stakes = [self.board.call("stake", to_checksum_address(a)) for a in addresses]
        return tokens, stakes, self.board.call("pool")

    # --------------------------------------------------------------------------------------------- board
    def assign(self, node: str, block_id: int, size: int) -> None:
        self._send("assign", to_checksum_address(node), block_id, size, sender=self.owner, gas=100_000)

    def publish(self, digest: bytes, updates: int) -> int:
        version = self.board.call("versions")
        self._send("publish", bytes(digest), updates, sender=self.owner, gas=80_000)
        return version

    def post(self, node: str, version: int, block_id: int, values_fx: np.ndarray) -> Post:
        values = np.asarray(values_fx)
        if not 0 < values.size <= MAX_VALUES:  # the ABI would refuse a longer one without a reason
            raise ledger_error("bad report length", f"{values.size} values, at most {MAX_VALUES}")
        receipt = self._send("post", version, block_id, codec.pack(values), sender=self.account(node),
                             gas=post_gas(values.size))
        return next(_post(e) for e in self.board.events(receipt) if e.name == "Posted")

    def _events(self, name: str) -> list:
        raw = self.chain.logs(self.board.address, self.deploy_block, "latest", [self.board.topic(name)])
        return self.board.decode_logs(raw)

    def posts(self, start: int = 0) -> list[Post]:
        """Accepted reports from `start` on, in the board's order, from the Posted events."""
        return [_post(e) for e in self._events("Posted") if e.args["seq"] >= start]

    def published(self) -> list[Published]:
        return [Published(e.args["version"], bytes(e.args["digest"]), e.args["updates"])
                for e in self._events("Published")]


def _post(e) -> Post:
    """A Posted event as the board's record."""
    return Post(e.args["seq"], e.args["node"], e.args["version"], e.args["block_id"],
                codec.unpack(e.args["values"]).astype(np.int32), e.args["fee"], e.args["block_number"])
