"""The honest noise radius Delta, measured by the data collector on a sample of its own, never from reports.

An honest node reports the gradient of its minibatch (size b) at the posted model, so its noise is
n = g_minibatch - grad f. The DC holds data of its own and measures that noise directly: at a model theta it
draws `draws` minibatches of size b from its sample and takes ||g_minibatch - g_sample|| (g_sample: the gradient
on the whole sample). The spread moves with training - on MNIST with LeNet-5 it grows about tenfold from the
initial model to the end of the first epoch, then shrinks slowly - so one measurement at the initial model is
not enough: the DC runs honest SGD on its own sample and measures at a few checkpoints along the way.
Delta = the largest per-checkpoint q-quantile, plus the codec's rounding (at most sqrt(d) 2^-(s+1) per report).
The DC's own work: `checkpoints[-1]` SGD steps and, per checkpoint, `draws` minibatch gradients and one gradient
on the whole sample.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from nodes.workloads import Workload


@dataclass(frozen=True)
class Calibration:
    delta: float  # max over checkpoints of the q-quantile, plus `rounding`
    steps: np.ndarray  # [P] SGD steps at which the spread was measured
    models: np.ndarray  # [P, d] the DC's model at each checkpoint
    norms: np.ndarray  # [P, draws] ||g_minibatch - g_sample||
    grad_norm: np.ndarray  # [P] ||g_sample||
    quantile: float
    rounding: float  # sqrt(d) 2^-(s+1): the most the fixed-point codec moves a report

    def spread(self) -> np.ndarray:
        """[P] the q-quantile of the noise norm at each checkpoint."""
        return np.quantile(self.norms, self.quantile, axis=1)


def noise_norms(workload: Workload, theta: np.ndarray, sample: np.ndarray, draws: int,
                rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """(||g_minibatch - g_sample|| for `draws` minibatches of the honest size drawn from `sample`, ||g_sample||)."""
    _, g_sample = workload.value_and_grad(theta[None], sample)
    idx = sample[rng.integers(len(sample), size=(1, draws, workload.batch))]
    g = workload.node_grads(theta[None], idx)[0]
    return np.linalg.norm(g - g_sample, axis=1), float(np.linalg.norm(g_sample))


def calibrate(workload: Workload, sample: np.ndarray, theta0: np.ndarray, *, checkpoints: Sequence[int], lr: float,
              train_batch: int, draws: int, quantile: float, scale_bits: int,
              rng: np.random.Generator) -> Calibration:
    """SGD from theta0 on the DC's sample (minibatches of `train_batch`, step `lr`); the spread at each checkpoint."""
    sample = np.asarray(sample)
    theta = np.asarray(theta0, dtype=np.float64).copy()
    norms, grads, models = [], [], []
    for step in range(max(checkpoints) + 1):
        if step in checkpoints:
            n, g = noise_norms(workload, theta, sample, draws, rng)
            norms.append(n)
            grads.append(g)
            models.append(theta.copy())
        _, g_step = workload.value_and_grad(theta[None], sample[rng.integers(len(sample), size=train_batch)])
        theta -= lr * g_step[0]
    norms_arr = np.array(norms)
    rounding = float(np.sqrt(workload.dim) * 2.0 ** -(scale_bits + 1))
    delta = float(np.quantile(norms_arr, quantile, axis=1).max()) + rounding
    return Calibration(delta, np.array(sorted(set(checkpoints))), np.array(models), norms_arr, np.array(grads),
                       quantile, rounding)
