"""The digest of a model's parameters: what a round posts as `params_digest`, and what a node checks the model
it fetched against before computing a report on it."""
from __future__ import annotations

import numpy as np

from protocol.commitment import keccak


def params_digest(theta: np.ndarray) -> bytes:
    """keccak256 of the parameters as little-endian float64 bytes, flattened in C order."""
    return keccak(np.ascontiguousarray(theta, dtype="<f8").tobytes())


def params_digests(theta: np.ndarray) -> list[bytes]:
    """One digest per run of a batch of models [B, d]."""
    return [params_digest(row) for row in theta]
