"""The protocol's round rules as pure, batched functions (leading axis B = independent runs).

MemoryLedger applies exactly these; the Vyper coordinator implements the same arithmetic on-chain and the
differential test holds the two together.
"""
from __future__ import annotations

from typing import Literal

import numpy as np

Estimator = Literal["mean", "midrange"]


def pairwise_sq_dist_max(reports_fx: np.ndarray, revealed: np.ndarray) -> np.ndarray:
    """max over revealed pairs (i, j) of ||y_i - y_j||^2, exact in integers. reports [B, N, k], revealed [B, N].

    Through the Gram matrix of the reports centred on one revealed report: with D = y - y_c and G = D D^T,
    ||y_i - y_j||^2 = G_ii + G_jj - 2 G_ij. Centring keeps the products as small as the differences themselves
    (uncentred, a common offset would dominate every product). Every partial sum of G_ij is at most
    k max|D|^2 in magnitude, so the arithmetic is exact in the first tier that holds that bound:
      k max|D|^2 < 2**53: float64 BLAS (every product and partial sum an integer float64 represents exactly);
      4 k max|D|^2 < 2**63: int64;
      otherwise Python integers, as the EVM's int256 would (only near the int32 edge of the codec).
    Memory O(B N k): no [B, N, N, k] difference tensor, so full neural-network reports (k ~ 10^5) are cheap.
    """
    y = np.asarray(reports_fx, dtype=np.int64)
    rev = np.asarray(revealed, dtype=bool)
    b, _, k = y.shape
    centre = y[np.arange(b), rev.argmax(axis=1)]  # the first revealed report (any row when none is)
    d = np.where(rev[:, :, None], y - centre[:, None, :], 0)  # |d| < 2**32
    bound = int(np.abs(d).max(initial=0)) ** 2 * k
    if bound < 2**53:
        f = d.astype(np.float64)
        gram = np.matmul(f, f.transpose(0, 2, 1)).astype(np.int64)
    elif 4 * bound < 2**63:
        gram = np.matmul(d, d.transpose(0, 2, 1))
    else:
        obj = d.astype(object)
        gram = np.einsum("bik,bjk->bij", obj, obj)
    diag = np.einsum("bii->bi", gram)
    sq = diag[:, :, None] + diag[:, None, :] - 2 * gram
    sq = np.where(rev[:, :, None] & rev[:, None, :], sq, 0)
    return sq.reshape(b, -1).max(axis=1)


def accepted(max_sq: np.ndarray, members: np.ndarray, committed: np.ndarray, revealed: np.ndarray,
             tau_fx: np.ndarray, quorum: int, scale: int = 1) -> np.ndarray:
    """VISTA's acceptance, [B] bool: at least `quorum` members revealed, no member withheld a committed report,
    and every revealed pair lies within tau: max_sq (`pairwise_sq_dist_max` of the revealed reports, which the
    outcome records too) <= scale tau^2, exact in integers; scale = k when the revealed vectors are k-value
    sketches, 1 for whole reports."""
    tau = np.asarray(tau_fx, dtype=object)  # tau**2 may pass int64 at high scale bits
    enough = revealed.sum(axis=1) >= quorum
    withheld = (members & committed & ~revealed).any(axis=1)
    within = np.asarray(np.asarray(max_sq).astype(object) <= tau * tau * scale, dtype=bool)
    return enough & ~withheld & within


def estimate(total: np.ndarray, count: np.ndarray, lo: np.ndarray, hi: np.ndarray, estimator: Estimator,
             scale_bits: int) -> np.ndarray:
    """The DC's gradient estimate from the recorded aggregates, in real units. Rows with no reveal give 0.

    mean:     g = sum / count
    midrange: g = (min + max) / 2, coordinate-wise (Sybil-resistant for scalar reports; game_of_coding.md)
    """
    unit = 2.0**-scale_bits
    n = np.maximum(count, 1)[:, None]
    if estimator == "mean":
        g = total / n
    elif estimator == "midrange":
        g = (lo.astype(np.float64) + hi.astype(np.float64)) / 2.0
    else:
        raise ValueError(f"estimator: unknown {estimator!r}; use 'mean' or 'midrange'")
    return np.where(count[:, None] > 0, g * unit, 0.0)


def settle(accepted: np.ndarray, members: np.ndarray, revealed: np.ndarray, reward: int, stake: np.ndarray,
           slash_bps: int) -> tuple[np.ndarray, np.ndarray]:
    """Payouts and slashes of one settled round, [B, N] token amounts as Python ints (uint256-safe).

    paid    = reward to every revealer of an accepted round, nothing on rejection;
    slashed = floor(stake * slash_bps / 10_000) for every member that did not reveal (it withheld a committed
              report, or never committed: either stalls the round).
    """
    paid = np.where(accepted[:, None] & revealed, np.asarray(reward, dtype=object), 0)  # reward may pass int64
    slashed = np.where(members & ~revealed, np.asarray(stake, dtype=object) * slash_bps // 10_000, 0)
    return paid, slashed.astype(object)
