import numpy as np
import pytest
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak as reference_keccak
from hypothesis import given, strategies as st

from protocol import codec
from protocol.commitment import commitment


@given(st.lists(st.floats(-1000, 1000, allow_nan=False), min_size=1, max_size=16), st.integers(0, 20))
def test_codec_roundtrip_within_half_ulp(values, bits):
    fx = codec.encode(np.array(values), bits)
    assert np.all(np.abs(codec.decode(fx, bits) - values) <= 2.0 ** -(bits + 1) + 1e-12)
    assert np.array_equal(codec.unpack(codec.pack(fx)), fx)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_codec_refuses_non_finite_naming_the_field(bad):
    with pytest.raises(codec.CodecError, match="tau: contains NaN or inf"):
        codec.encode(np.array([1.0, bad]), 16, field="tau")


def test_codec_refuses_out_of_range_with_the_fix():
    limit = codec.max_magnitude(16)
    codec.encode(np.array([limit - 1]), 16)
    with pytest.raises(codec.CodecError, match="lower scale_bits"):
        codec.encode(np.array([limit + 1]), 16)


@given(st.integers(0, 2**64), st.binary(min_size=20, max_size=20), st.lists(st.integers(-(2**31), 2**31 - 1), max_size=40),
       st.binary(min_size=32, max_size=32))
def test_commitment_matches_eth_abi_encoding(round_id, addr, report, salt):
    address = "0x" + addr.hex()
    packed = codec.pack(np.array(report, dtype=np.int64))
    expected = reference_keccak(abi_encode(["uint256", "address", "bytes", "bytes32"], [round_id, address, packed, salt]))
    assert commitment(round_id, address, packed, salt) == expected


def test_commitment_binds_every_field():
    a, b = "0x" + "11" * 20, "0x" + "22" * 20
    rep, salt = codec.pack(np.array([1, 2, 3])), bytes(32)
    base = commitment(7, a, rep, salt)
    assert base != commitment(8, a, rep, salt)
    assert base != commitment(7, b, rep, salt)
    assert base != commitment(7, a, codec.pack(np.array([1, 2, 4])), salt)
    assert base != commitment(7, a, rep, b"\x01" * 32)


def test_batched_commitments_equal_the_single_form():
    from protocol.commitment import commitments

    rng = np.random.default_rng(0)
    fx = rng.integers(-(2**31), 2**31, size=(5, 7))
    salts = [rng.bytes(32) for _ in range(5)]
    addr = "0x" + "ab" * 20
    assert commitments(9, addr, fx, salts) == [commitment(9, addr, codec.pack(fx[b]), salts[b]) for b in range(5)]
