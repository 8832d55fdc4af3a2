"""revm (the fuzzing chain) against py-evm (the embedded chain): the same transactions give the same receipts.

Both chains run the same bytecode behind `ChainLedger` and `contracts.client`, and every receipt (success, revert
reason, gas used, logs, created address, block), every dry-run answer, every verb's result or refusal, and the
views after it (participants, token balances, stakes, pool, round phases, ether balances, block number) must be
identical. A scripted run covers the protocol's paths (accepted, rejected and slashed rounds, both transports,
reverts of many reasons, a halt for lack of gas, a failed deployment, block advances, nested snapshots); a
hypothesis machine then plays random verbs with random, often refused, arguments. Nothing here names the
contract's ABI: when the contract changes, the same test holds the transport to py-evm.
"""
from functools import cache

import numpy as np
import pytest
from eth_account import Account
from eth_utils import ValidationError
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from contracts.chain import Chain, Reverted, Tx, connect
from contracts.chain_ledger import ChainLedger
from contracts.client import deploy
from contracts.revm_chain import RevmChain
from protocol.ledger import LedgerError, RoundOutcome
from tests.chain.conftest import MIN_STAKE, REWARD, STAKE, sealed, spec

NODES = 6  # keyed accounts on each chain; the script registers four


class Recorded:
    """A chain that keeps every receipt and dry-run answer it gives, for comparing two chains."""

    def __init__(self, chain):
        self.chain, self.seen = chain, []

    def __getattr__(self, name):
        return getattr(self.chain, name)

    def send(self, txs, *, ordered=True):
        receipts = self.chain.send(txs, ordered=ordered)
        self.seen += [("tx", r.block, r.ok, r.reason, r.gas_used, r.logs, r.contract_address) for r in receipts]
        return receipts

    def call(self, sender, to, data):
        (answer,) = self.calls([(sender, to, data)])
        if isinstance(answer, Reverted):
            raise answer
        return answer

    def calls(self, requests):
        answers = self.chain.calls(requests)
        self.seen += [("call", a.reason if isinstance(a, Reverted) else a) for a in answers]
        return answers

    give_ether = Chain.give_ether  # through `send` above, so that it is recorded too

    def drain(self) -> list:
        seen, self.seen = self.seen, []
        return seen


def ether(chain, address: str) -> int:
    return chain.balance(address) if isinstance(chain, RevmChain) else chain.w3.eth.get_balance(address)


def views(led: ChainLedger, rounds: int, thorough: bool) -> dict:
    """What anyone can read from the chain without a transaction: the registry's balances, the ether of the
    owner and the nodes, and the phase of the latest round; `thorough` adds every holder's tokens and the
    phase of every round."""
    d, chain = led.deployment, led.chain.chain
    holders = [d.owner.address, *led.nodes]
    bal = led.balances(led.nodes)
    out = {"block": chain.block_number, "registered": [led.registered(a) for a in led.nodes],
           "balances": (bal.tokens.tolist(), bal.stakes.tolist(), bal.pool.tolist()),
           "ether": [ether(chain, a) for a in holders],
           "phases": [result(lambda led: d.phase(r), led) for r in range(0 if thorough else rounds, rounds + 1)]}
    if thorough:
        out["held"] = [d.token_balance(a) for a in holders]
    return out


def result(act, led: ChainLedger):
    """What a verb gave back (a round outcome as plain lists), or the refusal it raised."""
    try:
        got = act(led)
    except LedgerError as exc:
        return ("refused", type(exc).__name__, exc.reason)
    except ValidationError:  # refused by the chain itself (py-evm's wording differs)
        return ("invalid",)
    if isinstance(got, RoundOutcome):
        fields = ("round_id", "accepted", "revealed", "total", "count", "lo", "hi", "paid", "slashed")
        return {name: np.asarray(getattr(got, name)).tolist() for name in fields} | {"gas": got.gas}
    return got


def twins(seed: int, mode: str = "per-node") -> tuple[ChainLedger, ChainLedger]:
    """The same deployment and keyed nodes on py-evm and on revm, deployed by the same transactions."""
    return tuple(ChainLedger(Recorded(connect(target)), nodes=NODES, seed=seed, mode=mode, min_stake=MIN_STAKE)
                 for target in ("embedded", "revm"))


