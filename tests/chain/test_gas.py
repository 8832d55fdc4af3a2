"""The explicit gas limits (sent instead of estimating) bound what each call really uses, in the dearest case:
a fresh deployment whose first round writes every slot from zero and pays nodes that hold no tokens yet."""
import numpy as np
import pytest
from eth_account import Account

from contracts.chain import connect
from contracts.client import deploy, gas_limit
from protocol import codec
from protocol.commitment import commitment, keccak


def first_round(n: int, dim: int, relay: bool) -> dict[str, tuple[int, int]]:
    """{call: (gas used, gas limit)} of one accepted round on a fresh deployment."""
    chain = connect()
    d = deploy(chain)
    nodes = [Account.from_key(keccak(f"gas-node-{i}".encode())) for i in range(n)]
    for node in nodes:
        chain.give_ether(node.address, 10**19)
        d.allow(node)
        d.grant(node.address, 10)
    d.fund(10**6)
    d.register(nodes, 10)  # every granted token is staked: the first payment writes a balance from zero
    rng = np.random.default_rng(0)
    rid = d.open_round(tau_fx=2**31 - 1, dim=dim, reward=1)
    used = {"open_round": (d.last_gas, gas_limit("open_round"))}
    reports = [codec.pack(codec.encode(rng.normal(size=dim) * 100, 16)) for _ in nodes]
    salts = [rng.bytes(32) for _ in nodes]
    digests = [commitment(rid, a.address, r, s) for a, r, s in zip(nodes, reports, salts)]
    if relay:
        d.commit_signed(rid, [(c, d.sign_commit(a, rid, c)) for a, c in zip(nodes, digests)])
        used["commit_signed"] = (d.last_gas, gas_limit("commit_signed", items=n))
        openings = [(a.address, r, s) for a, r, s in zip(nodes, reports, salts)]
        out = d.finalize(rid, members=n, dim=dim, openings=openings)
        used["reveal_and_finalize"] = (d.last_gas, gas_limit("reveal_and_finalize", members=n, dim=dim, items=n))
    else:
        for a, c in zip(nodes, digests):
            d.commit(rid, [(a, c)])
            used["commit"] = max(used.get("commit", (0, 0)), (d.last_gas, gas_limit("commit")))
        for a, r, s in zip(nodes, reports, salts):
            d.reveal(rid, [(a, r, s)])
            used["reveal"] = max(used.get("reveal", (0, 0)), (d.last_gas, gas_limit("reveal", dim=dim)))
        out = d.finalize(rid, members=n, dim=dim)
        used["finalize"] = (d.last_gas, gas_limit("finalize", members=n, dim=dim))
    assert out.accepted and out.count == n
    return used


@pytest.mark.parametrize("n, dim", [(2, 256), (5, 3), (10, 64)])
@pytest.mark.parametrize("relay", [False, True], ids=["per-node", "relay"])
def test_explicit_gas_limits_cover_the_dearest_round(n, dim, relay):
    for call, (used, limit) in first_round(n, dim, relay).items():
        assert used <= limit, f"{call}: used {used} > limit {limit}"
