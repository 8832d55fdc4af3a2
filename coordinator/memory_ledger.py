"""MemoryLedger: the protocol's rules applied in process, exactly as the Vyper coordinator applies them.

State is held per run of a batch (axis B) so that one driver loop advances many independent runs at once.
Every state-changing call takes one "block", as the embedded chain auto-mines one block per transaction;
windows are block ranges. A refused call raises the typed `LedgerError` for the contract's revert reason
and changes nothing. Token amounts are Python integers (object arrays), as uint256 on-chain.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from coordinator import rules
from protocol import codec
from protocol.commitment import commitments as commitment_hashes
from protocol.ledger import Balances, Commit, Reveal, RoundOutcome, RoundSpec, ledger_error

MAX_PARTICIPANTS = 64
MAX_REGISTRY = 1024  # registered nodes, as the coordinator's registry bound


@dataclass
class _Round:
    spec: RoundSpec
    members: list[str]
    commit_deadline: int
    reveal_deadline: int
    committed: np.ndarray  # [B, N] bool
    digests: list[list[bytes]]  # [N][B]
    revealed: np.ndarray  # [B, N] bool
    reports: np.ndarray  # [B, N, k] int64
    outcome: RoundOutcome | None = None


class MemoryLedger:
    def __init__(self, batch: int = 1, *, min_stake: int = 1, slash_bps: int = 5_000, estimator: str = "mean",
                 max_dim: int | None = None):
        """`max_dim`: the largest report a round may ask for, as the deployed coordinator's bound (256);
        None lets simulations carry full high-dimensional reports the chain would only take as sketches."""
        if batch < 1:
            raise ValueError(f"batch: must be >= 1, got {batch}")
        self.batch = batch
        self.max_dim = max_dim
        self.min_stake = min_stake
        self.slash_bps = slash_bps
        self.estimator = estimator
        self.block = 1
        self._nodes: list[str] = []
        self._tokens: dict[str, np.ndarray] = {}  # address -> [B] object
        self._stakes: dict[str, np.ndarray] = {}
        self._pool = np.zeros(batch, dtype=object)
        self._rounds: list[_Round] = []

    # ----------------------------------------------------------------------------------------- accounts
    @property
    def participants(self) -> list[str]:
        return list(self._nodes)

    def _mine(self) -> None:
        self.block += 1

    def advance(self, blocks: int) -> None:
        self.block += blocks

    def _zeros(self) -> np.ndarray:
        return np.zeros(self.batch, dtype=object)

    def grant(self, address: str, amount: int) -> None:
        self._tokens.setdefault(address, self._zeros())
        self._tokens[address] = self._tokens[address] + amount
        self._mine()

    def fund(self, amount: int) -> None:
        self._pool = self._pool + amount
        self._mine()

    def _in_flight(self) -> _Round | None:
        return self._rounds[-1] if self._rounds and self._rounds[-1].outcome is None else None

    def register(self, addresses: Sequence[str], stake: int) -> None:
        for k, a in enumerate(addresses):
            if a in self._nodes or a in addresses[:k]:
                raise ledger_error("already registered", a)
            if stake < self.min_stake:
                raise ledger_error("stake too small", f"{stake} < min_stake {self.min_stake}")
            if np.any(self._tokens.get(a, self._zeros()) < stake):
                raise ledger_error("stake too small", f"{a} holds fewer than {stake} tokens")
            if len(self._nodes) + k >= MAX_REGISTRY:
                raise ledger_error("registry full", f"{MAX_REGISTRY} nodes registered")
        for a in addresses:
            self._tokens[a] = self._tokens.get(a, self._zeros()) - stake
            self._stakes[a] = self._zeros() + stake
            self._nodes.append(a)
            self._mine()

    def withdraw(self, address: str) -> None:
        if address not in self._nodes:
            raise ledger_error("not registered", address)
        live = self._in_flight()
        if live is not None and address in live.members:
            raise ledger_error("round in flight", f"{address} takes part in round {len(self._rounds) - 1}")
        self._tokens[address] = self._tokens[address] + self._stakes.pop(address)
        self._nodes.remove(address)
        self._mine()

    def balances(self) -> Balances:
        if not self._nodes:
            empty = np.zeros((self.batch, 0), dtype=object)
            return Balances(empty, empty, self._pool.copy())
        return Balances(
            tokens=np.stack([self._tokens[a] for a in self._nodes], axis=1),
            stakes=np.stack([self._stakes[a] for a in self._nodes], axis=1),
            pool=self._pool.copy(),
        )

    def token_balance(self, address: str) -> np.ndarray:
        return self._tokens.get(address, self._zeros()).copy()

    # ------------------------------------------------------------------------------------------- rounds
    def open_round(self, spec: RoundSpec) -> int:
        if self._in_flight() is not None:
            raise ledger_error("round in flight", "finalize the previous round first")
        members = list(self._nodes)
        if not members or len(members) > MAX_PARTICIPANTS:
            raise ledger_error("no participants", f"{len(members)} registered, need 1..{MAX_PARTICIPANTS}")
        if np.any(self._pool < spec.reward * len(members)):
            raise ledger_error("pool too small", f"need {spec.reward * len(members)} to pay every participant")
        tau = np.asarray(spec.tau_fx)
        if tau.shape != (self.batch,) or np.any(tau < 0) or not np.all(codec.in_range(tau)):
            raise ledger_error("value out of range", f"tau_fx must be {self.batch} values in [0, 2**31)")
        if spec.dim < 1 or (self.max_dim is not None and spec.dim > self.max_dim):
            raise ledger_error("bad report length", f"dim {spec.dim} outside 1..{self.max_dim}")
        n, b = len(members), self.batch
        start = self.block
        self._rounds.append(_Round(
            spec=spec, members=members,
            commit_deadline=start + spec.commit_blocks,
            reveal_deadline=start + spec.commit_blocks + spec.reveal_blocks,
            committed=np.zeros((b, n), dtype=bool), digests=[[] for _ in range(n)],
            revealed=np.zeros((b, n), dtype=bool), reports=np.zeros((b, n, spec.dim), dtype=np.int64),
        ))
        self._mine()
        return len(self._rounds) - 1

    def _round(self, round_id: int) -> _Round:
        if not 0 <= round_id < len(self._rounds):
            raise ledger_error("bad round", f"round {round_id} does not exist")
        r = self._rounds[round_id]
        if r.outcome is not None:
            raise ledger_error("already finalized", f"round {round_id}")
        return r

    def _member(self, r: _Round, sender: str) -> int:
        if sender not in r.members:
            raise ledger_error("not participant", sender)
        return r.members.index(sender)

    def commit(self, round_id: int, commits: Sequence[Commit]) -> None:
        r = self._round(round_id)
        # validate everything first: a refused batch records nothing
        seen = set()
        for c in commits:
            if self.block > r.commit_deadline:
                raise ledger_error("commit window closed", f"block {self.block} > {r.commit_deadline}")
            i = self._member(r, c.sender)
            if r.committed[0, i] or i in seen:
                raise ledger_error("already committed", c.sender)
            if len(c.digest) != self.batch:
                raise ledger_error("bad report length", f"{len(c.digest)} digests for batch {self.batch}")
            seen.add(i)
        for c in commits:
            i = r.members.index(c.sender)
            r.committed[:, i] = True
            r.digests[i] = list(c.digest)
            self._mine()

    def _reveal_open(self, r: _Round) -> bool:
        return self.block > r.commit_deadline or bool(r.committed.all())

    def reveal(self, round_id: int, reveals: Sequence[Reveal]) -> None:
        r = self._round(round_id)
        checked = []
        for m in reveals:
            if not self._reveal_open(r):
                raise ledger_error("reveal window not open", f"block {self.block} <= {r.commit_deadline}")
            if self.block > r.reveal_deadline:
                raise ledger_error("reveal window closed", f"block {self.block} > {r.reveal_deadline}")
            i = self._member(r, m.sender)
            if not r.committed[0, i]:
                raise ledger_error("no commitment", m.sender)
            if r.revealed[0, i] or any(i == j for j, _ in checked):
                raise ledger_error("already revealed", m.sender)
            fx = np.asarray(m.report_fx)
            if fx.shape != (self.batch, r.spec.dim):
                raise ledger_error("bad report length", f"{fx.shape} != {(self.batch, r.spec.dim)}")
            if not np.all(codec.in_range(fx)):
                raise ledger_error("value out of range", f"{m.sender} sent a value outside int32")
            if commitment_hashes(round_id, m.sender, fx, list(m.salt)) != r.digests[i]:
                raise ledger_error("commitment mismatch", m.sender)
            checked.append((i, fx))
        for i, fx in checked:
            r.revealed[:, i] = True
            r.reports[:, i] = fx
            self._mine()

    def finalize(self, round_id: int) -> RoundOutcome:
        r = self._round(round_id)
        if not (self.block > r.reveal_deadline or bool(r.revealed.all())):
            raise ledger_error("too early to finalize", f"block {self.block} <= {r.reveal_deadline}")
        accepted = rules.consistent(r.reports, r.revealed, r.spec.tau_fx, r.spec.quorum)
        total, count, lo, hi = rules.aggregates(r.reports, r.revealed)
        stakes = np.stack([self._stakes[a] for a in r.members], axis=1)
        paid, slashed = rules.settle(accepted, r.revealed, r.committed, r.spec.reward, stakes, self.slash_bps)
        for i, a in enumerate(r.members):
            self._tokens[a] = self._tokens[a] + paid[:, i]
            self._stakes[a] = self._stakes[a] - slashed[:, i]
        self._pool = self._pool - paid.sum(axis=1) + slashed.sum(axis=1)
        r.outcome = RoundOutcome(round_id, accepted, r.revealed.copy(), total, count, lo, hi, paid, slashed)
        self._mine()
        return r.outcome
