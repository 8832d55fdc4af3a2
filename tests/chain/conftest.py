"""Chain fixtures: one embedded chain with the contracts deployed and nodes ready, shared by the tests, each
of which runs inside a snapshot that is reverted afterwards; and a real anvil for the tests marked `anvil`."""
import numpy as np
import pytest

from contracts import anvil as anvil_node
from contracts.chain_ledger import ChainLedger
from protocol import codec
from protocol.commitment import commitments
from protocol.ledger import Commit, Reveal, RoundSpec

REWARD, STAKE, POOL = 100, 1_000, 100_000


@pytest.fixture(scope="session")
def base_ledger() -> ChainLedger:
    """Four registered nodes A, B, C, D holding STAKE locked and STAKE spare, a funded pool, and one more
    keyed account that never registers (the outsider, last of `nodes`)."""
    led = ChainLedger(nodes=5, seed=11, mode="per-node", preflight=True)
    led.fund(POOL)
    for a in led.nodes:
        led.grant(a, 2 * STAKE)
    led.register(led.nodes[:4], STAKE)
    return led


@pytest.fixture
def ledger(base_ledger):
    with base_ledger.reverting():
        base_ledger.mode = "per-node"
        yield base_ledger
    base_ledger.mode = "per-node"


@pytest.fixture(scope="session")
def anvil_url():
    node = anvil_node.start(record=False)
    try:
        yield node.url
    finally:
        anvil_node.stop(node)


def spec(tau=1.0, dim=2, reward=REWARD, **kw) -> RoundSpec:
    return RoundSpec(tau_fx=codec.encode(np.array([tau]), 16), dim=dim, scale_bits=16, params_digest=[bytes(32)],
                     reward=reward, **kw)


def sealed(round_id, sender, values, salt=b"\x07" * 32):
    fx = codec.encode(np.atleast_2d(values), 16)
    return Commit(sender, commitments(round_id, sender, fx, [salt])), Reveal(sender, fx, [salt])
