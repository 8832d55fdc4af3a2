"""Small MNIST models in torch, driven by a flat parameter vector (what the servers hold, as numpy float64),
and the supervised task the workers compute on (nodes.farsign_workers.Task).

Gradients of several workers' minibatches at one model come from one forward and backward pass over all of
them (`FlatModel.grouped_grads`; a vmapped grad for modules it does not cover), and the zeroth-order workers'
many perturbed models from one vmapped loss.
The `stacked_*` methods do the same for a batch of models (independent runs) held as one float32 tensor on
any device.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.multiprocessing  # noqa: F401  (tensors sent to worker processes then travel by shared memory)
from torch import nn
from torch.func import functional_call, grad, grad_and_value, vmap


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


def chunks(total: int, size: int) -> list[slice]:
    return [slice(s, min(s + size, total)) for s in range(0, total, size)]


@dataclass(frozen=True)
class FlatModel:
    """A module evaluated at flat parameter vectors theta in R^d (cross-entropy loss)."""

    module: nn.Module
    names: tuple[str, ...] = field(init=False)
    shapes: tuple[torch.Size, ...] = field(init=False)
    _layers: tuple | None = field(init=False, repr=False)  # (name, layer) in order where grouped_grads applies

    def __post_init__(self):
        named = list(self.module.named_parameters())
        object.__setattr__(self, "names", tuple(n for n, _ in named))
        object.__setattr__(self, "shapes", tuple(p.shape for _, p in named))
        # grouped_grads needs the layers in order, weight then bias of each Linear or Conv2d as the parameters, and
        # no layer that overwrites its input (an in-place ReLU would overwrite the outputs it asks autograd about)
        layers = list(self.module.named_children()) if isinstance(self.module, nn.Sequential) else []
        plain = bool(layers) and all((isinstance(m, (nn.Linear, nn.Conv2d)) or not list(m.parameters()))
                                     and not getattr(m, "inplace", False) for _, m in layers)
        expected = [f"{n}.{w}" for n, m in layers if isinstance(m, (nn.Linear, nn.Conv2d))
                    for w in ("weight", "bias") if getattr(m, w) is not None]
        object.__setattr__(self, "_layers", tuple(layers) if plain and list(self.names) == expected else None)

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

        `minibatch_grads` for k > 1; plain autograd for k = 1."""
        t = torch.from_numpy(theta).float()
        g = self._value_and_grad(t, x[0], y[0])[0][None] if len(x) == 1 else self.minibatch_grads(t, x, y)
        return g.double().numpy()

    def minibatch_grads(self, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """[k, d]: the mean-loss gradient of each of k equal minibatches x [k, B, ...], y [k, B] at one model theta:
        `grouped_grads` where the module allows it, else a vmapped grad."""
        if self._layers is not None:
            return self.grouped_grads(theta, x, y)
        return vmap(grad(self._loss), in_dims=(None, 0, 0))(theta, x, y)

    def grouped_grads(self, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """[k, d]: the k minibatch gradients from one forward and one backward pass over all k B examples, as a
        plain SGD step on them would take, and then each layer's weight gradient split by minibatch.

        The summed loss L = sum_g mean_{i in g} l_i has the same per-example output gradients delta_i = dL/dz_i
        as each minibatch's own loss, so autograd is asked for the deltas only (no weight gradient of the whole
        batch), and a layer z = W a + b gives minibatch g its own dW_g = sum_{i in g} delta_i a_i^T (one batched
        matmul; a convolution's is its weight-gradient kernel on g's examples) and db_g = sum_{i in g} delta_i.
        LeNet-5, 10 x 64 examples, CPU: 66 ms, the same as one SGD step on the 640 (vmap over the minibatches:
        85 ms, since its shared-weight convolution's per-minibatch weight gradient is a grouped one)."""
        k, b = x.shape[:2]
        parts = torch.split(theta.detach().requires_grad_(True), [s.numel() for s in self.shapes])
        params = dict(zip(self.names, (p.view(s) for p, s in zip(parts, self.shapes))))
        h, saved = x.reshape(k * b, *x.shape[2:]), []
        for name, layer in self._layers:
            if isinstance(layer, (nn.Linear, nn.Conv2d)):
                weight, bias = params[f"{name}.weight"], params.get(f"{name}.bias")
                z = (nn.functional.linear(h, weight, bias) if isinstance(layer, nn.Linear) else
                     nn.functional.conv2d(h, weight, bias, layer.stride, layer.padding, layer.dilation, layer.groups))
                saved.append((layer, weight, h.detach(), z))
                h = z
            else:
                h = layer(h)
        loss = nn.functional.cross_entropy(h, y.reshape(-1), reduction="sum") / b
        deltas = torch.autograd.grad(loss, [z for *_, z in saved])
        out = []
        for (layer, weight, a, _), d in zip(saved, deltas):
            weight = weight.detach()
            d, a = d.view(k, b, *d.shape[1:]), a.view(k, b, *a.shape[1:])
            if isinstance(layer, nn.Linear):
                out.append(torch.bmm(d.transpose(1, 2), a).reshape(k, -1))
                bias = d.sum(1) if layer.bias is not None else None
            else:
                back = [torch.ops.aten.convolution_backward(
                    d[g], a[g], weight, None, list(layer.stride), list(layer.padding), list(layer.dilation), False,
                    [0] * len(layer.stride), layer.groups, [False, True, layer.bias is not None]) for g in range(k)]
                out.append(torch.stack([w for _, w, _ in back]).reshape(k, -1))
                bias = torch.stack([db for *_, db in back]) if layer.bias is not None else None
            if bias is not None:
                out.append(bias.reshape(k, -1))
        return torch.cat(out, 1)

    def losses(self, thetas: np.ndarray, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
        """[p]: the loss on one minibatch at each of p parameter vectors thetas [p, d]."""
        with torch.no_grad():
            t = torch.from_numpy(thetas).float()
            return vmap(self._loss, in_dims=(0, None, None))(t, x, y).double().numpy()

    def stacked_grads(self, thetas: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                      models_per_call: int) -> torch.Tensor:
        """[B, M, d]: the mean-loss gradient of minibatch x[b, m] ([B, M, batch, F], labels y [B, M, batch]) at
        model thetas[b] ([B, d]). Each call takes all M minibatches of `models_per_call` models. With one model
        they share its weights (`minibatch_grads`: one forward and backward pass); with several the weights are
        stacked and vmapped, which torch lowers to grouped convolutions: one launch on a GPU, but ~1.4x slower
        than a call per model on a CPU."""
        per_batch = grad(self._loss)
        out = []
        for c in chunks(len(thetas), models_per_call):
            t, xs, ys = thetas[c], x[c], y[c]
            k, m = xs.shape[:2]
            if k == 1:
                out.append(self.minibatch_grads(t[0], xs[0], ys[0])[None])
            else:
                g = vmap(per_batch)(t.repeat_interleave(m, 0), xs.flatten(0, 1), ys.flatten(0, 1))
                out.append(g.view(k, m, -1))
        return torch.cat(out)

    def stacked_value_and_grad(self, thetas: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                               models_per_call: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss [B], gradient [B, d]) of every model on one shared sample x [n, F], y [n]."""
        both = grad_and_value(self._loss)
        grads, values = [], []
        for c in chunks(len(thetas), models_per_call):
            g, v = self._value_and_grad(thetas[c][0], x, y) if c.stop - c.start == 1 else vmap(
                both, in_dims=(0, None, None))(thetas[c], x, y)
            grads.append(g.reshape(-1, thetas.shape[1]))
            values.append(v.reshape(-1))
        return torch.cat(values), torch.cat(grads)

    def _value_and_grad(self, theta: torch.Tensor, x: torch.Tensor,
                        y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(gradient, loss) at one model by plain autograd: the same numbers as torch.func's grad_and_value at
        10% less time (LeNet, 1024 examples, CPU: 143 against 159 ms)."""
        t = theta.detach().requires_grad_(True)
        loss = self._loss(t, x, y)
        return torch.autograd.grad(loss, t)[0], loss.detach()

    def stacked_evaluate(self, thetas: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                         models_per_call: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(accuracy [B], mean cross-entropy [B]) of every model on one labelled set."""
        def score(theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            logits = self._logits(theta, x)
            return (logits.argmax(dim=1) == y).float().mean(), nn.functional.cross_entropy(logits, y)

        acc, loss = [], []
        with torch.no_grad():
            for c in chunks(len(thetas), models_per_call):
                a, v = score(thetas[c][0]) if c.stop - c.start == 1 else vmap(score)(thetas[c])
                acc.append(a.reshape(-1))
                loss.append(v.reshape(-1))
        return torch.cat(acc), torch.cat(loss)

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
