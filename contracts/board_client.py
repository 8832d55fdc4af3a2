"""The report board (contracts/board.vy) from Python: the two sides of a deployment, and ChainBoard for tests.

- `BoardOwner`: the data collector's verbs (grant, fund, assign, publish) with the owner's key and no node's;
- `BoardNode`: one node's verbs (allow, register, add_stake, withdraw, post) with its own key and no other;
- `ChainBoard`: deploys, and holds the owner's key and the keys of the nodes it creates (deterministic from a seed,
  as ChainLedger's), for in-process tests and benchmarks; the same verbs, by node address.

All three share `BoardContracts`: each verb one transaction from its sender; a refusal raises the typed error of
the contract's reason; reports carry an explicit gas limit from their size, never estimated; every record is read
back from the chain's events (Posted, in the board's order; Published). `deploy_board` / `board_record` /
`open_board` write and read the deployment file (protocol/board_deployment.py).
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Sequence

import numpy as np
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from contracts.build import artifact
from contracts.chain import EMBEDDED, Chain, connect
from contracts.client import MAX_UINT, Contract, _create
from contracts.keys import Keyring
from protocol import codec
from protocol.board import MAX_VALUES, BoardParams, Post, Published
from protocol.board_deployment import CONTRACTS, BoardRecord
from protocol.commitment import keccak
from protocol.deployment import check
from protocol.ledger import ledger_error


def post_gas(values: int) -> int:
    """An upper bound on `post`'s gas: calldata (up to 40 gas a byte under EIP-7623's floor) and the event's data
    (8 a byte plus its memory), the rate window's and the pool's slots, the fee transfer; measured in
    tests/chain/test_board.py."""
    return 180_000 + 250 * values


class BoardContracts:
    """The token and the board of one deployment: sends and reads, with no key of its own."""

    def __init__(self, chain: Chain, token: Contract, board: Contract, params: BoardParams, deploy_block: int):
        self.chain, self.token, self.board, self.params = chain, token, board, params
        self.deploy_block = deploy_block
        self.last_gas = 0

    def _send(self, fn: str, *args, sender: LocalAccount, gas: int):
        receipt = self.board.transact(fn, *args, sender=sender, gas=gas)
        self.last_gas = receipt.gas_used
        return receipt

    # ---------------------------------------------------------------------------------------- node verbs
    def _allow(self, node: LocalAccount) -> None:
        self.token.transact("approve", self.board.address, MAX_UINT, sender=node, gas=60_000)

    def _register(self, node: LocalAccount, stake: int) -> None:
        self._send("register", stake, sender=node, gas=180_000)

    def _post(self, node: LocalAccount, version: int, block_id: int, values_fx: np.ndarray) -> Post:
        values = np.asarray(values_fx)
        if not 0 < values.size <= MAX_VALUES:  # the ABI would refuse a longer one without a reason
            raise ledger_error("bad report length", f"{values.size} values, at most {MAX_VALUES}")
        receipt = self._send("post", version, block_id, codec.pack(values), sender=node, gas=post_gas(values.size))
        return next(post_of(e) for e in self.board.events(receipt) if e.name == "Posted")

    # --------------------------------------------------------------------------------------------- reads
    def accounts(self, addresses: Sequence[str]) -> tuple[list[int], list[int], int]:
        tokens = [self.token.call("balanceOf", to_checksum_address(a)) for a in addresses]
        stakes = [self.board.call("stake", to_checksum_address(a)) for a in addresses]
        return tokens, stakes, self.board.call("pool")

    def registered(self, address: str) -> bool:
        return self.board.call("registered", to_checksum_address(address))

    def assignment(self, address: str) -> tuple[int, int] | None:
        """(direction block, report length) the owner gave `address`; None before it did."""
        block = self.board.call("assigned", to_checksum_address(address))
        return (block - 1, self.board.call("size", to_checksum_address(address))) if block else None

    def _events(self, name: str) -> list:
        raw = self.chain.logs(self.board.address, self.deploy_block, "latest", [self.board.topic(name)])
        return self.board.decode_logs(raw)

    def posts(self, start: int = 0) -> list[Post]:
        """Accepted reports from `start` on, in the board's order, from the Posted events."""
        return [post_of(e) for e in self._events("Posted") if e.args["seq"] >= start]

    def published(self) -> list[Published]:
        return [published_of(e) for e in self._events("Published")]


class BoardOwner(BoardContracts):
    """The data collector's side: the owner's verbs."""

    def __init__(self, chain: Chain, token: Contract, board: Contract, params: BoardParams, deploy_block: int,
                 owner: LocalAccount):
        super().__init__(chain, token, board, params, deploy_block)
        self.owner = owner

    def grant(self, address: str, amount: int) -> None:
        self.token.transact("mint", to_checksum_address(address), amount, sender=self.owner, gas=80_000)

    def fund(self, amount: int) -> None:
        self.token.transact("mint", self.owner.address, amount, sender=self.owner, gas=80_000)
        self._send("fund", amount, sender=self.owner, gas=100_000)

    def assign(self, node: str, block_id: int, size: int) -> None:
        self._send("assign", to_checksum_address(node), block_id, size, sender=self.owner, gas=100_000)

    def publish(self, digest: bytes, updates: int) -> int:
        version = self.board.call("versions")
        self._send("publish", bytes(digest), updates, sender=self.owner, gas=80_000)
        return version


