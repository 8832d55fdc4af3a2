"""Workloads of swarms: a name -> what the DC needs (the task, VISTA's controller, the protocol parameters) and what a
node of each role needs (its report function, the reading of a posted threshold), assembled here and handed to
`coordinator.service` and `nodes.runtime` as objects, so that neither imports `sims`.

`quad3d` and `scalar1d` are the VISTA paper's synthetic tasks with the settings of `deml sim quad3d|scalar1d`
(one run, no baselines; `--set key=value` as there). Their nodes compute the exact gradient at the posted model:
every data shard gives the same one, so `--shard` and `--device` change nothing here.

Roles: `honest` (the gradient plus benign noise in the Delta-ball), `rational` (the game-of-coding best response
for the announced eta) and the classic attacks of `nodes.attacks`. An adversary process sees what it computes
itself, never the honest reports (commit-reveal keeps them from it): the omniscient attacks (`ipm`, `alie`,
`mimic`) take its own gradient as their view of the honest reports, so for those the swarm is not the
in-process engine, which hands them the real ones.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from coordinator import vista
from coordinator.driver import ProtocolConfig
from nodes.adversary import RationalAdversary
from nodes.attacks import ALIE, IPM, Gaussian, Mimic, NonFinite, SignFlip, ThresholdHugging
from nodes.context import RoundContext, Strategy
from nodes.honest import HonestReport
from nodes.runtime import Reporter
from protocol import codec
from protocol.deployment import DeploymentRecord
from sims.config import ConfigError, resolve
from sims.objectives import Objective
from sims.vista_config import Quad3dConfig, Scalar1dConfig, VistaConfig

ADVERSARIAL = ("rational", "sign-flip", "ipm", "alie", "gaussian", "mimic", "non-finite", "threshold-hugging")
ROLES = ("honest", *ADVERSARIAL)
# what the swarm commands set themselves; --set may not
FIXED = ("honest", "adversaries", "runs", "rounds", "seed", "baselines", "oracle")


@dataclass(frozen=True)
class DcSide:
    """What `deml coordinator run` drives: the task, the controller of the one method, the protocol parameters
    (those of the deployment), and the method's name."""

    task: Objective
    control: vista.VistaParams
    proto: ProtocolConfig
    method: str
    setup: Any  # sims.vista_experiments.VistaSetup: the table and the in-process swarm, for tables and comparisons
    evaluate: Callable[[np.ndarray], tuple[float, float]] | None = None  # a model's (test accuracy, test loss)
    eval_every: int = 1

    @property
    def report_dim(self) -> int | None:
        """The full reports the DC's store takes: the model's size where rounds are sketched, else none."""
        return self.task.dim if self.proto.sketched(self.task.dim) else None

    def keyed(self, owner_key: bytes) -> "DcSide":
        """The side of the DC holding `owner_key`: its sketch seeds' secret derived from it (the same after a
        restart, and unknown to the nodes)."""
        from protocol.commitment import keccak

        return replace(self, proto=replace(self.proto, sketch_secret=keccak(bytes(owner_key) + b"deml-sketch-secret")))


