"""The MNIST workload's config and setup, shared by `vista-mnist` and `sketch-fidelity`: data, shards and the
data collector's own sample, the model's initial points, Delta calibrated by the DC, and the game the check plays.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import numpy as np
import torch
from pydantic import Field, model_validator

from economics import GameSpec
from nodes import data as datasets
from nodes.calibration import Calibration, calibrate
from nodes.models import MODELS, FlatModel
from nodes.workloads import Workload, pick_device
from sims.vista_experiments import VistaConfig


class VistaMnistConfig(VistaConfig):
    runs: int = Field(1, ge=1)
    rounds: int = Field(2000, ge=1)
    model: Literal["lenet", "mlp"] = "lenet"
    hidden: int = Field(64, ge=1, description="MLP hidden width")
    dataset: Literal["mnist", "synthetic"] = Field("mnist", description="synthetic: Gaussian clusters (mlp only)")
    data_dir: Optional[str] = Field(None, description="MNIST IDX files (default $DEML_DATA_DIR, then ./data)")
    download: bool = Field(False, description="allow torchvision to download MNIST if it is missing")
    nodes: int = Field(10, ge=2)
    adversaries: int = Field(7, ge=0, description="colluding rational adversaries among the nodes")
    honest: Optional[int] = Field(None, ge=1, description="honest nodes (default: nodes - adversaries)")
    batch: int = Field(64, ge=1, description="minibatch per node per round")
    knowledge: Literal["reference", "minibatch"] = Field(
        "reference", description="what the adversary centres on: the reference gradient (worst case) or its own "
        "nodes' pooled minibatch gradients")
    honest_sgd: bool = Field(True, description="also run honest-only SGD (all nodes honest, constant step)")
    baselines: list[float] = Field([2.0, 4.0, 8.0], description="constant-eta baselines (step alpha0 / sqrt(1 + a))")
    steady: list[float] = Field([], description="constant-eta baselines with the step held at alpha0 (each above "
                                "eta_min, on the grid)")
    eta_step: float = Field(0.25, gt=0, description="spacing of the equilibrium grid VISTA chooses from")
    delta: Optional[float] = Field(None, gt=0, description="honest noise radius; default: calibrated by the DC")
    reference: int = Field(1024, ge=1, description="examples in the reference gradient (task.grad)")
    dc_sample: int = Field(5000, ge=2, description="training examples the DC keeps for itself (none go to nodes)")
    calibration_steps: list[int] = Field([0, 100, 300, 1000], description="DC's SGD checkpoints for Delta")
    calibration_draws: int = Field(64, ge=2, description="minibatches per checkpoint")
    calibration_quantile: float = Field(0.99, gt=0, le=1)
    eval_every: int = Field(25, ge=1, description="rounds between test evaluations")
    test_size: int = Field(5000, ge=1, description="fixed random test subset")
    target: float = Field(0.97, gt=0, le=1, description="test accuracy whose first round is reported")
    device: str = Field("auto", description="auto (cuda when present), cpu, cuda[:i]")
    models_per_call: Optional[int] = Field(None, ge=1, description="runs per vmapped call (default: all on a GPU, "
                                           "1 on a CPU, where grouped convolutions are slower)")
    torch_threads: int = Field(1, ge=1, description="intra-op threads (on a loaded CPU more threads contend)")
    ledger_gb: float = Field(6.0, gt=0, description="memory a batch's ledger history may take (the ledger keeps "
                             "every round's full reports); methods beyond it run as further batches")

    @model_validator(mode="after")
    def _nodes(self):
        honest = self.nodes - self.adversaries
        if self.honest is None:
            object.__setattr__(self, "honest", honest)
        if self.honest != honest or honest < 1:
            raise ValueError(f"honest={self.honest}, adversaries={self.adversaries}: they must add up to "
                             f"nodes={self.nodes} with at least one honest node; set nodes or adversaries only")
        if self.eta_min < 2:
            raise ValueError(f"eta_min={self.eta_min}: honest reports may differ by 2 Delta, and the vector game "
                             f"is exact from eta = 2; use eta_min >= 2")
        for eta in self.steady:
            if not self.eta_min < eta <= self.eta_max:
                raise ValueError(f"steady: {eta} must lie in (eta_min, eta_max] = ({self.eta_min}, {self.eta_max}]")
        if self.model == "lenet" and self.dataset == "synthetic":
            raise ValueError("model=lenet needs 28 x 28 images; use dataset=mnist or model=mlp")
        return self


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


def prepare(cfg: VistaMnistConfig) -> Prepared:
    torch.set_num_threads(cfg.torch_threads)
    device = pick_device(cfg.device)
    ds = load(cfg)
    pick = np.random.default_rng(cfg.seed).permutation(len(ds.y_test))[:cfg.test_size]
    work, own = workload(cfg, ds, device)
    inits = np.stack([FlatModel(build_module(cfg, ds.features, cfg.seed + r)).initial() for r in range(cfg.runs)])
    cal = calibrate(work, own, inits[0], checkpoints=cfg.calibration_steps, lr=cfg.alpha0,
                    train_batch=cfg.nodes * cfg.batch, draws=cfg.calibration_draws,
                    quantile=cfg.calibration_quantile, scale_bits=cfg.scale_bits, rng=np.random.default_rng(cfg.seed))
    return Prepared(work, own, inits, cal, cfg.delta or cal.delta, (ds.x_test[pick].to(device), ds.y_test[pick].to(device)))