class Twin:
    """Applies each verb to both ledgers and asserts that everything observable agrees."""

    def __init__(self, pyevm: ChainLedger, revm: ChainLedger, thorough: bool = True):
        self.pair, self.rounds, self.thorough = (pyevm, revm), 0, thorough
        self.failed: set[str] = set()  # reasons of the failed transactions seen (both chains agree on them)
        self.check("deployment")

    def __call__(self, label: str, act):
        a, b = (result(act, led) for led in self.pair)
        assert a == b, (label, a, b)
        self.check(label)
        return a

    def open(self, label: str, s):
        """Open a round on both; its id, or the refusal."""
        got = self("open " + label, lambda led: led.open_round(s))
        if isinstance(got, int):
            self.rounds = max(self.rounds, got + 1)  # the views read the phases of the rounds opened so far
        return got

    def check(self, label: str, thorough: bool | None = None):
        """The receipts and dry runs since the last check, then the views, are the same on both chains."""
        thorough = self.thorough if thorough is None else thorough
        seen_a, seen_b = (led.chain.drain() for led in self.pair)
        assert len(seen_a) == len(seen_b), (label, seen_a, seen_b)
        for k, (x, y) in enumerate(zip(seen_a, seen_b)):
            assert x == y, (label, k, x, y)
        self.failed |= {x[3] for x in seen_a if x[0] == "tx" and not x[2]}
        view_a, view_b = (views(led, self.rounds, thorough) for led in self.pair)
        for name in view_a:
            assert view_a[name] == view_b[name], (label, name, view_a[name], view_b[name])
        self.each(lambda led: led.chain.drain())  # the views' own dry runs, compared just above

    def each(self, act):
        """Run `act(ledger)` on both, with no comparison (for what is not a chain operation)."""
        for led in self.pair:
            act(led)


def commit_all(twin: Twin, rid: int, who, spread: float, label: str):
    twin(label, lambda led: led.commit(rid, [sealed(rid, a, [spread * k, 0.0])[0] for k, a in enumerate(who)]))


def reveal_all(twin: Twin, rid: int, who, spread: float, label: str, first=0):
    twin(label, lambda led: led.reveal(rid, [sealed(rid, a, [spread * k, 0.0])[1] for k, a in enumerate(who)
                                             if k >= first]))


