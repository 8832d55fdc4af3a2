"""The one fixed-point codec shared by nodes, ledgers, contracts and tests.

A real value v travels as the integer round(v * 2**scale_bits). On-chain reports are packed as big-endian
int32 words, so every encoded value must lie in [INT32_MIN, INT32_MAX]; anything outside (or non-finite) is
refused here, before any arithmetic, exactly as the contract refuses it.
"""
from __future__ import annotations

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
DEFAULT_SCALE_BITS = 16


class CodecError(ValueError):
    """A value cannot be represented in the protocol's fixed-point range."""


def max_magnitude(scale_bits: int) -> float:
    """Largest real magnitude that encodes without leaving int32."""
    return INT32_MAX / 2.0**scale_bits


def encode(values: np.ndarray, scale_bits: int = DEFAULT_SCALE_BITS, *, field: str = "report") -> np.ndarray:
    """round(values * 2**scale_bits) as int64, refusing NaN/inf and out-of-range values."""
    arr = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise CodecError(f"{field}: contains NaN or inf; reports must be finite numbers")
    fx = np.rint(arr * 2.0**scale_bits)
    if fx.size and (fx.min() < INT32_MIN or fx.max() > INT32_MAX):
        raise CodecError(
            f"{field}: magnitude {np.abs(arr).max():.6g} exceeds the fixed-point range "
            f"{max_magnitude(scale_bits):.6g} at scale_bits={scale_bits}; lower scale_bits or clip the report"
        )
    return fx.astype(np.int64)


def encode_rows(values: np.ndarray, scale_bits: int = DEFAULT_SCALE_BITS) -> tuple[np.ndarray, np.ndarray]:
    """`encode` row by row of values [B, k]: (fixed point [B, k] int64, ok [B] bool). A row that `encode` would
    refuse (NaN, inf, out of range) is all zeros with ok False, so one run's failure stays in that run."""
    arr = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        fx = arr * 2.0**scale_bits
        np.rint(fx, out=fx)
        # a row's min and max are NaN when any value is, and then compare False: one pass each finds every refusal
        ok = (fx.min(axis=1, initial=0.0) >= INT32_MIN) & (fx.max(axis=1, initial=0.0) <= INT32_MAX)
        return (fx if ok.all() else np.where(ok[:, None], fx, 0)).astype(np.int64), ok


def decode(fx: np.ndarray, scale_bits: int = DEFAULT_SCALE_BITS) -> np.ndarray:
    return np.asarray(fx, dtype=np.float64) / 2.0**scale_bits


def in_range(fx: np.ndarray) -> np.ndarray:
    """Elementwise: does an already-integer value fit the packed int32 word? (The ledgers' guard.)"""
    fx = np.asarray(fx)
    return (fx >= INT32_MIN) & (fx <= INT32_MAX)


def pack(fx: np.ndarray) -> bytes:
    """Pack a 1-D integer report as big-endian int32 words (the on-chain calldata layout)."""
    return np.asarray(fx, dtype=">i4").tobytes()


def pack_sketch(z: np.ndarray) -> bytes:
    """Pack a 1-D sketch as big-endian int64 words (a sketch sums d report values, so it needs the width)."""
    return np.asarray(z, dtype=">i8").tobytes()


def unpack_sketch(data: bytes) -> np.ndarray:
    if len(data) % 8:
        raise CodecError(f"sketch: packed length {len(data)} is not a multiple of 8 bytes")
    return np.frombuffer(data, dtype=">i8").astype(np.int64)


def unpack(data: bytes) -> np.ndarray:
    if len(data) % 4:
        raise CodecError(f"report: packed length {len(data)} is not a multiple of 4 bytes")
    return np.frombuffer(data, dtype=">i4").astype(np.int64)
