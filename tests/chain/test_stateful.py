"""Random interleavings of every verb of the protocol, applied to the chain (each example inside a reverted
snapshot) and to MemoryLedger side by side, with the test's own model of what each step must do.

Rules: grants, funding, registration (the registry grows past what any round lists), top-ups and withdrawals;
rounds over random candidate lists (duplicates, outsiders, under-staked nodes), report sizes (1 to 17 values,
across the 8-value word boundaries), quorums and windows in and out of bounds; commits and reveals by any subset,
over the relayer or one transaction per node; reports on, inside or one unit beyond tau; Sybil identities of one
adversary that commit several candidates and reveal only the best (the selective-reveal attack); settlement,
expiry and block advances of any length.

Each step must be refused by both ledgers for the same reason or accepted by both with the same effect, and:
- tokens are conserved (node balances + stakes + pool = everything granted and funded; the coordinator holds
  exactly pool + stakes);
- a settled round's outcome is what the rules give on the test's own record of it: accepted iff at least quorum
  members revealed, none withheld a committed report, and every revealed pair lies within tau (exact integers);
  every revealer of an accepted round paid once, nobody else; every member that did not reveal slashed;
- nothing happens outside its window; a reveal that does not match its commitment is refused; a non-member's
  message is refused; a selective reveal never pays.

`LedgerMachine` runs on the embedded py-evm chain (a few examples), `RevmLedgerMachine` on revm, the same bytecode
held to py-evm by tests/chain/test_revm.py, deep enough for more than 10,000 steps per run.
"""
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from contracts.chain_ledger import ChainLedger
from coordinator.memory_ledger import MemoryLedger
from protocol.ledger import EXPIRY_BLOCKS, MAX_WINDOW, LedgerError
from tests.chain.conftest import MIN_STAKE, REWARD, STAKE, sealed, spec

NODES = 9  # keyed accounts that may register; one more never does (the outsider)
SYBILS = 3  # the last registered nodes double as one adversary's identities in the selective-reveal rule
UNIT = 2.0**-16
DIMS = [1, 2, 3, 8, 9, 17]
TAUS = [0.5, 1.0, 2.0]


@cache
def shared_chain(target: str) -> ChainLedger:
    return ChainLedger(target, nodes=NODES + 1, seed=5, mode="relay", preflight=True, min_stake=MIN_STAKE)


def reports(kind: str, n: int, dim: int, tau: float, rng: np.random.Generator) -> list[np.ndarray]:
    """n reports of `dim` values whose largest pairwise distance is known: all equal, spread within tau, exactly tau
    (the first two apart by tau, the rest at their midpoint), one unit beyond, or scattered far."""
    base = np.round(rng.uniform(-2, 2, dim) / UNIT) * UNIT
    e = np.zeros(dim)
    e[dim - 1] = 1.0  # along the last value: a report's last word may be partly padding
    offsets = {"equal": [0.0] * n, "inside": [tau * k / (2 * max(n - 1, 1)) for k in range(n)],
               "edge": [0.0, tau] + [tau / 2] * (n - 2), "beyond": [0.0, tau + UNIT] + [tau / 2] * (n - 2),
               "far": [4.0 * tau * k for k in range(n)]}[kind]
    return [base + o * e for o in offsets]


