"""Named experiments. Lookup is validated: an unknown name lists the known ones.

The experiment modules only define their `EXPERIMENTS`; this module collects them, so nothing imports back.
"""
from __future__ import annotations

from functools import cache

from sims.experiment import Experiment


@cache
def _catalogue() -> dict[str, Experiment]:
    from sims import farsign_experiments, mnist_experiments, vista_experiments

    found: dict[str, Experiment] = {}
    for exp in (*vista_experiments.EXPERIMENTS, *farsign_experiments.EXPERIMENTS, *mnist_experiments.EXPERIMENTS):
        if exp.name in found:
            raise ValueError(f"experiment {exp.name!r} is defined twice")
        found[exp.name] = exp
    return found


def get(name: str) -> Experiment:
    experiments = _catalogue()
    if name not in experiments:
        raise KeyError(f"unknown experiment {name!r}; known: {', '.join(sorted(experiments))}")
    return experiments[name]


def all_experiments() -> list[Experiment]:
    experiments = _catalogue()
    return [experiments[k] for k in sorted(experiments)]
