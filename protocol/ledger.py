"""The ledger interface the round driver talks to, and the records that cross it.

A ledger holds the protocol's state: registered nodes and stakes, the reward pool, rounds with their
windows, commitments, reveals and outcomes. `MemoryLedger` keeps it in numpy arrays (with a batch axis of
B independent runs, for vectorised simulations); `contracts.chain_ledger.ChainLedger` keeps it in the
Vyper coordinator (B = 1). The driver cannot tell them apart. Messages are passed as lists so a ledger may
submit them one transaction per node or batched, whichever its transport does best.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np


class LedgerError(Exception):
    """A protocol rule refused a call. `reason` is the same string the contract reverts with."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


class WindowError(LedgerError):
    """The call came outside the window its phase allows."""


class NotParticipant(LedgerError):
    """The sender is not a participant of the round."""


class CommitmentMismatch(LedgerError):
    """A reveal does not hash to the sender's commitment."""


class DuplicateMessage(LedgerError):
    """A second commit or reveal from the same sender in one round."""


class OutOfRange(LedgerError):
    """A fixed-point value outside the codec's int32 range."""


class InsufficientFunds(LedgerError):
    """The pool or a stake cannot cover what the call needs."""


# Revert reasons shared by MemoryLedger and the Vyper coordinator, mapped to the exception each raises.
REASONS: dict[str, type[LedgerError]] = {
    "not owner": LedgerError,
    "already registered": DuplicateMessage,
    "not registered": NotParticipant,
    "stake too small": InsufficientFunds,
    "round in flight": WindowError,
    "pool too small": InsufficientFunds,
    "no participants": LedgerError,
    "bad round": WindowError,
    "commit window closed": WindowError,
    "reveal window not open": WindowError,
    "reveal window closed": WindowError,
    "too early to finalize": WindowError,
    "already finalized": WindowError,
    "not participant": NotParticipant,
    "already committed": DuplicateMessage,
    "already revealed": DuplicateMessage,
    "no commitment": CommitmentMismatch,
    "commitment mismatch": CommitmentMismatch,
    "bad report length": OutOfRange,
    "value out of range": OutOfRange,
    "registry full": InsufficientFunds,
    "slash above 100%": LedgerError,
    "transfer failed": InsufficientFunds,
    "ecdsa: invalid signature": NotParticipant,
}


def ledger_error(reason: str, detail: str = "") -> LedgerError:
    """The typed exception for a revert reason (unknown reasons stay plain LedgerError)."""
    return REASONS.get(reason, LedgerError)(reason, detail)


@dataclass(frozen=True)
class RoundSpec:
    """What the DC posts when it opens a round (per run of the batch where it varies)."""

    tau_fx: np.ndarray  # [B] int: acceptance radius in fixed point
    dim: int  # report dimension k
    scale_bits: int
    params_digest: Sequence[bytes]  # [B] 32-byte commitment to the model parameters
    reward: int  # tokens paid to each revealer of an accepted round
    quorum: int = 2
    commit_blocks: int = 32
    reveal_blocks: int = 32


@dataclass(frozen=True)
class Commit:
    sender: str
    digest: Sequence[bytes]  # [B]


@dataclass(frozen=True)
class Reveal:
    sender: str
    report_fx: np.ndarray  # [B, k] int
    salt: Sequence[bytes]  # [B]


@dataclass(frozen=True)
class RoundOutcome:
    round_id: int
    accepted: np.ndarray  # [B] bool
    revealed: np.ndarray  # [B, N] bool, N = participants in registration order
    total: np.ndarray  # [B, k] sum of revealed reports (fixed point)
    count: np.ndarray  # [B]
    lo: np.ndarray  # [B, k] coordinate-wise min of revealed reports
    hi: np.ndarray  # [B, k] coordinate-wise max
    paid: np.ndarray  # [B, N] tokens paid this round
    slashed: np.ndarray  # [B, N] stake slashed this round
    gas: dict[str, int] = field(default_factory=dict)  # per phase, for chain ledgers


@dataclass(frozen=True)
class Balances:
    tokens: np.ndarray  # [B, N] node token balances
    stakes: np.ndarray  # [B, N] locked stakes
    pool: np.ndarray  # [B] reward pool


class Ledger(Protocol):
    batch: int

    @property
    def participants(self) -> list[str]: ...

    def register(self, addresses: Sequence[str], stake: int) -> None: ...

    def withdraw(self, address: str) -> None: ...

    def fund(self, amount: int) -> None: ...

    def grant(self, address: str, amount: int) -> None: ...

    def open_round(self, spec: RoundSpec) -> int: ...

    def commit(self, round_id: int, commits: Sequence[Commit]) -> None: ...

    def reveal(self, round_id: int, reveals: Sequence[Reveal]) -> None: ...

    def finalize(self, round_id: int) -> RoundOutcome: ...

    def advance(self, blocks: int) -> None: ...

    def balances(self) -> Balances: ...
