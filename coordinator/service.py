"""The data collector as a long-running, restart-safe process on a chain (`deml coordinator run`).

It drives the round driver's own steps (`coordinator.driver.play_round`: VISTA, the estimate, the model update,
the logs) with an exchange that submits nothing: each member sends its own commit and reveal, and the service
waits for them, publishing each round's model to its content-addressed store before it opens the round.

State lives on the chain and in the store, never only here: on start (and after any lost connection) the
service reads the coordinator's events, replays `conclude` over every settled round (VISTA's update is pure),
checks that each round posted the model and threshold this configuration announces, takes over a round left
in flight and settles it, and continues. Killed at any point and started again with the same arguments, it
ends where an uninterrupted run ends.

The clock. The contract's windows are counted in blocks, and a devnet that mines on every transaction (anvil's
default, the embedded chain) makes no block while nobody sends one, so a silent member would hold its window
open for ever. The policy: while members are still to commit or reveal, the service waits; once no new
commit or reveal has arrived for `Clock.grace` seconds, it mines a devnet forward past the window (only a
devnet: on any other chain blocks come by themselves and it only waits). With every member live no block is
ever mined for nothing, so the throughput is that of the members' own transactions.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from eth_utils import to_checksum_address

from contracts.chain import Tx
from contracts.chain_ledger import NODE_ETHER, ChainLedger
from contracts.client import RoundRecord, funded, rounds
from coordinator import sketched, vista
from coordinator.driver import Announced, ProtocolConfig, RoundLog, State, Task, announce, conclude, play_round, start
from coordinator.store_server import ModelStore
from protocol.ledger import RoundOutcome, RoundSpec
from protocol.process import Patience, Stopwatch


class ReplayMismatch(ValueError):
    """The chain's rounds were not opened by this configuration (another run's deployment, or other settings)."""


class NotEnoughMembers(RuntimeError):
    """Too few participants registered within the time allowed."""


@dataclass(frozen=True)
class Clock:
    """How the service waits for the members: for news from the chain up to `poll` seconds at a time (it is
    pushed where the chain offers a websocket); after `grace` seconds with no new commit or reveal, it mines a
    devnet past the window the silent members hold open, though never within `after_start` seconds of its own
    (re)start: while it was gone its members may have lost its store, and a member retries after a pause of up to
    `Patience.cap` seconds."""

    grace: float = 5.0
    poll: float = 0.5  # a log wakes it at once; the timeout only bounds how late it sees blocks mined without one
    after_start: float = 0.0

    def overdue(self, now: float, quiet_since: float, started: float) -> bool:
        """May the silent members' window be mined past at `now`?"""
        return now - quiet_since > self.grace and now - started >= self.after_start


RESTART_GRACE = 2 * Patience.cap  # a DC process's `after_start`: a member's longest retry pause, twice


@dataclass
class Replayed:
    """The DC's state after the chain's settled rounds, their logs and outcomes, and the round in flight."""

    state: State
    settled: list[tuple[RoundLog, RoundOutcome]] = field(default_factory=list)
    in_flight: RoundRecord | None = None
    confirmed_now: list[int] = field(default_factory=list)  # indices into `settled` of the rounds confirmed now


Reports = Callable[[bytes], "np.ndarray | None"]
"""A sketched round's delivered full reports, by digest (the DC's store): the report [d] int64, or None."""


