"""The selective-reveal attack (item 3 of the hardening issue), quantified: what choosing among several committed
reports gains an adversary, and what the protocol now charges for it.

An adversary registers m identities, commits m candidate reports drawn from the game-of-coding equilibrium law
for the announced eta, waits for the honest reveal, and reveals only the candidate that passes the pairwise check
farthest from the honest report. Were withheld reports simply ignored (the rule before the fix, under which a
withheld identity lost 1 x 5000 // 10000 = 0 tokens), choosing would raise both the adversary's acceptance and the
error it causes. Now a withheld committed report rejects the round and costs its identity a slash of at least the
round's reward, so the same play is always rejected and always loses tokens.
"""
import numpy as np
import pytest

from coordinator.memory_ledger import MemoryLedger
from economics import GameSpec, solve
from nodes.honest import ball_noise
from protocol import codec
from protocol.commitment import commitments
from protocol.ledger import Commit, Reveal, RoundSpec

ETA, DELTA, DIM, DRAWS = 3.0, 1.0, 3, 20_000
REWARD, MIN_STAKE, STAKE = 100, 200, 1_000


@pytest.fixture(scope="module")
def law():
    """The equilibrium noise law for one honest node and one adversary at eta = 3 (d = 3, kappa = 1)."""
    table = solve(GameSpec(dim=DIM, delta=DELTA, honest=1, adversaries=1, kappa=1.0), np.array([ETA]), progress=False)
    return lambda shape, rng: table.sample_noise(np.zeros(shape, dtype=int), rng)


def selective_play(law, m: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """(accepted [DRAWS] under the old rule, squared error of the mean estimate [DRAWS]) when the adversary commits
    m candidates and, once the honest report is out, reveals the passing one that spoils the estimate most."""
    honest = ball_noise(DRAWS, DIM, DELTA, rng)  # the gradient is 0 without loss of generality
    candidates = law((DRAWS, m), rng)  # [DRAWS, m, d]
    passing = np.linalg.norm(candidates - honest[:, None], axis=2) <= ETA * DELTA
    error = (((honest[:, None] + candidates) / 2) ** 2).sum(axis=2)  # [DRAWS, m]
    pick = np.argmax(np.where(passing, error, -1.0), axis=1)
    return passing.any(axis=1), error[np.arange(DRAWS), pick]


def test_choosing_among_committed_candidates_would_pay_and_now_cannot(law):
    rng = np.random.default_rng(0)
    gains = {}
    for m in (1, 2, 4, 8):
        accepted, sq = selective_play(law, m, rng)
        gains[m] = (accepted.mean(), sq[accepted].mean())
    p1, mse1 = gains[1]
    utility = lambda p, mse: np.log(mse) + np.log(p)  # noqa: E731  the game's log utility, kappa = 1
    # the attack was real: with more candidates the adversary is accepted more often at no less error, and its
    # utility (the game's own measure of damage against acceptance) rises
    for m in (2, 4, 8):
        p, mse = gains[m]
        assert p > p1 + 0.1 and mse > 0.95 * mse1 and utility(p, mse) > utility(p1, mse1) + 0.1, (m, gains)
    # its token side: a withheld identity could gain at most one reward per round (p_m - p_1 of it in
    # expectation), while it now loses at least the smallest slash, which the contract keeps >= the reward
    penalty = MIN_STAKE * 5_000 // 10_000
    for m in (2, 4, 8):
        assert REWARD * (gains[m][0] - p1) < (m - 1) * penalty


def test_a_withheld_commitment_rejects_the_round_and_slashes_every_withholder(law):
    """The same play through the ledger: m = 4 identities commit, one reveals: rejected, three slashed."""
    rng = np.random.default_rng(1)
    honest, sybils = "0x" + "01" * 20, ["0x" + f"{i + 2:02x}" * 20 for i in range(4)]
    led = MemoryLedger(min_stake=MIN_STAKE)
    led.fund(100 * REWARD)
    for a in [honest, *sybils]:
        led.grant(a, STAKE)
    led.register([honest, *sybils], STAKE)
    rid = led.open_round(RoundSpec(tau_fx=codec.encode(np.array([ETA * DELTA]), 16), dim=DIM, scale_bits=16,
                                   params_digest=[bytes(32)], reward=REWARD, members=[honest, *sybils]))
    reports = {honest: ball_noise(1, DIM, DELTA, rng)} | {a: law((1,), rng) for a in sybils}
    salts = {a: rng.bytes(32) for a in reports}
    fx = {a: codec.encode(v, 16) for a, v in reports.items()}
    led.commit(rid, [Commit(a, commitments(rid, a, fx[a], [salts[a]])) for a in reports])
    dist = {a: float(np.linalg.norm(reports[a] - reports[honest])) for a in sybils}
    chosen = max(sybils, key=lambda a: dist[a] if dist[a] <= ETA * DELTA else -1.0)
    led.reveal(rid, [Reveal(a, fx[a], [salts[a]]) for a in (honest, chosen)])
    led.advance(100)
    out = led.finalize(rid)
    assert out.accepted.tolist() == [False] and out.paid.sum() == 0
    withheld = [i for i, a in enumerate([honest, *sybils]) if a not in (honest, chosen)]
    assert [int(out.slashed[0, i]) for i in withheld] == [STAKE // 2] * 3
    assert all(out.slashed[0, i] >= REWARD for i in withheld)
    # only the withholding rejected it: the revealed pair lies within tau, so the old rule would have paid both
    assert dist[chosen] <= ETA * DELTA
    assert out.max_sq[0] <= int(codec.encode(np.array([ETA * DELTA]), 16)[0]) ** 2
