"""The one synchronous round loop, shared by MemoryLedger (batched simulations) and ChainLedger (on-chain).

Each round: VISTA announces (eta, alpha) -> the DC opens the round with tau = eta * Delta and a digest of
the model -> nodes compute reports, commit, reveal -> anyone finalizes -> the DC reads the outcome, forms
its estimate from the recorded aggregates and moves the model only if the round was accepted.

The loop is made of steps over an explicit `State` (`start`, `announce`, `conclude`, and `play_round` around
them), so that the DC service (`coordinator.service`) drives the same rules round by round, through the members'
own transactions (its `Exchange`), and rebuilds its state after a restart by replaying `conclude` over the
chain's settled rounds.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, NamedTuple, Protocol

import numpy as np

from coordinator import rules, sketched, vista
from protocol import codec
from protocol.commitment import keccak
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
    commit_blocks: int = 32  # at least: a round of more members gets a block per member and 2 to spare
    reveal_blocks: int = 32
    sketch: int = 0  # k: a model of more than k values is checked through k-value sketches (0: reports whole)
    sketch_secret: bytes = b""  # the DC's secret behind the projection seeds (coordinator/sketched.py)

    def sketched(self, dim: int) -> bool:
        return 0 < self.sketch < dim

    def windows(self, members: int) -> tuple[int, int]:
        """(commit, reveal) windows of a round of `members`: a devnet (and MemoryLedger) mines one block per
        transaction, so a window shorter than the members' own transactions would close on the last of them."""
        return max(self.commit_blocks, members + 2), max(self.reveal_blocks, members + 2)


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


class State(NamedTuple):
    """The DC's state between rounds: rounds settled so far, the model, its gradient, and VISTA's state."""

    settled: int
    theta: np.ndarray  # [B, d] the model posted next
    grad: np.ndarray  # [B, d] the task's gradient there
    grad_sq: np.ndarray  # [B]
    vista: vista.VistaState


class Announced(NamedTuple):
    """What VISTA announces for the next round."""

    eta: np.ndarray
    lr: np.ndarray
    tau: np.ndarray
    seeds: list[bytes] | None = None  # a sketched round's projection seeds, one per run (the DC's secret until revealed)


class Exchange(Protocol):
    """How a round's messages reach the ledger, between its opening and its settlement: in process, the reporters'
    sealed messages sent through the ledger (`deliver`); in a swarm, the members' own transactions, waited for
    (`coordinator.service`). On return the round must be ready to settle."""

    def __call__(self, ledger: Ledger, round_id: int, spec: RoundSpec, state: State, announced: Announced) -> None: ...


def start(task: Task, control: vista.VistaParams, batch: int) -> State:
    theta = task.init(batch)
    grad = task.grad(theta)
    grad_sq = np.einsum("bk,bk->b", grad, grad)
    return State(0, theta, grad, grad_sq, vista.init(control, task.dim, grad_sq))


def announce(state: State, control: vista.VistaParams, proto: ProtocolConfig,
             members: list[str]) -> tuple[RoundSpec, Announced]:
    """The next round's spec (tau = eta * Delta, the model's digest, the candidates; for a model larger than
    `proto.sketch`, the sketch size and the hashes of the round's projection seeds) and VISTA's announcement."""
    eta, lr = vista.eta(control, state.vista), vista.learning_rate(control, state.vista)
    tau = eta * proto.delta
    dim = state.theta.shape[1]
    seeds = sketched.seeds(proto.sketch_secret, state.settled, len(tau)) if proto.sketched(dim) else None
    commit_blocks, reveal_blocks = proto.windows(len(members))
    spec = RoundSpec(
        tau_fx=codec.encode(tau, proto.scale_bits, field="tau"), dim=proto.sketch if seeds else dim,
        scale_bits=proto.scale_bits, params_digest=params_digests(state.theta), reward=proto.reward,
        members=list(members), quorum=proto.quorum, commit_blocks=commit_blocks, reveal_blocks=reveal_blocks,
        full_dim=dim if seeds else None,
        seed_hash=[keccak(s) for s in seeds] if seeds else None,
    )
    return spec, Announced(eta, lr, tau, seeds)


def conclude(state: State, announced: Announced, out: RoundOutcome, task: Task, control: vista.VistaParams,
             proto: ProtocolConfig) -> tuple[RoundLog, State]:
    """The settled round's log, and the next state: the DC's estimate from the recorded aggregates moves the
    model only where the round was accepted. Pure of the outcome: replaying the chain's settled rounds through
    it rebuilds the DC's state."""
    theta, grad = state.theta, state.grad
    g_hat = rules.estimate(out.total, out.count, out.lo, out.hi, proto.estimator, proto.scale_bits)
    acc = out.accepted
    err = np.where(acc, np.linalg.norm(g_hat - grad, axis=1), np.nan)
    log = RoundLog(state.settled + 1, task.loss(theta), np.sqrt(state.grad_sq), announced.eta, announced.tau,
                   announced.lr, vista.saturated(control, state.vista), acc, err, out.members.sum(axis=1), out.paid,
                   out.slashed, dict(out.gas))
    theta = np.where(acc[:, None], theta - announced.lr[:, None] * g_hat, theta)
    grad = np.where(acc[:, None], task.grad(theta), grad)  # one gradient per round; none when rejected
    grad_sq = np.einsum("bk,bk->b", grad, grad)
    return log, State(state.settled + 1, theta, grad, grad_sq, vista.update(control, state.vista, acc, g_hat, grad_sq))


