"""What the contract keeps of settled rounds: one outcome bit per round, 256 to a storage word. Only a long
history crosses a word, so these run on revm (the same bytecode as py-evm, tests/chain/test_revm.py)."""
import numpy as np

from contracts.chain_ledger import ChainLedger
from tests.chain.conftest import MIN_STAKE, REWARD, STAKE, sealed, spec

ROUNDS = 258  # rounds 0..257: the first word of outcomes, and two rounds into the second


def accepted_in(rid: int) -> bool:
    """Round 0 rejected (a bit written one word off would land on it), 255 and 256 accepted (the last bit of the
    first word, the first of the second), irregular elsewhere."""
    return rid in (255, 256) or (rid != 0 and rid % 3 != 1)


def test_every_settled_round_keeps_its_outcome_across_the_words_of_the_record():
    led = ChainLedger("revm", nodes=2, seed=21, mode="relay", min_stake=MIN_STAKE)
    led.fund(ROUNDS * 2 * REWARD)
    for a in led.nodes:
        led.grant(a, STAKE)
    led.register(led.nodes, STAKE)
    d = led.deployment
    for rid in range(ROUNDS):
        assert led.open_round(spec(members=led.nodes, commit_blocks=4, reveal_blocks=4)) == rid
        far = 0.0 if accepted_in(rid) else 4.0  # tau = 1: reports 4 apart reject the round, paying nobody
        msgs = [sealed(rid, a, [v, 0.0]) for a, v in zip(led.nodes, [0.0, far])]
        led.commit(rid, [c for c, _ in msgs])
        led.reveal(rid, [r for _, r in msgs])
        assert bool(led.finalize(rid).accepted[0]) == accepted_in(rid)
    assert d.phase(ROUNDS - 1) == ("accepted" if accepted_in(ROUNDS - 1) else "rejected")  # the latest round
    phases = [d.phase(rid) for rid in range(ROUNDS)]
    assert phases == ["accepted" if accepted_in(rid) else "rejected" for rid in range(ROUNDS)]
    assert d.phase(ROUNDS) == "unopened"
    paid = 2 * REWARD * sum(map(accepted_in, range(ROUNDS)))
    assert led.balances(led.nodes).pool.tolist() == [ROUNDS * 2 * REWARD - paid]
    assert np.array_equal(led.balances(led.nodes).stakes, [[STAKE, STAKE]])
