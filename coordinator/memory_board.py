"""MemoryBoard: the report board's rules (contracts/board.vy) in process, for fast sweeps of FAR-SIGN's
asynchronous mode. The same checks in the same order, so the same call meets the same reason; the block clock
is `block`, the block the next call is mined in (a chain mines one per transaction: `tick` after each call
keeps the two in step)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from protocol.board import MAX_VALUES, MAX_WINDOW, MIN_WINDOW, BoardParams, Post, Published
from protocol.ledger import ledger_error


class MemoryBoard:
    def __init__(self, params: BoardParams, *, block: int = 1, tick: bool = True):
        """`tick`: advance the clock one block per accepted or refused transaction, as an automining devnet."""
        if params.min_stake == 0:
            raise ledger_error("stake too small", "min_stake must be positive")
        if not MIN_WINDOW <= params.window_blocks <= MAX_WINDOW:
            raise ledger_error("bad window", f"window_blocks {params.window_blocks} outside [{MIN_WINDOW}, {MAX_WINDOW}]")
        if params.max_posts == 0:
            raise ledger_error("bad rate", "max_posts must be positive")
        self.params, self.block, self.tick = params, block, tick
        self.pool = 0
        self.tokens: dict[str, int] = {}
        self.stake: dict[str, int] = {}
        self.window: dict[str, tuple[int, int]] = {}  # node -> (start block, posts in it)
        self.assigned: dict[str, tuple[int, int]] = {}  # node -> (direction block, report length)
        self._published: list[Published] = []
        self._posts: list[Post] = []

    def _mined(self) -> None:
        if self.tick:
            self.block += 1

    def _refuse(self, reason: str, detail: str = ""):
        self._mined()  # a refused transaction is mined too
        return ledger_error(reason, detail)

    def advance(self, blocks: int) -> None:
        self.block += blocks

    # ------------------------------------------------------------------------------------------ accounts
    def grant(self, address: str, amount: int) -> None:
        self.tokens[address] = self.tokens.get(address, 0) + amount
        self._mined()

    def fund(self, amount: int) -> None:
        self.pool += amount
        self._mined()

    def register(self, addresses: Sequence[str], stake: int) -> None:
        for a in addresses:
            if a in self.stake:
                raise self._refuse("already registered", a)
            if stake < self.params.min_stake or self.tokens.get(a, 0) < stake:
                raise self._refuse("stake too small", a)
            self.tokens[a] -= stake
            self.stake[a] = stake
            self._mined()

    def add_stake(self, address: str, amount: int) -> None:
        if address not in self.stake:
            raise self._refuse("not registered", address)
        if self.tokens.get(address, 0) < amount:
            raise self._refuse("stake too small", address)
        self.tokens[address] -= amount
        self.stake[address] += amount
        self._mined()

    def withdraw(self, address: str) -> None:
        if address not in self.stake:
            raise self._refuse("not registered", address)
        self.tokens[address] = self.tokens.get(address, 0) + self.stake.pop(address)
        self._mined()

    def accounts(self, addresses: Sequence[str]) -> tuple[list[int], list[int], int]:
        return [self.tokens.get(a, 0) for a in addresses], [self.stake.get(a, 0) for a in addresses], self.pool

    # --------------------------------------------------------------------------------------------- board
    def assign(self, node: str, block_id: int, size: int) -> None:
        if not 0 < size <= MAX_VALUES:
            raise self._refuse("bad report length", f"size {size}")
        self.assigned[node] = (block_id, size)
        self._mined()

    def publish(self, digest: bytes, updates: int) -> int:
        version = len(self._published)
        self._published.append(Published(version, bytes(digest), updates))
        self._mined()
        return version

    def post(self, node: str, version: int, block_id: int, values_fx: np.ndarray) -> Post:
        p = self.params
        values = np.asarray(values_fx)
        if node not in self.stake:
            raise self._refuse("not registered", node)
        stake = self.stake[node]
        if stake < p.min_stake:
            raise self._refuse("stake too small", node)
        latest = len(self._published)
        if not version < latest:
            raise self._refuse("unknown version", f"version {version}, {latest} published")
        if version + p.max_staleness < latest - 1:
            raise self._refuse("stale report", f"version {version}, latest {latest - 1}")
        block, size = self.assigned.get(node, (None, 0))
        if block != block_id:
            raise self._refuse("not assigned", f"{node} posts for block {block_id}, assigned {block}")
        if values.size != size:
            raise self._refuse("bad report length", f"{values.size} values, its block has {size}")
        if self.pool < p.fee:
            raise self._refuse("pool empty")
        start, used = self.window.get(node, (0, 0))
        if self.block >= start + p.window_blocks:
            start, used = self.block, 0
        if used >= p.rate(stake):
            raise self._refuse("rate limited", f"{used} reports since block {start}")
        self.window[node] = (start, used + 1)
        self.pool -= p.fee
        self.tokens[node] = self.tokens.get(node, 0) + p.fee
        post = Post(len(self._posts), node, version, block_id, values.astype(np.int32), p.fee, self.block)
        self._posts.append(post)
        self._mined()
        return post

    def posts(self, start: int = 0) -> list[Post]:
        return self._posts[start:]

    def published(self) -> list[Published]:
        return list(self._published)
