"""MemoryLedger: the protocol's rules applied in process, exactly as the Vyper coordinator applies them.

State is held per run of a batch (axis B) so that one driver loop advances many independent runs at once.
Every state-changing message takes one "block", as the embedded chain auto-mines one block per transaction;
windows are block ranges. A refused call raises the typed `LedgerError` for the contract's revert reason and
changes nothing. Token amounts are Python integers (object arrays), as uint256 on-chain.

Where runs of a batch differ (a node's stake, whether a run's report could be encoded), the rules apply per
run: a candidate below the minimum stake sits out that run only, and a message entry that is None in a run is
simply absent there. A node is refused as "not participant" only when it is a member of no run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from coordinator import rules
from protocol import codec, sketch
from protocol.commitment import digest_commitment, digest_commitments, digests_of, keccak, report_digests
from protocol.ledger import (BPS, CONFIRM_BLOCKS, EXPIRY_BLOCKS, MAX_FULL_DIM, MAX_MEMBERS, MAX_WINDOW, MIN_WINDOW,
                             Balances, Commit, Reveal, RoundOutcome, RoundSpec, aggregates, ledger_error)

INT64 = np.iinfo(np.int64)
ZERO = bytes(32)


@dataclass
class _Round:
    spec: RoundSpec
    candidates: list[str]
    members: np.ndarray  # [B, N] bool
    commit_deadline: int
    reveal_deadline: int
    committed: np.ndarray  # [B, N] bool
    commitments: np.ndarray  # [B, N] object: bytes
    revealed: np.ndarray  # [B, N] bool
    reports: np.ndarray  # [B, N, k] int64: the reports, or their sketches
    full_dim: int
    seed_hash: list[bytes]  # [B]
    seed: list[bytes | None]  # [B], once revealed
    digests: np.ndarray  # [B, N] object: the revealed full reports' digests
    settled: bool = False  # finalized or expired
    confirming: np.ndarray | None = None  # [B] bool, after settlement
    confirm_deadline: int = 0
    disproved: np.ndarray | None = None  # [B, N] bool

    @property
    def sketched(self) -> bool:
        return self.full_dim != self.spec.dim

    def index(self, sender: str) -> int:
        """The sender's column, if it is a member in some run; else the contract's refusal."""
        i = self.candidates.index(sender) if sender in self.candidates else -1
        if i < 0 or not self.members[:, i].any():
            raise ledger_error("not participant", sender)
        return i


class MemoryLedger:
    owner = "0x00000000000000000000000000000000000000dc"  # the data collector: nothing here needs its key

    def __init__(self, batch: int = 1, *, min_stake: int = 2, slash_bps: int = 5_000, max_dim: int | None = None):
        """`min_stake` and `slash_bps` as the coordinator's constructor takes them (and refuses them);
        `max_dim`: the largest report a round may ask for, as the deployed coordinator's bound (256); None lets
        simulations carry full high-dimensional reports the chain would only take as sketches."""
        if batch < 1:
            raise ValueError(f"batch: must be >= 1, got {batch}")
        if not 0 < slash_bps <= BPS:
            raise ledger_error("bad slash", f"slash_bps {slash_bps} outside 1..{BPS}")
        if min_stake * slash_bps // BPS == 0:
            raise ledger_error("penalty rounds to zero", f"min_stake {min_stake} x slash_bps {slash_bps} / {BPS}")
        self.batch = batch
        self.max_dim = max_dim
        self.min_stake = min_stake
        self.slash_bps = slash_bps
        self.min_penalty = min_stake * slash_bps // BPS
        self.block = 1
        self._registered: set[str] = set()
        self._tokens: dict[str, np.ndarray] = {}  # address -> [B] object
        self._stakes: dict[str, np.ndarray] = {}
        self._pool = np.zeros(batch, dtype=object)
        self._rounds: list[_Round] = []

    # ----------------------------------------------------------------------------------------- accounts
    def _mine(self) -> None:
        self.block += 1

    def advance(self, blocks: int) -> None:
        self.block += blocks

    def _zeros(self) -> np.ndarray:
        return np.zeros(self.batch, dtype=object)

    def _stake(self, address: str) -> np.ndarray:
        return self._stakes.get(address, self._zeros())

    def grant(self, address: str, amount: int) -> None:
        self._tokens[address] = self.token_balance(address) + amount
        self._mine()

    def fund(self, amount: int) -> None:
        self._pool = self._pool + amount
        self._mine()

    def _in_flight(self) -> _Round | None:
        """The latest round while it is open, or while an accepted sketched round awaits confirmation."""
        r = self._rounds[-1] if self._rounds else None
        return r if r is not None and (not r.settled or (r.confirming is not None and r.confirming.any())) else None

    def registered(self, address: str) -> bool:
        return address in self._registered

    def register(self, addresses: Sequence[str], stake: int) -> None:
        for k, a in enumerate(addresses):
            if a in self._registered or a in addresses[:k]:
                raise ledger_error("already registered", a)
            if stake < self.min_stake:
                raise ledger_error("stake too small", f"{stake} < min_stake {self.min_stake}")
            if np.any(self.token_balance(a) < stake):
                raise ledger_error("stake too small", f"{a} holds fewer than {stake} tokens")
        for a in addresses:
            self._tokens[a] = self.token_balance(a) - stake
            self._stakes[a] = self._zeros() + stake
            self._registered.add(a)
            self._mine()

    def add_stake(self, address: str, amount: int) -> None:
        if address not in self._registered:
            raise ledger_error("not registered", address)
        if np.any(self.token_balance(address) < amount):
            raise ledger_error("stake too small", f"{address} holds fewer than {amount} tokens")
        self._tokens[address] = self._tokens[address] - amount
        self._stakes[address] = self._stakes[address] + amount
        self._mine()

    def withdraw(self, address: str) -> None:
        if address not in self._registered:
            raise ledger_error("not registered", address)
        live = self._in_flight()
        if live is not None and address in live.candidates and live.members[:, live.candidates.index(address)].any():
            raise ledger_error("round in flight", f"{address} is a member of round {len(self._rounds) - 1}")
        self._tokens[address] = self._tokens[address] + self._stakes.pop(address)
        self._registered.discard(address)
        self._mine()

    def balances(self, addresses: Sequence[str]) -> Balances:
        column = lambda get: (np.stack([get(a) for a in addresses], axis=1) if len(addresses)  # noqa: E731
                              else np.zeros((self.batch, 0), dtype=object))
        return Balances(tokens=column(self.token_balance), stakes=column(self._stake), pool=self._pool.copy())

    def token_balance(self, address: str) -> np.ndarray:
        return self._tokens.get(address, self._zeros()).copy()

    # ------------------------------------------------------------------------------------------- rounds
    def open_round(self, spec: RoundSpec) -> int:
        candidates = list(spec.members)
        if len(candidates) > MAX_MEMBERS:
            raise ledger_error("too many members", f"{len(candidates)} candidates, at most {MAX_MEMBERS}")
        if self._in_flight() is not None:
            raise ledger_error("round in flight", "settle the previous round first")
        if not 2 <= spec.quorum <= len(candidates):
            raise ledger_error("bad quorum", f"quorum {spec.quorum} outside 2..{len(candidates)} (the candidates)")
        for name in ("commit_blocks", "reveal_blocks"):
            if not MIN_WINDOW <= getattr(spec, name) <= MAX_WINDOW:
                raise ledger_error("bad window", f"{name} {getattr(spec, name)} outside {MIN_WINDOW}..{MAX_WINDOW}")
        if spec.reward > self.min_penalty:
            raise ledger_error("reward above penalty", f"reward {spec.reward} > the smallest slash {self.min_penalty}")
        tau = np.asarray(spec.tau_fx)
        if tau.shape != (self.batch,) or np.any(tau < 0) or not np.all(codec.in_range(tau)):
            raise ledger_error("value out of range", f"tau_fx must be {self.batch} values in [0, 2**31)")
        if spec.dim < 1 or (self.max_dim is not None and spec.dim > self.max_dim):
            raise ledger_error("bad report length", f"dim {spec.dim} outside 1..{self.max_dim}")
        full_dim = spec.dim if spec.full_dim is None else spec.full_dim
        if not spec.dim <= full_dim <= (MAX_FULL_DIM if self.max_dim is not None else full_dim):
            raise ledger_error("bad report length", f"full_dim {full_dim} outside {spec.dim}..{MAX_FULL_DIM}")
        seed_hash = [bytes(h) for h in spec.seed_hash] if spec.seed_hash is not None else [ZERO] * self.batch
        if len(seed_hash) != self.batch or any((full_dim == spec.dim) != (h == ZERO) for h in seed_hash):
            raise ledger_error("bad seed", "a seed hash in every run exactly when full_dim > dim")
        b, n = self.batch, len(candidates)
        members = np.zeros((b, n), dtype=bool)
        for i, a in enumerate(candidates):
            members[:, i] = a in self._registered and a not in candidates[:i]
            members[:, i] &= self._stake(a) >= self.min_stake
        if np.any(self._pool < spec.reward * np.maximum(members.sum(axis=1), 1)):  # as the contract: at least one
            raise ledger_error("pool too small", f"need {spec.reward} for each member")
        if self._rounds:  # the previous round is settled: its reports are no longer needed (they may be large)
            prev = self._rounds[-1]
            prev.reports = prev.commitments = prev.digests = None
        start = self.block
        self._rounds.append(_Round(
            spec=spec, candidates=candidates, members=members,
            commit_deadline=start + spec.commit_blocks, reveal_deadline=start + spec.commit_blocks + spec.reveal_blocks,
            committed=np.zeros((b, n), dtype=bool), commitments=np.full((b, n), None, dtype=object),
            revealed=np.zeros((b, n), dtype=bool), reports=np.zeros((b, n, spec.dim), dtype=np.int64),
            full_dim=full_dim, seed_hash=seed_hash, seed=[None] * b, digests=np.full((b, n), None, dtype=object),
        ))
        self._mine()
        return len(self._rounds) - 1

    def _round(self, round_id: int) -> _Round:
        if not 0 <= round_id < len(self._rounds):
            raise ledger_error("bad round", f"round {round_id} does not exist")
        r = self._rounds[round_id]
        if r.settled:
            raise ledger_error("already finalized", f"round {round_id}")
        return r

    def admitted(self, round_id: int) -> np.ndarray:
        """[B, N]: which candidates are members of the round in flight, per run."""
        return self._round(round_id).members.copy()

    def commit(self, round_id: int, commits: Sequence[Commit]) -> None:
        r = self._round(round_id)
        done = r.committed.copy()  # validate everything first: a refused batch records nothing
        accepted = []
        for c in commits:
            if len(c.digest) != self.batch:
                raise ledger_error("bad report length", f"{len(c.digest)} digests for batch {self.batch}")
            i = r.index(c.sender)
            runs = np.array([d is not None for d in c.digest]) & r.members[:, i] & ~done[:, i]
            if not runs.any():
                continue  # already committed (or absent) in every run: skipped, as the relayer's verb does
            if self.block > r.commit_deadline:
                raise ledger_error("commit window closed", f"block {self.block} > {r.commit_deadline}")
            done[:, i] |= runs
            accepted.append((i, runs, c.digest))
        for i, runs, digest in accepted:
            r.committed[runs, i] = True
            r.commitments[runs, i] = np.asarray(list(digest), dtype=object)[runs]
            self._mine()

    def _reveal_open(self, r: _Round) -> np.ndarray:
        """[B]: the commit phase is over (its window lapsed, or every member committed)."""
        return (self.block > r.commit_deadline) | (r.committed == r.members).all(axis=1)

    def reveal_seed(self, round_id: int, seeds: Sequence[bytes]) -> None:
        """The DC reveals each run's projection seed, once the commit phase is over."""
        r = self._round(round_id)
        if not r.sketched:
            raise ledger_error("not sketched", f"round {round_id} reveals its reports whole")
        if any(s is not None for s in r.seed):
            raise ledger_error("already revealed", "the seed")
        if not self._reveal_open(r).all():
            raise ledger_error("reveal window not open", f"block {self.block} <= {r.commit_deadline}")
        if self.block > r.reveal_deadline:
            raise ledger_error("reveal window closed", f"block {self.block} > {r.reveal_deadline}")
        if len(seeds) != self.batch or any(keccak(bytes(s)) != h for s, h in zip(seeds, r.seed_hash)):
            raise ledger_error("seed mismatch", "a seed does not hash to the one posted at opening")
        r.seed = [bytes(s) for s in seeds]
        self._mine()

    def reveal(self, round_id: int, reveals: Sequence[Reveal]) -> None:
        r = self._round(round_id)
        for m in reveals:  # what a chain client refuses before sending anything
            fx = np.asarray(m.report_fx)
            if fx.ndim != 2 or fx.shape[0] != self.batch or len(m.salt) != self.batch:
                raise ledger_error("bad report length", f"report of shape {fx.shape} for batch {self.batch}")
            fits = (fx >= INT64.min) & (fx <= INT64.max) if r.sketched else codec.in_range(fx)
            if not np.all(fits):
                raise ledger_error("value out of range", f"{m.sender} sent a value outside int{64 if r.sketched else 32}")
            if r.sketched and (m.digest is None or len(m.digest) != self.batch):
                raise ledger_error("bad report length", f"{m.sender}: a sketch comes with its full report's digest")
        done = r.revealed.copy()
        accepted = []
        # every whole report of the call hashed at once (on threads when large); a sketch comes with its digest
        hashed = [None] * len(reveals) if r.sketched else digests_of([m.report_fx for m in reveals])
        for m, full in zip(reveals, hashed):
            i = r.index(m.sender)
            runs = np.array([s is not None for s in m.salt]) & r.members[:, i] & ~done[:, i]
            if not runs.any():
                continue  # already revealed (or absent) in every run: skipped
            if not self._reveal_open(r)[runs].all():
                raise ledger_error("reveal window not open", f"block {self.block} <= {r.commit_deadline}")
            if self.block > r.reveal_deadline:
                raise ledger_error("reveal window closed", f"block {self.block} > {r.reveal_deadline}")
            if not r.committed[runs, i].all():
                raise ledger_error("no commitment", m.sender)
            if r.sketched and any(r.seed[b] is None for b in np.flatnonzero(runs)):
                raise ledger_error("seed not revealed", f"round {round_id}")
            fx = np.asarray(m.report_fx)
            if fx.shape[1] != r.spec.dim:
                raise ledger_error("bad report length", f"{fx.shape[1]} values in a round of {r.spec.dim}")
            sel = np.flatnonzero(runs)
            if r.sketched:
                digests = [bytes(m.digest[b]) for b in sel]
                opened = [digest_commitment(round_id, m.sender, d, m.salt[b]) for d, b in zip(digests, sel)]
            else:
                digests = [full[b] for b in sel]
                opened = digest_commitments(round_id, m.sender, digests, [m.salt[b] for b in sel])
            if opened != list(r.commitments[sel, i]):
                raise ledger_error("commitment mismatch", m.sender)
            done[:, i] |= runs
            accepted.append((i, sel, fx, digests))
        for i, sel, fx, digests in accepted:
            r.revealed[sel, i] = True
            r.reports[sel, i] = fx[sel]
            r.digests[sel, i] = np.asarray(digests + [None], dtype=object)[:-1]
            self._mine()

    def finalize(self, round_id: int) -> RoundOutcome:
        r = self._round(round_id)
        quiet = self._reveal_open(r) & (r.revealed == r.committed).all(axis=1)
        if not (self.block > r.reveal_deadline or quiet.all()):
            raise ledger_error("too early to finalize", f"block {self.block} <= {r.reveal_deadline}")
        # E||S x||^2 = k ||x||^2 for the unscaled sign projection: sketches are compared against k tau^2
        scale = r.spec.dim if r.sketched else 1
        max_sq = rules.pairwise_sq_dist_max(r.reports, r.revealed).astype(object)
        accepted = rules.accepted(max_sq, r.members, r.committed, r.revealed, r.spec.tau_fx, r.spec.quorum,
                                  scale=scale)
        total, count, lo, hi = aggregates(r.reports, r.revealed)
        stakes = np.stack([self._stake(a) for a in r.candidates], axis=1)
        # without the DC's seed nobody could reveal a sketch: a committed member is not to blame for that
        excused = r.committed & np.array([r.sketched and s is None for s in r.seed])[:, None]
        paid, slashed = rules.settle(accepted & (not r.sketched), r.members & ~excused, r.revealed, r.spec.reward,
                                     stakes, self.slash_bps)
        for i, a in enumerate(r.candidates):
            if r.members[:, i].any():
                self._tokens[a] = self.token_balance(a) + paid[:, i]
                self._stakes[a] = self._stakes[a] - slashed[:, i]
        self._pool = self._pool - paid.sum(axis=1) + slashed.sum(axis=1)
        r.confirming = accepted & r.sketched
        r.confirm_deadline = self.block + CONFIRM_BLOCKS
        r.disproved = np.zeros_like(r.revealed)
        r.settled = True
        outcome = RoundOutcome(round_id, accepted, r.members.copy(), r.committed.copy(), r.revealed.copy(), max_sq,
                                 total, count, lo, hi, paid, slashed, confirming=r.confirming.copy(),
                                 digests=r.digests.copy() if r.sketched else None,
                                 sketches=np.where(r.revealed[:, :, None], r.reports, 0) if r.sketched else None)
        self._mine()
        return outcome

    def _confirming(self, round_id: int) -> _Round:
        r = self._rounds[round_id] if 0 <= round_id < len(self._rounds) else None
        if r is None or round_id != len(self._rounds) - 1 or r.confirming is None or not r.confirming.any():
            raise ledger_error("not confirming", f"round {round_id}")
        return r

    def _pay(self, r: _Round, payees: np.ndarray) -> np.ndarray:
        """Pay the reward to `payees` [B, N] in the runs still confirming; those runs are then done."""
        payees = payees & r.confirming[:, None] & ~r.disproved
        paid = np.where(payees, r.spec.reward, 0).astype(object)
        for i, a in enumerate(r.candidates):
            if payees[:, i].any():
                self._tokens[a] = self.token_balance(a) + paid[:, i]
        self._pool = self._pool - paid.sum(axis=1)
        r.confirming = np.zeros_like(r.confirming)
        self._mine()
        return paid

    def confirm(self, round_id: int, confirmed: np.ndarray) -> np.ndarray:
        """The DC pays the revealers whose full reports it received and checked ([B, N] over the candidates)."""
        r = self._confirming(round_id)
        confirmed = np.asarray(confirmed, dtype=bool)
        if self.block > r.confirm_deadline:
            raise ledger_error("confirm window closed", f"block {self.block} > {r.confirm_deadline}")
        if (confirmed & ~r.revealed).any() or (confirmed & ~r.confirming[:, None]).any():
            raise ledger_error("not participant", "only the revealers of a round awaiting confirmation")
        return self._pay(r, confirmed)

    def release(self, round_id: int) -> np.ndarray:
        """Anyone, after the confirmation window: every revealer not proven a liar is paid."""
        r = self._confirming(round_id)
        if self.block <= r.confirm_deadline:
            raise ledger_error("too early to release", f"block {self.block} <= {r.confirm_deadline}")
        return self._pay(r, r.revealed.copy())

    def prove_mismatch(self, round_id: int, node: str, full_fx: np.ndarray, row: int, prover: str) -> None:
        """`prover` shows, in every run, that `node`'s revealed sketch row `row` is not that row of S y for the full
        report y [B, full_dim] hashing to its revealed digest: `node` is not paid and its slash goes to `prover`."""
        r = self._confirming(round_id)
        if self.block > r.confirm_deadline:
            raise ledger_error("confirm window closed", f"block {self.block} > {r.confirm_deadline}")
        i = r.index(node)
        if not (r.revealed[:, i] & r.confirming).all():
            raise ledger_error("no commitment", node)
        if r.disproved[:, i].any():
            raise ledger_error("already revealed", f"{node} was proven a liar already")
        full = np.asarray(full_fx, dtype=np.int64)
        if full.shape != (self.batch, r.full_dim) or not np.all(codec.in_range(full)):
            raise ledger_error("bad report length", f"a full report of {r.full_dim} int32 values per run")
        if report_digests(full) != list(r.digests[:, i]):
            raise ledger_error("commitment mismatch", f"{node}: not the full report it revealed the digest of")
        if not 0 <= row < r.spec.dim:
            raise ledger_error("bad report length", f"row {row} outside 0..{r.spec.dim - 1}")
        actual = [sketch.sketch_row(full[b], r.seed[b], r.spec.dim, row) for b in range(self.batch)]
        if any(a == int(r.reports[b, i, row]) for b, a in enumerate(actual)):
            raise ledger_error("no mismatch", f"{node}'s sketch row {row} is that of its full report")
        cut = self._stakes[node] * self.slash_bps // BPS
        self._stakes[node] = self._stakes[node] - cut
        self._tokens[prover] = self.token_balance(prover) + cut
        r.disproved[:, i] = True
        self._mine()

    def expire(self, round_id: int) -> None:
        r = self._round(round_id)
        if self.block <= r.reveal_deadline + EXPIRY_BLOCKS:
            raise ledger_error("too early to expire", f"block {self.block} <= {r.reveal_deadline + EXPIRY_BLOCKS}")
        r.settled = True
        self._mine()
