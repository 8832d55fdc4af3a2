"""Equilibrium tables: eta -> (P_A*, MSE*, the adversary's noise law), solved on a grid and cached on disk."""

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import Progress

from economics.game import GameSpec
from economics.response import respond

SOLVER_VERSION = "2"
"""Part of the cache key: bump it whenever a change to the solver changes its numbers."""


@dataclass(frozen=True)
class EquilibriumTable:
    """The follower's side of the Stackelberg game on an eta grid (what VISTA's controller looks up)."""

    spec: GameSpec
    eta: np.ndarray  # [G] increasing
    tau: np.ndarray  # [G] eta * delta, the absolute tolerance
    p_accept: np.ndarray  # [G] P_A*(eta)
    mse: np.ndarray  # [G] MSE*(eta) = E[||u_hat - u||^2 | accepted]
    radii: np.ndarray  # [G, 2] noise radii of the optimal law (equal when pure)
    weights: np.ndarray  # [G, 2] their probabilities

    def sample_noise(self, index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Adversarial noise [B, dim] for grid positions `index` [B]: radius radii[i, 0] w.p. weights[i, 0], else
        radii[i, 1], in a uniformly random direction (dim = 1: random sign) - symmetric, so the estimate stays
        unbiased."""
        index = np.asarray(index)
        second = rng.random(index.shape) >= self.weights[index, 0]
        radius = self.radii[index, second.astype(int)]
        direction = rng.standard_normal((*index.shape, self.spec.dim))
        direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
        return radius[..., None] * direction

    def nonmonotone(self, tol: float = 1e-4) -> list[tuple[float, float]]:
        """Eta intervals [eta_i, eta_j] over which P_A* decreases (by more than tol per step); VISTA assumes it
        does not."""
        down = np.diff(self.p_accept) < -tol
        starts = np.flatnonzero(down & ~np.concatenate([[False], down[:-1]]))
        ends = np.flatnonzero(down & ~np.concatenate([down[1:], [False]])) + 1
        return [(float(self.eta[i]), float(self.eta[j])) for i, j in zip(starts, ends)]

    def to_frame(self) -> pd.DataFrame:
        """One row per eta: eta, tau, p_accept, mse, radius_1, weight_1, radius_2, weight_2."""
        return pd.DataFrame(
            {
                "eta": self.eta,
                "tau": self.tau,
                "p_accept": self.p_accept,
                "mse": self.mse,
                "radius_1": self.radii[:, 0],
                "weight_1": self.weights[:, 0],
                "radius_2": self.radii[:, 1],
                "weight_2": self.weights[:, 1],
            }
        )

    def save(self, path: Path) -> None:
        """npz with the arrays and the spec as JSON (readable without pickle)."""
        with open(path, "wb") as f:  # a file object keeps np.savez from appending ".npz"
            np.savez(
                f,
                spec=np.array(self.spec.model_dump_json()),
                **{name: getattr(self, name) for name in ("eta", "tau", "p_accept", "mse", "radii", "weights")},
            )

    @classmethod
    def load(cls, path: Path) -> "EquilibriumTable":
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in ("eta", "tau", "p_accept", "mse", "radii", "weights")}
            return cls(spec=GameSpec.model_validate_json(str(data["spec"])), **arrays)


def default_cache_dir() -> Path:
    """$DEML_CACHE_DIR, else ~/.cache/deml."""
    return Path(os.environ.get("DEML_CACHE_DIR") or Path.home() / ".cache" / "deml")


def table_key(spec: GameSpec, eta: np.ndarray) -> str:
    """Hash of (spec, eta grid, solver version): the cache file's name."""
    digest = hashlib.sha256(json.dumps([spec.key(), SOLVER_VERSION]).encode())
    digest.update(np.ascontiguousarray(eta, dtype=np.float64).tobytes())
    return digest.hexdigest()[:24]


def check_grid(eta: np.ndarray) -> np.ndarray:
    """The grid as a float array; refuse anything but a non-empty, finite, positive, strictly increasing 1-D grid."""
    eta = np.asarray(eta, dtype=float)
    if eta.ndim != 1 or eta.size == 0 or not np.all(np.isfinite(eta)) or eta[0] <= 0 or np.any(np.diff(eta) <= 0):
        raise ValueError("eta: need a non-empty 1-D grid of finite, positive, strictly increasing values")
    return eta


def compute(spec: GameSpec, eta: np.ndarray, progress: bool) -> EquilibriumTable:
    """The table by best response at every eta (no cache), with a rich progress bar on stderr if asked."""
    with Progress(console=Console(stderr=True), transient=True, disable=not progress) as bar:
        label = f"equilibrium d={spec.dim} h={spec.honest} t={spec.adversaries}"
        if spec.monte_carlo:
            label += " (MONTE CARLO below eta = 2)"
        task = bar.add_task(label, total=eta.size)
        responses = []
        for value in eta:
            responses.append(respond(spec, float(value)))
            bar.advance(task)
    return EquilibriumTable(
        spec=spec,
        eta=eta,
        tau=eta * spec.delta,
        p_accept=np.array([r.p_accept for r in responses]),
        mse=np.array([r.mse for r in responses]),
        radii=np.array([r.radii for r in responses]),
        weights=np.array([r.weights for r in responses]),
    )


def solve(spec: GameSpec, eta: np.ndarray, *, cache_dir: Path | None = None, progress: bool = True) -> EquilibriumTable:
    """Equilibrium table of `spec` on the grid `eta`, loaded from cache_dir (default: default_cache_dir()) when
    solved before, else computed and stored there."""
    eta = check_grid(eta)
    path = Path(cache_dir or default_cache_dir()) / f"{table_key(spec, eta)}.npz"
    if path.exists():
        return EquilibriumTable.load(path)
    table = compute(spec, eta, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(f".{os.getpid()}.tmp")
    table.save(scratch)
    scratch.replace(path)  # atomic: a parallel solver never reads half a file
    return table
