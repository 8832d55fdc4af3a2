"""Learning workloads for VISTA: nodes that train a real model (LeNet-5, an MLP) on their own data shard.

Three parts, all batched over the B independent runs of a simulation:
- `Workload`: a model, the training data on a device, and each node's shard. Its gradients come from one
  call per round for every node (and, on a GPU, every run): no Python loop per node.
- `ReferenceTask`: the driver's task. `grad(theta)` is the low-noise reference gradient on a fixed sample of
  the data collector's own (what a worst-case adversary is assumed to know, and what the logs score estimates
  against); it costs one forward and backward pass over `reference` examples per run and per round in which
  the model moved, i.e. reference / (N batch) times the nodes' own work.
- `LearningSwarm`: the driver's reporting hook. Honest node i reports its minibatch gradient on shard i at the
  posted model; the adversarial nodes report what their strategy makes of either the reference gradient (worst
  case) or their own pooled minibatch gradients.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from nodes.context import RoundContext, Strategy
from nodes.models import FlatModel
from nodes.swarm import Roster, seal
from protocol.ledger import Commit, Reveal

Knowledge = Literal["reference", "minibatch"]


def pick_device(device: str = "auto") -> torch.device:
    """'auto': cuda when torch sees a GPU, else cpu. Anything else ('cpu', 'cuda', 'cuda:1') forces that device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device: unknown {device!r}; use auto, cpu or cuda[:index]") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} asked for but torch sees no GPU; use device=auto or cpu")
    return chosen


