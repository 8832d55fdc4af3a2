"""The ledger interface the round driver talks to, and the records that cross it.

A ledger holds the protocol's state: registered nodes and stakes, the reward pool, rounds with their
windows, commitments, reveals and outcomes. `MemoryLedger` keeps it in numpy arrays (with a batch axis of
B independent runs, for vectorised simulations); `contracts.chain_ledger.ChainLedger` keeps it in the
Vyper coordinator (B = 1). The driver cannot tell them apart.
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


class BadParameter(LedgerError):
    """A round or deployment parameter outside the bounds the contract enforces."""


# Revert reasons shared by MemoryLedger and the Vyper coordinator, mapped to the exception each raises.
REASONS: dict[str, type[LedgerError]] = {
    "not owner": LedgerError,
    "already registered": DuplicateMessage,
    "not registered": NotParticipant,
    "stake too small": InsufficientFunds,
    "round in flight": WindowError,
    "pool too small": InsufficientFunds,
    "bad quorum": BadParameter,
    "bad window": BadParameter,
    "reward above penalty": BadParameter,
    "bad round": WindowError,
    "commit window closed": WindowError,
    "reveal window not open": WindowError,
    "reveal window closed": WindowError,
    "too early to finalize": WindowError,
    "too early to expire": WindowError,
    "already finalized": WindowError,
    "not participant": NotParticipant,
    "already committed": DuplicateMessage,
    "already revealed": DuplicateMessage,
    "no commitment": CommitmentMismatch,
    "commitment mismatch": CommitmentMismatch,
    "bad report length": OutOfRange,
    "value out of range": OutOfRange,
    "bad slash": BadParameter,
    "penalty rounds to zero": BadParameter,
    "transfer failed": InsufficientFunds,
    # raised by snekmate's ecdsa inside the coordinator, for a relayed commit with a malformed signature
    "ecdsa: invalid signature": NotParticipant,
    "ecdsa: invalid signature `s` value": NotParticipant,
    # refused by the ledgers before anything is sent: the contract's ABI bound on a candidate list
    "too many members": BadParameter,
    # sketched rounds
    "bad seed": BadParameter,
    "not sketched": BadParameter,
    "seed mismatch": CommitmentMismatch,
    "seed not revealed": WindowError,
    "not confirming": WindowError,
    "confirm window closed": WindowError,
    "too early to release": WindowError,
    "no mismatch": CommitmentMismatch,
}
LIBRARY_REASONS = frozenset({"ecdsa: invalid signature", "ecdsa: invalid signature `s` value"})
CLIENT_REASONS = frozenset({"too many members"})


def ledger_error(reason: str, detail: str = "") -> LedgerError:
    """The typed exception for a revert reason (unknown reasons stay plain LedgerError)."""
    return REASONS.get(reason, LedgerError)(reason, detail)


# The contract's bounds (contracts/coordinator.vy), which MemoryLedger applies too; a test holds them equal.
MAX_MEMBERS = 64  # members of one round: one bitmask word
MAX_DIM = 256  # values in an on-chain report, or in a sketch of a larger one
MAX_FULL_DIM = 65_536  # values of a full report a mismatch proof can carry
MIN_WINDOW, MAX_WINDOW = 4, 7_200  # commit and reveal windows, in blocks
EXPIRY_BLOCKS = 256  # after the reveal window, a round nobody settled can be closed by anyone
CONFIRM_BLOCKS = 256  # after an accepted sketched round settles, the owner's time to confirm whom it pays
BPS = 10_000


@dataclass(frozen=True)
class RoundSpec:
    """What the DC posts when it opens a round (per run of the batch where it varies).

    `members` lists the candidates: those registered and holding at least the minimum stake become the round's
    members (per run, in a batch), the others sit it out. Outcomes are laid out over this list.

    A model of `full_dim` > `dim` values is checked through `dim`-value sketches (protocol/sketch.py) under the
    projection whose seed hashes to `seed_hash` (one per run); the DC reveals the seed after the commit phase."""

    tau_fx: np.ndarray  # [B] int: acceptance radius in fixed point
    dim: int  # values revealed and checked: the report, or its sketch
    scale_bits: int
    params_digest: Sequence[bytes]  # [B] 32-byte commitment to the model parameters
    reward: int  # tokens paid to each revealer of an accepted round
    members: Sequence[str] = ()
    quorum: int = 2
    commit_blocks: int = 32
    reveal_blocks: int = 32
    full_dim: int | None = None  # None: the report is revealed whole (full_dim = dim)
    seed_hash: Sequence[bytes] | None = None  # [B] keccak256 of each run's seed (sketched rounds)

    @property
    def sketched(self) -> bool:
        return self.full_dim is not None and self.full_dim > self.dim


@dataclass(frozen=True)
class Commit:
    sender: str
    digest: Sequence[bytes | None]  # [B]; None: no commit in that run (the node's report could not be encoded)


@dataclass(frozen=True)
class Reveal:
    sender: str
    report_fx: np.ndarray  # [B, k] int: the report, or in a sketched round its sketch
    salt: Sequence[bytes | None]  # [B]; None: no reveal in that run
    digest: Sequence[bytes | None] | None = None  # [B] the full reports' digests (sketched rounds)


@dataclass(frozen=True)
class RoundOutcome:
    """A settled round, laid out over the spec's candidate list (N of them)."""

    round_id: int
    accepted: np.ndarray  # [B] bool
    members: np.ndarray  # [B, N] bool: admitted as members
    committed: np.ndarray  # [B, N] bool
    revealed: np.ndarray  # [B, N] bool
    max_sq: np.ndarray  # [B] largest squared distance between two revealed reports (fixed point, exact)
    total: np.ndarray  # [B, k] sum of revealed reports (fixed point)
    count: np.ndarray  # [B]
    lo: np.ndarray  # [B, k] coordinate-wise min of revealed reports
    hi: np.ndarray  # [B, k] coordinate-wise max
    paid: np.ndarray  # [B, N] tokens paid this round (a sketched round: once confirmed, see `confirm`)
    slashed: np.ndarray  # [B, N] stake slashed this round
    gas: dict[str, int] = field(default_factory=dict)  # per phase, for chain ledgers
    confirming: np.ndarray | None = None  # [B] bool: accepted sketched rounds whose rewards await confirmation
    digests: np.ndarray | None = None  # [B, N] object: the revealed full reports' digests (sketched rounds)
    sketches: np.ndarray | None = None  # [B, N, k] int64: the revealed sketches (sketched rounds; 0 where none)


