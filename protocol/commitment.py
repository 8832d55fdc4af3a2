"""The one commitment hash: keccak256(abi.encode(uint256 round_id, address node, bytes report, bytes32 salt)).

`report` is the packed int32 layout of `codec.pack`. The ABI encoding is written out by hand (head of four
words, then the length-prefixed, zero-padded bytes) because eth_abi costs ~30 us a call and the batched
simulations hash every report twice; `tests/test_codec_commitment.py` checks it against eth_abi.
"""
from __future__ import annotations

import numpy as np

from sha3 import keccak_256  # C keccak: ~2 us a hash against ~9 us for eth_hash's default pycryptodome backend


def keccak(data: bytes) -> bytes:
    return keccak_256(data).digest()

_OFFSET = (4 * 32).to_bytes(32, "big")  # the dynamic `bytes` argument starts after the 4-word head


def _address_word(address: str) -> bytes:
    raw = bytes.fromhex(address[2:] if address.startswith("0x") else address)
    if len(raw) != 20:
        raise ValueError(f"node address: expected 20 bytes, got {len(raw)}")
    return bytes(12) + raw


def commitment(round_id: int, address: str, packed_report: bytes, salt: bytes) -> bytes:
    if len(salt) != 32:
        raise ValueError(f"salt: expected 32 bytes, got {len(salt)}")
    pad = (-len(packed_report)) % 32
    return keccak(
        round_id.to_bytes(32, "big") + _address_word(address) + _OFFSET + salt
        + len(packed_report).to_bytes(32, "big") + packed_report + bytes(pad)
    )


def commitments(round_id: int, address: str, reports_fx: np.ndarray, salts: list[bytes]) -> list[bytes]:
    """`commitment` for a batch of reports [B, k] from one node (one per independent run).

    The same bytes as `commitment`, with the per-node head built once: the simulations hash every report
    twice a round, and this loop is their hottest.
    """
    reports = np.asarray(reports_fx, dtype=">i4")
    width = 4 * reports.shape[1]
    head = round_id.to_bytes(32, "big") + _address_word(address) + _OFFSET
    length, pad, rows = width.to_bytes(32, "big"), bytes((-width) % 32), reports.tobytes()
    if any(len(s) != 32 for s in salts):
        raise ValueError("salt: expected 32 bytes per run")
    return [keccak_256(head + salts[b] + length + rows[b * width:(b + 1) * width] + pad).digest()
            for b in range(reports.shape[0])]
