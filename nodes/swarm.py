"""A swarm: honest workers and one adversary (possibly controlling many nodes) producing a round's reports.

Adversaries may be the majority; nothing here assumes otherwise. Node order is honest first, then
adversarial, which the ledgers never see as anything but addresses. Node i draws from its own generator for
(seed, i, round), the colluding adversaries from the coalition's (`nodes.seeds`), exactly as the node processes
of a swarm (`nodes.runtime`) do, so the two replay each other bit for bit at B = 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from protocol import codec
from protocol.commitment import digest_commitments, digests_of, keccak
from protocol.ledger import Commit, Reveal
from nodes.context import RoundContext, Strategy
from nodes.seeds import coalition_rng, node_rng


class Roster:
    """Honest nodes 0..H-1 and adversarial nodes H..N-1: the sizes and checks every in-process swarm shares."""

    honest: int
    adversaries: int
    adversary_strategy: Strategy | None

    def check_roster(self) -> None:
        if self.honest < 0 or self.adversaries < 0 or self.honest + self.adversaries < 1:
            raise ValueError(f"swarm: need at least one node, got honest={self.honest}, adversaries={self.adversaries}")
        if self.adversaries and self.adversary_strategy is None:
            raise ValueError("adversary_strategy: required when adversaries > 0")

    @property
    def size(self) -> int:
        return self.honest + self.adversaries

    @property
    def is_adversary(self) -> np.ndarray:
        return np.arange(self.size) >= self.honest


@dataclass(frozen=True)
class Swarm(Roster):
    honest: int
    adversaries: int
    honest_strategy: Strategy
    adversary_strategy: Strategy | None
    collude: bool = True  # colluding adversaries all send one point; otherwise each draws its own
    seed: int = 0  # keys every node's generator, with its index and the round

    def __post_init__(self):
        self.check_roster()

    def round(self, round_id: int, addresses: list[str], theta: np.ndarray, grad: np.ndarray, tau: np.ndarray,
              eta_index: np.ndarray, scale_bits: int, rng: np.random.Generator) -> tuple[list[Commit], list[Reveal]]:
        """The round's sealed messages (the driver's reporting hook): reports, then commit-reveal pairs; `rng`
        draws only the salts."""
        return seal(round_id, addresses, self.reports(grad, tau, eta_index, round_id), scale_bits, rng)

    def reports(self, grad: np.ndarray, tau: np.ndarray, eta_index: np.ndarray, round_id: int) -> np.ndarray:
        """Real-valued reports [B, N, k] for round `round_id`."""
        empty = np.zeros((grad.shape[0], 0, grad.shape[1]))
        honest = (np.stack([self.honest_strategy(RoundContext(grad, tau, eta_index, empty,
                                                              node_rng(self.seed, i, round_id)))
                            for i in range(self.honest)], axis=1) if self.honest else empty)
        if not self.adversaries:
            return honest
        rngs = ([coalition_rng(self.seed, round_id)] if self.collude else
                [node_rng(self.seed, self.honest + j, round_id) for j in range(self.adversaries)])
        adv = np.stack([self.adversary_strategy(RoundContext(grad, tau, eta_index, honest, r)) for r in rngs], axis=1)
        return np.concatenate([honest, np.broadcast_to(adv, (adv.shape[0], self.adversaries, adv.shape[2]))
                               if self.collude else adv], axis=1)


def node_addresses(n: int, seed: int) -> list[str]:
    """Deterministic node identities for in-memory ledgers (chain ledgers use real keyed accounts)."""
    return ["0x" + keccak(f"deml-node-{seed}-{i}".encode())[-20:].hex() for i in range(n)]


def seal(round_id: int, addresses: list[str], reports: np.ndarray, scale_bits: int,
         rng: np.random.Generator) -> tuple[list[Commit], list[Reveal]]:
    """Each node encodes its report, draws a fresh salt per run and commits to it.

    A run whose report cannot be encoded (NaN, inf, out of range) gets no commit and no reveal from that node
    (None entries): the failure stays in its run. A node with no encodable run sends nothing.
    """
    b, n, _ = reports.shape
    salt_bytes = rng.bytes(32 * b * n)
    encoded = [codec.encode_rows(reports[:, i], scale_bits) for i in range(n)]
    sending = [i for i in range(n) if encoded[i][1].any()]
    hashed = dict(zip(sending, digests_of([encoded[i][0] for i in sending])))  # every report of the round at once
    commits, reveals = [], []
    for i in sending:
        address, (fx, ok) = addresses[i], encoded[i]
        salts = [salt_bytes[32 * (i * b + j): 32 * (i * b + j + 1)] for j in range(b)]
        digests = digest_commitments(round_id, address, hashed[i], salts)
        commits.append(Commit(address, [d if k else None for d, k in zip(digests, ok)]))
        reveals.append(Reveal(address, fx, [s if k else None for s, k in zip(salts, ok)]))
    return commits, reveals
