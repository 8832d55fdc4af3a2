"""The one synchronous round loop, shared by MemoryLedger (batched simulations) and ChainLedger (on-chain).

Each round: VISTA announces (eta, alpha) -> the DC opens the round with tau = eta * Delta and a digest of
the model -> nodes compute reports, commit, reveal -> anyone finalizes -> the DC reads the outcome, forms
its estimate from the recorded aggregates and moves the model only if the round was accepted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from coordinator import rules, vista
from protocol import codec
from protocol.digest import params_digests
from protocol.ledger import Commit, Ledger, Reveal, RoundOutcome, RoundSpec


class Reporters(Protocol):
    """The reporting side of a round, as a hook: the nodes' sealed messages for the posted model. The driver
    never sees how a report is made; `nodes.swarm.Swarm` is the in-process implementation."""

    size: int

    def round(self, round_id: int, addresses: list[str], theta: np.ndarray, grad: np.ndarray, tau: np.ndarray,
              eta_index: np.ndarray, scale_bits: int, rng: np.random.Generator) -> tuple[list[Commit], list[Reveal]]:
        """theta [B, d] is the posted model; grad [B, d] the task's gradient at it (what an in-process honest
        node would compute, and what a worst-case adversary knows)."""


class Task(Protocol):
    """An objective with a batch of models theta [B, d]; `grad` is what an honest worker computes."""

    dim: int

    def init(self, batch: int) -> np.ndarray: ...

    def grad(self, theta: np.ndarray) -> np.ndarray: ...

    def loss(self, theta: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class ProtocolConfig:
    delta: float  # honest noise radius: tau = eta * delta
    reward: int  # paid to each revealer of an accepted round; at most the ledger's smallest slash
    stake: int  # what each node locks when it registers
    min_stake: int  # the deployment's minimum stake; with slash_bps it sets the smallest slash
    slash_bps: int = 5_000
    scale_bits: int = codec.DEFAULT_SCALE_BITS
    estimator: rules.Estimator = "mean"
    quorum: int = 2
    commit_blocks: int = 32
    reveal_blocks: int = 32


@dataclass(frozen=True)
class RoundLog:
    """One round of every run in the batch (the rows of rounds.parquet)."""

    round: int
    loss: np.ndarray  # [B] f(theta_t) at the posted model
    grad_norm: np.ndarray  # [B] ||grad f(theta_t)||
    eta: np.ndarray
    tau: np.ndarray
    lr: np.ndarray
    saturated: np.ndarray
    accepted: np.ndarray
    estimate_error: np.ndarray  # [B] ||g_hat - grad f|| on accepted rounds, NaN otherwise
    members: np.ndarray  # [B] members admitted (registered, at least the minimum stake)
    paid: np.ndarray  # [B, N] tokens paid
    slashed: np.ndarray  # [B, N]
    gas: dict[str, int] = field(default_factory=dict)


def provision(ledger: Ledger, addresses: list[str], proto: ProtocolConfig, rounds: int) -> None:
    """The DC funds a pool that pays every node every round; each node receives and locks its stake."""
    ledger.fund(proto.reward * len(addresses) * rounds)
    for a in addresses:
        ledger.grant(a, proto.stake)
    ledger.register(addresses, proto.stake)


def _silent(commits: list[Commit], members: list[str]) -> bool:
    """Some member commits nothing in some run: reveals then open only once the commit window lapses."""
    digests = {c.sender: c.digest for c in commits}
    return any(a not in digests or any(d is None for d in digests[a]) for a in members)


def _withheld(commits: list[Commit], reveals: list[Reveal]) -> bool:
    """Some node committed in a run and does not reveal there: settling then waits out the reveal window."""
    salts = {m.sender: m.salt for m in reveals}
    return any(d is not None and (c.sender not in salts or salts[c.sender][b] is None)
               for c in commits for b, d in enumerate(c.digest))


def run(ledger: Ledger, task: Task, swarm: Reporters, control: vista.VistaParams, proto: ProtocolConfig, *,
        members: list[str], rounds: int, rng: np.random.Generator,
        on_round: Callable[[RoundLog, RoundOutcome], None] | None = None) -> list[RoundLog]:
    """`members`: the swarm's node addresses, in its order: the candidates of every round."""
    if ledger.batch != control.batch:
        raise ValueError(f"ledger batch {ledger.batch} != controller batch {control.batch}")
    addresses = list(members)
    if len(addresses) != swarm.size:
        raise ValueError(f"{len(addresses)} members but the swarm has {swarm.size} nodes")
    theta = task.init(ledger.batch)
    grad = task.grad(theta)
    grad_sq = np.einsum("bk,bk->b", grad, grad)
    state = vista.init(control, task.dim, grad_sq)
    logs = []
    for t in range(1, rounds + 1):
        eta, lr = vista.eta(control, state), vista.learning_rate(control, state)
        tau = eta * proto.delta
        spec = RoundSpec(
            tau_fx=codec.encode(tau, proto.scale_bits, field="tau"), dim=task.dim, scale_bits=proto.scale_bits,
            params_digest=params_digests(theta), reward=proto.reward, members=addresses, quorum=proto.quorum,
            commit_blocks=proto.commit_blocks, reveal_blocks=proto.reveal_blocks,
        )
        round_id = ledger.open_round(spec)
        commits, reveals = swarm.round(round_id, addresses, theta, grad, tau, state.eta_index, proto.scale_bits, rng)
        ledger.commit(round_id, commits)
        if _silent(commits, addresses):  # a silent node: reveals open only once the commit window lapses
            ledger.advance(proto.commit_blocks + 1)
        ledger.reveal(round_id, reveals)
        if _withheld(commits, reveals):  # a withheld reveal: wait out its window (it ends a fixed time after opening)
            ledger.advance(proto.commit_blocks + proto.reveal_blocks + 1)
        out = ledger.finalize(round_id)
        g_hat = rules.estimate(out.total, out.count, out.lo, out.hi, proto.estimator, proto.scale_bits)
        acc = out.accepted
        err = np.where(acc, np.linalg.norm(g_hat - grad, axis=1), np.nan)
        log = RoundLog(t, task.loss(theta), np.sqrt(grad_sq), eta, tau, lr, vista.saturated(control, state),
                       acc, err, out.members.sum(axis=1), out.paid, out.slashed, dict(out.gas))
        theta = np.where(acc[:, None], theta - lr[:, None] * g_hat, theta)
        grad = np.where(acc[:, None], task.grad(theta), grad)  # one gradient per round; none when rejected
        grad_sq = np.einsum("bk,bk->b", grad, grad)
        state = vista.update(control, state, acc, g_hat, grad_sq)
        logs.append(log)
        if on_round is not None:
            on_round(log, out)
    return logs
