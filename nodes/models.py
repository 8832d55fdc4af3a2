"""Small MNIST models in torch, driven by a flat parameter vector (what the servers hold, as numpy float64),
and the supervised task the workers compute on (nodes.farsign_workers.Task).

Gradients of several workers' minibatches at one model come from a single vmapped call
(torch.func.vmap over grad), and the zeroth-order workers' many perturbed models from one vmapped loss.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.multiprocessing  # noqa: F401  (tensors sent to worker processes then travel by shared memory)
from torch import nn
from torch.func import functional_call, grad, vmap


def logreg(features: int = 784, classes: int = 10) -> nn.Module:
    return nn.Sequential(nn.Linear(features, classes))


def mlp(features: int = 784, classes: int = 10, hidden: int = 64) -> nn.Module:
    return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def lenet5(features: int = 784, classes: int = 10) -> nn.Module:
    """LeCun et al. 1998, with ReLU and max pooling; takes flat 28 x 28 images."""
    if features != 784:
        raise ValueError(f"lenet: needs 28 x 28 images (784 features), got {features}")
    return nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, classes))


MODELS = {"logreg": logreg, "mlp": mlp, "lenet": lenet5}


@dataclass(frozen=True)
class FlatModel:
    """A module evaluated at flat parameter vectors theta in R^d (cross-entropy loss)."""

    module: nn.Module
    names: tuple[str, ...] = field(init=False)
    shapes: tuple[torch.Size, ...] = field(init=False)

    def __post_init__(self):
        named = list(self.module.named_parameters())
        object.__setattr__(self, "names", tuple(n for n, _ in named))
        object.__setattr__(self, "shapes", tuple(p.shape for _, p in named))

    @property
    def dim(self) -> int:
        return sum(s.numel() for s in self.shapes)

    def initial(self) -> np.ndarray:
        return torch.cat([p.detach().reshape(-1) for p in self.module.parameters()]).double().numpy()

    def _logits(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(theta, [s.numel() for s in self.shapes])
        params = {n: p.view(s) for n, p, s in zip(self.names, parts, self.shapes)}
        return functional_call(self.module, params, (x,))

    def _loss(self, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(self._logits(theta, x), y)

    def grads(self, theta: np.ndarray, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
        """[k, d]: the minibatch gradient of each of k minibatches x [k, B, ...], y [k, B] at theta.

        One vmapped call for k > 1; plain autograd for k = 1, where vmap's overhead would triple the cost.
        """
        t = torch.from_numpy(theta).float()
        if len(x) == 1:
            t.requires_grad_(True)
            return torch.autograd.grad(self._loss(t, x[0], y[0]), t)[0][None].double().numpy()
        return vmap(grad(self._loss), in_dims=(None, 0, 0))(t, x, y).double().numpy()

    def losses(self, thetas: np.ndarray, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
        """[p]: the loss on one minibatch at each of p parameter vectors thetas [p, d]."""
        with torch.no_grad():
            t = torch.from_numpy(thetas).float()
            return vmap(self._loss, in_dims=(0, None, None))(t, x, y).double().numpy()

    def evaluate(self, theta: np.ndarray, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        """(accuracy, mean cross-entropy) on a labelled set; a non-finite model scores its honest NaN loss."""
        with torch.no_grad():
            logits = self._logits(torch.from_numpy(theta).float(), x)
            acc = (logits.argmax(dim=1) == y).double().mean().item()
            return acc, nn.functional.cross_entropy(logits, y).item()


@dataclass(frozen=True)
class SupervisedTask:
    """Cross-entropy of a model on i.i.d. shards: worker j samples `batch` examples (with replacement)
    from shards[j]; the reference gradient uses the first `reference_size` training examples."""

    model: FlatModel
    x: torch.Tensor  # [N, F]
    y: torch.Tensor  # [N]
    shards: tuple[np.ndarray, ...]
    batch: int = 32
    reference_size: int = 1024

    def sample(self, worker: int, rng: np.random.Generator) -> np.ndarray:
        shard = self.shards[worker]
        return shard[rng.integers(len(shard), size=self.batch)]

    def grads(self, x: np.ndarray, batches: Sequence[np.ndarray]) -> np.ndarray:
        idx = torch.from_numpy(np.stack(batches))
        return self.model.grads(x, self.x[idx], self.y[idx])

    def losses(self, points: np.ndarray, batch: np.ndarray) -> np.ndarray:
        return self.model.losses(points, self.x[batch], self.y[batch])

    def reference(self, x: np.ndarray) -> np.ndarray:
        n = min(self.reference_size, len(self.y))
        return self.model.grads(x, self.x[None, :n], self.y[None, :n])[0]
