"""Named experiments. Lookup is validated: an unknown name lists the known ones.

The catalogue holds names, descriptions and config models only; each implementation module is imported when
its experiment runs, so `deml sim --list` and `deml sim show` stay cheap. `sims.api.vista_task` adds more.
"""
from __future__ import annotations

from sims.config import ConfigError
from sims.experiment import Experiment
from sims.farsign_config import MnistConfig, RatesConfig, TuneConfig
from sims.mnist_config import SketchFidelityConfig, VistaMnistConfig
from sims.vista_config import EconomicsConfig, LearningConfig, Quad3dConfig, Scalar1dConfig

_CATALOGUE: dict[str, Experiment] = {}


def register(exp: Experiment) -> Experiment:
    if exp.name in _CATALOGUE:
        raise ValueError(f"experiment {exp.name!r} is defined twice")
    _CATALOGUE[exp.name] = exp
    return exp


def get(name: str) -> Experiment:
    if name not in _CATALOGUE:
        raise ConfigError(f"unknown experiment {name!r}; known: {', '.join(sorted(_CATALOGUE))}")
    return _CATALOGUE[name]


def all_experiments() -> list[Experiment]:
    return [_CATALOGUE[k] for k in sorted(_CATALOGUE)]


for _exp in (
    Experiment("quad3d", "VISTA vs constant eta on f = (x^2 + 2y^2 + 3z^2)/2 (or --set objective=...), "
               "1 honest + 1 rational adversary", Quad3dConfig, "sims.vista_experiments:QUAD3D"),
    Experiment("scalar1d", "VISTA vs constant eta on f = log(1+x^2) + x^2/20, 1 honest + 4 colluding adversaries "
               "(midrange)", Scalar1dConfig, "sims.vista_experiments:SCALAR1D"),
    Experiment("learning-adversary", "An adversary that learns its noise law from what it observes (explore, then "
               "the best two-arm law of its estimates) against the solver's equilibrium adversary, VISTA and constant "
               "eta on quad3d: does its play converge to the equilibrium", LearningConfig,
               "sims.learning_experiments:LEARNING"),
    Experiment("economics", "Who is paid for what: 1 to 9 adversaries of 10 nodes, a Sybil with 1 to 8 identities under "
               "the midrange and the mean, and VISTA's thresholds against its step schedule (ablation)",
               EconomicsConfig, "sims.economics_experiments:ECONOMICS"),
    Experiment("farsign-tune", "FAR-SIGN and every baseline at its own best step size: one tuning budget per method "
               "on held-out seeds, then farsign-mnist at the chosen settings", TuneConfig, "sims.farsign_tuning:TUNE"),
    Experiment("farsign-rates", "FAR-SIGN min ||grad f|| vs updates on Rosenbrock-10 and Cauchy regression; fitted "
               "slopes vs -1/4 (first-order) and -1/6 (zeroth-order)", RatesConfig, "sims.farsign_experiments:RATES"),
    Experiment("farsign-mnist", "FAR-SIGN vs synchronous robust aggregation, signSGD and async SGD on MNIST under "
               "attacks: accuracy against virtual time and updates", MnistConfig, "sims.farsign_experiments:MNIST"),
    Experiment("vista-mnist", "VISTA vs constant eta vs honest-only SGD training LeNet-5 / an MLP on MNIST, 10 nodes "
               "with a rational adversary majority (3 honest + 7)", VistaMnistConfig, "sims.mnist_experiments:VISTA_MNIST"),
    Experiment("sketch-fidelity", "Sketched vs full consistency check on ball noise and real LeNet-5 gradients: honest "
               "and equilibrium-adversary accept rates at k = 32..256 against the chi-square / Gaussian-limit "
               "predictions", SketchFidelityConfig, "sims.sketch_fidelity:FIDELITY"),
):
    register(_exp)