@pytest.mark.slow
def test_scripted_protocol_run_gives_identical_receipts_and_views_on_py_evm_and_revm():
    # Prepare: the same deployment and accounts on both chains
    twin = Twin(*twins(seed=7))
    nodes, outsider = twin.pair[0].nodes[:4], twin.pair[0].nodes[5]
    # Execute and assert, step by step: setup, with refusals sent as transactions (no dry run first)
    twin("fund", lambda led: led.fund(60 * REWARD))
    for a in twin.pair[0].nodes:
        twin("grant", lambda led, a=a: led.grant(a, 3 * STAKE))
    twin("register", lambda led: led.register(nodes, STAKE))
    twin("register again", lambda led: led.register(nodes[:1], STAKE))
    twin("register nothing", lambda led: led.register([outsider], 0))
    twin("withdraw unregistered", lambda led: led.withdraw(outsider))
    # an accepted round, one transaction per node message
    rid = twin.open("accepted", spec(tau=1.0, commit_blocks=8, reveal_blocks=8, members=nodes))
    twin.open("in flight", spec(members=nodes))
    twin("withdraw in flight", lambda led: led.withdraw(nodes[0]))
    commit_all(twin, rid, nodes, 0.1, "commit")
    commit_all(twin, rid, nodes[:1], 0.1, "commit again")
    twin("commit outsider", lambda led: led.commit(rid, [sealed(rid, outsider, [0.0, 0.0])[0]]))
    twin("reveal corrupt", lambda led: led.reveal(rid, [sealed(rid, nodes[0], [9.0, 9.0])[1]]))
    twin("finalize too early", lambda led: led.finalize(rid))
    reveal_all(twin, rid, nodes, 0.1, "reveal")
    twin("finalize accepted", lambda led: led.finalize(rid))
    twin("finalize again", lambda led: led.finalize(rid))
    # a rejected round with a silent member, relayed: signed commits, reveals in the finalizing transaction
    twin.each(lambda led: setattr(led, "mode", "relay"))
    rid = twin.open("rejected", spec(tau=0.5, commit_blocks=4, reveal_blocks=4, members=nodes))
    commit_all(twin, rid, nodes, 1.0, "commit signed")
    twin("relay a bad signature",
         lambda led: led.deployment.commit_signed(rid, [(bytes(32), bytes(64) + b"\x1b")]))
    reveal_all(twin, rid, nodes, 1.0, "reveal pending", first=1)
    twin("advance", lambda led: led.advance(9))
    twin("commit closed", lambda led: led.commit(rid, [sealed(rid, nodes[0], [0.0, 0.0])[0]]))
    twin("finalize rejected", lambda led: led.finalize(rid))
    # snapshots: a whole round undone, inside it another undone, then the chain goes on from before
    twin.each(lambda led: setattr(led, "mode", "per-node"))
    outer = [led.reverting() for led in twin.pair]
    for cm in outer:
        cm.__enter__()
    rid = twin.open("in snapshot", spec(tau=2.0, commit_blocks=4, reveal_blocks=4, members=nodes))
    commit_all(twin, rid, nodes, 0.0, "commit in snapshot")
    inner = [led.reverting() for led in twin.pair]
    for cm in inner:
        cm.__enter__()
    twin("advance in inner snapshot", lambda led: led.advance(9))
    reveal_all(twin, rid, nodes, 0.0, "reveal too late")
    for cm in inner:
        cm.__exit__(None, None, None)
    twin.check("inner snapshot reverted")
    reveal_all(twin, rid, nodes, 0.0, "reveal in time")
    twin("finalize in snapshot", lambda led: led.finalize(rid))
    for cm in outer:
        cm.__exit__(None, None, None)
    twin.check("outer snapshot reverted")
    # halts and odd transactions: out of gas, a refused deployment, values out of range, ether to a stranger
    twin("out of gas", lambda led: led.deployment.coordinator.transact(
        "open_round", nodes, 65_536, 2, 2, 16, bytes(32), bytes(32), REWARD, 2, 8, 8, sender=led.deployment.owner,
        gas=30_000))
    twin("not owner", lambda led: led.deployment.coordinator.transact(
        "open_round", nodes, 65_536, 2, 2, 16, bytes(32), bytes(32), REWARD, 2, 8, 8, sender=led.account(nodes[0]),
        gas=300_000))
    twin("tau out of range", lambda led: led.deployment.open_round(members=nodes, tau_fx=2**31, dim=2, reward=REWARD))
    twin.open("report too long", spec(dim=257, members=nodes))
    twin("deploy refused", lambda led: deploy(led.chain, slash_bps=10_001))
    twin("ether", lambda led: led.chain.give_ether("0x" + "ab" * 20, 12345))
    stranger = Account.from_key(b"\x33" * 32)  # no ether: neither its dry runs nor its transactions are taken
    twin("dry run of a stranger", lambda led: led.deployment.coordinator.call("phase", 0,
                                                                               sender=stranger.address))
    twin("transaction of a stranger", lambda led: led.chain.send([Tx(stranger, led.chain.funded[1].address, b"",
                                                                     50_000)]))
    twin("too little gas", lambda led: led.chain.send([Tx(led.deployment.owner, led.chain.funded[1].address,
                                                          b"\x01" * 10, 21_000)]))
    long = sealed(99, nodes[0], np.linspace(0.1, 0.9, 256))[1]  # refused at once: it pays the calldata floor
    twin("long report, no such round", lambda led: led.reveal(99, [long]))
    # the base fee falls to its floor over empty blocks; withdrawals then pay the low fee
    twin("advance far", lambda led: led.advance(150))
    for a in nodes[:2]:
        twin("withdraw", lambda led, a=a: led.withdraw(a))
    # the logs read back: everything, one round's, and one past the head
    topic = (1).to_bytes(32, "big")
    twin("logs", lambda led: [led.chain.logs(led.deployment.coordinator.address, 0, led.chain.block_number, t)
                              for t in ([], [None, topic], [None, None, None, None, None])])
    twin("logs to the latest", lambda led: led.chain.logs(led.deployment.token.address, 0, "latest"))
    assert twin.rounds == 3 and twin.pair[1].chain.block_number > 200
    assert len(twin.failed) >= 12 and "OutOfGas" in twin.failed  # refusals sent as transactions, and a halt


