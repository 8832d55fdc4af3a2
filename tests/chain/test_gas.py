"""The explicit gas limits (sent instead of estimating) bound what each call really uses, in the dearest case:
a fresh deployment whose first round writes every slot from zero and pays nodes that hold no tokens yet; and
every call of the largest round the contract accepts (64 members x 256 values) fits the per-transaction cap of
a real chain (2^24, EIP-7825), the relayer's path included."""
import numpy as np
import pytest

from contracts.chain import TX_GAS_CAP, connect
from contracts.client import gas_limit
from protocol import codec
from protocol.commitment import commitment
from protocol.ledger import MAX_DIM, MAX_MEMBERS
from tests.chain.conftest import registered_deployment


def first_round(chain, n: int, dim: int, relay: bool) -> dict[str, list[tuple[int, int]]]:
    """{call: [(gas used, gas limit), ...]} of one accepted round on a fresh deployment."""
    d, nodes = registered_deployment(chain, n, "gas-node")  # a first payment writes a balance from zero
    rng = np.random.default_rng(0)
    window = max(32, 2 * n)  # each of the n commits mines a block of its own here
    rid = d.open_round(members=[a.address for a in nodes], tau_fx=2**31 - 1, dim=dim, reward=1,
                       commit_blocks=window, reveal_blocks=window).args["round_id"]
    used = {"open_round": [(d.last_gas, gas_limit("open_round", members=n))]}
    reports = [codec.pack(codec.encode(rng.normal(size=dim) * 100, 16)) for _ in nodes]
    salts = [rng.bytes(32) for _ in nodes]
    digests = [commitment(rid, a.address, r, s) for a, r, s in zip(nodes, reports, salts)]
    if relay:
        d.commit_signed(rid, [(c, d.sign_commit(a, rid, c)) for a, c in zip(nodes, digests)])
        used["commit_signed"] = [(d.last_gas, gas_limit("commit_signed", items=n))]
        start = chain.block_number
        receipt = d.finalize(rid, members=n, openings=[(a.address, r, s) for a, r, s in zip(nodes, reports, salts)])
        txs = chain.block_number - start
        used["relayed reveals and settlement"] = [(d.last_gas, txs * d.gas_cap)]
        used["reveal_and_finalize"] = [(receipt.gas_used, d.gas_cap)]
    else:
        for a, c in zip(nodes, digests):
            d.commit(rid, [(a, c)])
            used.setdefault("commit", []).append((d.last_gas, gas_limit("commit")))
        for a, r, s in zip(nodes, reports, salts):  # the last reveal compares with every earlier one
            d.reveal(rid, [(a, r, s)], members=n)
            used.setdefault("reveal", []).append((d.last_gas, gas_limit("reveal", members=n, dim=dim)))
        d.finalize(rid, members=n)
        used["finalize"] = [(d.last_gas, gas_limit("finalize", members=n))]
    out = d.outcome(rid)
    assert out.accepted and out.count == n
    return used


def check(used: dict[str, list[tuple[int, int]]]) -> None:
    for call, pairs in used.items():
        for gas, limit in pairs:
            assert gas <= limit, f"{call}: used {gas} > limit {limit}"
            if call != "relayed reveals and settlement":
                assert gas <= TX_GAS_CAP, f"{call}: {gas} above the per-transaction cap"


@pytest.mark.parametrize("n, dim", [(2, 256), (5, 3), (10, 64)])
@pytest.mark.parametrize("relay", [False, True], ids=["per-node", "relay"])
def test_explicit_gas_limits_cover_the_dearest_round(n, dim, relay):
    check(first_round(connect(), n, dim, relay))


@pytest.mark.anvil
@pytest.mark.slow
@pytest.mark.parametrize("relay", [False, True], ids=["per-node", "relay"])
def test_the_largest_round_the_contract_accepts_settles_under_the_cap(anvil_url, relay):
    """64 members revealing 256 values each: 2016 pairs checked, spread over the reveals."""
    used = first_round(connect(anvil_url), MAX_MEMBERS, MAX_DIM, relay)
    check(used)
    if not relay:
        reveals = [g for g, _ in used["reveal"]]
        assert reveals[-1] > 5 * reveals[0]  # the last reveal carries 63 comparisons: the dearest call
        assert max(reveals) < 0.6 * TX_GAS_CAP