@dataclass(frozen=True)
class NodeSide:
    dim: int
    report: Reporter
    announcement: Callable[[int, int], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    config: type[VistaConfig]
    pinned: tuple[tuple[str, Any], ...] = ()  # settings the workload's name fixes (e.g. the model)

    def settings(self, overrides: dict[str, Any], *, honest: int, adversaries: int, seed: int,
                 rounds: int = 1) -> VistaConfig:
        """The resolved config of a swarm of `honest` + `adversaries` nodes (ConfigError on bad settings)."""
        pinned = dict(self.pinned)
        fixed = sorted(set(overrides) & (set(FIXED) | set(pinned)))
        if fixed:
            raise ConfigError(f"--set {fixed[0]}: set by the command itself (its own option, or the workload's "
                              f"name); drop it from --set")
        return resolve(self.config, {**overrides, **pinned, "honest": honest, "adversaries": adversaries,
                                     "seed": seed, "rounds": rounds, "runs": 1, "baselines": [], "oracle": False})

    def dc(self, cfg: VistaConfig, method: str, record: DeploymentRecord | None = None) -> DcSide:
        """The DC's side; with a deployment record, its stake, reward and slashing replace the config's."""
        from sims.vista_experiments import setup

        task = cfg.task()
        s = setup(cfg, task.dim, progress=False)
        return DcSide(task, controller(s.table, cfg, method, s.control), deployed(s.proto, record), method, s)

    def node(self, cfg: VistaConfig, role: str, *, shard: tuple[int, int] = (0, 1), device: str = "auto") -> NodeSide:
        """A node of `role`: its report function and its reading of the posted threshold."""
        task = cfg.task()
        strategy = self.strategy(cfg, role)
        view = (lambda g: np.zeros((g.shape[0], 0, g.shape[1]))) if role == "honest" else (lambda g: g[:, None, :])

        def report(theta: np.ndarray, tau: np.ndarray, eta_index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            grad = task.grad(theta)
            return strategy(RoundContext(grad, tau, eta_index, view(grad), rng))

        return NodeSide(task.dim, report, announcement(cfg.eta_grid(), cfg.delta))

    def strategy(self, cfg: VistaConfig, role: str) -> Strategy:
        """The role's report rule (the in-process engine's swarm takes the same)."""
        if role == "honest":
            return HonestReport(cfg.delta)

        def rational() -> Strategy:
            from sims.vista_experiments import game
            from economics import solve

            return RationalAdversary(solve(game(cfg, cfg.task().dim), cfg.eta_grid(), progress=False))

        return attack(role, cfg.delta, rational)


def controller(table, cfg: VistaConfig, method: str, control: vista.VistaParams) -> vista.VistaParams:
    """`control` (VISTA's) for method "vista"; for "eta=X", eta held at X with the baselines' step."""
    if method == "vista":
        return control
    eta = parse_method(method)
    try:
        return vista.params(table.eta, table.mse, eta_min=eta, eta_max=eta, alpha0=cfg.alpha0, beta=cfg.beta)
    except ValueError as exc:
        raise ConfigError(f"--method {method}: {str(exc).split(': ', 1)[1]}") from None


def deployed(proto: ProtocolConfig, record: DeploymentRecord | None) -> ProtocolConfig:
    """The protocol parameters with a deployment's stake, reward and slashing in place of the config's."""
    if record is None:
        return proto
    return replace(proto, reward=record.reward, stake=record.stake, min_stake=record.min_stake,
                   slash_bps=record.slash_bps)


def announcement(grid: np.ndarray, delta: float) -> Callable[[int, int], tuple[np.ndarray, np.ndarray]]:
    """A node's reading of a posted tau_fx: eta's grid index from tau = eta Delta (the grid's spacing dwarfs the
    codec's unit), and tau as the DC computed it, bit for bit."""
    def read(tau_fx: int, scale_bits: int) -> tuple[np.ndarray, np.ndarray]:
        index = np.array([int(np.argmin(np.abs(grid * delta - codec.decode(tau_fx, scale_bits))))])
        return grid[index] * delta, index

    return read


def attack(role: str, delta: float, rational: Callable[[], Strategy]) -> Strategy:
    """An adversarial role's report rule; `rational` builds the game-of-coding best response (it solves a table)."""
    if role == "rational":
        return rational()
    rules: dict[str, Callable[[], Strategy]] = {
        "sign-flip": SignFlip, "ipm": IPM, "alie": ALIE, "gaussian": Gaussian, "mimic": Mimic,
        "non-finite": NonFinite, "threshold-hugging": lambda: ThresholdHugging(delta_bound=delta, omniscient=False)}
    if role not in rules:
        raise ConfigError(f"--role {role!r}: unknown; use one of {', '.join(ROLES)}")
    return rules[role]()


def parse_method(method: str) -> float:
    """'eta=X' -> X (a constant threshold); ConfigError otherwise."""
    key, sep, value = method.partition("=")
    try:
        if key.strip() == "eta" and sep:
            return float(value)
    except ValueError:
        pass
    raise ConfigError(f"--method {method!r}: expected vista or eta=X (a constant eta on the grid), e.g. eta=4")


def _learning() -> tuple[Workload, ...]:
    from sims.mnist_config import SwarmMnistConfig
    from sims.mnist_swarm import LearningWorkload

    return (LearningWorkload("mnist-lenet", "LeNet-5 (61,706 parameters) on MNIST, reports checked through "
                             "sketches", SwarmMnistConfig, (("model", "lenet"),)),
            LearningWorkload("mnist-mlp", "an MLP on MNIST (or synthetic data), reports checked through sketches",
                             SwarmMnistConfig, (("model", "mlp"),)),
            LearningWorkload("mnist-logreg", "logistic regression on MNIST (7,850 parameters), reports checked "
                             "through sketches", SwarmMnistConfig, (("model", "logreg"),)))


WORKLOADS = {w.name: w for w in (
    Workload("quad3d", "VISTA's 3-D quadratic (x^2 + 2y^2 + 3z^2)/2 from (10, 10, 10)", Quad3dConfig),
    Workload("scalar1d", "the 1-D log bowl log(1 + x^2) + x^2/20 from 10", Scalar1dConfig),
)}


def get(name: str) -> Workload:
    known = {**WORKLOADS, **{w.name: w for w in _learning()}}  # the learning ones imported only when asked for
    if name not in known:
        raise ConfigError(f"--workload {name!r}: unknown; use one of {', '.join(known)}")
    return known[name]