# ------------------------------------------------------------------------------------------ random verbs
VALUES, SPREADS = [0.0, 0.3, -1.0], [0.0, 0.3, 1.0]


def kind(label: str, got) -> str:
    """What became of a verb, for hypothesis' statistics."""
    if isinstance(got, tuple) and got[:1] == ("refused",):
        return f"{label}: refused, {got[2]}"
    if isinstance(got, dict):
        return f"{label}: {'accepted' if got['accepted'][0] else 'rejected'}"
    return f"{label}: done"


@cache
def shared_twins() -> tuple[ChainLedger, ChainLedger]:
    """Deployed once; each example runs inside a snapshot of both, with tokens granted and a pool funded."""
    pair = twins(seed=13, mode="relay")
    for led in pair:
        led.fund(40 * REWARD)
        for a in led.nodes:
            led.grant(a, 3 * STAKE)
        led.chain.drain()
    return pair


class TwinMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        pair = shared_twins()
        self.snapshots = [[led.reverting() for led in pair]]
        for cm in self.snapshots[0]:
            cm.__enter__()
        for led in pair:
            led.mode = "relay"
        self.twin = Twin(*pair, thorough=False)  # every step checks the registry; a revert checks everything
        self.nodes = pair[0].nodes
        self.rid = 0  # the round the rules address (the latest opened, or 0)

    def teardown(self):
        try:
            self.twin.check("end of example", thorough=True)
        finally:
            for level in reversed(self.snapshots):
                for cm in level:
                    cm.__exit__(None, None, None)

    def both(self, label: str, act):
        got = self.twin(label, act)
        event(kind(label, got))
        return got

    def open(self, s):
        got = self.twin.open("round", s)
        event(kind("open", got))
        if isinstance(got, int):
            self.rid = got
        return got

    def who(self, data, label):
        return data.draw(st.lists(st.sampled_from(self.nodes), min_size=1, max_size=4, unique=True), label=label)

    @initialize(members=st.lists(st.integers(0, NODES - 1), min_size=2, max_size=NODES - 1, unique=True))
    def setup(self, members):
        self.both("register members", lambda led: led.register([self.nodes[i] for i in members], STAKE))

    @rule(data=st.data(), stake=st.sampled_from([0, 1, STAKE, 10 * STAKE]))
    def register(self, data, stake):
        who = self.who(data, "registrants")
        self.both("register", lambda led: led.register(who, stake))

    @rule(i=st.integers(0, NODES - 1))
    def withdraw(self, i):
        self.both("withdraw", lambda led: led.withdraw(self.nodes[i]))

    @rule(amount=st.sampled_from([0, REWARD, 10 * REWARD]), i=st.integers(0, NODES - 1))
    def fund_or_grant(self, amount, i):
        self.both("fund", lambda led: led.fund(amount))
        self.both("grant", lambda led: led.grant(self.nodes[i], amount))

    @rule(tau=st.sampled_from([0.5, 2.0]), dim=st.sampled_from([1, 2, 3, 257]),
          reward=st.sampled_from([REWARD, 10**9]), quorum=st.sampled_from([1, 2, 5]),
          commit_blocks=st.sampled_from([3, 4, 6]), reveal_blocks=st.sampled_from([3, 4, 6]))
    def open_round(self, tau, dim, reward, quorum, commit_blocks, reveal_blocks):
        s = spec(tau=tau, dim=dim, reward=reward, quorum=quorum, commit_blocks=commit_blocks,
                 reveal_blocks=reveal_blocks, members=self.nodes[:5])
        self.open(s)

    @rule(data=st.data(), value=st.sampled_from(VALUES), spread=st.sampled_from(SPREADS),
          later=st.booleans())
    def commit(self, data, value, spread, later):
        rid, who = self.rid + later, self.who(data, "committers")
        self.both("commit", lambda led: led.commit(rid, [sealed(rid, a, [value + spread * k, 0.0])[0]
                                                         for k, a in enumerate(who)]))

    @rule(data=st.data(), value=st.sampled_from(VALUES), spread=st.sampled_from(SPREADS), corrupt=st.booleans())
    def reveal(self, data, value, spread, corrupt):
        rid, who = self.rid, self.who(data, "revealers")
        values = lambda k: [9.0, 9.0] if corrupt and k == 0 else [value + spread * k, 0.0]  # noqa: E731
        self.both("reveal", lambda led: led.reveal(rid, [sealed(rid, a, values(k))[1] for k, a in enumerate(who)]))

    @rule(tau=st.sampled_from([0.5, 2.0]), value=st.sampled_from(VALUES), spread=st.sampled_from(SPREADS),
          silent=st.integers(0, 2))
    def whole_round(self, tau, value, spread, silent):
        """Open, the members commit, all but `silent` reveal, the windows lapse, finalize: a round that gets
        somewhere (random single steps rarely do)."""
        members = self.twin("members", lambda led: [a for a in led.nodes if led.registered(a)])
        got = self.open(spec(tau=tau, commit_blocks=4, reveal_blocks=4, members=members))
        if not isinstance(got, int):
            return
        msgs = [sealed(got, a, [value + spread * k, 0.0]) for k, a in enumerate(members)]
        self.both("commit whole", lambda led: led.commit(got, [c for c, _ in msgs]))
        self.both("reveal whole", lambda led: led.reveal(got, [r for _, r in msgs[silent:]]))
        self.both("advance whole", lambda led: led.advance(9))
        self.both("finalize whole", lambda led: led.finalize(got))

    @rule(later=st.booleans())
    def finalize(self, later):
        self.both("finalize", lambda led: led.finalize(self.rid + later))

    @rule(blocks=st.integers(1, 6))
    def advance(self, blocks):
        self.both("advance", lambda led: led.advance(blocks))

    @rule(relay=st.booleans())
    def transport(self, relay):
        self.twin.each(lambda led: setattr(led, "mode", "relay" if relay else "per-node"))

    @rule()
    def snapshot(self):
        if len(self.snapshots) < 3:  # (a precondition instead makes hypothesis give up on some examples)
            level = [led.reverting() for led in self.twin.pair]
            for cm in level:
                cm.__enter__()
            self.snapshots.append(level)

    @rule()
    def revert(self):
        if len(self.snapshots) > 1:
            for cm in self.snapshots.pop():
                cm.__exit__(None, None, None)
            self.twin.check("revert", thorough=True)

    @invariant()
    def nothing_left_unchecked(self):
        assert not any(led.chain.seen for led in self.twin.pair)