def replay(records: Sequence[RoundRecord], ledger: ChainLedger, task: Task, control: vista.VistaParams,
           proto: ProtocolConfig, members: Sequence[str], state: State | None = None, *,
           reports: Reports | None = None, confirm: bool = False,
           on_state: Callable[[State], None] | None = None) -> Replayed:
    """`conclude` over the settled rounds in `records` (from `state`, default the start), checking that each
    posted the model digest and threshold this configuration announces there. A sketched round's estimate comes
    from the full reports it paid for, read back through `reports`; one settled but not yet confirmed is confirmed
    now if `confirm` (the DC, restarted between the two), and is otherwise the round in flight. `on_state` sees
    the state after each round (its model, say, to evaluate)."""
    state = state if state is not None else start(task, control, 1)
    out = Replayed(state)
    for rec in records:
        spec, announced = announce(out.state, control, proto, list(members))
        _check(rec, spec, out.state.settled, members)
        if not rec.settled:
            out.in_flight = rec
            break
        chain_out = rec.outcome()
        outcome = ledger.laid_out(chain_out, members, spec.dim)
        if announced.seeds is not None:
            if outcome.confirming.any() and not confirm:
                out.in_flight = rec
                break
            if reports is None:
                raise ReplayMismatch(f"round {rec.round_id} was sketched: its estimate needs the full reports "
                                     f"delivered to the data collector's store; give the store")
            delivered = sketched.collect(chain_out.digests, reports)
            if outcome.confirming.any():
                ledger.adopt(rec.round_id, members)  # confirm lays its mask over these candidates
                out.confirmed_now.append(len(out.settled))
            # the seed the chain holds: a reader other than the DC does not know the DC's secret
            seeds = [chain_out.seed] if chain_out.seed is not None else announced.seeds
            outcome = sketched.settle(ledger, rec.round_id, outcome, delivered, seeds, spec.members,
                                      out.state.theta.shape[1])
        log, out.state = conclude(out.state, announced, outcome, task, control, proto)
        out.settled.append((log, outcome))
        if on_state is not None:
            on_state(out.state)
    return out


def _check(rec: RoundRecord, spec: RoundSpec, settled: int, members: Sequence[str]) -> None:
    posted, tau = rec.opened["params_digest"], rec.opened["tau_fx"]
    if rec.round_id != settled:
        raise ReplayMismatch(f"the coordinator's round {rec.round_id} follows {settled} settled rounds of this run: "
                             f"the deployment holds rounds of another run; deploy afresh")
    if posted != spec.params_digest[0] or tau != int(spec.tau_fx[0]):
        raise ReplayMismatch(f"round {rec.round_id} on chain posted model 0x{posted.hex()[:12]}.. at tau_fx {tau}, "
                             f"but this configuration announces 0x{spec.params_digest[0].hex()[:12]}.. at tau_fx "
                             f"{int(spec.tau_fx[0])} there: the deployment holds another run's rounds, or the "
                             f"settings differ; give the same settings and seed, or deploy afresh")
    strangers = set(rec.opened["members"]) - {to_checksum_address(a) for a in members}
    if strangers:
        raise ReplayMismatch(f"round {rec.round_id} on chain admitted {sorted(strangers)[0]}, which is not among "
                             f"the participants given; give the same participants, or deploy afresh")


