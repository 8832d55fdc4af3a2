"""The one commitment hash: keccak256(abi.encode(uint256 round_id, address node, bytes32 digest, bytes32 salt)),
where digest = keccak256(report) is the digest of the node's full report in the packed int32 layout of
`codec.pack`.

Committing to the full report's digest serves both kinds of round: a report revealed whole hashes to the digest
the contract recomputes, and a model too large for calldata reveals a sketch of the report together with the
digest, which binds the sketch to the report that anyone can later check it against (protocol/sketch.py). The
ABI encoding of four static words is their concatenation; `tests/test_codec_commitment.py` checks it against
eth_abi.
"""
from __future__ import annotations

import numpy as np

from sha3 import keccak_256  # C keccak: ~2 us a hash against ~9 us for eth_hash's default pycryptodome backend


def keccak(data: bytes) -> bytes:
    return keccak_256(data).digest()


def _address_word(address: str) -> bytes:
    raw = bytes.fromhex(address[2:] if address.startswith("0x") else address)
    if len(raw) != 20:
        raise ValueError(f"node address: expected 20 bytes, got {len(raw)}")
    return bytes(12) + raw


def _salt(salt: bytes) -> bytes:
    if len(salt) != 32:
        raise ValueError(f"salt: expected 32 bytes, got {len(salt)}")
    return salt


def digest_commitment(round_id: int, address: str, digest: bytes, salt: bytes) -> bytes:
    """The commitment to a report known by its digest."""
    if len(digest) != 32:
        raise ValueError(f"digest: expected 32 bytes, got {len(digest)}")
    return keccak(round_id.to_bytes(32, "big") + _address_word(address) + digest + _salt(salt))


def commitment(round_id: int, address: str, packed_report: bytes, salt: bytes) -> bytes:
    """The commitment to a packed report."""
    return digest_commitment(round_id, address, keccak(packed_report), salt)


def report_digests(reports_fx: np.ndarray) -> list[bytes]:
    """keccak256 of each report of a batch [B, d] in the packed int32 layout."""
    reports = np.asarray(reports_fx, dtype=">i4")
    rows, width = reports.tobytes(), 4 * reports.shape[1]
    return [keccak_256(rows[b * width:(b + 1) * width]).digest() for b in range(reports.shape[0])]


def commitments(round_id: int, address: str, reports_fx: np.ndarray, salts: list[bytes]) -> list[bytes]:
    """`commitment` for a batch of reports [B, d] from one node (one per independent run), the per-node head built
    once: the simulations hash every report twice a round, and this loop is their hottest."""
    if any(len(s) != 32 for s in salts):
        raise ValueError("salt: expected 32 bytes per run")
    head = round_id.to_bytes(32, "big") + _address_word(address)
    return [keccak_256(head + d + s).digest() for d, s in zip(report_digests(reports_fx), salts)]