TwinMachine.TestCase.settings = settings(max_examples=8, stateful_step_count=20, deadline=None,
                                         suppress_health_check=[HealthCheck.too_slow])
test_random_verbs_give_identical_receipts_and_views_on_py_evm_and_revm = pytest.mark.slow(TwinMachine.TestCase)


def test_revm_chain_starts_every_transaction_cold_and_prices_sstore_against_its_start():
    """The same mints on both chains cost the same: nothing stays warm from one transaction to the next, and a
    slot written in one transaction is priced against its new value in the next (pyrevm alone gets both
    wrong: it never closes a transaction)."""
    gas = {}
    for target in ("embedded", "revm"):
        # Prepare
        chain = connect(target)
        d = deploy(chain)
        # Execute: the same mint twice to one address, then to a fresh one
        gas[target] = []
        for holder in (1, 1, 2):
            d.grant(chain.funded[holder].address, 5)
            gas[target].append(d.last_gas)
        assert d.token_balance(chain.funded[1].address) == 10
    # Assert: the second mint rewrites two non-zero slots (balance, supply): 2 x (22100 - 5000) less
    first, again, fresh = gas["revm"]  # fresh: the holder's slot from zero again
    assert gas["revm"] == gas["embedded"] and first - again == 2 * 17_100 and fresh > again
