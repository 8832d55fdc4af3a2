"""The game of coding: the rational adversary's best response and the equilibrium curves VISTA looks up."""

from economics.equilibrium import EquilibriumTable, solve
from economics.game import GameSpec
from economics.utility import LogUtility, ProductUtility

__all__ = ["EquilibriumTable", "GameSpec", "LogUtility", "ProductUtility", "solve"]
