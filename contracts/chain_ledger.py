"""ChainLedger: the `protocol.ledger.Ledger` interface over the deployed contracts (B = 1), so the round
driver runs on a chain unchanged.

It is also the nodes' transport: it holds their keys (created deterministically from a seed and given ether
by the chain's first account) and decides how their messages travel:

- mode="relay" (default): each node signs its commitment off-chain (EIP-712) and one transaction from the DC
  submits them all; the reveals are checked at once by a dry run, so that a bad one raises from `reveal()`
  as it would on MemoryLedger, and then travel with the settling transaction (split over more transactions
  where the per-transaction gas cap needs it). Three transactions a round at small sizes.
- mode="per-node": one transaction per node message, signed with the node's own key, as a swarm of real
  processes sends them.

Either way an entry already done in its round is skipped (the contract's relayer verbs skip it; per node, the
dry run that would meet "already committed" or "already revealed" drops it), as MemoryLedger does. Outcomes are
read back from the chain's events (RoundOpened, Revealed, Finalized, Paid, Slashed), never from what this
process sent. A refused call raises the typed `LedgerError` of the contract's revert reason.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Literal, Sequence

import numpy as np
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from contracts.chain import EMBEDDED, Chain, connect
from contracts.client import MAX_REPORT_BYTES, Deployment, Opening, Outcome, deploy
from contracts.keys import NODE_ETHER, Keyring  # noqa: F401 (NODE_ETHER: re-exported)
from protocol import codec
from protocol.ledger import (Balances, Commit, LedgerError, Reveal, RoundOutcome, RoundSpec, aggregates,
                             ledger_error)

Mode = Literal["relay", "per-node"]
DONE = ("already committed", "already revealed")


@dataclass
class _Live:
    """What the ledger keeps of the round in flight: its candidates and admitted members (from RoundOpened), the
    report dimension, the block it opened in, the gas of each phase, and the openings waiting for the settling
    transaction."""

    round_id: int
    candidates: list[str]
    members: tuple[str, ...]
    dim: int
    block: int
    sketched: bool = False
    gas: dict[str, int] = field(default_factory=dict)
    pending: list[tuple] = field(default_factory=list)


class ChainLedger:
    batch = 1

    @property
    def owner(self) -> str:
        """The data collector: the deployment's owner, whose key this ledger holds."""
        return self.deployment.owner.address

    def __init__(self, chain: Chain | str = EMBEDDED, *, nodes: int = 0, seed: int = 0, mode: Mode = "relay",
                 min_stake: int = 2, slash_bps: int = 5_000, preflight: bool | None = None,
                 deployment: Deployment | None = None):
        if mode not in ("relay", "per-node"):
            raise ValueError(f"mode: expected 'relay' or 'per-node', got {mode!r}")
        self.chain = connect(chain) if isinstance(chain, str) else chain
        self.deployment = deployment or deploy(self.chain, min_stake=min_stake, slash_bps=slash_bps)
        if preflight is not None:  # unset: a deployment shared with another client keeps its own setting
            self.deployment.preflight = preflight
        self.mode = mode
        self._keys = Keyring(self.chain, "deml-node-key", seed, self.deployment.allow, "ChainLedger")
        self._live: _Live | None = None
        self.nodes: list[str] = self.add_nodes(nodes)

    # ----------------------------------------------------------------------------------------- accounts
    def add_nodes(self, n: int) -> list[str]:
        """n more node accounts: keys from the seed, ether for gas, and the stake allowance. Their addresses."""
        return self._keys.add(n)

    def account(self, address: str) -> LocalAccount:
        return self._keys.account(address)

    def grant(self, address: str, amount: int) -> None:
        self._flush()
        self.deployment.grant(address, amount)

    def fund(self, amount: int) -> None:
        self._flush()
        self.deployment.fund(amount)

    def registered(self, address: str) -> bool:
        return self.deployment.registered(address)

    def register(self, addresses: Sequence[str], stake: int) -> None:
        self._flush()
        d = self.deployment
        accounts = [self.account(a) for a in addresses]
        for k, a in enumerate(accounts):
            if a in accounts[:k]:  # sent one by one, a node listed twice would register once: refuse it whole,
                d.check_register(accounts[:k], stake)  # after whatever the nodes before it meet
                raise ledger_error("already registered", f"{a.address} is listed twice")
        d.register(accounts, stake)

    def add_stake(self, address: str, amount: int) -> None:
        self._flush()
        self.deployment.add_stake(self.account(address), amount)

    def withdraw(self, address: str) -> None:
        self._flush()
        self.deployment.withdraw(self.account(address))

    def balances(self, addresses: Sequence[str]) -> Balances:
        tokens, stakes, pool = self.deployment.accounts(list(addresses))
        row = lambda values: np.array([values], dtype=object).reshape(1, len(values))  # noqa: E731
        return Balances(row(tokens), row(stakes), np.array([pool], dtype=object))

    def token_balance(self, address: str) -> np.ndarray:
        return np.array([self.deployment.token_balance(address)], dtype=object)

    def advance(self, blocks: int) -> None:
        self._flush()
        self.chain.mine(blocks)

    @contextmanager
    def reverting(self) -> Iterator["ChainLedger"]:
        """Everything done inside is undone on exit, on the chain and in this ledger (a chain snapshot)."""
        self._flush()
        live, snap = copy.deepcopy(self._live), self.chain.snapshot()
        try:
            yield self
        finally:
            self.chain.revert(snap)
            self._live = live

    # ------------------------------------------------------------------------------------------- rounds
    def open_round(self, spec: RoundSpec) -> int:
        self._flush()
        tau = np.asarray(spec.tau_fx)
        if tau.shape != (1,) or len(spec.params_digest) != 1:
            raise ledger_error("value out of range", f"a chain ledger runs one batch: tau_fx has shape {tau.shape}")
        if not -(2**255) <= int(tau[0]) < 2**255:  # beyond int256 it cannot even be encoded
            raise ledger_error("value out of range", f"tau_fx {int(tau[0])}")
        d = self.deployment
        seed_hash = bytes(spec.seed_hash[0]) if spec.seed_hash is not None else bytes(32)
        opened = d.open_round(members=spec.members, tau_fx=int(tau[0]), dim=spec.dim, reward=spec.reward,
                              scale_bits=spec.scale_bits, params_digest=bytes(spec.params_digest[0]),
                              quorum=spec.quorum, commit_blocks=spec.commit_blocks, reveal_blocks=spec.reveal_blocks,
                              full_dim=spec.full_dim, seed_hash=seed_hash)
        self._live = _Live(opened.args["round_id"], [to_checksum_address(a) for a in spec.members],
                           opened.args["members"], spec.dim, opened.args["block"], spec.sketched, {"open": d.last_gas})
        return self._live.round_id

    def commit(self, round_id: int, commits: Sequence[Commit]) -> None:
        d = self.deployment
        for c in commits:
            if len(c.digest) != 1:
                raise ledger_error("bad report length", f"{len(c.digest)} digests for batch 1")
        sent = [c for c in commits if c.digest[0] is not None]
        if not sent:  # nothing to send, but the round must still exist and be live
            d.check_commits(round_id, [])
            return
        self._flush()
        if self.mode == "relay":
            d.commit_signed(round_id, [(c.digest[0], d.sign_commit(self.account(c.sender), round_id, c.digest[0]))
                                       for c in sent])
        else:
            calls = self._still_to_do("commit", [((round_id, c.digest[0]), self.account(c.sender)) for c in sent])
            if calls:
                d._send_each("commit", calls, d._gas("commit"))
        self._add_gas(round_id, "commit")

    def reveal_seed(self, round_id: int, seeds: Sequence[bytes]) -> None:
        self._flush()
        if len(seeds) != 1:
            raise ledger_error("seed mismatch", f"{len(seeds)} seeds for batch 1")
        self.deployment.reveal_seed(round_id, bytes(seeds[0]))
        self._add_gas(round_id, "seed")

    def reveal(self, round_id: int, reveals: Sequence[Reveal]) -> None:
        live = self._live if self._live is not None and self._live.round_id == round_id else None
        sketched = live is not None and live.sketched
        for m in reveals:
            _check_shape(m, sketched)
        openings = [_opening(m, sketched) for m in reveals if m.salt[0] is not None]
        d = self.deployment
        pending = live.pending if live is not None else []
        if not openings or (self.mode == "relay" and live is not None):
            d.check_reveals(round_id, pending + openings)  # raises now what the settling tx would meet
            pending += openings
            return
        self._flush()
        members = len(self._round(round_id).members)
        if self.mode == "relay":
            d.reveal_many(round_id, openings, members=members)
        else:
            calls = self._still_to_do("reveal", [((round_id, o.report, o.digest, o.salt), self.account(o.node))
                                                 for o in openings])
            if calls:
                d._send_each("reveal", calls, d._gas("reveal", members=members,
                                                     dim=max(len(o.report) for o in openings) // 4))
        self._add_gas(round_id, "reveal")

    def finalize(self, round_id: int) -> RoundOutcome:
        d = self.deployment
        live = self._round(round_id)
        n = len(live.members)
        if live.pending:
            try:
                d.finalize(round_id, members=n, openings=live.pending)
            except LedgerError:
                self._flush()  # the reveals stand even when settling is refused, as on MemoryLedger
                raise
            live.pending = []
            live.gas["reveal+finalize"] = d.last_gas
        else:
            self._flush()
            d.finalize(round_id, members=n)
            live.gas["finalize"] = d.last_gas
        return self._round_outcome(d.outcome(round_id, from_block=live.block), live)

    def expire(self, round_id: int) -> None:
        self._flush()
        self.deployment.expire(round_id)

    # ---------------------------------------------------------------------------- rounds opened elsewhere
    def adopt(self, round_id: int, candidates: Sequence[str]) -> None:
        """Take over the round in flight that was opened for `candidates` by an earlier process (a DC before its
        restart): `finalize` then settles it and lays its outcome over them."""
        opened = self._round(round_id)
        self._live = _Live(round_id, [to_checksum_address(a) for a in candidates], opened.members, opened.dim,
                           opened.block, opened.sketched)

    def laid_out(self, out: Outcome, candidates: Sequence[str], dim: int) -> RoundOutcome:
        """A settled round read from the chain (`contracts.client.rounds`), laid out over its candidates as
        `finalize` returns it (no gas: this process sent nothing)."""
        return self._round_outcome(out, _Live(out.round_id, [to_checksum_address(a) for a in candidates],
                                              out.members, dim, 0))

    def admitted(self, round_id: int) -> np.ndarray:
        """[1, N]: which candidates the round in flight admitted (a candidate listed twice counts once)."""
        live = self._round(round_id)
        return np.array([[a in live.members and a not in live.candidates[:c] for c, a in enumerate(live.candidates)]])

    def confirm(self, round_id: int, confirmed: np.ndarray) -> np.ndarray:
        live = self._round(round_id)
        mask = sum(1 << live.members.index(a) for a, c in zip(live.candidates, np.asarray(confirmed)[0])
                   if c and a in live.members)
        self.deployment.confirm(round_id, mask, members=len(live.members))
        return self._paid(round_id, live)

    def release(self, round_id: int) -> np.ndarray:
        live = self._round(round_id)
        self.deployment.release(round_id, members=len(live.members))
        return self._paid(round_id, live)

    def prove_mismatch(self, round_id: int, node: str, full_fx: np.ndarray, row: int, prover: str) -> None:
        """`prover` (the DC's address, or one of this ledger's nodes) proves `node`'s sketch row `row` wrong with its
        full report [1, full_dim]. Refused as the contract refuses (e.g. "no mismatch")."""
        full = np.asarray(full_fx)
        if full.ndim != 2 or full.shape[0] != 1 or not np.all(codec.in_range(full)):
            raise ledger_error("bad report length", f"a full report of shape {full.shape} for batch 1")
        d = self.deployment
        sender = d.owner if to_checksum_address(prover) == d.owner.address else self.account(prover)
        self._flush()
        d.prove_mismatch(round_id, node, codec.pack(full[0]), row, sender=sender)

    def _paid(self, round_id: int, live: _Live) -> np.ndarray:
        """What a confirmation or release paid, over the candidates, from the chain's Paid events."""
        paid = self.deployment.outcome(round_id, from_block=live.block).paid
        return np.array([[paid.get(a, 0) if a in live.members and a not in live.candidates[:c] else 0
                          for c, a in enumerate(live.candidates)]], dtype=object)

    # -------------------------------------------------------------------------------------------- internals
    def _round(self, round_id: int) -> _Live:
        """The round this ledger opened, or one opened elsewhere, read from its RoundOpened event."""
        if self._live is not None and self._live.round_id == round_id:
            return self._live
        d = self.deployment
        raw = self.chain.log_entries(d.coordinator.address, 0, "latest",
                                     [d.coordinator.topic("RoundOpened"), round_id.to_bytes(32, "big")])
        if not raw:
            raise ledger_error("bad round", f"round {round_id} was never opened")
        (opened,) = d.coordinator.decode_logs([(raw[0].address, raw[0].topics, raw[0].data)])
        args = opened.args
        return _Live(round_id, list(args["members"]), args["members"], args["dim"], raw[0].block,
                     args["full_dim"] > args["dim"])

    def _still_to_do(self, fn: str, calls: list[tuple[tuple, LocalAccount]]) -> list[tuple[tuple, LocalAccount]]:
        """Per-node messages minus those already done (each node's first only): a dry run of each raises any
        other refusal before anything is sent."""
        first = {}
        for args, sender in calls:
            first.setdefault(sender.address, (args, sender))
        calls = list(first.values())
        answers = self.chain.calls([(s.address, self.deployment.coordinator.address,
                                     self.deployment.coordinator.data(fn, *args)) for args, s in calls])
        todo = []
        for call, answer in zip(calls, answers):
            if not isinstance(answer, bytes) and answer.reason not in DONE:
                raise ledger_error(answer.reason or "reverted", f"{fn} refused")
            if isinstance(answer, bytes):
                todo.append(call)
        return todo

    def _round_outcome(self, out: Outcome, live: _Live) -> RoundOutcome:
        """The chain's record of a settled round, laid out over the candidates as MemoryLedger reports it."""
        n, k = len(live.candidates), live.dim
        index = {a: i for i, a in enumerate(out.members)}
        seen: set[str] = set()
        member = np.zeros((1, n), dtype=bool)
        for c, a in enumerate(live.candidates):
            member[0, c] = a in index and a not in seen
            seen.add(a)
        bit = lambda mask, c: bool(member[0, c] and (mask >> index[live.candidates[c]]) & 1)  # noqa: E731
        committed = np.array([[bit(out.committed, c) for c in range(n)]], dtype=bool).reshape(1, n)
        revealed = np.array([[bit(out.revealed, c) for c in range(n)]], dtype=bool).reshape(1, n)
        reports = np.zeros((1, n, k), dtype=np.int64)
        unpack = codec.unpack_sketch if out.sketched else codec.unpack
        for c, a in enumerate(live.candidates):
            if revealed[0, c]:
                reports[0, c] = unpack(out.reports[a])
        total, count, lo, hi = aggregates(reports, revealed)
        per_node = lambda amounts: np.array(  # noqa: E731
            [[amounts.get(a, 0) if member[0, c] else 0 for c, a in enumerate(live.candidates)]],
            dtype=object).reshape(1, n)
        return RoundOutcome(
            round_id=out.round_id, accepted=np.array([out.accepted]), members=member, committed=committed,
            revealed=revealed, max_sq=np.array([out.max_sq], dtype=object), total=total, count=count, lo=lo, hi=hi,
            paid=per_node(out.paid), slashed=per_node(out.slashed), gas=dict(live.gas),
            confirming=np.array([out.sketched and out.accepted and out.confirmed is None]),
            digests=np.array([[out.digests.get(a) if revealed[0, c] else None for c, a in enumerate(live.candidates)]],
                             dtype=object).reshape(1, n) if out.sketched else None,
            sketches=reports if out.sketched else None)

    def _add_gas(self, round_id: int, phase: str) -> None:
        if self._live is not None and self._live.round_id == round_id:
            self._live.gas[phase] = self._live.gas.get(phase, 0) + self.deployment.last_gas

    def _flush(self) -> None:
        """Send the openings waiting for the settling transaction now: anything else that changes the chain
        (or lets blocks pass) must come after them, as it would have on MemoryLedger."""
        live = self._live
        if live is not None and live.pending:
            pending, live.pending = live.pending, []
            self.deployment.reveal_many(live.round_id, pending, members=len(live.members))
            self._add_gas(live.round_id, "reveal")


def _check_shape(m: Reveal, sketched: bool) -> None:
    """A batch-1 reveal the contract could take at all; anything else is refused as the contract would."""
    fx = np.asarray(m.report_fx)
    width = 8 if sketched else 4
    if fx.ndim != 2 or fx.shape[0] != 1 or width * fx.shape[1] > MAX_REPORT_BYTES or len(m.salt) != 1:
        raise ledger_error("bad report length", f"report of shape {fx.shape} for batch 1")
    fits = (fx >= -(2**63)) & (fx < 2**63) if sketched else codec.in_range(fx)
    if not np.all(fits):
        raise ledger_error("value out of range", f"{m.sender} sent a value outside int{8 * width}")
    if sketched and (m.digest is None or len(m.digest) != 1):
        raise ledger_error("bad report length", f"{m.sender}: a sketch comes with its full report's digest")


def _opening(m: Reveal, sketched: bool) -> Opening:
    """The opening of a batch-1 reveal: the packed report, or the packed sketch and the full report's digest."""
    fx = np.asarray(m.report_fx)[0]
    if sketched:
        return Opening(to_checksum_address(m.sender), codec.pack_sketch(fx), bytes(m.salt[0]), bytes(m.digest[0]))
    return Opening(to_checksum_address(m.sender), codec.pack(fx), bytes(m.salt[0]))
