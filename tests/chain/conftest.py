"""Chain fixtures: one embedded chain with the contracts deployed and nodes ready, shared by the tests, each
of which runs inside a snapshot that is reverted afterwards; and a real anvil for the tests marked `anvil`."""
import numpy as np
import pytest
from eth_account import Account

from contracts import anvil as anvil_node
from contracts.chain_ledger import ChainLedger
from protocol import codec
from protocol.commitment import commitments, keccak
from coordinator.memory_ledger import MemoryLedger
from protocol.ledger import Commit, LedgerError, Reveal, RoundSpec

REWARD, STAKE, POOL = 100, 1_000, 100_000
MIN_STAKE = 2 * REWARD  # so that the smallest slash (half of it) equals the reward, as the contract requires
SEED = 11
# the session ledger's keyed accounts: A, B, C, D register; the fifth never does (the outsider)
NODES = [Account.from_key(keccak(f"deml-node-key-{SEED}-{i}".encode())).address for i in range(5)]
MEMBERS, OUTSIDER = NODES[:4], NODES[4]


@pytest.fixture(scope="session")
def base_ledger() -> ChainLedger:
    """Four registered nodes A, B, C, D holding STAKE locked and STAKE spare, a funded pool, and one more
    keyed account that never registers (the outsider, last of `nodes`)."""
    led = ChainLedger(nodes=5, seed=SEED, mode="per-node", preflight=True, min_stake=MIN_STAKE)
    assert led.nodes == NODES
    led.fund(POOL)
    for a in led.nodes:
        led.grant(a, 2 * STAKE)
    led.register(MEMBERS, STAKE)
    return led


@pytest.fixture
def ledger(base_ledger):
    with base_ledger.reverting():
        base_ledger.mode = "per-node"
        yield base_ledger
    base_ledger.mode = "per-node"


@pytest.fixture
def both(ledger):
    """(do, chain, memory): do(act) applies act to both ledgers at the same block and returns both answers,
    a refusal as its reason. MemoryLedger starts as the session chain does: A, B, C, D registered, the pool funded."""
    memory = MemoryLedger(min_stake=MIN_STAKE)
    memory.fund(POOL)
    for a in ledger.nodes:
        memory.grant(a, 2 * STAKE)
    memory.register(MEMBERS, STAKE)

    return side_by_side(memory, ledger, ledger.chain), ledger, memory


def side_by_side(memory, chain_side, chain):
    """do(act): act on the in-process side and then the chain side, the in-process clock set to the block the
    chain mines next; both answers, a refusal as its reason."""
    def do(act):
        memory.block = chain.block_number + 1
        answers = []
        for side in (memory, chain_side):
            try:
                answers.append(act(side))
            except LedgerError as exc:
                answers.append(exc.reason)
        return answers

    return do


def registered_deployment(chain, n: int, label: str):
    """A fresh deployment on `chain` with n keyed nodes (keys from `label`), each granted 10 tokens and staking all
    of them, and a funded pool: (deployment, node accounts). Every balance starts from zero, the dearest case."""
    from contracts.client import deploy

    d = deploy(chain)
    nodes = [Account.from_key(keccak(f"{label}-{i}".encode())) for i in range(n)]
    for node in nodes:
        chain.give_ether(node.address, 10**19)
        d.allow(node)
        d.grant(node.address, 10)
    d.fund(10**6)
    d.register(nodes, 10)
    return d, nodes


@pytest.fixture(scope="session")
def anvil_url():
    node = anvil_node.start(record=False)
    try:
        yield node.url
    finally:
        anvil_node.stop(node)


def spec(tau=1.0, dim=2, reward=REWARD, members=MEMBERS, **kw) -> RoundSpec:
    return RoundSpec(tau_fx=codec.encode(np.array([tau]), 16), dim=dim, scale_bits=16, params_digest=[bytes(32)],
                     reward=reward, members=list(members), **kw)


def sealed(round_id, sender, values, salt=b"\x07" * 32):
    fx = codec.encode(np.atleast_2d(values), 16)
    return Commit(sender, commitments(round_id, sender, fx, [salt])), Reveal(sender, fx, [salt])
