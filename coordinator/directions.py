"""FAR-SIGN direction designs (docs/farsign.md, "Direction designs"): the rows a in R^d each worker projects onto.

Two representations behind one small interface (project, transpose, rows, size):
- CoordinateRows: each worker's rows are a contiguous run of unit basis vectors, so projecting is a slice
  and no d x d matrix is ever built (replicated basis: all d of them; replicated blocks: d/B of them);
- DenseRows: explicit [k, d] matrices per worker (Gaussian rows from a public seed).

The design condition: for every v != 0 and every adversarial set S with |S| <= s, the honest rows
dominate, sum_{adv rows} |a^T v| < sum_{honest rows} |a^T v|. `dominance_margin` measures it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CoordinateRows:
    """Worker j owns the unit vectors e_lo .. e_{hi-1} with (lo, hi) = spans[j]."""

    dim: int
    spans: tuple[tuple[int, int], ...]

    @property
    def workers(self) -> int:
        return len(self.spans)

    def size(self, j: int) -> int:
        lo, hi = self.spans[j]
        return hi - lo

    def project(self, j: int, g: np.ndarray) -> np.ndarray:
        """A_j g for g [..., d]."""
        lo, hi = self.spans[j]
        return g[..., lo:hi]

    def transpose(self, j: int, w: np.ndarray) -> np.ndarray:
        """A_j^T w, a vector in R^d."""
        lo, hi = self.spans[j]
        out = np.zeros(self.dim)
        out[lo:hi] = w
        return out

    def rows(self, j: int) -> np.ndarray:
        lo, hi = self.spans[j]
        out = np.zeros((hi - lo, self.dim))
        out[np.arange(hi - lo), np.arange(lo, hi)] = 1.0
        return out

    def cover(self) -> np.ndarray:
        """[d] how many workers own each coordinate."""
        edges = np.zeros(self.dim + 1, dtype=np.int64)
        for lo, hi in self.spans:
            edges[lo] += 1
            edges[hi] -= 1
        return np.cumsum(edges[:-1])


@dataclass(frozen=True)
class DenseRows:
    """Worker j owns the rows of matrices[j] ([k_j, d])."""

    matrices: tuple[np.ndarray, ...]

    @property
    def dim(self) -> int:
        return self.matrices[0].shape[1]

    @property
    def workers(self) -> int:
        return len(self.matrices)

    def size(self, j: int) -> int:
        return self.matrices[j].shape[0]

    def project(self, j: int, g: np.ndarray) -> np.ndarray:
        return g @ self.matrices[j].T

    def transpose(self, j: int, w: np.ndarray) -> np.ndarray:
        return self.matrices[j].T @ w

    def rows(self, j: int) -> np.ndarray:
        return self.matrices[j]


Design = CoordinateRows | DenseRows


def replicated_basis(dim: int, workers: int) -> CoordinateRows:
    """A_j = I_d for every worker: the condition is exactly an honest majority, s < m/2."""
    return CoordinateRows(dim, ((0, dim),) * workers)


def replicated_blocks(dim: int, workers: int, blocks: int) -> CoordinateRows:
    """B contiguous blocks of ~d/B coordinates; worker j owns block j mod B, so block b has
    r_b = #{j : j mod B = b} owners (r = m/B when B divides m) and needs s < r_b/2."""
    if not 1 <= blocks <= min(dim, workers):
        raise ValueError(f"blocks: need 1 <= B <= min(d, m) = {min(dim, workers)}, got {blocks}")
    edges = [b * dim // blocks for b in range(blocks + 1)]
    return CoordinateRows(dim, tuple((edges[j % blocks], edges[j % blocks + 1]) for j in range(workers)))


def gaussian(dim: int, workers: int, rows_per_worker: int, seed: int) -> DenseRows:
    """Rows a ~ N(0, I_d / d) (so ||a|| ~ 1, like a basis vector), fixed by a public seed."""
    rng = np.random.default_rng(seed)
    return DenseRows(tuple(rng.standard_normal((rows_per_worker, dim)) / np.sqrt(dim) for _ in range(workers)))


def dominance_margin(design: Design, adversaries: int, probes: int = 512, seed: int = 0) -> float:
    """min over v and |S| <= s of  sum_{honest rows} |a^T v| - sum_{adv rows} |a^T v|;  > 0 iff the design
    condition holds.

    For a v, the worst S is the s workers with the largest mass w_j(v) = sum_{a in A_j} |a^T v|, so the
    margin is sum_j w_j - 2 top_s(w). CoordinateRows: w is linear in |v| and top_s convex, so the minimum
    over ||v||_1 = 1 sits at a basis vector and the answer is exact (per-coordinate cover - 2 min(s, cover)).
    DenseRows: the minimum over unit v is estimated from random probes (an upper bound of the true one),
    and is 0 when the rows do not span R^d (some v is then invisible to every worker).
    """
    s = adversaries
    if isinstance(design, CoordinateRows):
        cover = design.cover()
        return float((cover - 2 * np.minimum(s, cover)).min())
    stacked = np.concatenate(design.matrices)
    if np.linalg.matrix_rank(stacked) < design.dim:
        return 0.0
    v = np.random.default_rng(seed).standard_normal((probes, design.dim))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    mass = np.stack([np.abs(v @ a.T).sum(axis=1) for a in design.matrices], axis=1)  # [probes, m]
    top = np.sort(mass, axis=1)[:, mass.shape[1] - s:].sum(axis=1) if s else 0.0
    return float((mass.sum(axis=1) - 2 * top).min())
