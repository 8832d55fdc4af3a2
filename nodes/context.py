"""What a worker sees when it forms its report for one round (batched over B independent runs)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class RoundContext:
    grad: np.ndarray  # [B, k] the gradient at the posted model (what an honest worker computes)
    tau: np.ndarray  # [B] announced acceptance radius
    eta_index: np.ndarray  # [B] grid index of the announced eta (the rational adversary's table row)
    honest: np.ndarray  # [B, H, k] this round's honest reports: only omniscient attacks may read them
    rng: np.random.Generator


class Strategy(Protocol):
    """A report rule: context -> reports [B, k]."""

    def __call__(self, ctx: RoundContext) -> np.ndarray: ...
