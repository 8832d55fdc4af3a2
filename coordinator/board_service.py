"""The data collector's FAR-SIGN service on a report board (`deml coordinator run --mode farsign`): restart-safe,
its state rebuilt from the board's events.

It reads the board's Posted and Published events from the deployment block on, in block and log order, through one
feed: what a fresh start reads first is the history, so replaying it (coordinator/board_server.py's `reports` into
report_stream.consume, exactly what `board_server.replay` does) and continuing are one code path. Each accepted
post is one server update. A model version goes to the store first (bytes keyed by their keccak) and then on chain
as `publish(digest, updates)`, so a node that sees the event can fetch it at once.

How often it publishes. A publish is one owner transaction (about 35k gas) and a store write; a post costs 85k gas
and more (1.27M at MNIST's 7,850 values). Publishing after every report would add 40% to a small report's gas and
advance the versions so fast that a report computed over a second would meet the board's staleness bound; once
every `every` applied reports (5 by default) the versions stay about one report per node apart and publishing
costs a few percent of the posts' gas. The model a version names is always the replay of the first `updates`
posts, whoever published it: a service killed between two publishes and started again publishes the state it
rebuilt, and every published digest stays the digest of that replay (tests/farsign/test_board_swarm.py).

It stops once `reports` posts are applied (publishing the model of exactly those) or after `duration` seconds.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from contracts.board_client import BoardOwner, post_of, published_of
from contracts.chain import Tx
from contracts.keys import NODE_ETHER
from coordinator.board_server import reports as board_reports
from coordinator.report_stream import ServerRule, consume
from coordinator.store_server import ModelStore
from protocol.board import Post, Published
from protocol.process import Patience, Stopwatch


@dataclass(frozen=True)
class Cadence:
    """When the service publishes and when it stops."""

    every: int = 5  # publish after this many applied reports
    reports: int | None = None  # stop once this many are applied
    duration: float | None = None  # or after this many seconds of this process
    poll: float = 0.5  # longest wait for news from the chain (a pushed log wakes it at once)
    pool_reports: int = 100_000  # reports the fee pool is kept funded for


class BoardService:
    """The FAR-SIGN server fed by the board, with the owner's key and no node's. `workers[j]` posts for direction
    block j, `sizes[j]` values a report."""

    def __init__(self, board: BoardOwner, rule: ServerRule, x0: np.ndarray, workers: Sequence[str],
                 sizes: Sequence[int], scale_bits: int, models: ModelStore, *, stake: int,
                 cadence: Cadence = Cadence(), patience: Patience | None = None,
                 say: Callable[[str], None] = print, stopwatch: Stopwatch | None = None):
        self.board, self.rule, self.x0 = board, rule, np.asarray(x0, dtype=np.float64)
        self.workers, self.sizes, self.scale_bits = list(workers), list(sizes), scale_bits
        self.models, self.stake, self.cadence = models, stake, cadence
        self.patience = patience or Patience()
        self.say, self.watch = say, stopwatch or Stopwatch()
        self.chain = board.chain

    # ------------------------------------------------------------------------------------------ joining
    def provision(self) -> None:
        """Idempotent: the fee pool funded, and each worker given the stake's tokens and ether for gas (unless it
        has them or registered already) and its direction block."""
        b, fee = self.board, self.board.params.fee
        _, _, pool = b.accounts([])
        want = fee * self.cadence.pool_reports
        if pool < want // 2:
            b.fund(want - pool)
        for j, (a, size) in enumerate(zip(self.workers, self.sizes)):
            if not b.registered(a) and b.accounts([a])[0][0] < self.stake:
                b.grant(a, self.stake)
            if self.chain.balance(a) < NODE_ETHER // 2:
                (receipt,) = self.chain.send([Tx(b.owner, a, b"", 21_000, NODE_ETHER)])
                if not receipt.ok:
                    raise RuntimeError(f"could not give {a} ether for gas: {receipt.reason}")
            if b.assignment(a) != (j, size):
                b.assign(a, j, size)

    # ------------------------------------------------------------------------------------------- serving
    def run(self) -> Any:
        """Provision, then serve until done; a lost chain: wait (bounded by the patience), rebuild from the events
        and go on. The final server state."""
        while True:
            try:
                self.provision()
                state = self._serve()
                self.patience.ok()
                return state
            except OSError as exc:
                self.say(f"lost the chain ({type(exc).__name__}); rebuilding from its events")
                self.patience.failed(f"chain {self.chain.target}", exc)

    def _serve(self) -> Any:
        b, c = self.board.board, self.cadence
        kinds = {b.topic("Posted"): "Posted", b.topic("Published"): "Published"}
        feed = self.chain.feed(b.address, self.board.deploy_block, list(kinds))
        state, posts, published = self.rule.init(self.x0), [], []
        t0, caught_up = time.monotonic(), False
        try:
            while True:
                with self.watch("wait"):
                    entries, _ = feed.next(c.poll if caught_up else 0.0)
                with self.watch("poll"):
                    for e in b.decode_logs([(x.address, x.topics, x.data) for x in entries]):
                        # a version this service published is known already; a feed may deliver a log twice
                        if e.name == "Posted" and e.args["seq"] == len(posts):
                            posts.append(post_of(e))
                        elif e.name == "Published" and e.args["version"] == len(published):
                            published.append(published_of(e))
                if not caught_up:
                    self.say(f"rebuilt from the board's events: {len(posts)} posts, {len(published)} versions")
                    caught_up = True
                state = self._apply(state, posts, published)
                last = published[-1].updates if published else None
                done = (c.reports is not None and state.n >= c.reports) or \
                    (c.duration is not None and time.monotonic() - t0 >= c.duration)
                if last is None or (done and last != state.n) or state.n - last >= c.every:
                    published.append(self._publish(state, len(published)))
                if done:
                    return state
        finally:
            feed.close()

    def _apply(self, state: Any, posts: list[Post], published: list[Published]) -> Any:
        """The posts not yet applied (up to `reports`), through the one loop every report source uses."""
        stop = len(posts) if self.cadence.reports is None else min(len(posts), self.cadence.reports)
        if stop <= state.n:
            return state
        with self.watch("gradient"):
            state, _ = consume(self.rule, state, board_reports(posts[state.n:stop], published, self.workers,
                                                               self.scale_bits))
        return state

    def _publish(self, state: Any, version: int) -> Published:
        with self.watch("hash"):
            digest = self.models.put(state.x)
        with self.watch("rpc"):
            self.board.publish(digest, state.n)
        self.say(f"version {version}: {state.n} updates, model 0x{digest.hex()[:12]}..")
        return Published(version, digest, state.n)