@dataclass(frozen=True)
class Balances:
    tokens: np.ndarray  # [B, N] node token balances
    stakes: np.ndarray  # [B, N] locked stakes
    pool: np.ndarray  # [B] reward pool


def aggregates(reports_fx: np.ndarray, revealed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What an outcome reports for the estimators, from the revealed reports [B, N, k] (the `Revealed` events on
    a chain): (sum [B, k], count [B], min [B, k], max [B, k]); min and max over no reveal are int64's max and min."""
    count = revealed.sum(axis=1)
    if revealed.all():  # the usual round: nothing to mask
        return reports_fx.sum(axis=1), count, reports_fx.min(axis=1), reports_fx.max(axis=1)
    mask = revealed[:, :, None]
    big = np.iinfo(np.int64)
    lo = np.where(mask, reports_fx, big.max).min(axis=1)
    hi = np.where(mask, reports_fx, big.min).max(axis=1)
    return np.where(mask, reports_fx, 0).sum(axis=1), count, lo, hi


class Ledger(Protocol):
    """What the round driver needs of a ledger. Commits and reveals are lists so that a ledger may send them one
    transaction per node or relayed in a batch; either way an entry already done in its round is skipped, as the
    contract's relayer verbs do, and a refusal of any other entry refuses the whole call."""

    batch: int
    owner: str  # the data collector's address (it opens rounds, reveals seeds, confirms, proves liars)

    def register(self, addresses: Sequence[str], stake: int) -> None: ...

    def withdraw(self, address: str) -> None: ...

    def fund(self, amount: int) -> None: ...

    def grant(self, address: str, amount: int) -> None: ...

    def open_round(self, spec: RoundSpec) -> int: ...

    def commit(self, round_id: int, commits: Sequence[Commit]) -> None: ...

    def reveal(self, round_id: int, reveals: Sequence[Reveal]) -> None: ...

    def finalize(self, round_id: int) -> RoundOutcome: ...

    def expire(self, round_id: int) -> None: ...

    def admitted(self, round_id: int) -> np.ndarray: ...  # [B, N] bool: the round in flight's members, per run

    # sketched rounds
    def reveal_seed(self, round_id: int, seeds: Sequence[bytes]) -> None: ...

    def confirm(self, round_id: int, confirmed: np.ndarray) -> np.ndarray: ...  # [B, N] bool -> paid [B, N]

    def release(self, round_id: int) -> np.ndarray: ...  # paid [B, N]

    def prove_mismatch(self, round_id: int, node: str, full_fx: np.ndarray, row: int, prover: str) -> None: ...

    def advance(self, blocks: int) -> None: ...

    def balances(self, addresses: Sequence[str]) -> Balances: ...
