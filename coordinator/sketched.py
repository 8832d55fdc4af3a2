"""Sketched rounds in the round loop: a model larger than a report travels as the digest of each node's full
report and a k-value sketch of it (protocol/sketch.py, docs/sketch.md), and the contract checks the sketches.

The data collector's side. It draws each round's projection seed (`seeds`: deterministic in its secret and the
round's index, so a restarted DC draws the same ones), posts their hashes when it opens the round, and reveals
them once the commits are in. After settlement `settle` checks the full report each revealer delivered: its
digest must be the one the revealer committed to and revealed, and its sketch the revealed one, row for row. A
delivered report whose sketch differs is proven a liar on chain (one row is enough; batch-1 ledgers, as a chain
is); the DC confirms, and so pays, only the revealers whose full reports passed both checks, and estimates from
those full reports alone. A revealer that delivers nothing is simply not confirmed.

The nodes' side, for the in-process exchange (`digest_messages`, `reveal_sketches`): each node commits to its full
report's digest with its own salt and, once the seed is out, reveals the sketch of that report and hands the
report itself to the DC (the content-addressed store of a swarm).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from protocol import sketch
from protocol.commitment import digest_commitment, keccak, report_digests
from protocol.ledger import Commit, Ledger, Reveal, RoundOutcome, aggregates

Delivered = dict[str, tuple[np.ndarray, list]]  # node -> (full reports [B, d] fixed point, salts [B])


def seeds(secret: bytes, index: int, batch: int) -> list[bytes]:
    """The projection seeds of the round the DC opens after `index` settled rounds, one per run."""
    return [keccak(b"deml-sketch-seed" + secret + index.to_bytes(8, "big") + b.to_bytes(4, "big"))
            for b in range(batch)]


def collect(digests: dict[str, bytes], fetch: Callable[[bytes], np.ndarray | None]) -> Delivered:
    """The delivered full reports of the revealers whose digests are given (node -> digest), from a store (`fetch`:
    digest -> the report [d] int64, or None where none was delivered), for batch 1."""
    out: Delivered = {}
    for node, digest in digests.items():
        report = fetch(digest)
        if report is not None:
            out[node] = (np.asarray(report)[None, :], [None])
    return out


def digest_messages(round_id: int, commits: Sequence[Commit], reveals: Sequence[Reveal]) -> tuple[list[Commit], Delivered]:
    """Whole-report sealed messages remade for a sketched round: each commitment binds the digest of the node's
    full report (with the node's own salt), and the full reports go to the DC. A node that will not reveal in a
    run keeps its opaque commitment there (it withholds either way)."""
    delivered = {m.sender: (np.asarray(m.report_fx), list(m.salt)) for m in reveals}
    remade = []
    for c in commits:
        fx, salts = delivered.get(c.sender, (None, [None] * len(c.digest)))
        remade.append(Commit(c.sender, [
            d if d is None or salts[b] is None
            else digest_commitment(round_id, c.sender, report_digests(fx[b:b + 1])[0], salts[b])
            for b, d in enumerate(c.digest)]))
    return remade, delivered


def reveal_sketches(delivered: Delivered, round_seeds: Sequence[bytes], k: int) -> list[Reveal]:
    """Each node's reveal: the sketch of its full report under the revealed seed, its salt and the report's digest."""
    out = []
    for node, (fx, salts) in delivered.items():
        z = np.zeros((len(salts), k), dtype=np.int64)
        digests = [None] * len(salts)
        for b, salt in enumerate(salts):
            if salt is not None:
                z[b] = sketch.sketch(fx[b], round_seeds[b], k)
                digests[b] = report_digests(fx[b:b + 1])[0]
        out.append(Reveal(node, z, salts, digests))
    return out


def settle(ledger: Ledger, round_id: int, out: RoundOutcome, delivered: Delivered, round_seeds: Sequence[bytes],
           candidates: Sequence[str], dim: int) -> RoundOutcome:
    """Check the delivered full reports against what each revealer revealed, prove liars, confirm the rest; the
    outcome with the confirmed full reports' aggregates (an accepted run with none confirmed moves nothing).
    A round confirmed (or released) before, as a restarted DC replays it: nothing is sent, and the aggregates are
    those of the reports that pass the checks among the paid ones."""
    b, n = out.revealed.shape
    k = out.sketches.shape[2]
    confirmed = np.zeros((b, n), dtype=bool)
    fulls = np.zeros((b, n, dim), dtype=np.int64)
    projections: dict[int, np.ndarray] = {}  # S of each run, drawn once for all its revealers (25 ms at LeNet size)
    for i, node in enumerate(candidates):
        if node not in delivered or node in candidates[:i]:
            continue
        fx, _ = delivered[node]
        for run in np.flatnonzero(out.revealed[:, i] & out.accepted):
            if fx.shape[1] != dim or report_digests(fx[run:run + 1])[0] != out.digests[run, i]:
                continue  # not the report it committed to: unverifiable, so not confirmed
            if run not in projections:
                projections[run] = sketch.signs(round_seeds[run], k, dim)
            wrong = np.flatnonzero(sketch.apply(projections[run], fx[run]) != out.sketches[run, i])
            if wrong.size:
                if b == 1 and out.confirming[run]:  # a proof covers every run of a batch at once: the chain's case
                    ledger.prove_mismatch(round_id, node, fx[:1], int(wrong[0]), ledger.owner)
                continue
            confirmed[run, i] = True
            fulls[run, i] = fx[run]
    if out.confirming.any():
        paid = ledger.confirm(round_id, confirmed)
    else:
        paid = out.paid
        confirmed &= (np.asarray(paid, dtype=object) > 0).astype(bool)
    total, count, lo, hi = aggregates(fulls, confirmed)
    return replace(out, accepted=out.accepted & (count > 0), total=total, count=count, lo=lo, hi=hi, paid=paid)