def play_round(ledger: Ledger, exchange: Exchange, state: State, task: Task, control: vista.VistaParams,
               proto: ProtocolConfig, members: list[str], *,
               opened: int | None = None) -> tuple[RoundLog, RoundOutcome, State]:
    """One round: open it (unless `opened` names the round already opened for this state), exchange, settle (a
    sketched round: check the delivered full reports and confirm), conclude."""
    spec, announced = announce(state, control, proto, members)
    round_id = ledger.open_round(spec) if opened is None else opened
    delivered = exchange(ledger, round_id, spec, state, announced)
    out = ledger.finalize(round_id)
    if announced.seeds is not None:
        out = sketched.settle(ledger, round_id, out, delivered or {}, announced.seeds, spec.members,
                              state.theta.shape[1])
    log, state = conclude(state, announced, out, task, control, proto)
    return log, out, state


def _silent(commits: list[Commit], candidates: list[str], admitted: np.ndarray) -> bool:
    """Some member commits nothing in some run: reveals then open only once the commit window lapses."""
    digests = {c.sender: c.digest for c in commits}
    return any(admitted[b, i] and (a not in digests or digests[a][b] is None)
               for i, a in enumerate(candidates) for b in range(admitted.shape[0]))


def _members_only(commits: list[Commit], reveals: list[Reveal], candidates: list[str],
                  admitted: np.ndarray) -> tuple[list[Commit], list[Reveal]]:
    """The messages of the round's members, in the runs they are members of: a candidate that is not one (it fell
    below the minimum stake, say) sends nothing there, as a node that reads the round's member list does."""
    column = {a: i for i, a in reversed(list(enumerate(candidates)))}
    keep = lambda sender, values: [v if sender in column and admitted[b, column[sender]] else None  # noqa: E731
                                   for b, v in enumerate(values)]
    commits = [Commit(c.sender, keep(c.sender, c.digest)) for c in commits]
    reveals = [replace(m, salt=keep(m.sender, m.salt)) for m in reveals]
    return ([c for c in commits if any(d is not None for d in c.digest)],
            [m for m in reveals if any(x is not None for x in m.salt)])


def _withheld(commits: list[Commit], reveals: list[Reveal]) -> bool:
    """Some node committed in a run and does not reveal there: settling then waits out the reveal window."""
    salts = {m.sender: m.salt for m in reveals}
    return any(d is not None and (c.sender not in salts or salts[c.sender][b] is None)
               for c in commits for b, d in enumerate(c.digest))


def deliver(swarm: Reporters, proto: ProtocolConfig, rng: np.random.Generator) -> Exchange:
    """The in-process exchange: the reporters' sealed messages go through the ledger, and the ledger's clock is
    advanced past a window that a silent member or a withheld reveal would otherwise hold open."""
    def exchange(ledger: Ledger, round_id: int, spec: RoundSpec, state: State,
                 announced: Announced) -> sketched.Delivered | None:
        addresses = list(spec.members)
        commits, reveals = swarm.round(round_id, addresses, state.theta, state.grad, announced.tau,
                                       state.vista.eta_index, proto.scale_bits, rng)
        admitted = ledger.admitted(round_id)
        commits, reveals = _members_only(commits, reveals, addresses, admitted)
        delivered = None
        if announced.seeds is not None:  # commit to the full reports' digests; sketches once the seed is out
            commits, delivered = sketched.digest_messages(round_id, commits, reveals)
        ledger.commit(round_id, commits)
        if _silent(commits, addresses, admitted):  # a silent node: reveals open only once the commit window lapses
            ledger.advance(spec.commit_blocks + 1)
        if announced.seeds is not None:
            ledger.reveal_seed(round_id, announced.seeds)
            reveals = sketched.reveal_sketches(delivered, announced.seeds, spec.dim)
        ledger.reveal(round_id, reveals)
        if _withheld(commits, reveals):  # a withheld reveal: wait out its window (it ends a fixed time after opening)
            ledger.advance(spec.commit_blocks + spec.reveal_blocks + 1)
        return delivered

    return exchange


def run(ledger: Ledger, task: Task, swarm: Reporters, control: vista.VistaParams, proto: ProtocolConfig, *,
        members: list[str], rounds: int, rng: np.random.Generator,
        on_round: Callable[[RoundLog, RoundOutcome], None] | None = None) -> list[RoundLog]:
    """`members`: the swarm's node addresses, in its order: the candidates of every round. `rng` draws the
    salts."""
    if ledger.batch != control.batch:
        raise ValueError(f"ledger batch {ledger.batch} != controller batch {control.batch}")
    addresses = list(members)
    if len(addresses) != swarm.size:
        raise ValueError(f"{len(addresses)} members but the swarm has {swarm.size} nodes")
    exchange = deliver(swarm, proto, rng)
    state = start(task, control, ledger.batch)
    logs = []
    for _ in range(rounds):
        log, out, state = play_round(ledger, exchange, state, task, control, proto, addresses)
        logs.append(log)
        if on_round is not None:
            on_round(log, out)
    return logs
