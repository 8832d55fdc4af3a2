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

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

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
    return digests_of([reports_fx])[0]


def digests_of(batches: Sequence[np.ndarray]) -> list[list[bytes]]:
    """`report_digests` of several batches (say, every node's reports of a round), every row hashed in one go: on
    a few threads when there is much to hash, as the C keccak releases the GIL on long inputs (a round of ten
    LeNet-size reports is 2.5 MB: 7.7 ms on one thread, 3.7 ms on two, measured here)."""
    chunks, sizes = [], []
    for batch in batches:
        reports = np.asarray(batch, dtype=">i4")
        rows, width = memoryview(reports.tobytes()), 4 * reports.shape[1]
        chunks += [rows[b * width:(b + 1) * width] for b in range(reports.shape[0])]
        sizes.append(reports.shape[0])
    if len(chunks) > 1 and sum(len(c) for c in chunks) >= PARALLEL_BYTES:
        flat = list(_pool().map(_digest, chunks))
    else:
        flat = [_digest(c) for c in chunks]
    out, at = [], 0
    for n in sizes:
        out.append(flat[at:at + n])
        at += n
    return out


PARALLEL_BYTES = 1 << 20  # below a megabyte, handing rows to threads costs more than it saves
_threads: ThreadPoolExecutor | None = None


def _digest(data) -> bytes:
    return keccak_256(data).digest()


def _pool() -> ThreadPoolExecutor:
    global _threads
    if _threads is None:
        _threads = ThreadPoolExecutor(min(4, os.cpu_count() or 1), thread_name_prefix="keccak")
    return _threads


def digest_commitments(round_id: int, address: str, digests: Sequence[bytes], salts: Sequence[bytes]) -> list[bytes]:
    """`digest_commitment` for one node's reports of a batch known by their digests, the per-node head built once:
    the simulations commit and check every report of every round, and this loop is their hottest."""
    if any(len(s) != 32 for s in salts):
        raise ValueError("salt: expected 32 bytes per run")
    head = round_id.to_bytes(32, "big") + _address_word(address)
    return [keccak_256(head + d + s).digest() for d, s in zip(digests, salts)]


def commitments(round_id: int, address: str, reports_fx: np.ndarray, salts: list[bytes]) -> list[bytes]:
    """`commitment` for a batch of reports [B, d] from one node (one per independent run)."""
    return digest_commitments(round_id, address, report_digests(reports_fx), salts)
