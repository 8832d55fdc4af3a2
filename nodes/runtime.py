"""A node as a process (`deml node run`): its own key, its own data, its own signed transactions.

It watches the coordinator's events. For each round that lists it as a member it fetches the posted model from
the DC's store (`protocol.store`: a model whose digest is not the round's `params_digest` is refused), computes
its report with its role's report function and its own generator for (seed, index, round) (a colluding
adversary: the coalition's, `nodes.seeds`), commits, and reveals once the reveal window opens (AllCommitted, or
the commit window is over). A report that cannot be encoded is not committed: the node sits the
round out, as in the in-process engine. In a sketched round (a model larger than a report, docs/sketch.md) it
commits to its full report's digest in the same way, waits for the DC's projection seed, delivers the full report
to the store and reveals its sketch with the digest.

What it acts on is what the chain says, never its own memory of what it sent: a Committed event of its own (read
when it starts), a receipt, or the contract's refusal of a second one means its commit is done, whatever happened to
the process that sent it. Its salt is derived
from its key and the round (secret, and the same after a restart), and its report is seeded, so a node started
again mid-round reveals what it committed to. After a lost connection it dry-runs its next transaction first,
so nothing is sent twice; the contract refuses a second commit or reveal anyway.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from contracts.client import Deployment
from nodes.seeds import coalition_rng, node_rng
from protocol import codec, sketch
from protocol.commitment import commitment, keccak
from protocol.ledger import DuplicateMessage, LedgerError, WindowError
from protocol.process import NotAdmitted, Patience, Stopwatch
from protocol.store import StoreClient


# the coordinator's events a node needs
WATCHED = ("RoundOpened", "SeedRevealed", "Committed", "AllCommitted", "Revealed", "Finalized", "Expired")
# pushed while it runs: not every member's commit and reveal (it needs its own, which its receipts tell it, and
# whether all have committed, which AllCommitted tells it); all are read again when it starts
LIVE = tuple(name for name in WATCHED if name not in ("Committed", "Revealed"))


def _node(topic: bytes) -> str:
    """The address in an indexed address topic."""
    return to_checksum_address(topic[12:])


class Reporter(Protocol):
    """A role's report at the posted model theta [1, d], for the announced tau [1] and eta's grid index [1],
    drawing from `rng`: real values [1, d]."""

    def __call__(self, theta: np.ndarray, tau: np.ndarray, eta_index: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray: ...


class Announcement(Protocol):
    """The workload's reading of a round's posted threshold: (tau [1], eta's grid index [1]) from tau_fx."""

    def __call__(self, tau_fx: int, scale_bits: int) -> tuple[np.ndarray, np.ndarray]: ...



@dataclass(frozen=True)
class Identity:
    """Who the node is: its key, its index among the swarm's nodes (its data shard; its generator's key with
    the seed), and whether it draws with the colluding coalition."""

    account: LocalAccount
    index: int
    seed: int
    collude: bool = False

    def rng(self, round_id: int) -> np.random.Generator:
        return coalition_rng(self.seed, round_id) if self.collude else node_rng(self.seed, self.index, round_id)

    def salt(self, round_id: int) -> bytes:
        return keccak(bytes(self.account.key) + b"deml-salt" + round_id.to_bytes(32, "big"))


@dataclass
class _Round:
    """A round the node is a member of, as its events say so far."""

    round_id: int
    members: tuple[str, ...]
    commit_deadline: int
    reveal_deadline: int
    digest: bytes
    tau_fx: int
    dim: int  # values revealed: the report, or its sketch
    scale_bits: int
    full_dim: int  # the model's size (> dim: a sketched round)
    seed: bytes | None = None  # a sketched round's projection seed, once the DC revealed it
    committed: set[str] = field(default_factory=set)
    all_committed: bool = False  # every member committed: the reveal window opened before its deadline
    revealed: set[str] = field(default_factory=set)
    settled: bool = False
    opening: tuple[bytes, bytes] | None = None  # (packed report, salt), once computed
    done: str = ""  # why the node stopped acting on it ("" while it still has something to send)


class Node:
    def __init__(self, deployment: Deployment, identity: Identity, report: Reporter, announcement: Announcement,
                 store: StoreClient, *, stake: int, from_block: int, patience: Patience | None = None,
                 say: Callable[[str], None] = print, stopwatch: Stopwatch | None = None):
        self.deployment, self.me, self.report, self.announcement = deployment, identity, report, announcement
        self.store, self.stake = store, stake
        self.chain = deployment.chain
        self.address = identity.account.address
        self.patience = patience or Patience()
        self.say = say
        self.watch = stopwatch or Stopwatch()
        self.cursor = from_block  # events before this block have been read
        self.rounds: dict[int, _Round] = {}
        self._feed = None
        self._kinds = {deployment.coordinator.topic(name): name for name in WATCHED}  # topic -> event name
        self._suspect = False  # a transaction may have gone out unconfirmed: dry-run the next one first

    # --------------------------------------------------------------------------------------------- joining
    def join(self, timeout: float, pump: Callable[[], None] = lambda: time.sleep(0.5)) -> None:
        """Register with the stake, unless registered already; waits up to `timeout` seconds for the DC to grant
        the stake's tokens and ether for gas, and sends nothing if none come (NotAdmitted)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self._join(deadline, timeout, pump):
                    return
                self.patience.ok()
            except OSError as exc:
                self._suspect = True
                self.patience.failed(f"chain {self.chain.target}", exc)

    def _join(self, deadline: float, timeout: float, pump: Callable[[], None]) -> bool:
        """One look: True once registered (registering now if the stake has come)."""
        d = self.deployment
        if d.registered(self.address):
            return True
        if d.token_balance(self.address) < self.stake or self.chain.balance(self.address) == 0:
            if time.monotonic() >= deadline:
                raise NotAdmitted(
                    f"node {self.address}: not registered with coordinator {d.coordinator.address}, and it holds "
                    f"{d.token_balance(self.address)} of the {self.stake} tokens a stake needs after {timeout:g} s; "
                    f"use a participant's key, or have the data collector list this address as a participant")
            pump()
            return False
        d.preflight = self._suspect  # after a lost connection, ask the chain first
        d.allow(self.me.account)
        d.register([self.me.account], self.stake)
        d.preflight = False
        self.say(f"registered {self.address} with a stake of {self.stake}")
        return True

    # ---------------------------------------------------------------------------------------------- rounds
    def run(self, stop: Callable[[], bool] = lambda: False, poll: float = 0.5) -> None:
        """Steps until `stop()`, waiting up to `poll` seconds for news from the chain between them. A lost chain
        or store: bounded retries (the events are read again from where they were), then Unreachable."""
        busy = False
        while not stop():
            try:
                busy = self.step(0.0 if busy else poll)
                self.patience.ok()
            except OSError as exc:  # the chain, its websocket or the store stopped answering
                self._suspect = True
                self._close()
                self.patience.lost(exc, self.chain.target, self.say)
        self._close()

    def step(self, timeout: float = 0.0) -> bool:
        """Take what the chain says since the last step (waiting up to `timeout` seconds for it), then act on the
        rounds in flight; True when something was sent."""
        if self._feed is None:
            c = self.deployment.coordinator
            self._feed = self.chain.feed(c.address, self.cursor, list(self._kinds), [c.topic(n) for n in LIVE])
        with self.watch("wait"):
            entries, head = self._feed.next(timeout)
        with self.watch("poll"):
            self._read(entries)
        live = [r for r in self.rounds.values() if not r.settled and not r.done]
        return any([self._act(r, head) for r in live])

    def _close(self) -> None:
        if self._feed is not None:
            self._feed.close()
            self._feed = None

    def _read(self, entries: list) -> None:
        """Apply the events: a RoundOpened is decoded; the others are read off their indexed topics (round id, node),
        which is all the node needs of them. Reading a block again changes nothing."""
        c, me = self.deployment.coordinator, self.address
        for entry in entries:
            self.cursor = max(self.cursor, entry.block)
            kind, rid = self._kinds.get(entry.topics[0]), int.from_bytes(entry.topics[1], "big")
            if kind == "RoundOpened":
                (e,) = c.decode_logs([(entry.address, entry.topics, entry.data)])
                args = e.args
                if me in args["members"] and rid not in self.rounds:
                    self.rounds[rid] = _Round(rid, args["members"], args["commit_deadline"], args["reveal_deadline"],
                                              args["params_digest"], args["tau_fx"], args["dim"], args["scale_bits"],
                                              max(args["full_dim"], args["dim"]))
                continue
            r = self.rounds.get(rid)
            if r is None:
                continue
            if kind == "SeedRevealed":
                (e,) = c.decode_logs([(entry.address, entry.topics, entry.data)])
                r.seed = e.args["seed"]
            elif kind == "Committed":
                r.committed.add(_node(entry.topics[2]))
            elif kind == "AllCommitted":
                r.all_committed = True
            elif kind == "Revealed":
                r.revealed.add(_node(entry.topics[2]))
            else:
                r.settled = True

    def _act(self, r: _Round, block: int) -> bool:
        if self.address not in r.committed:
            if block > r.commit_deadline:
                return self._stop(r, "its commit window closed before it committed")
            opening = self._opening(r)
            if opening is None:
                return self._stop(r, "its report cannot be encoded (NaN, inf or out of range): it sits the round out")
            digest = commitment(r.round_id, self.address, *opening)
            return self._send(r, "commit", lambda: self.deployment.commit(r.round_id, [(self.me.account, digest)]),
                              r.committed)
        if self.address not in r.revealed:
            if block > r.reveal_deadline:
                return self._stop(r, "its reveal window closed before it revealed")
            if not r.all_committed and block <= r.commit_deadline:
                return False  # the reveal window is not open yet
            if r.full_dim > r.dim and r.seed is None:
                return False  # the DC reveals the projection's seed first
            return self._send(r, "reveal", lambda: self.deployment.reveal(
                r.round_id, [self._reveal(r)], members=len(r.members)), r.revealed)
        return False

    def _reveal(self, r: _Round) -> tuple:
        """The reveal: (key, packed report, salt), or in a sketched round (key, packed sketch, salt, digest) once
        the full report is in the store (delivered first: a revealer that is never confirmed is never paid)."""
        packed, salt = self._opening(r)
        if r.full_dim == r.dim:
            return self.me.account, packed, salt
        with self.watch("store"):
            digest = self.store.put_report(packed)
        with self.watch("hash"):
            z = sketch.sketch(codec.unpack(packed), r.seed, r.dim)
        return self.me.account, codec.pack_sketch(z), salt, digest

    def _opening(self, r: _Round) -> tuple[bytes, bytes] | None:
        """(packed report, salt) for round r, computed once: the model from the store, checked against the round's
        digest; None when the report cannot be encoded."""
        if r.opening is None:
            with self.watch("store"):
                theta = self.store.get(r.digest, r.full_dim)
            with self.watch("gradient"):
                tau, eta_index = self.announcement(r.tau_fx, r.scale_bits)
                y = self.report(theta[None, :], tau, eta_index, self.me.rng(r.round_id))
                fx, ok = codec.encode_rows(y, r.scale_bits)
            if not ok[0]:
                return None
            with self.watch("hash"):
                r.opening = (codec.pack(fx[0]), self.me.salt(r.round_id))
        return r.opening

    def _send(self, r: _Round, verb: str, send: Callable[[], None], done: set[str]) -> bool:
        """Send; once its receipt says it was mined and succeeded, or the chain refuses it as a second one, `done`
        holds this node (the chain said so: its event may come a moment later, or, for a reveal, not be pushed at
        all, and acting again would send a doomed second message)."""
        d = self.deployment
        d.preflight, self._suspect = self._suspect, False  # after a lost connection, ask the chain first
        try:
            with self.watch("rpc"):
                send()
        except DuplicateMessage:  # done before (say, by this node before a restart)
            done.add(self.address)
            return False
        except WindowError as exc:
            return self._stop(r, f"its {verb} was refused ({exc.reason})")
        except LedgerError as exc:
            return self._stop(r, f"its {verb} was refused ({exc})")
        except OSError:
            self._suspect = True
            raise
        finally:
            d.preflight = False
        done.add(self.address)
        return True

    def _stop(self, r: _Round, why: str) -> bool:
        r.done = why
        self.say(f"round {r.round_id + 1}: {why}")
        return False


@dataclass(frozen=True)
class _Sleep:
    """The wait of a chain that offers no notifications: a fixed pause."""

    seconds: float

    def wait(self, timeout: float) -> bool:
        time.sleep(min(self.seconds, timeout))
        return False

    def close(self) -> None:
        pass
