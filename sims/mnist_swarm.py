"""The learning workloads of swarms (`--workload mnist-lenet`, `mnist-mlp`): VISTA training a real model on chain,
every report checked through a k-value sketch (docs/sketch.md).

The DC's side is `vista-mnist`'s (sims/mnist_workload.py) for one run: Delta calibrated on the DC's own sample,
the equilibrium table of the check the contract runs (the sketched one), the reference gradient as its task. A
node process loads the data itself and takes its own shard of the same seeded split:
- honest: its minibatch gradient on its shard at the posted model (one forward and backward pass a round);
- rational: the game-of-coding law for the announced eta in the space the check sees, centred on the reference
  gradient (`knowledge=reference`, the worst case: it knows the DC's sample) or on its own minibatch gradient;
- the classic attacks of `nodes.attacks`, each seeing its own gradient.
Only the adversaries need Delta and the table: they read the DC's calibration and table from the disk cache the
DC fills first on this machine, or measure them again themselves.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
import numpy as np

from coordinator.driver import ProtocolConfig
from nodes.context import RoundContext
from protocol import codec
from protocol.deployment import DeploymentRecord
from sims.config import ConfigError
from sims.mnist_config import SwarmMnistConfig
from sims.workloads import DcSide, NodeSide, Workload, announcement, attack, controller, deployed


@dataclass(frozen=True)
class LearningWorkload(Workload):
    def settings(self, overrides: dict[str, Any], *, honest: int, adversaries: int, seed: int,
                 rounds: int = 1) -> SwarmMnistConfig:
        if "nodes" in overrides:
            raise ConfigError("--set nodes: the swarm's --honest and --adversaries give it; drop it from --set")
        return super().settings({**overrides, "nodes": honest + adversaries}, honest=honest,
                                adversaries=adversaries, seed=seed, rounds=rounds)

    def dc(self, cfg: SwarmMnistConfig, method: str, record: DeploymentRecord | None = None) -> DcSide:
        from nodes.adversary import RationalAdversary
        from nodes.workloads import LearningSwarm, ReferenceTask
        from sims.vista_experiments import TOKEN, VistaSetup, methods

        prep, table = prepared(cfg)
        names, control = methods(cfg, table)
        reward = int(cfg.reward * TOKEN)
        proto = ProtocolConfig(delta=prep.delta, reward=reward, stake=10 * reward, min_stake=2 * reward,
                               scale_bits=cfg.scale_bits, estimator="mean", quorum=2, sketch=cfg.sketch)
        task = ReferenceTask(prep.workload, prep.own[:cfg.reference], prep.inits[:1])
        # the in-process counterpart of a swarm of rational adversaries (the tables read its roster)
        swarm = LearningSwarm(prep.workload, cfg.honest, cfg.adversaries,
                              RationalAdversary(table) if cfg.adversaries else None, cfg.knowledge)
        work, (x, y) = prep.workload, prep.test

        def evaluate(theta: np.ndarray) -> tuple[float, float]:
            acc, loss = work.evaluate(theta[None], x, y)
            return float(acc[0]), float(loss[0])

        return DcSide(task, controller(table, cfg, method, control), deployed(proto, record), method,
                      VistaSetup(table, names, control, swarm, proto), evaluate, cfg.eval_every)

    def node(self, cfg: SwarmMnistConfig, role: str, *, shard: tuple[int, int] = (0, 1),
             device: str = "auto") -> NodeSide:
        import torch

        from nodes.adversary import RationalAdversary
        from nodes.workloads import pick_device
        from sims.mnist_workload import load, workload

        index, of = shard
        if of != cfg.nodes:
            raise ConfigError(f"--shard {index}/{of}: this swarm's data is split into {cfg.nodes} shards "
                              f"(--honest + --adversaries); give {index}/{cfg.nodes}")
        try:
            dev = pick_device(device)
        except ValueError as exc:
            raise ConfigError(f"--{exc}") from None
        if role != "honest":  # the adversary's knowledge: the DC's calibration, table and sample (worst case)
            prep, table = prepared(cfg.model_copy(update={"device": str(dev)}))
            work, reference = prep.workload, prep.own[:cfg.reference]
            strategy = attack(role, prep.delta, lambda: RationalAdversary(table))
            read = announcement(cfg.eta_grid(), prep.delta)
        else:
            torch.set_num_threads(cfg.torch_threads)  # as prepare() does: the same arithmetic in every process
            work, _ = workload(cfg, load(cfg), dev)
            read = _ignored
        mine = work.shards[index]

        def own_gradient(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            """Its minibatch gradient [1, d] on its shard (with replacement, as the in-process nodes draw)."""
            idx = mine[(rng.random(cfg.batch) * len(mine)).astype(np.int64)]
            return work.node_grads(theta, idx[None, None, :])[:, 0]

        def report(theta: np.ndarray, tau: np.ndarray, eta_index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            g = own_gradient(theta, rng)
            if role == "honest":
                return g
            known = work.value_and_grad(theta, reference)[1] if cfg.knowledge == "reference" else g
            return strategy(RoundContext(known, tau, eta_index, g[:, None, :], rng))

        return NodeSide(work.dim, report, read)


def _ignored(tau_fx: int, scale_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """An honest node's reading of the threshold: its report does not depend on it."""
    return np.array([codec.decode(tau_fx, scale_bits)]), np.zeros(1, dtype=np.int64)


def prepared(cfg: SwarmMnistConfig):
    """The DC's preparation (data, calibrated Delta) and the equilibrium table of the sketched check (both cached
    on disk, so a swarm's processes compute them once)."""
    from economics import solve
    from sims.mnist_workload import game, prepare

    prep = prepare(cfg)
    spec = game(cfg, prep.workload.dim, prep.delta)
    if cfg.sketch < prep.workload.dim:
        spec = spec.model_copy(update={"sketch": cfg.sketch})
    return prep, solve(spec, cfg.eta_grid(), progress=False)
