"""What the FAR-SIGN report board's two sides share: its records, bounds and revert reasons.

The board (contracts/board.vy on a chain, coordinator/memory_board.py in process) takes reports at any time and
orders them; the data collector's server applies them in that order (coordinator/report_stream.py). A report is
`values` (fixed-point int32, protocol/codec.py) for the node's direction block, computed at a published model
version.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

# contracts/board.vy's bounds; tests/chain/test_board.py holds them equal
MAX_VALUES = 16_384
MIN_WINDOW = 1
MAX_WINDOW = 7_200

# every revert reason of the board, each a refusal the in-process board raises the same way
REASONS = frozenset({
    "not owner", "already registered", "not registered", "stake too small", "transfer failed", "bad window",
    "bad rate", "unknown version", "stale report", "not assigned", "bad report length", "pool empty",
    "rate limited",
})


@dataclass(frozen=True)
class BoardParams:
    """The board's constructor arguments: fixed for a deployment."""

    min_stake: int = 2
    fee: int = 1  # paid per accepted report
    window_blocks: int = 10
    max_posts: int = 5  # reports per window per node, at most (and at most stake // min_stake)
    max_staleness: int = 8  # a report may name a version at most this many versions behind the latest

    def rate(self, stake: int) -> int:
        """Reports a node with `stake` may post per window."""
        return min(stake // self.min_stake, self.max_posts)


@dataclass(frozen=True)
class Published:
    version: int
    digest: bytes  # keccak of the model's bytes (protocol/digest.py), under which the store serves it
    updates: int  # server updates the model reflects (the FAR-SIGN server's n)


@dataclass(frozen=True)
class Post:
    """An accepted report, in the board's order (`seq`), as its Posted event records it."""

    seq: int
    node: str
    version: int
    block_id: int
    values: np.ndarray  # [k] int32, fixed point
    fee: int
    block: int  # the block it was accepted in


class Board(Protocol):
    """The verbs both boards offer. A refusal raises protocol.ledger.LedgerError with the contract's reason."""

    params: BoardParams

    def fund(self, amount: int) -> None: ...

    def grant(self, address: str, amount: int) -> None: ...

    def register(self, addresses: Sequence[str], stake: int) -> None: ...

    def add_stake(self, address: str, amount: int) -> None: ...

    def withdraw(self, address: str) -> None: ...

    def assign(self, node: str, block_id: int, size: int) -> None: ...

    def publish(self, digest: bytes, updates: int) -> int: ...

    def post(self, node: str, version: int, block_id: int, values_fx: np.ndarray) -> Post: ...

    def posts(self, start: int = 0) -> list[Post]: ...

    def published(self) -> list[Published]: ...

    def accounts(self, addresses: Sequence[str]) -> tuple[list[int], list[int], int]: ...
