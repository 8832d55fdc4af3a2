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
    digest = reference_keccak(packed)
    expected = reference_keccak(abi_encode(["uint256", "address", "bytes32", "bytes32"], [round_id, address, digest, salt]))
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


@pytest.mark.parametrize("bits", [0, 8, 16, 20])
def test_encode_accepts_both_int32_edges_and_refuses_one_beyond(bits):
    unit = 2.0**-bits
    edges = np.array([codec.INT32_MIN * unit, codec.INT32_MAX * unit])
    assert codec.encode(edges, bits).tolist() == [-(2**31), 2**31 - 1]
    # rounding to the nearest integer decides: 0.4 past an edge still rounds onto it, 0.6 past it does not
    assert codec.encode(edges + [-0.4 * unit, 0.4 * unit], bits).tolist() == [-(2**31), 2**31 - 1]
    for beyond in [(codec.INT32_MIN - 1) * unit, (codec.INT32_MAX + 1) * unit, (codec.INT32_MAX + 0.6) * unit]:
        with pytest.raises(codec.CodecError, match="report: magnitude .* exceeds the fixed-point range"):
            codec.encode(np.array([0.0, beyond]), bits)
    assert codec.max_magnitude(bits) == codec.INT32_MAX * unit


def test_the_range_constants_are_int32():
    assert (codec.INT32_MIN, codec.INT32_MAX) == (np.iinfo(np.int32).min, np.iinfo(np.int32).max)


def test_in_range_is_exactly_int32():
    fx = np.array([-(2**31) - 1, -(2**31), -1, 0, 2**31 - 1, 2**31, 2**40])
    assert codec.in_range(fx).tolist() == [False, True, True, True, True, False, False]


def test_pack_unpack_round_trip_at_the_edges():
    fx = np.array([-(2**31), -(2**31) + 1, -1, 0, 1, 2**31 - 2, 2**31 - 1])
    data = codec.pack(fx)
    assert data[:4] == b"\x80\x00\x00\x00" and data[-4:] == b"\x7f\xff\xff\xff"  # big-endian two's complement
    assert len(data) == 4 * fx.size
    assert codec.unpack(data).tolist() == fx.tolist()
    assert codec.unpack(data).dtype == np.int64
    with pytest.raises(codec.CodecError, match="packed length 5 is not a multiple of 4"):
        codec.unpack(data[:5])


def test_encode_rounds_to_nearest_and_decode_inverts_the_scale():
    fx = codec.encode(np.array([1.5, -0.25, 2.0**-17 * 3, -(2.0**-17) * 3]), 16)
    assert fx.tolist() == [98304, -16384, 2, -2]  # 1.5 and -1.5 units round half to even
    assert fx.dtype == np.int64
    assert codec.decode(np.array([98304, -16384]), 16).tolist() == [1.5, -0.25]
    assert codec.encode(np.array([]), 16).tolist() == []


def test_float32_reports_are_checked_in_float64():
    """A float32 gradient (torch's default) scaled in float32 would compare 2**31 against a float32 INT32_MAX,
    which rounds up to 2**31 itself, and let one past the edge through."""
    edge = np.array([2.0**15], dtype=np.float32)  # exactly 2**31 units at scale 16
    with pytest.raises(codec.CodecError, match="exceeds the fixed-point range"):
        codec.encode(edge, 16)
    assert codec.encode(np.array([0.5, -1.25], dtype=np.float32), 16).tolist() == [32768, -81920]


def test_encode_rows_refuses_row_by_row_at_the_int32_edges():
    unit = 2.0**-16
    rows = np.array([[codec.INT32_MIN * unit, codec.INT32_MAX * unit],  # both edges: kept
                     [(codec.INT32_MIN - 1) * unit, 0.0],  # one past the low edge
                     [0.0, (codec.INT32_MAX + 1) * unit],  # one past the high edge
                     [np.nan, 1.0], [1.0, -np.inf], [1e308, 0.0],  # 1e308 * 2**16 overflows to inf
                     [0.5, -0.25]])
    with np.errstate(all="raise"):  # NaN, inf and overflow are expected here, not floating-point errors
        fx, ok = codec.encode_rows(rows, 16)
    assert ok.tolist() == [True, False, False, False, False, False, True]
    assert fx.dtype == np.int64
    assert fx.tolist() == [[-(2**31), 2**31 - 1], [0, 0], [0, 0], [0, 0], [0, 0], [0, 0], [32768, -16384]]
    # float32 rows are scaled in float64: 2**31 units is refused, not rounded onto INT32_MAX
    fx32, ok32 = codec.encode_rows(np.array([[2.0**15], [0.5]], dtype=np.float32), 16)
    assert ok32.tolist() == [False, True] and fx32.tolist() == [[0], [32768]]


def test_digests_of_many_batches_equal_each_batchs_own_on_threads_and_serially():
    """A round of LeNet-size reports is hashed on threads (over a megabyte); the digests are the serial ones."""
    from protocol.commitment import PARALLEL_BYTES, digests_of, keccak, report_digests

    rng = np.random.default_rng(3)
    big = [rng.integers(-2**31, 2**31, size=(b, 61_706)) for b in (1, 2, 1, 3)]
    assert sum(x.size for x in big) * 4 >= PARALLEL_BYTES
    small = [rng.integers(-5, 5, size=(2, 3)), rng.integers(-5, 5, size=(1, 3))]
    for batches in (big, small):
        got = digests_of(batches)
        assert got == [[keccak(codec.pack(row)) for row in batch] for batch in batches]
        assert got == [report_digests(batch) for batch in batches]