class BoardNode(BoardContracts):
    """One node's side: its own key, its own transactions."""

    def __init__(self, chain: Chain, token: Contract, board: Contract, params: BoardParams, deploy_block: int,
                 account: LocalAccount):
        super().__init__(chain, token, board, params, deploy_block)
        self.account = account
        self.address = account.address

    def allow(self) -> None:
        self._allow(self.account)

    def register(self, stake: int) -> None:
        self._register(self.account, stake)

    def post(self, version: int, block_id: int, values_fx: np.ndarray) -> Post:
        return self._post(self.account, version, block_id, values_fx)


def deploy_board(chain: Chain, params: BoardParams, owner: LocalAccount) -> BoardOwner:
    """The reward token and the board, owned by `owner`, who approves the board once (funding is one call)."""
    first = chain.block_number + 1
    token = _create(chain, owner, "reward_token", b"")
    args = abi_encode(["address"] + ["uint256"] * 5, [token.address, params.min_stake, params.fee,
                                                      params.window_blocks, params.max_posts, params.max_staleness])
    board = _create(chain, owner, "board", args)
    token.transact("approve", board.address, MAX_UINT, sender=owner, gas=60_000)
    return BoardOwner(chain, token, board, params, first, owner)


class ChainBoard(BoardOwner):
    """Deploys a board and holds the owner's key and its nodes' keys: the `protocol.board.Board` verbs, by node
    address, for in-process tests and benchmarks."""

    def __init__(self, chain: Chain | str = EMBEDDED, params: BoardParams = BoardParams(), *, nodes: int = 0,
                 seed: int = 0, owner: LocalAccount | None = None):
        chain = connect(chain) if isinstance(chain, str) else chain
        d = deploy_board(chain, params, owner or chain.funded[0])
        super().__init__(chain, d.token, d.board, params, d.deploy_block, d.owner)
        self._keys = Keyring(self.chain, "deml-board-key", seed, self._allow, "ChainBoard")
        self.nodes = self.add_nodes(nodes)

    def add_nodes(self, n: int) -> list[str]:
        return self._keys.add(n)

    def account(self, address: str) -> LocalAccount:
        return self._keys.account(address)

    def register(self, addresses: Sequence[str], stake: int) -> None:
        for a in addresses:
            self._register(self.account(a), stake)

    def add_stake(self, address: str, amount: int) -> None:
        self._send("add_stake", amount, sender=self.account(address), gas=120_000)

    def withdraw(self, address: str) -> None:
        self._send("withdraw", sender=self.account(address), gas=120_000)

    def post(self, node: str, version: int, block_id: int, values_fx: np.ndarray) -> Post:
        return self._post(self.account(node), version, block_id, values_fx)


# ---------------------------------------------------------------------------- the deployment file's two ends
def _hashes(chain: Chain, token: str, board: str) -> tuple[dict[str, str], dict[str, str]]:
    """(keccak256 of the runtime code at each address, of this checkout's creation bytecode of each contract)."""
    code = {"reward_token": chain.code(token), "board": chain.code(board)}
    return ({n: "0x" + keccak(c).hex() for n, c in code.items()},
            {n: "0x" + keccak(bytes.fromhex(artifact(n)["bytecode"][2:])).hex() for n in CONTRACTS})


def board_record(owner: BoardOwner, *, rpc: str, stake: int, store: str | None = None) -> BoardRecord:
    code, built = _hashes(owner.chain, owner.token.address, owner.board.address)
    return BoardRecord(chain_id=owner.chain.chain_id, rpc=rpc, deploy_block=owner.deploy_block,
                       owner=owner.owner.address, token=owner.token.address, board=owner.board.address, code=code,
                       artifacts=built, params=asdict(owner.params), stake=stake, store=store)


def open_board(chain: Chain, rec: BoardRecord, path, *, owner: LocalAccount | None = None,
               account: LocalAccount | None = None) -> BoardOwner | BoardNode:
    """The owner's side (with `owner`) or one node's (with `account`) of the board `rec` describes, once `check`
    agrees that it lives on `chain` (else a DeploymentError naming the field, before anything is sent)."""
    check(rec, path, chain.chain_id, *_hashes(chain, rec.token, rec.board))
    token, board = Contract(chain, "reward_token", rec.token), Contract(chain, "board", rec.board)
    if owner is not None:
        return BoardOwner(chain, token, board, rec.board_params, rec.deploy_block, owner)
    return BoardNode(chain, token, board, rec.board_params, rec.deploy_block, account)  # type: ignore[arg-type]


def post_of(e) -> Post:
    """A Posted event as the board's record."""
    return Post(e.args["seq"], e.args["node"], e.args["version"], e.args["block_id"],
                codec.unpack(e.args["values"]).astype(np.int32), e.args["fee"], e.args["block_number"])


def published_of(e) -> Published:
    return Published(e.args["version"], bytes(e.args["digest"]), e.args["updates"])
