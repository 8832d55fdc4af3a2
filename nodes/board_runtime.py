"""A FAR-SIGN node as a process (`deml node run --mode farsign`): its own key, its own data shard, its own signed
transactions on the report board.

It registers with the stake the data collector granted it, reads the direction block the DC assigned it (its
worker index: its rows and its data shard), and then, until stopped: takes the latest published version (the
board's Published events), fetches that model from the DC's store (refusing, in one line, a model whose digest is
not the published one), computes its report with its role's pool (an honest first- or zeroth-order worker, or an
attack over one), waits a draw of its delay law (heterogeneous speed: real stragglers), and posts the report,
computed at the version it read, with its own transaction. Nothing waits for anybody: a report is as stale as the
node is slow.

A refused post (rate limited, stale, pool empty, bad length) is one line and the node goes on; a report that the
board cannot carry (NaN) is not sent, also in one line; finite values beyond the fixed-point range are sent at the
range's bound (what the largest report the board carries is). A lost chain or store: bounded retries (Patience),
then Unreachable.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from contracts.board_client import BoardNode, published_of
from nodes.farsign_workers import Respond
from protocol import codec
from protocol.board import Published
from protocol.ledger import LedgerError
from protocol.process import NotAdmitted, Patience, Stopwatch
from protocol.store import StoreClient, StoreError



class BoardNodeProcess:
    def __init__(self, board: BoardNode, respond: Respond, store: StoreClient, *, dim: int, scale_bits: int,
                 stake: int, seed: int, pause: Callable[[np.random.Generator], float] = lambda rng: 0.0,
                 backoff: bool = True, patience: Patience | None = None, say: Callable[[str], None] = print,
                 stopwatch: Stopwatch | None = None):
        self.board, self.respond, self.store = board, respond, store
        self.dim, self.scale_bits, self.stake, self.seed, self.pause = dim, scale_bits, stake, seed, pause
        self.backoff = backoff  # after "rate limited", wait for the next version (a flooder does not)
        self.patience = patience or Patience()
        self.say, self.watch = say, stopwatch or Stopwatch()
        self.chain, self.address = board.chain, board.address
        self.block: int | None = None  # the direction block assigned (its worker index)
        self.size = 0
        self.versions: list[Published] = []
        self._refused: set[int] = set()  # versions whose store model was refused (said once each)
        self._held: tuple[Published, np.ndarray] | None = None  # the latest version whose model it checked
        self._unreached: set[int] = set()  # versions whose model the store could not serve (said once each)
        self._feed = None
        self.posted = self.refused = 0

    # --------------------------------------------------------------------------------------------- joining
    def join(self, timeout: float, poll: float = 0.5) -> None:
        """Register with the stake once the DC granted it, then wait for the direction block; NotAdmitted when
        either does not come within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self._joined(deadline, timeout):
                    self.patience.ok()
                    return
                self.patience.ok()
            except OSError as exc:
                self.patience.failed(f"chain {self.chain.target}", exc)
            time.sleep(poll)

    def _joined(self, deadline: float, timeout: float) -> bool:
        b = self.board
        if not b.registered(self.address):
            tokens = b.accounts([self.address])[0][0]
            if tokens < self.stake or self.chain.balance(self.address) == 0:
                if time.monotonic() >= deadline:
                    raise NotAdmitted(f"node {self.address}: holds {tokens} of the {self.stake} tokens a stake needs "
                                      f"after {timeout:g} s; use a participant's key, or have the data collector "
                                      f"list this address")
                return False
            b.allow()
            b.register(self.stake)
            self.say(f"registered {self.address} with a stake of {self.stake}")
        assigned = b.assignment(self.address)
        if assigned is None:
            if time.monotonic() >= deadline:
                raise NotAdmitted(f"node {self.address}: registered, but no direction block assigned after "
                                  f"{timeout:g} s; have the data collector list this address")
            return False
        self.block, self.size = assigned
        return True

    # --------------------------------------------------------------------------------------------- reports
    def run(self, stop: Callable[[], bool] = lambda: False, poll: float = 0.5) -> None:
        rng = np.random.default_rng([self.seed, self.block])
        while not stop():
            try:
                self.step(rng, poll)
                self.patience.ok()
            except OSError as exc:  # the chain, its websocket or the store stopped answering
                self._close()
                self.patience.lost(exc, self.chain.target, self.say)
        self._close()

    def step(self, rng: np.random.Generator, poll: float = 0.5) -> bool:
        """One report at the latest version (waiting up to `poll` seconds for the first); True when one was posted."""
        self._read(0.0 if self.versions else poll)
        if not self.versions:
            return False
        v = self.versions[-1]
        try:
            x = self._fetch(v)
        except OSError:  # the store is gone (its DC died, say): go on from the last model it checked meanwhile
            if self._held is None:
                raise
            if v.version not in self._unreached:
                self._unreached.add(v.version)
                self.say(f"version {v.version}: the store is out of reach; reporting on version "
                         f"{self._held[0].version} meanwhile")
            v, x = self._held
        if x is None:
            self._read(poll)  # wait for the next version
            return False
        self._held = (v, x)
        with self.watch("gradient"):
            y = np.asarray(self.respond([self.block], x, v.updates, rng)[0], dtype=np.float64)
        time.sleep(self.pause(rng))
        if np.isnan(y).any():
            self.say(f"version {v.version}: report not sent: it holds NaN, which the board's fixed point cannot carry")
            return False
        bound = codec.max_magnitude(self.scale_bits)
        fx = codec.encode(np.clip(y, -bound, bound), self.scale_bits)
        try:
            with self.watch("rpc"):
                self.board.post(v.version, self.block, fx)
        except LedgerError as exc:
            self.refused += 1
            if exc.reason == "stale report" and v is not self.versions[-1]:
                # the model it held meanwhile aged out: from here the store's loss counts against its patience
                raise ConnectionError(f"store: version {self.versions[-1].version} out of reach, and version "
                                      f"{v.version} too stale to report on") from None
            self.say(f"version {v.version}: post refused ({exc.reason}); going on")
            if self.backoff and exc.reason == "rate limited":
                self._read(poll)  # its window reopens with the blocks others' posts and versions mine
            return False
        self.posted += 1
        return True

    def _read(self, timeout: float) -> None:
        if self._feed is None:
            b = self.board.board
            self._feed = self.chain.feed(b.address, self.board.deploy_block, [b.topic("Published")])
        with self.watch("wait"):
            entries, _ = self._feed.next(timeout)
        for e in self.board.board.decode_logs([(x.address, x.topics, x.data) for x in entries]):
            if e.args["version"] == len(self.versions):
                self.versions.append(published_of(e))

    def _fetch(self, v: Published) -> np.ndarray | None:
        """The model of version v from the store, its digest checked; None (said once) when the store serves
        another model. (The store client keeps the last one: versions come far apart in posts.)"""
        try:
            with self.watch("store"):
                x = self.store.get(v.digest, self.dim)
        except StoreError as exc:
            if v.version not in self._refused:
                self._refused.add(v.version)
                self.say(f"version {v.version}: refused the store's model ({exc}); nothing sent for it")
            return None
        return x

    def _close(self) -> None:
        if self._feed is not None:
            self._feed.close()
            self._feed = None
