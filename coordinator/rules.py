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

    int64 is exact while k * max|y_i - y_j|^2 < 2**63; beyond that (only possible near the int32 edge of the
    codec) the same sum is taken in Python integers, as the EVM's int256 would.
    """
    diff = reports_fx[:, :, None, :] - reports_fx[:, None, :, :]  # [B, N, N, k], |diff| < 2**32
    both = revealed[:, :, None] & revealed[:, None, :]
    bound = int(np.abs(diff).max(initial=0))
    if bound * bound * reports_fx.shape[-1] < 2**63:
        sq = np.einsum("bijk,bijk->bij", diff, diff)
    else:
        obj = diff.astype(object)
        sq = (obj * obj).sum(axis=-1)
    sq = np.where(both, sq, 0)
    return sq.reshape(sq.shape[0], -1).max(axis=1)


def accepted(reports_fx: np.ndarray, members: np.ndarray, committed: np.ndarray, revealed: np.ndarray,
             tau_fx: np.ndarray, quorum: int, scale: int = 1) -> np.ndarray:
    """VISTA's acceptance, [B] bool: at least `quorum` members revealed, no member withheld a committed report,
    and every revealed pair lies within tau (||y_i - y_j||^2 <= scale tau^2, exact in integers; scale = k when
    the revealed vectors are k-value sketches, 1 for whole reports)."""
    tau = np.asarray(tau_fx, dtype=object)  # tau**2 may pass int64 at high scale bits
    enough = revealed.sum(axis=1) >= quorum
    withheld = (members & committed & ~revealed).any(axis=1)
    within = np.asarray(pairwise_sq_dist_max(reports_fx, revealed).astype(object) <= tau * tau * scale, dtype=bool)
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
