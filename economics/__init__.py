"""The game of coding: the rational adversary's best response and the equilibrium curves VISTA looks up.

The names below resolve on first use, so that importing `economics.game` or the `deml equilibrium` command
does not load scipy.
"""
from importlib import import_module

_NAMES = {"EquilibriumTable": "economics.equilibrium", "solve": "economics.equilibrium", "GameSpec": "economics.game",
          "LogUtility": "economics.utility", "ProductUtility": "economics.utility"}
__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name not in _NAMES:
        raise AttributeError(f"module 'economics' has no attribute {name!r}")
    return getattr(import_module(_NAMES[name]), name)
