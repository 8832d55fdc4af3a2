"""Your own objective through the batched VISTA engine, into the standard run directory.

A task is any object with `dim`, `f_star` (its minimum value, for the gap f - f*), `init(batch)` (the starting
points [batch, dim]), `grad(theta)` and `loss(theta)` over theta [..., dim]; optionally `smoothness`, the
Lipschitz constant L of its gradient, which the divergence warning quotes (alpha0 <= 1/(L(1 + lam))).

    import numpy as np
    from sims.api import VistaConfig, run_task, vista_task

    class Shifted:
        dim, f_star, smoothness = 2, 0.0, 2.0
        def init(self, batch): return np.tile([5.0, -5.0], (batch, 1))
        def grad(self, theta): return 2.0 * (theta - 1.0)
        def loss(self, theta): return ((theta - 1.0) ** 2).sum(axis=-1)

    task = vista_task("shifted", "VISTA on |x - 1|^2", Shifted())
    out = run_task(task, {"runs": 4, "rounds": 300, "baselines": [2, 8]})   # runs/shifted-TIMESTAMP/

`objective` may also be a function of the config, with a VistaConfig subclass carrying the objective's own
settings (validated like every config; `--set`-style overrides are the `settings` dict). `register(task)`
makes it known to `sims.runner.run_experiment` by name in this process. The named objectives of
`deml sim quad3d --set objective=...` are defined the same way, in sims/objectives.py.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Union

from sims import registry, runner
from sims.experiment import Experiment
from sims.objectives import Objective
from sims.vista_config import VistaConfig
from sims.vista_experiments import implementation

__all__ = ["Objective", "VistaConfig", "register", "run_task", "vista_task"]

REQUIRED = ("dim", "f_star", "init", "grad", "loss")


def vista_task(name: str, description: str, objective: Union[Objective, Callable[[Any], Objective]],
               config: type[VistaConfig] = VistaConfig) -> Experiment:
    """A VISTA experiment on `objective` (an object, or a function of the resolved config returning one)."""
    if not issubclass(config, VistaConfig):
        raise TypeError(f"config: expected a VistaConfig subclass, got {config!r}")
    build = objective if _is_factory(objective) else (lambda cfg: objective)
    return Experiment(name, description, config, implementation(name, _checked(build)))


def run_task(task: Experiment, settings: Union[dict[str, Any], VistaConfig, None] = None, out: Path | None = None,
             *, sweep: str | None = None, force: bool = False) -> Path:
    """Run the task as `deml sim` runs a named experiment; returns its run directory. Bad settings raise
    sims.config.ConfigError; Ctrl-C writes the finished rounds and raises sims.runner.RunInterrupted."""
    overrides = settings.model_dump() if isinstance(settings, VistaConfig) else dict(settings or {})
    return runner.run(task, overrides, out, sweep, force=force)


def register(task: Experiment) -> Experiment:
    """Make the task runnable by name (sims.runner.run_experiment) in this process."""
    return registry.register(task)


def _is_factory(objective) -> bool:
    return callable(objective) and not all(hasattr(objective, a) for a in REQUIRED)


def _checked(build: Callable[[Any], Objective]) -> Callable[[Any], Objective]:
    def objective_of(cfg) -> Objective:
        obj = build(cfg)
        missing = [a for a in REQUIRED if not hasattr(obj, a)]
        if missing:
            raise TypeError(f"objective {obj!r} lacks {', '.join(missing)}; a task needs {', '.join(REQUIRED)}")
        return obj

    return objective_of