def stack_shards(shards: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Shards of unequal length as one padded index table [N, longest] and their lengths [N]."""
    lengths = np.array([len(s) for s in shards])
    table = np.zeros((len(shards), lengths.max()), dtype=np.int64)
    for i, s in enumerate(shards):
        table[i, :len(s)] = s
    return table, lengths


@dataclass(frozen=True)
class Workload:
    """A model and a training set on one device; node i samples minibatches (with replacement) from shards[i]."""

    model: FlatModel
    x: torch.Tensor  # [n, F] float32, on `device`
    y: torch.Tensor  # [n] int64
    shards: tuple[np.ndarray, ...]
    batch: int
    device: torch.device
    models_per_call: int  # runs stacked in one call: all of them on a GPU, one on a CPU (see FlatModel)
    _table: np.ndarray = field(init=False, repr=False)
    _lengths: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        table, lengths = stack_shards(self.shards)
        object.__setattr__(self, "_table", table)
        object.__setattr__(self, "_lengths", lengths)

    @property
    def dim(self) -> int:
        return self.model.dim

    def tensor(self, theta: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(theta, dtype=torch.float32, device=self.device)

    def minibatches(self, runs: int, nodes: int, rng: np.random.Generator) -> np.ndarray:
        """[runs, nodes, batch] training indices: node i draws from its own shard i, independently per run."""
        u = rng.random((runs, nodes, self.batch))
        pos = (u * self._lengths[:nodes, None]).astype(np.int64)
        return self._table[np.arange(nodes)[:, None], pos]

    def node_grads(self, theta: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """[B, M, d] float64: the minibatch gradient of idx[b, m] at theta[b] (one call per chunk of runs)."""
        at = torch.as_tensor(idx, device=self.device)
        g = self.model.stacked_grads(self.tensor(theta), self.x[at], self.y[at], self.models_per_call)
        return g.double().cpu().numpy()

    def value_and_grad(self, theta: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(loss [B], gradient [B, d]) of every model on the one sample idx."""
        at = torch.as_tensor(idx, device=self.device)
        v, g = self.model.stacked_value_and_grad(self.tensor(theta), self.x[at], self.y[at], self.models_per_call)
        return v.double().cpu().numpy(), g.double().cpu().numpy()

    def evaluate(self, theta: np.ndarray, x: torch.Tensor, y: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(accuracy [B], mean cross-entropy [B]) on a labelled set already on the device."""
        acc, loss = self.model.stacked_evaluate(self.tensor(theta), x, y, self.models_per_call)
        return acc.double().cpu().numpy(), loss.double().cpu().numpy()


class ReferenceTask:
    """The driver's task on a workload: f = the mean loss on a fixed reference sample of the data collector's.

    Row r of a batch starts from inits[r % runs] (run r of every method from the same model). `grad` recomputes
    only the rows whose model moved since the last call (the driver asks again after every round, rejected or
    not), and keeps each row's loss, so `loss` at the posted model is free. The driver hands out the model only
    through these calls: `current` is the latest one seen, which after round t is theta_{t+1}.
    """

    f_star = 0.0  # a cross-entropy's floor: what the run tables' optimality gap is measured from

    def __init__(self, workload: Workload, reference: np.ndarray, inits: np.ndarray):
        self.workload = workload
        self.reference = np.asarray(reference)
        self.inits = np.asarray(inits, dtype=np.float64)
        self.dim = workload.dim
        self.current: np.ndarray | None = None
        self._theta: np.ndarray | None = None
        self._loss = self._grad = None

    def init(self, batch: int) -> np.ndarray:
        return self.inits[np.arange(batch) % len(self.inits)].copy()

    def _refresh(self, theta: np.ndarray) -> None:
        theta = np.asarray(theta, dtype=np.float64)
        self.current = theta
        if self._theta is not None and self._theta.shape == theta.shape:
            moved = np.flatnonzero(np.any(theta != self._theta, axis=1))
        else:
            moved = np.arange(len(theta))
            self._loss, self._grad = np.zeros(len(theta)), np.zeros_like(theta)
        if moved.size:
            self._loss[moved], self._grad[moved] = self.workload.value_and_grad(theta[moved], self.reference)
        self._theta = theta.copy()

    def grad(self, theta: np.ndarray) -> np.ndarray:
        self._refresh(theta)
        return self._grad.copy()

    def loss(self, theta: np.ndarray) -> np.ndarray:
        self._refresh(theta)
        return self._loss.copy()


@dataclass(frozen=True)
class LearningSwarm(Roster):
    """Honest nodes 0..H-1 and adversarial nodes H..N-1 (one colluding adversary, or each on its own).

    Honest node i: its minibatch gradient on shard i at the posted model. The adversary forms its strategy's
    context from `knowledge`: "reference" = the reference gradient the driver hands over (the worst case: it
    knows the low-noise gradient), "minibatch" = the mean of its own nodes' minibatch gradients on their shards
    (what it can compute with the same work as the honest nodes). Omniscient attacks also read the honest reports.
    """

    workload: Workload
    honest: int
    adversaries: int
    adversary_strategy: Strategy | None
    knowledge: Knowledge = "reference"
    collude: bool = True

    def __post_init__(self):
        self.check_roster()
        if self.size > len(self.workload.shards):
            raise ValueError(f"swarm: {self.size} nodes but {len(self.workload.shards)} shards")

    def round(self, round_id: int, addresses: list[str], theta: np.ndarray, grad: np.ndarray, tau: np.ndarray,
              eta_index: np.ndarray, scale_bits: int, rng: np.random.Generator) -> tuple[list[Commit], list[Reveal]]:
        """The driver's hook: this round's reports, sealed by commit-reveal."""
        return seal(round_id, addresses, self.reports(theta, grad, tau, eta_index, rng), scale_bits, rng)

    def reports(self, theta: np.ndarray, grad: np.ndarray, tau: np.ndarray, eta_index: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
        """Real-valued reports [B, N, d]: every gradient of the round from one workload call."""
        own = self.honest + (self.adversaries if self.knowledge == "minibatch" else 0)
        g = self.workload.node_grads(theta, self.workload.minibatches(len(theta), own, rng))
        honest = g[:, :self.honest]
        if not self.adversaries:
            return honest
        known = grad if self.knowledge == "reference" else g[:, self.honest:].mean(axis=1)
        ctx = RoundContext(known, tau, eta_index, honest, rng)
        draws = 1 if self.collude else self.adversaries
        adv = np.stack([self.adversary_strategy(ctx) for _ in range(draws)], axis=1)
        adv = np.broadcast_to(adv, (len(theta), self.adversaries, adv.shape[2])) if self.collude else adv
        return np.concatenate([honest, adv], axis=1)
