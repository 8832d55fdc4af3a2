"""The MNIST workload's config and setup, shared by `vista-mnist` and `sketch-fidelity`: data, shards and the
data collector's own sample, the model's initial points, Delta calibrated by the DC, and the game the check plays.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, fields

import numpy as np
import torch

from economics import GameSpec
from economics.equilibrium import default_cache_dir
from nodes import data as datasets
from nodes.calibration import Calibration, calibrate
from nodes.models import MODELS, FlatModel
from nodes.workloads import Workload, pick_device
from sims.mnist_config import VistaMnistConfig


def load(cfg: VistaMnistConfig) -> datasets.Dataset:
    if cfg.dataset == "synthetic":
        return datasets.synthetic(seed=cfg.seed)
    return datasets.load_mnist(cfg.data_dir, cfg.download)


def build_module(cfg: VistaMnistConfig, features: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return MODELS[cfg.model](features, 10, **({"hidden": cfg.hidden} if cfg.model == "mlp" else {}))


def workload(cfg: VistaMnistConfig, ds: datasets.Dataset, device: torch.device) -> tuple[Workload, np.ndarray]:
    """The nodes' workload and the DC's own sample: a seeded permutation of the training set gives the DC its
    first `dc_sample` examples and splits the rest into one shard per node."""
    n = len(ds.y_train)
    if cfg.dc_sample + cfg.nodes > n:
        raise ValueError(f"dc_sample={cfg.dc_sample} leaves fewer training examples than nodes ({n} in all)")
    if cfg.reference > cfg.dc_sample:
        raise ValueError(f"reference={cfg.reference} exceeds dc_sample={cfg.dc_sample}; lower reference")
    perm = np.random.default_rng(cfg.seed).permutation(n)
    shards = tuple(np.array_split(perm[cfg.dc_sample:], cfg.nodes))
    per_call = cfg.models_per_call or (1024 if device.type == "cuda" else 1)
    model = FlatModel(build_module(cfg, ds.features, cfg.seed))
    return (Workload(model, ds.x_train.to(device), ds.y_train.to(device), shards, cfg.batch, device, per_call),
            perm[:cfg.dc_sample])


def game(cfg: VistaMnistConfig, dim: int, delta: float) -> GameSpec:
    """The game the check plays: full reports in d dimensions, the mean of all N reports."""
    return GameSpec(dim=dim, delta=delta, honest=cfg.honest, adversaries=max(cfg.adversaries, 1),
                    utility=cfg.utility, kappa=cfg.kappa, estimator="mean")


@dataclass(frozen=True)
class Prepared:
    """Everything a run on the workload needs before its first round."""

    workload: Workload
    own: np.ndarray  # the DC's sample: its first `reference` examples give the reference gradient
    inits: np.ndarray  # [runs, d] initial models
    calibration: Calibration
    delta: float  # the configured Delta, else the calibrated one
    test: tuple[torch.Tensor, torch.Tensor]  # the fixed test subset, on the device


CALIBRATION_FIELDS = ("model", "hidden", "dataset", "seed", "nodes", "batch", "dc_sample", "calibration_steps",
                      "calibration_draws", "calibration_quantile", "scale_bits", "alpha0")


def calibrated(cfg: VistaMnistConfig, work: Workload, own: np.ndarray, theta0: np.ndarray) -> Calibration:
    """The DC's calibration (nodes/calibration.py), cached on disk (beside the equilibrium tables) by what determines
    it: the settings, the DC's sample itself and the initial model. A swarm's processes, and a restarted DC, then
    measure it once between them, and other data files under the same settings are measured afresh."""
    inputs = hashlib.sha256()
    for array in (work.x[own].cpu().numpy(), work.y[own].cpu().numpy(), np.ascontiguousarray(theta0)):
        inputs.update(array.tobytes())  # the DC's sample: 16 MB for MNIST's 5,000 examples
    settings = {f: getattr(cfg, f) for f in CALIBRATION_FIELDS}
    key = hashlib.sha256(json.dumps({**settings, "inputs": inputs.hexdigest()}, sort_keys=True).encode())
    path = default_cache_dir() / f"calibration-{key.hexdigest()[:16]}.npz"
    if path.exists():
        with np.load(path) as z:
            return Calibration(float(z["delta"]), z["steps"], z["models"], z["norms"], z["grad_norm"],
                               float(z["quantile"]), float(z["rounding"]))
    cal = calibrate(work, own, theta0, checkpoints=cfg.calibration_steps, lr=cfg.alpha0,
                    train_batch=cfg.nodes * cfg.batch, draws=cfg.calibration_draws,
                    quantile=cfg.calibration_quantile, scale_bits=cfg.scale_bits, rng=np.random.default_rng(cfg.seed))
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(scratch, **{f.name: getattr(cal, f.name) for f in fields(cal)})
    scratch.replace(path)  # atomic: a process starting beside this one never reads half a file
    return cal


def prepare(cfg: VistaMnistConfig) -> Prepared:
    torch.set_num_threads(cfg.torch_threads)
    device = pick_device(cfg.device)
    ds = load(cfg)
    pick = np.random.default_rng(cfg.seed).permutation(len(ds.y_test))[:cfg.test_size]
    work, own = workload(cfg, ds, device)
    inits = np.stack([FlatModel(build_module(cfg, ds.features, cfg.seed + r)).initial() for r in range(cfg.runs)])
    cal = calibrated(cfg, work, own, inits[0])
    return Prepared(work, own, inits, cal, cfg.delta or cal.delta, (ds.x_test[pick].to(device), ds.y_test[pick].to(device)))