class LedgerMachine(RuleBasedStateMachine):
    target = "embedded"  # the chain: py-evm here, revm in RevmLedgerMachine below

    def __init__(self):
        super().__init__()
        self.chain = shared_chain(self.target)
        self._snapshot = self.chain.reverting()
        self._snapshot.__enter__()
        self.memory = MemoryLedger(max_dim=256, min_stake=MIN_STAKE)
        self.addresses = self.chain.nodes
        self.minted = 0
        self.round = None  # the test's own record of the round in flight
        self.paid: set[tuple[int, str]] = set()
        self.rng = np.random.default_rng(0)

    def teardown(self):
        self.chain.mode = "relay"
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

    def live(self) -> dict | None:
        return self.round if self.round is not None and not self.round["settled"] else None

    # -------------------------------------------------------------------------------------------- rules
    @initialize(members=st.lists(st.integers(0, NODES - 1), min_size=2, max_size=NODES, unique=True))
    def setup(self, members):
        """Every node holds tokens, some are registered, and the pool can pay a few rounds."""
        for a in self.addresses:
            self.both(lambda led, a=a: led.grant(a, 3 * STAKE))
        self.both(lambda led: led.fund(40 * REWARD))
        self.minted += 3 * STAKE * len(self.addresses) + 40 * REWARD
        self.both(lambda led: led.register([self.addresses[i] for i in members], STAKE))

    @rule(amount=st.sampled_from([REWARD, 20 * REWARD]))
    def fund(self, amount):
        self.both(lambda led: led.fund(amount))
        self.minted += amount

    @rule(i=st.integers(0, NODES), amount=st.sampled_from([1, STAKE]))
    def grant(self, i, amount):
        self.both(lambda led: led.grant(self.addresses[i], amount))
        self.minted += amount

    @rule(who=st.lists(st.integers(0, NODES), min_size=1, max_size=3),
          stake=st.sampled_from([0, MIN_STAKE - 1, MIN_STAKE, STAKE, 4 * STAKE]))
    def register(self, who, stake):
        *_, err = self.both(lambda led: led.register([self.addresses[i] for i in who], stake))
        if err is None:
            assert all(self.chain.registered(self.addresses[i]) for i in who)

    @rule(i=st.integers(0, NODES), amount=st.sampled_from([1, MIN_STAKE, 5 * STAKE]))
    def add_stake(self, i, amount):
        self.both(lambda led: led.add_stake(self.addresses[i], amount))

    @rule(i=st.integers(0, NODES))
    def withdraw(self, i):
        a = self.addresses[i]
        *_, err = self.both(lambda led: led.withdraw(a))
        if err is None:
            r = self.live()
            assert r is None or a not in r["members"], "a member of the round in flight withdrew"
            assert not self.chain.registered(a)

    @rule(relay=st.booleans())
    def transport(self, relay):
        """Relayed batches or one transaction per node: the ledger semantics must not change."""
        self.chain._flush()
        self.chain.mode = "relay" if relay else "per-node"

    @rule(data=st.data(), tau=st.sampled_from(TAUS), dim=st.sampled_from(DIMS),
          windows=st.sampled_from([(4, 4), (3, 6), (6, 8), (8, MAX_WINDOW + 1)]),
          quorum=st.sampled_from([1, 2, 3, "all", "more"]), reward=st.sampled_from([REWARD, MIN_STAKE // 2 + 1]))
    def open_round(self, data, tau, dim, windows, quorum, reward):
        candidates = data.draw(st.lists(st.sampled_from(self.addresses), min_size=2, max_size=NODES + 2),
                               label="candidates")
        q = {"all": len(candidates), "more": len(candidates) + 1}.get(quorum, quorum)
        self.open_for(candidates, tau, dim, *windows, q, reward)

    def open_for(self, candidates, tau, dim, commit_blocks, reveal_blocks, quorum=2, reward=REWARD):
        start = self.pending_block
        s = spec(tau=tau, dim=dim, reward=reward, members=candidates, quorum=quorum, commit_blocks=commit_blocks,
                 reveal_blocks=reveal_blocks)
        rid_m, rid_c, err = self.both(lambda led: led.open_round(s))
        if err is not None:
            return
        assert rid_m == rid_c
        admitted = [a for i, a in enumerate(candidates) if self.memory._rounds[rid_m].members[0, i]]
        eligible = [a for i, a in enumerate(candidates) if a not in candidates[:i] and self.memory.registered(a)
                    and int(self.memory.balances([a]).stakes[0, 0]) >= MIN_STAKE]
        assert admitted == eligible, "the members are not the eligible candidates"
        self.round = dict(id=rid_c, members=admitted, candidates=candidates, tau=tau, dim=dim, quorum=quorum,
                          reward=reward, commit_deadline=start + commit_blocks,
                          reveal_deadline=start + commit_blocks + reveal_blocks, msgs={}, committed=set(),
                          revealed=set(), settled=False)

    @precondition(lambda self: self.live() is not None)
    @rule(data=st.data(), kind=st.sampled_from(["equal", "inside", "edge", "beyond", "far"]))
    def commit(self, data, kind):
        r = self.round
        anyone = data.draw(st.booleans(), label="committers from anyone")
        pool = self.addresses if anyone or not r["members"] else r["members"]
        who = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4, unique=True), label="committers")
        self.commit_as(who, reports(kind, len(who), r["dim"], r["tau"], self.rng))

    @precondition(lambda self: self.live() is not None)
    @rule(data=st.data(), corrupt=st.booleans())
    def reveal(self, data, corrupt):
        r = self.round
        pool = sorted(r["committed"]) or self.addresses
        who = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4, unique=True), label="revealers")
        self.reveal_as(who, corrupt)

    @precondition(lambda self: self.live() is not None)
    @rule()
    def finalize(self):
        r, block = self.round, self.pending_block
        before = self.chain.balances(self.addresses)
        out_m, out_c, err = self.both(lambda led: led.finalize(r["id"]))
        if err is not None:
            return
        quiet = (block > r["commit_deadline"] or r["committed"] >= set(r["members"])) and r["revealed"] == r["committed"]
        assert block > r["reveal_deadline"] or quiet, "settled too early"
        for name in ("accepted", "members", "committed", "revealed", "max_sq", "total", "count", "lo", "hi", "paid",
                     "slashed"):
            assert np.array_equal(getattr(out_m, name), getattr(out_c, name)), name
        accepted = bool(out_c.accepted[0])
        assert accepted == self.expected_acceptance(r), "the outcome is not what the rules give"
        event(f"round {'accepted' if accepted else 'rejected'}" + (", slashed" if out_c.slashed.any() else ""))
        members = {a: i for i, a in enumerate(r["candidates"]) if out_c.members[0, i]}
        for a, i in members.items():
            paid, slashed = int(out_c.paid[0, i]), int(out_c.slashed[0, i])
            assert paid == (r["reward"] if accepted and a in r["revealed"] else 0), "paid outside the rules"
            assert (slashed > 0) == (a not in r["revealed"]), "slashed outside the rules"
            if paid:
                assert (r["id"], a) not in self.paid, "a node was paid twice for a round"
                self.paid.add((r["id"], a))
        if not accepted:
            assert self.chain.balances(self.addresses).tokens.tolist() == before.tokens.tolist(), "a rejected round paid"
        r["settled"] = True

    def expected_acceptance(self, r) -> bool:
        """The rule, on the test's own record: plain Python integers, no code shared with the ledgers."""
        if len(r["revealed"]) < r["quorum"] or r["committed"] != r["revealed"]:
            return False
        tau_fx = int(round(r["tau"] * 2**16))
        fx = [[int(v) for v in r["msgs"][a][1].report_fx[0]] for a in r["revealed"]]
        return all(sum((x - y) ** 2 for x, y in zip(p, q)) <= tau_fx**2 for p in fx for q in fx)

    @precondition(lambda self: self.live() is not None)
    @rule()
    def expire(self):
        r, block = self.round, self.pending_block
        *_, err = self.both(lambda led: led.expire(r["id"]))
        if err is None:
            assert block > r["reveal_deadline"] + EXPIRY_BLOCKS, "expired too early"
            r["settled"] = True

    @rule(tau=st.sampled_from(TAUS), dim=st.sampled_from(DIMS),
          kind=st.sampled_from(["equal", "inside", "edge", "beyond", "far"]), silent=st.integers(0, 2),
          withheld=st.sampled_from([0, 0, 0, 1]), corrupt=st.sampled_from([False, False, False, True]))
    def whole_round(self, tau, dim, kind, silent, withheld, corrupt):
        """Open for every node, all but `silent` commit, all but `withheld` of those reveal, the windows lapse,
        settle: a round that gets somewhere (random interleavings of the single steps above rarely do)."""
        if self.live() is not None:
            return
        self.open_for(self.addresses[:NODES], tau, dim, 12, 12)  # room for one transaction per node
        r = self.live()
        if r is None:
            return
        committers = r["members"][silent:]
        self.commit_as(committers, reports(kind, len(committers), dim, tau, self.rng))
        self.reveal_as(committers[withheld:], corrupt)
        self.advance(25)
        self.finalize()

    @rule(candidates=st.integers(2, SYBILS), tau=st.sampled_from(TAUS))
    def selective_reveal(self, candidates, tau):
        """One adversary's Sybil identities commit different candidates (one far, the rest on the honest
        report's edge), an honest node reveals first, and the adversary reveals only the candidate that passes:
        the round must be rejected and every withholding identity slashed."""
        if self.live() is not None:
            return
        sybils = [a for a in self.addresses[:NODES] if self.memory.registered(a)][-candidates:]
        honest = [a for a in self.addresses[:NODES] if self.memory.registered(a) and a not in sybils][:1]
        self.open_for(honest + sybils, tau, 2, 8, 8)
        r = self.live()
        if r is None or not honest or set(r["members"]) != set(honest + sybils):
            return
        values = [np.zeros(2), np.array([0.0, tau])] + [np.array([0.0, 4 * tau])] * (candidates - 1)
        self.commit_as(honest + sybils, values)
        self.reveal_as(honest + sybils[:1], corrupt=False)
        self.advance(17)
        before = self.chain.balances(sybils[1:]).stakes[0]
        self.finalize()
        if r["settled"]:
            assert self.chain.balances(sybils[1:]).stakes[0].tolist() != before.tolist()
            assert not any((r["id"], a) in self.paid for a in honest + sybils), "a selective reveal paid"

    def batches(self, entries: list) -> list[list]:
        """The relayer sends a batch as one transaction; per node, each message is a transaction of its own (on
        this chain a block of its own, so a window can close inside a per-node batch: see ChainLedger)."""
        return [entries] if self.chain.mode == "relay" or len(entries) < 2 else [[e] for e in entries]

    def commit_as(self, who: list[str], values: list[np.ndarray]):
        msgs = [(a, sealed(self.round["id"], a, v)) for a, v in zip(who, values)]
        for batch in self.batches(msgs):
            self.commit_batch(dict(batch))

    def commit_batch(self, msgs: dict):
        r, block = self.round, self.pending_block
        *_, err = self.both(lambda led: led.commit(r["id"], [c for c, _ in msgs.values()]))
        if err is None:
            new = {a: m for a, m in msgs.items() if a not in r["committed"]}  # entries already done are skipped
            assert not new or block <= r["commit_deadline"], "a commit outside its window"
            assert not r["settled"] and set(msgs) <= set(r["members"]), "a non-member committed"
            r["msgs"].update(new)
            r["committed"] |= set(new)

    def reveal_as(self, who: list[str], corrupt: bool):
        r = self.round
        reveals = []
        for a in who:
            _, honest = r["msgs"].get(a, sealed(r["id"], a, np.zeros(r["dim"])))
            reveals.append(sealed(r["id"], a, np.full(r["dim"], 9.0))[1] if corrupt and not reveals else honest)
        for batch in self.batches(reveals):
            self.reveal_batch(batch, corrupt and bool(batch) and batch[0] is reveals[0])

    def reveal_batch(self, reveals: list, corrupt: bool):
        r, block = self.round, self.pending_block
        *_, err = self.both(lambda led: led.reveal(r["id"], reveals))
        if err is None:
            new = {m.sender for m in reveals} - r["revealed"]  # entries already done are skipped
            assert not corrupt or reveals[0].sender not in new, "a reveal not matching its commitment was accepted"
            if new:
                assert block > r["commit_deadline"] or r["committed"] >= set(r["members"]), "revealed too early"
                assert block <= r["reveal_deadline"] and not r["settled"], "revealed too late"
            r["revealed"] |= new

    @rule(blocks=st.sampled_from([1, 2, 3, 5, 300]))
    def advance(self, blocks):
        self.both(lambda led: led.advance(blocks))

    # ------------------------------------------------------------------------------------------ invariants
    @invariant()
    def balances_agree_and_tokens_are_conserved(self):
        mem, chain = self.memory.balances(self.addresses), self.chain.balances(self.addresses)
        for name in ("tokens", "stakes", "pool"):
            assert getattr(mem, name).tolist() == getattr(chain, name).tolist(), name
        held, stakes, pool = int(chain.tokens.sum()), int(chain.stakes.sum()), int(chain.pool[0])
        assert held + stakes + pool == self.minted
        assert self.chain.deployment.token_balance(self.chain.deployment.coordinator.address) == pool + stakes


LedgerMachine.TestCase.settings = settings(max_examples=4, stateful_step_count=25, deadline=None,
                                           suppress_health_check=[HealthCheck.too_slow])
test_chain_and_memory_ledgers_agree_on_random_interleavings = pytest.mark.slow(LedgerMachine.TestCase)


class RevmLedgerMachine(LedgerMachine):
    """The same machine on revm (held to py-evm by tests/chain/test_revm.py): many more steps in less time."""

    target = "revm"


RevmLedgerMachine.TestCase.settings = settings(max_examples=400, stateful_step_count=30, deadline=None,
                                               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
test_revm_chain_and_memory_ledgers_agree_on_random_interleavings = pytest.mark.slow(RevmLedgerMachine.TestCase)
