"""Sketched reports: a k x d Rademacher projection that a contract can recompute, applied exactly in integers.

The projection S (k rows, d columns, entries +1 or -1) is derived from a 32-byte seed fixed after the commit
window closes. Entry (r, c) is read from one bit of a keccak256 word:

    word(r, b) = keccak256(abi.encode(bytes32 seed, uint256 r, uint256 b))      b = c // 256
    bit(r, c)  = (uint256(word(r, c // 256)) >> (c % 256)) & 1                  (bit 0 = least significant)
    S[r, c]    = +1 if bit(r, c) == 0 else -1

abi.encode of (bytes32, uint256, uint256) is the 96 bytes seed || r || b, each integer big-endian in 32 bytes;
in Vyper: `convert(keccak256(abi_encode(seed, r, c // 256)), uint256) >> (c % 256) & 1`. One row costs
ceil(d / 256) hashes, so a contract can rebuild one row (a fraud proof for one sketch value) on its own.

The sketch of a fixed-point report y (int64, d values) is z = S y, computed exactly and not rescaled, so the
pairwise check on sketches is ||z_i - z_j||^2 <= k tau^2 (E||S x||^2 = k ||x||^2; see docs/sketch.md).
Where d <= k there is nothing to gain: the sketch is the report itself and the check the exact one, tau^2.

Exactness: every partial sum of S y is at most d max|y_c| in magnitude, so float64 BLAS is exact while that
stays below 2**53 (always, for int32 reports and d < 2**22); past it the product is taken in int64, and past
2**63 in Python integers.
"""
from __future__ import annotations

import numpy as np

from sha3 import keccak_256  # the C keccak that protocol.commitment uses

SEED_BYTES = 32
WORD_BITS = 256
COLUMN_BLOCK = 8192  # columns of S held as float64 at once: k x 8192 x 8 bytes (16 MB at k = 256)


def sketch_dim(dim: int, k: int) -> int:
    """The length of what is revealed and checked: k for d > k, else d (the identity)."""
    return dim if dim <= k else k


def threshold_sq(tau_fx: int, dim: int, k: int) -> int:
    """The squared radius the check compares ||z_i - z_j||^2 against: k tau^2 for a sketch, tau^2 for the identity."""
    return int(tau_fx) ** 2 * (k if dim > k else 1)


def _seed(seed: bytes) -> bytes:
    if len(seed) != SEED_BYTES:
        raise ValueError(f"sketch seed: expected {SEED_BYTES} bytes, got {len(seed)}")
    return bytes(seed)


def words(seed: bytes, rows: np.ndarray, blocks: int) -> np.ndarray:
    """[len(rows), blocks, 32] uint8: the keccak words of the given rows, blocks 0..blocks-1 (big-endian bytes)."""
    rows = np.asarray(rows, dtype=np.uint64)
    n = len(rows) * blocks
    msg = np.zeros((n, 96), dtype=np.uint8)
    msg[:, :32] = np.frombuffer(_seed(seed), dtype=np.uint8)
    # uint256 r and b: the low 8 bytes of each 32-byte big-endian word carry the value
    msg[:, 56:64] = np.repeat(rows, blocks).astype(">u8").view(np.uint8).reshape(n, 8)
    msg[:, 88:96] = np.tile(np.arange(blocks, dtype=np.uint64), len(rows)).astype(">u8").view(np.uint8).reshape(n, 8)
    view = memoryview(msg.tobytes())
    out = b"".join([keccak_256(view[96 * i: 96 * (i + 1)]).digest() for i in range(n)])
    return np.frombuffer(out, dtype=np.uint8).reshape(len(rows), blocks, 32)


def signs(seed: bytes, k: int, dim: int, rows: np.ndarray | None = None) -> np.ndarray:
    """S (or the given rows of it) as int8 [rows, dim] in {+1, -1}."""
    rows = np.arange(k) if rows is None else np.asarray(rows)
    if np.any((rows < 0) | (rows >= k)):
        raise ValueError(f"sketch rows: must lie in [0, {k})")
    blocks = -(-dim // WORD_BITS)
    w = words(seed, rows, blocks)
    # bit j of the big-endian word is bit j % 8 of byte 31 - j // 8: reverse the bytes, unpack least bit first
    bits = np.unpackbits(w[:, :, ::-1], axis=2, bitorder="little").reshape(len(rows), blocks * WORD_BITS)[:, :dim]
    return (1 - 2 * bits.astype(np.int8)).astype(np.int8)


def apply(s: np.ndarray, reports_fx: np.ndarray) -> np.ndarray:
    """S y for int8 S [k, d] and integer reports [..., d], exactly, as int64 (object past 2**63)."""
    y = np.asarray(reports_fx, dtype=np.int64)
    flat = y.reshape(-1, y.shape[-1])
    bound = int(np.abs(flat).max(initial=0)) * flat.shape[1]  # >= every partial sum; a Python int cannot overflow
    if bound < 2**53:
        z = np.zeros((len(flat), len(s)))
        for c in range(0, s.shape[1], COLUMN_BLOCK):
            z += flat[:, c:c + COLUMN_BLOCK].astype(np.float64) @ s[:, c:c + COLUMN_BLOCK].T.astype(np.float64)
        out = z.astype(np.int64)
    elif bound < 2**63:
        out = flat @ s.T.astype(np.int64)
    else:
        out = flat.astype(object) @ s.T.astype(object)
    return out.reshape(*y.shape[:-1], len(s))


def sketch(reports_fx: np.ndarray, seed: bytes, k: int) -> np.ndarray:
    """z = S y for reports [..., d]: [..., k] int64, or the reports themselves where d <= k."""
    y = np.asarray(reports_fx, dtype=np.int64)
    if y.shape[-1] <= k:
        return y
    return apply(signs(seed, k, y.shape[-1]), y)


def sketch_row(report_fx: np.ndarray, seed: bytes, k: int, row: int) -> int:
    """One value of the sketch of one report, as a contract would recompute it for a fraud proof (exact)."""
    y = np.asarray(report_fx, dtype=np.int64)
    s = signs(seed, k, y.shape[-1], rows=np.array([row]))[0]
    return int(np.dot(s.astype(object), y.astype(object)))
