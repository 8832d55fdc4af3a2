"""Configs of the MNIST experiments (`vista-mnist`, `sketch-fidelity`): validated models only, no torch, so the
catalogue (`deml sim --list`, `deml sim show`) stays cheap."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from sims.vista_config import VistaConfig

Source = Literal["ball", "lenet"]


class VistaMnistConfig(VistaConfig):
    runs: int = Field(1, ge=1, description="independent runs per method (each a LeNet: one by default)")
    rounds: int = Field(2000, ge=1, description="rounds per run")
    model: Literal["lenet", "mlp", "logreg"] = Field("lenet", description="LeNet-5 (61,706 parameters), an MLP, or "
                                                     "logistic regression (7,850 on MNIST)")
    hidden: int = Field(64, ge=1, description="MLP hidden width")
    dataset: Literal["mnist", "synthetic"] = Field("mnist", description="synthetic: Gaussian clusters (mlp only)")
    data_dir: Optional[str] = Field(None, description="MNIST IDX files (default $DEML_DATA_DIR, then ./data)")
    download: bool = Field(False, description="allow torchvision to download MNIST if it is missing")
    nodes: int = Field(10, ge=2, description="nodes N, honest and adversarial")
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
    calibration_quantile: float = Field(0.99, gt=0, le=1, description="quantile of the measured noise norms "
                                        "that sets Delta")
    eval_every: int = Field(25, ge=1, description="rounds between test evaluations")
    test_size: int = Field(5000, ge=1, description="fixed random test subset")
    target: float = Field(0.97, gt=0, le=1, description="test accuracy whose first round is reported")
    device: str = Field("auto", description="auto (cuda when present), cpu, cuda[:i]")
    models_per_call: Optional[int] = Field(None, ge=1, description="runs per vmapped call (default: all on a GPU, "
                                           "1 on a CPU, where grouped convolutions are slower)")
    torch_threads: int = Field(1, ge=1, description="intra-op threads (on a loaded CPU more threads contend)")

    @model_validator(mode="before")
    @classmethod
    def _honest(cls, data):
        """honest defaults to nodes - adversaries (before VistaConfig's own checks, which count both)."""
        if isinstance(data, dict) and data.get("honest") is None:
            fields = cls.model_fields
            nodes = data.get("nodes", fields["nodes"].default)
            adversaries = data.get("adversaries", fields["adversaries"].default)
            if isinstance(nodes, int) and isinstance(adversaries, int):
                data = {**data, "honest": nodes - adversaries}
        return data

    @model_validator(mode="after")
    def _nodes(self):
        honest = self.nodes - self.adversaries
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


class SwarmMnistConfig(VistaMnistConfig):
    """`deml swarm run --workload mnist-lenet|mnist-mlp`: one run of one method on chain, every report checked
    through a k-value sketch. Lighter defaults for the DC's start (calibration, reference, test set) than
    vista-mnist's: every process of a swarm shares the machine."""

    sketch: int = Field(64, ge=1, le=256, description="k: values of each report's sketch the contract checks")
    honest_sgd: bool = Field(False, description="(not used by a swarm)")
    reference: int = Field(256, ge=1, description="examples in the DC's reference gradient")
    calibration_steps: list[int] = Field([0, 100], description="DC's SGD checkpoints for Delta")
    calibration_draws: int = Field(32, ge=2, description="minibatches per checkpoint")
    test_size: int = Field(2000, ge=1, description="fixed random test subset (the run directory's evals)")
    eval_every: int = Field(10, ge=1, description="rounds between test evaluations")


class SketchFidelityConfig(VistaMnistConfig):
    rounds: int = Field(300, ge=1, description="simulated rounds per source (shared by every k, eta and law)")
    ks: list[int] = Field([32, 64, 128, 256], description="sketch rows")
    sources: list[Source] = Field(["ball", "lenet"], description="ball: Delta-ball noise in ball_dim dimensions; "
                                  "lenet: real LeNet-5 minibatch gradients")
    etas: list[float] = Field([2.0, 3.0], description="announced eta values")
    seeds: int = Field(15, ge=1, description="projection seeds per source, k, eta and law")
    ball_dim: int = Field(61_706, ge=2, description="dimension of the ball source")
    prediction_draws: int = Field(400, ge=10, description="Gaussian-limit draws per round for the prediction")
