"""What a FAR-SIGN swarm on a report board computes: the workloads (`--workload`), the node roles (`--role`) and
the delay laws (`--delay`). The data collector and every node build the same workload from the same name,
settings and seed: the model's start, the direction design (and so each worker's report length) and the server's
schedules agree by construction.

Workloads (settings: the fields of sims.farsign_config's MnistConfig, or AsyncConfig for `rosenbrock`, by --set):
- `rosenbrock`: the noisy 4-D Rosenbrock function of farsign-rates (no torch; for tests);
- `synthetic-logreg`: logistic regression on Gaussian class clusters (20 features, 10 classes: d = 210);
- `mnist-logreg`: logistic regression on MNIST (d = 7,850; needs the IDX files: data_dir or $DEML_DATA_DIR);
- `mnist-mlp`: the MLP of farsign-mnist on MNIST (784-`hidden`-10, d = 50,890 at the default 64 hidden units).

Roles: `fo` and `zo` (honest first- and zeroth-order workers), `flood` (honest values, posted as fast as the
board takes them: no delay, whatever the refusals), and every attack of farsign-mnist (nodes/farsign_attacks.py,
nodes/attacks.py) over a first-order worker: sign-flip, large-value, always-plus, always-minus, gaussian, nan,
inf, random-signs, opposite-mean, stale-replay.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from coordinator import farsign
from protocol.board import MAX_VALUES
from nodes.farsign_workers import FirstOrder, Respond, WithAdversaries, ZerothOrder
from sims.config import ConfigError, resolve
from sims.farsign_config import AsyncConfig, AttackName, MnistConfig

WORKLOADS = ("rosenbrock", "synthetic-logreg", "mnist-logreg", "mnist-mlp")
ATTACKS = tuple(a for a in AttackName.__args__ if a != "none")  # type: ignore[attr-defined]
ROLES = ("fo", "zo", "flood", *ATTACKS)
DELAY_KINDS = ("none", "constant", "exponential", "lognormal", "pareto")
SCALE_BITS = 16  # fixed point of the reports: 2^-16 resolution, magnitudes up to 32,768


@dataclass
class BoardWorkload:
    name: str
    cfg: AsyncConfig
    x0: np.ndarray
    task: object  # nodes.farsign_workers.Task
    evaluate: Callable[[np.ndarray], tuple[float, float]]  # x -> (test accuracy, test loss)
    scale_bits: int = SCALE_BITS

    @property
    def dim(self) -> int:
        return len(self.x0)

    def params(self, variant: farsign.Variant = "first-order") -> farsign.FarSignParams:
        from sims.farsign_experiments import farsign_params

        return farsign_params(self.cfg, self.dim, variant)

    def sizes(self) -> list[int]:
        design = self.params().design
        return [design.size(j) for j in range(self.cfg.workers)]

    def respond(self, role: str) -> Respond:
        """The report function of a node in `role` (its worker index is the block it is assigned)."""
        from sims.farsign_experiments import strategy

        p = self.params()
        if role == "zo":
            return ZerothOrder(self.task, p.design.rows, self.params("zeroth-order").perturbation)
        honest = FirstOrder(self.task, p.design.project)
        if role in ("fo", "flood"):
            return honest
        return _Attacker(honest, strategy(self.cfg, role), self.x0)


@dataclass(frozen=True)
class _Attacker:
    """An attack over the honest worker of whichever block the node is given (WithAdversaries of that one)."""

    honest: FirstOrder
    attack: Callable
    x0: np.ndarray

    def __call__(self, workers, x, version, rng):
        return WithAdversaries(self.honest, frozenset(workers), self.attack, self.x0)(workers, x, version, rng)


def build(name: str, settings: dict, *, workers: int, adversaries: int, seed: int) -> BoardWorkload:
    """The workload `name` for a swarm of `workers` nodes (the last `adversaries` of them adversarial)."""
    if name not in WORKLOADS:
        raise ConfigError(f"--workload {name!r}: unknown for --mode farsign; use one of {', '.join(WORKLOADS)}")
    base = {"workers": workers, "adversaries": adversaries, "seed": seed}
    if name == "rosenbrock":
        from sims.farsign_experiments import NoisyObjective
        from sims.objectives import Rosenbrock

        cfg = resolve(AsyncConfig, {**base, **settings})
        f = Rosenbrock(4)
        return BoardWorkload(name, cfg, f.init(1)[0], NoisyObjective(f, 1.0),
                             lambda x: (float("nan"), float(f.loss(x[None, :])[0])))
    cfg = resolve(MnistConfig, {**base, "dataset": "synthetic" if name == "synthetic-logreg" else "mnist", **settings})
    work = _supervised(name, cfg, "mlp" if name == "mnist-mlp" else "logreg")
    longest = max(work.sizes())
    if longest > MAX_VALUES:
        raise ConfigError(f"--workload {name}: its reports would hold {longest:,} values and the board takes at most "
                          f"{MAX_VALUES:,}; use a smaller model (--set hidden=16) or a design of smaller blocks "
                          f"(--set design=replicated-blocks --set blocks=B)")
    return work


def _supervised(name: str, cfg: MnistConfig, kind: str) -> BoardWorkload:
    import torch

    from nodes import data as datasets
    from nodes.models import MODELS, FlatModel, SupervisedTask
    from sims.farsign_experiments import check_mnist

    try:
        check_mnist(cfg)
    except ConfigError as exc:
        raise ConfigError(f"--workload {name}: {exc}; or use --workload synthetic-logreg") from None
    torch.set_num_threads(cfg.torch_threads)
    ds = datasets.load_mnist(cfg.data_dir, cfg.download) if cfg.dataset == "mnist" else datasets.synthetic()
    pick = np.random.default_rng(cfg.seed).permutation(len(ds.y_test))[:cfg.test_size]
    x_test, y_test = ds.x_test[pick], ds.y_test[pick]
    torch.manual_seed(cfg.seed)
    model = FlatModel(MODELS[kind](ds.features, 10, **({"hidden": cfg.hidden} if kind == "mlp" else {})))
    task = SupervisedTask(model, ds.x_train, ds.y_train, datasets.shards(len(ds.y_train), cfg.workers, cfg.seed),
                          cfg.batch)
    return BoardWorkload(name, cfg, model.initial(), task, lambda x: model.evaluate(x, x_test, y_test))


def delay_law(text: str) -> Callable[[np.random.Generator], float]:
    """`--delay KIND[:MEAN[:SHAPE]]` (seconds; e.g. pareto:0.5:2, exponential:0.2, none): a node's pause per report,
    drawn from its own seeded generator (sims.async_clock.Latency)."""
    from sims.async_clock import Latency

    kind, *rest = text.split(":")
    try:
        mean, shape = (float(rest[0]) if rest else 0.5), (float(rest[1]) if len(rest) > 1 else 2.0)
        if kind not in DELAY_KINDS or len(rest) > 2:
            raise ValueError
        law = Latency(kind, mean, shape) if kind != "none" else None
    except ValueError:
        raise ConfigError(f"--delay {text!r}: expected KIND[:MEAN[:SHAPE]] with KIND one of "
                          f"{', '.join(DELAY_KINDS)}, MEAN >= 0 seconds and SHAPE > 0 (> 1 for pareto), "
                          f"e.g. pareto:0.5:2") from None
    return (lambda rng: 0.0) if law is None else (lambda rng: float(law.sample(rng)))
