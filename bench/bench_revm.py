"""Speed of the revm chain (the fuzz target) against the embedded py-evm chain, measured in the same run.
Prints figures; asserts nothing about time (tests/chain/test_revm.py holds the two chains to the same results).

1. Transactions per second: the same protocol rounds on each chain through ChainLedger (4 registered nodes,
   one transaction per node message: open, 4 commits, 4 reveals, finalize; every third round rejected).
2. Hypothesis steps per second: the existing stateful test (tests/chain/test_stateful.py, chain and
   MemoryLedger side by side, invariants after every step) run on each chain with the same derandomized
   examples, and how many of its steps fit in 60 s on revm.

    python bench/bench_revm.py [--rounds 200] [--examples 15]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))  # the stateful machine lives in tests/, not in a package

from hypothesis import HealthCheck, settings
from hypothesis.stateful import invariant, run_state_machine_as_test

from contracts.chain_ledger import ChainLedger
from tests.chain.conftest import REWARD, STAKE, sealed, spec
from tests.chain.test_stateful import LedgerMachine, shared_chain

TARGETS = ("embedded", "revm")
NODES = 4


def transactions_per_second(target: str, rounds: int) -> tuple[float, int]:
    """(transactions a second, transactions) over `rounds` rounds, setup excluded."""
    led = ChainLedger(target, nodes=NODES, seed=1, mode="per-node")
    led.fund(NODES * REWARD * rounds)
    for a in led.nodes:
        led.grant(a, 2 * STAKE)
    led.register(led.nodes, STAKE)
    start, t0 = led.chain.block_number, time.perf_counter()
    for r in range(rounds):
        rid = led.open_round(spec(tau=1.0, commit_blocks=NODES, reveal_blocks=NODES))
        spread = 1.0 if r % 3 == 2 else 0.1  # tau 1: the far reports of every third round fail the check
        msgs = [sealed(rid, a, [spread * k, 0.0]) for k, a in enumerate(led.nodes)]
        led.commit(rid, [c for c, _ in msgs])
        led.reveal(rid, [m for _, m in msgs])
        led.finalize(rid)
    txs = led.chain.block_number - start
    return txs / (time.perf_counter() - t0), txs


def steps_per_second(target: str, examples: int) -> tuple[float, int]:
    """(steps a second, steps) of the stateful test's machine on `target`, its shared chain built first."""
    class Counted(LedgerMachine):
        steps = 0

        @invariant()
        def count(self):  # invariants run once after every step, the initializing one included
            Counted.steps += 1

    Counted.target = target
    shared_chain(target)
    t0 = time.perf_counter()
    run_state_machine_as_test(Counted, settings=settings(
        max_examples=examples, stateful_step_count=30, deadline=None, derandomize=True, database=None,
        suppress_health_check=[HealthCheck.too_slow]))
    return Counted.steps / (time.perf_counter() - t0), Counted.steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200, help="protocol rounds on each chain (10 transactions each)")
    parser.add_argument("--examples", type=int, default=15, help="hypothesis examples (up to 30 steps each)")
    args = parser.parse_args()
    print(f"== transactions per second, {args.rounds} rounds of {NODES} nodes ==")
    tx = {t: transactions_per_second(t, args.rounds) for t in TARGETS}
    for t, (rate, n) in tx.items():
        print(f"{t:>9}: {rate:8.1f} tx/s ({n} transactions)")
    print(f"     revm: {tx['revm'][0] / tx['embedded'][0]:8.1f} x py-evm")
    print(f"\n== stateful test steps per second, {args.examples} derandomized examples ==")
    steps = {t: steps_per_second(t, args.examples) for t in TARGETS}
    for t, (rate, n) in steps.items():
        print(f"{t:>9}: {rate:8.1f} steps/s ({n} steps)")
    print(f"     revm: {steps['revm'][0] / steps['embedded'][0]:8.1f} x py-evm; "
          f"{60 * steps['revm'][0]:,.0f} steps in 60 s")


if __name__ == "__main__":
    main()