class Service:
    """The DC's loop over a ChainLedger that holds the owner's key and no node's."""

    def __init__(self, ledger: ChainLedger, task: Task, control: vista.VistaParams, proto: ProtocolConfig,
                 members: Sequence[str], *, rounds: int, models: ModelStore, from_block: int, clock: Clock = Clock(),
                 patience: Patience | None = None, pump: Callable[[], None] | None = None,
                 on_round: Callable[[RoundLog, RoundOutcome], None] | None = None,
                 say: Callable[[str], None] = print, stopwatch: Stopwatch | None = None):
        self.ledger, self.task, self.control, self.proto = ledger, task, control, proto
        self.members = [to_checksum_address(a) for a in members]
        self.rounds, self.models, self.from_block, self.clock = rounds, models, from_block, clock
        self.patience = patience or Patience()
        self.pump = pump or (lambda: None)  # what else runs while it waits (embedded: every node's step)
        self.on_round, self.say = on_round, say
        self.watch = stopwatch or Stopwatch()
        self.chain, self.deployment = ledger.chain, ledger.deployment
        self._devnet: bool | None = None
        self._feed = None  # the coordinator's events as they come (contracts.chain.Feed)
        self._started = time.monotonic()  # when it last (re)started its rounds: see Clock.after_start

    # ------------------------------------------------------------------------------------------ joining
    def provision(self) -> None:
        """Idempotent: the pool funded for every member and round, and each member that is neither registered
        nor holding a stake given the stake's tokens and ether for gas. (Done twice, it does nothing twice.)"""
        d, proto = self.deployment, self.proto
        missing = proto.reward * len(self.members) * self.rounds - funded(d, self.from_block)
        if missing > 0:
            d.fund(missing)
        for a in self.members:
            if not d.registered(a) and d.token_balance(a) < proto.stake:
                d.grant(a, proto.stake)
            if self.chain.balance(a) < NODE_ETHER // 2:
                (receipt,) = self.chain.send([Tx(d.owner, a, b"", 21_000, NODE_ETHER)])
                if not receipt.ok:
                    raise RuntimeError(f"could not give {a} ether for gas: {receipt.reason}")

    def wait_for_members(self, timeout: float) -> None:
        """Until every member has registered (each with its own transaction), or `timeout` seconds; then at
        least `quorum` of them must have (NotEnoughMembers otherwise). The others sit the rounds out."""
        deadline = time.monotonic() + timeout
        while True:
            joined = [a for a in self.members if self.deployment.registered(a)]
            if len(joined) == len(self.members):
                return
            if time.monotonic() > deadline:
                if len(joined) < self.proto.quorum:
                    raise NotEnoughMembers(f"only {len(joined)} of {len(self.members)} participants registered within "
                                           f"{timeout:g} s (a round needs {self.proto.quorum}); start their nodes")
                self.say(f"{len(self.members) - len(joined)} participants have not registered; they sit out")
                return
            self.pump()
            time.sleep(0.25)

    # ------------------------------------------------------------------------------------------- rounds
    def replay(self) -> Replayed:
        with self.watch("poll"):
            records = rounds(self.deployment, self.from_block)
        with self.watch("gradient"):
            return replay(records, self.ledger, self.task, self.control, self.proto, self.members,
                          reports=self.models.report, confirm=True)

    def run(self, join_timeout: float = 60.0) -> State:
        """Provision the members, wait up to `join_timeout` seconds for them to register, then rounds until
        `rounds` have settled on chain. A lost connection: wait (bounded by the patience), then rebuild from the
        chain and go on; Unreachable once the patience is spent."""
        joined = False
        while True:
            try:
                if not joined:
                    self.provision()
                    self.wait_for_members(join_timeout)
                    joined = True
                return self._run()
            except OSError as exc:
                self.say(f"lost the chain ({type(exc).__name__}); rebuilding from its events")
                if self._feed is not None:
                    self._feed.close()
                    self._feed = None
                self.patience.failed(f"chain {self.chain.target}", exc)

    def _run(self) -> State:
        self._started = time.monotonic()
        done = self.replay()
        state = done.state
        for i in done.confirmed_now:  # settled by the DC before it stopped, confirmed (and so paid) only now
            self._settled(*done.settled[i])
        if done.in_flight is not None and state.settled < self.rounds:
            rec = done.in_flight
            self.say(f"round {rec.round_id + 1}: in flight since block {rec.block}; taking it over")
            self.ledger.adopt(rec.round_id, self.members)
            self.models.put(state.theta[0])
            state = self._play(state, opened=rec.round_id)
        while state.settled < self.rounds:
            with self.watch("hash"):
                self.models.put(state.theta[0])  # before the round opens: a member fetches it at once
            state = self._play(state)
        return state

    def _play(self, state: State, opened: int | None = None) -> State:
        with self.watch("round"):
            log, out, state = play_round(self.ledger, self._exchange, state, _TimedTask(self.task, self.watch),
                                         self.control, self.proto, self.members, opened=opened)
        self.patience.ok()
        self._settled(log, out)
        return state

    def _settled(self, log: RoundLog, out: RoundOutcome) -> None:
        self.say(f"round {log.round}: {'accepted' if log.accepted[0] else 'rejected'} at eta {log.eta[0]:.2f}, "
                 f"{int(out.revealed.sum())} of {int(out.members.sum())} revealed, loss {log.loss[0]:.6g}")
        if self.on_round is not None:
            self.on_round(log, out)

    def _exchange(self, ledger: ChainLedger, round_id: int, spec: RoundSpec, state: State,
                  announced: Announced) -> sketched.Delivered | None:
        """Submit nothing but a sketched round's seed; wait until the round can settle: every member committed (or
        the commit window is over) and every committed member revealed, or the reveal window is over. Mines a
        silent devnet forward. A sketched round: the full reports the revealers delivered to the store."""
        with self.watch("wait"):
            digests = self._wait(round_id, announced.seeds)
        if announced.seeds is None:
            return None
        with self.watch("store"):
            return self._delivered(digests)

    def _wait(self, round_id: int, seeds: list[bytes] | None) -> dict[str, bytes]:
        """Until the round can settle; in a sketched round the DC reveals the seed once the reveal window opens.
        The revealers' full-report digests (sketched rounds)."""
        c = self.deployment.coordinator
        kinds = {c.topic(name): name for name in ("RoundOpened", "SeedRevealed", "Committed", "Revealed")}
        if self._feed is None:
            self._feed = self.chain.feed(c.address, self.from_block, list(kinds))
        topic = round_id.to_bytes(32, "big")
        opened, seeded, committed, digests = None, False, set(), {}
        seen, quiet_since = (-1, -1), time.monotonic()
        while True:
            entries, head = self._feed.next(self.clock.poll)
            with self.watch("poll"):
                for x in entries:
                    if x.topics[1] != topic:
                        continue
                    kind = kinds[x.topics[0]]
                    if kind == "RoundOpened":
                        opened = c.decode_logs([(x.address, x.topics, x.data)])[0].args
                    elif kind == "SeedRevealed":
                        seeded = True
                    elif kind == "Committed":
                        committed.add(x.topics[2])
                    else:
                        digests[to_checksum_address(x.topics[2][12:])] = (
                            c.decode_logs([(x.address, x.topics, x.data)])[0].args["digest"])
            if opened is None:  # its RoundOpened is still on its way
                self.pump()
                continue
            revealed = {bytes(12) + bytes.fromhex(a[2:]) for a in digests}
            reveal_open = len(committed) == len(opened["members"]) or head > opened["commit_deadline"]
            if (reveal_open and revealed == committed) or head > opened["reveal_deadline"]:
                return digests
            if reveal_open and seeds is not None and not seeded:
                self.ledger.reveal_seed(round_id, seeds)
                seeded = True  # its event follows; a restarted DC reads it from the chain
                continue
            if (len(committed), len(revealed)) != seen:
                seen, quiet_since = (len(committed), len(revealed)), time.monotonic()
            elif self.clock.overdue(time.monotonic(), quiet_since, self._started) and self.devnet:
                target = opened["reveal_deadline"] if reveal_open else opened["commit_deadline"]
                silent = len(opened["members"]) - len(revealed if reveal_open else committed)
                self.say(f"round {round_id + 1}: {silent} members silent for {self.clock.grace:g} s; mining past "
                         f"block {target}")
                self.chain.mine(target + 1 - head)
                quiet_since = time.monotonic()
            self.pump()

    def _delivered(self, digests: dict[str, bytes]) -> sketched.Delivered:
        """The revealers' full reports from the store. A node delivers before it reveals, so a missing one is a node
        that never will: the DC waits `grace` seconds for stragglers, then settles without them."""
        deadline = time.monotonic() + self.clock.grace
        while True:
            delivered = sketched.collect(digests, self.models.report)
            if len(delivered) == len(digests) or time.monotonic() > deadline:
                return delivered
            self.pump()
            time.sleep(0.05)

    @property
    def devnet(self) -> bool:
        if self._devnet is None:
            self._devnet = self.chain.devnet
        return self._devnet


@dataclass(frozen=True)
class _TimedTask:
    """The task, its gradient and loss timed as "gradient"."""

    task: Task
    watch: Stopwatch

    @property
    def dim(self) -> int:
        return self.task.dim

    def init(self, batch: int) -> np.ndarray:
        return self.task.init(batch)

    def grad(self, theta: np.ndarray) -> np.ndarray:
        with self.watch("gradient"):
            return self.task.grad(theta)

    def loss(self, theta: np.ndarray) -> np.ndarray:
        with self.watch("gradient"):
            return self.task.loss(theta)
