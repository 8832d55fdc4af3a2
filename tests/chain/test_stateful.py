"""Random interleavings of register, withdraw, fund, open, commit, reveal, finalize and block advances, applied
to the chain (relay transport, each example inside a reverted snapshot) and to MemoryLedger side by side.

Each step must be refused by both for the same reason or accepted by both with the same effect, and after each
step the invariants of spec/protocol.md hold on the chain:
- tokens are conserved: node balances + stakes + pool = everything granted and funded (slashing only moves
  stake into the pool), and the coordinator holds exactly pool + stakes;
- a rejected round pays nothing; nobody is paid twice, and only revealers are paid;
- nothing happens outside its window (checked against the test's own record of the deadlines);
- a reveal that does not match its commitment is refused; a non-participant cannot commit.
"""
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from contracts.chain_ledger import ChainLedger
from protocol.ledger import LedgerError
from coordinator.memory_ledger import MemoryLedger
from tests.chain.conftest import MIN_STAKE, REWARD, STAKE, sealed, spec

NODES = 4  # may register; one more keyed account never does (the outsider)
VALUES = [0.0, 0.3, -1.0]
SPREADS = [0.0, 0.3, 1.0]  # between consecutive nodes' reports; with tau 0.5 or 2 some rounds pass, some fail


@cache
def shared_chain() -> ChainLedger:
    return ChainLedger(nodes=NODES + 1, seed=5, mode="relay", preflight=True, min_stake=MIN_STAKE)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.chain = shared_chain()
        self._snapshot = self.chain.reverting()
        self._snapshot.__enter__()
        self.memory = MemoryLedger(max_dim=256, min_stake=MIN_STAKE)
        self.addresses = self.chain.nodes
        self.minted = 0
        self.round = None  # the test's own record of the round in flight
        self.payments: dict[tuple[int, str], int] = {}

    def teardown(self):
        self._snapshot.__exit__(None, None, None)

    # ------------------------------------------------------------------------------------------ harness
    @property
    def pending_block(self) -> int:
        """The block the next transaction lands in, which is where MemoryLedger is told it stands."""
        return self.chain.chain.block_number + 1

    def both(self, act):
        """Apply `act(ledger)` to both ledgers; both refuse for the same reason or both accept."""
        self.memory.block = self.pending_block
        answers = []
        for led in (self.memory, self.chain):
            try:
                answers.append((act(led), None))
            except LedgerError as exc:
                answers.append((None, exc))
        (got_m, err_m), (got_c, err_c) = answers
        event(f"refused: {err_c.reason}" if err_c is not None else "accepted call")
        assert (err_m is None) == (err_c is None), (err_m, err_c)
        if err_m is not None:
            assert (err_m.reason, type(err_m)) == (err_c.reason, type(err_c))
        return got_m, got_c, err_c

    # -------------------------------------------------------------------------------------------- rules
    @initialize(members=st.lists(st.integers(0, NODES - 1), min_size=2, max_size=NODES, unique=True))
    def setup(self, members):
        """Every node holds tokens, some are registered, and the pool can pay a few rounds."""
        for a in self.addresses:
            self.both(lambda led, a=a: led.grant(a, 3 * STAKE))
        self.both(lambda led: led.fund(12 * REWARD))
        self.minted += 3 * STAKE * len(self.addresses) + 12 * REWARD
        self.both(lambda led: led.register([self.addresses[i] for i in members], STAKE))

    @rule(amount=st.sampled_from([REWARD, 6 * REWARD]))
    def fund(self, amount):
        self.both(lambda led: led.fund(amount))
        self.minted += amount

    @rule(who=st.lists(st.integers(0, NODES - 1), min_size=1, max_size=2),
          stake=st.sampled_from([0, STAKE, 4 * STAKE]))
    def register(self, who, stake):
        self.both(lambda led: led.register([self.addresses[i] for i in who], stake))

    @rule(i=st.integers(0, NODES - 1))
    def withdraw(self, i):
        self.both(lambda led: led.withdraw(self.addresses[i]))

    @rule(tau=st.sampled_from([0.5, 2.0]), commit_blocks=st.integers(3, 8), reveal_blocks=st.integers(3, 8),
          data=st.data())
    def open_round(self, tau, commit_blocks, reveal_blocks, data):
        candidates = data.draw(st.lists(st.sampled_from(self.addresses), min_size=2, max_size=NODES + 1),
                               label="candidates")
        self.open_for(candidates, tau, commit_blocks, reveal_blocks)

    def open_for(self, candidates: list[str], tau: float, commit_blocks: int, reveal_blocks: int):
        start = self.pending_block
        s = spec(tau=tau, commit_blocks=commit_blocks, reveal_blocks=reveal_blocks, members=candidates)
        rid_m, rid_c, err = self.both(lambda led: led.open_round(s))
        if err is None:
            assert rid_m == rid_c
            admitted = [a for i, a in enumerate(candidates) if self.memory._rounds[rid_m].members[0, i]]
            self.round = dict(id=rid_c, members=admitted, candidates=candidates, commit_deadline=start + commit_blocks,
                              reveal_deadline=start + commit_blocks + reveal_blocks, msgs={}, committed=set(),
                              revealed=set(), finalized=False)

    def pick(self, data, pool: list[str], label: str) -> list[str]:
        """A few nodes, mostly from `pool`, sometimes anyone (the outsider included)."""
        anyone = data.draw(st.booleans(), label=f"{label} from anyone") or not pool
        choices = self.addresses if anyone else pool
        return data.draw(st.lists(st.sampled_from(choices), min_size=1, max_size=4, unique=True), label=label)

    @precondition(lambda self: self.round is not None)
    @rule(data=st.data(), value=st.sampled_from(VALUES), spread=st.sampled_from(SPREADS))
    def commit(self, data, value, spread):
        self.commit_as(self.pick(data, self.round["members"], "committers"), value, spread)

    @precondition(lambda self: self.round is not None)
    @rule(data=st.data(), corrupt=st.booleans())
    def reveal(self, data, corrupt):
        self.reveal_as(self.pick(data, sorted(self.round["committed"]), "revealers"), corrupt)

    @precondition(lambda self: self.round is not None)
    @rule()
    def finalize(self):
        r, block = self.round, self.pending_block
        before = self.chain.balances(self.addresses)
        out_m, out_c, err = self.both(lambda led: led.finalize(r["id"]))
        if err is not None:
            return
        assert block > r["reveal_deadline"] or r["revealed"] == r["committed"]
        event(f"round {'accepted' if out_c.accepted[0] else 'rejected'}" + (", slashed" if out_c.slashed.any() else ""))
        for name in ("accepted", "members", "committed", "revealed", "max_sq", "total", "count", "lo", "hi", "paid",
                     "slashed"):
            assert np.array_equal(getattr(out_m, name), getattr(out_c, name)), name
        paid = {a: p for a, p, m in zip(r["candidates"], out_c.paid[0], out_c.members[0]) if m}
        if not out_c.accepted[0]:
            assert not any(paid.values()), "a rejected round paid"
            assert self.chain.balances(self.addresses).tokens.tolist() == before.tokens.tolist()
        for a, amount in paid.items():
            assert amount in (0, REWARD) and (amount == 0 or a in r["revealed"]), "paid a node that did not reveal"
            self.payments[(r["id"], a)] = self.payments.get((r["id"], a), 0) + (amount > 0)
        assert max(self.payments.values(), default=0) <= 1, "a node was paid twice for a round"
        r["finalized"] = True

    @rule(tau=st.sampled_from([0.5, 2.0]), value=st.sampled_from(VALUES), spread=st.sampled_from(SPREADS),
          silent=st.integers(0, 2), corrupt=st.booleans())
    def whole_round(self, tau, value, spread, silent, corrupt):
        """Open, everyone commits, all but `silent` reveal, the windows lapse, finalize: a round that gets
        somewhere (random interleavings of the single steps above rarely do)."""
        self.open_for(self.addresses[:NODES], tau, 4, 4)
        r = self.round
        if r is None or r["finalized"] or r["committed"]:
            return
        self.commit_as(r["members"], value, spread)
        self.reveal_as(r["members"][silent:], corrupt)
        self.advance(9)
        self.finalize()

    def commit_as(self, who: list[str], value: float, spread: float):
        r, block = self.round, self.pending_block
        msgs = {a: sealed(r["id"], a, [value + spread * k, 0.0]) for k, a in enumerate(who)}
        *_, err = self.both(lambda led: led.commit(r["id"], [c for c, _ in msgs.values()]))
        if err is None:
            new = {a: m for a, m in msgs.items() if a not in r["committed"]}  # entries already done are skipped
            assert not new or block <= r["commit_deadline"], "a commit outside its window"
            assert not r["finalized"] and set(msgs) <= set(r["members"]), "a non-participant committed"
            r["msgs"].update(new)
            r["committed"] |= set(new)

    def reveal_as(self, who: list[str], corrupt: bool):
        r, block = self.round, self.pending_block
        reveals = []
        for a in who:
            _, honest = r["msgs"].get(a, sealed(r["id"], a, [0.0, 0.0]))
            reveals.append(sealed(r["id"], a, [9.0, 9.0])[1] if corrupt and not reveals else honest)
        if not reveals:
            return
        *_, err = self.both(lambda led: led.reveal(r["id"], reveals))
        if err is None:
            new = {m.sender for m in reveals} - r["revealed"]  # entries already done are skipped
            assert not corrupt or reveals[0].sender not in new, "a reveal not matching its commitment was accepted"
            if new:
                assert r["commit_deadline"] < block or r["committed"] >= set(r["members"])
                assert block <= r["reveal_deadline"] and not r["finalized"]
            r["revealed"] |= new

    @rule(blocks=st.integers(1, 5))
    def advance(self, blocks):
        self.both(lambda led: led.advance(blocks))

    # ------------------------------------------------------------------------------------------ invariants
    @invariant()
    def same_balances(self):
        mem, chain = self.memory.balances(self.addresses), self.chain.balances(self.addresses)
        assert [self.memory.registered(a) for a in self.addresses] == [self.chain.registered(a) for a in self.addresses]
        for name in ("tokens", "stakes", "pool"):
            assert getattr(mem, name).tolist() == getattr(chain, name).tolist(), name

    @invariant()
    def tokens_are_conserved(self):
        bal = self.chain.balances(self.addresses)
        held = sum(int(self.chain.token_balance(a)[0]) for a in self.addresses)
        pool, stakes = int(bal.pool[0]), int(bal.stakes.sum())
        assert held + stakes + pool == self.minted
        assert self.chain.deployment.token_balance(self.chain.deployment.coordinator.address) == pool + stakes


LedgerMachine.TestCase.settings = settings(max_examples=15, stateful_step_count=30, deadline=None,
                                           suppress_health_check=[HealthCheck.too_slow])
test_chain_and_memory_ledgers_agree_on_random_interleavings = pytest.mark.slow(LedgerMachine.TestCase)
