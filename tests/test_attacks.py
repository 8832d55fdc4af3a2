"""Classic attacks do what their formulas say; the swarm composes honest and colluding adversarial reports."""
import numpy as np
import pytest

from protocol import codec
from nodes.attacks import ALIE, IPM, Gaussian, Mimic, NonFinite, SignFlip, ThresholdHugging
from nodes.context import RoundContext
from nodes.honest import HonestReport, ball_noise
from nodes.swarm import Swarm, node_addresses, seal


def ctx(b=500, h=3, k=4, tau=3.0, seed=0):
    rng = np.random.default_rng(seed)
    grad = rng.standard_normal((b, k))
    honest = grad[:, None] + np.stack([ball_noise(b, k, 1.0, rng) for _ in range(h)], axis=1)
    return RoundContext(grad, np.full(b, tau), np.zeros(b, dtype=int), honest, rng)


def test_ball_noise_is_inside_the_ball_and_fills_it():
    z = ball_noise(20000, 3, 2.0, np.random.default_rng(1))
    r = np.linalg.norm(z, axis=1)
    assert r.max() <= 2.0
    assert abs(np.mean(r**3 <= 1.0) - 1 / 8) < 0.01  # uniform in volume: P(r <= R/2) = 1/8


def test_formulas():
    c = ctx()
    assert np.allclose(SignFlip()(c), -c.grad)
    assert np.allclose(IPM(0.5)(c), -0.5 * c.honest.mean(axis=1))
    assert np.allclose(ALIE(1.5)(c), c.honest.mean(axis=1) - 1.5 * c.honest.std(axis=1))
    assert np.array_equal(Mimic(1)(c), c.honest[:, 1])
    g = Gaussian(2.0)(c) - c.grad
    assert abs(g.std() - 2.0) < 0.05
    assert np.isnan(NonFinite()(c)).all()


@pytest.mark.parametrize("omniscient", [True, False])
def test_threshold_hugging_is_always_accepted_and_far(omniscient):
    c = ctx()
    y = ThresholdHugging(margin=1e-3, delta_bound=1.0, omniscient=omniscient)(c)
    dist = np.linalg.norm(c.honest - y[:, None], axis=2)
    assert dist.max() <= 3.0
    assert np.median(np.linalg.norm(y - c.grad, axis=1)) > 1.5  # it hugs the edge, far from the truth


def test_colluding_adversaries_send_one_point_and_honest_nodes_do_not_collide():
    swarm = Swarm(2, 3, HonestReport(1.0), Gaussian(5.0), collude=True)
    rep = swarm.reports(np.zeros((4, 2)), np.full(4, 2.0), np.zeros(4, dtype=int), 0)
    assert rep.shape == (4, 5, 2)
    assert np.array_equal(rep[:, 2], rep[:, 3]) and np.array_equal(rep[:, 2], rep[:, 4])
    assert not np.array_equal(rep[:, 0], rep[:, 1])
    assert swarm.is_adversary.tolist() == [False, False, True, True, True]
    solo = Swarm(1, 2, HonestReport(1.0), Gaussian(5.0), collude=False)
    rep = solo.reports(np.zeros((4, 2)), np.full(4, 2.0), np.zeros(4, dtype=int), 0)
    assert not np.array_equal(rep[:, 1], rep[:, 2])


def test_each_node_draws_from_its_own_stream_for_the_round():
    """Node i's report depends on (seed, i, round) only: not on the nodes before it, nor on other rounds'."""
    args = np.zeros((2, 3)), np.full(2, 2.0), np.zeros(2, dtype=int)
    three = Swarm(3, 2, HonestReport(1.0), Gaussian(5.0), collude=False, seed=4).reports(*args, 7)
    one = Swarm(1, 1, HonestReport(1.0), Gaussian(5.0), collude=False, seed=4).reports(*args, 7)
    assert np.array_equal(three[:, 0], one[:, 0])
    assert not np.array_equal(three[:, 0], three[:, 1])
    later = Swarm(3, 2, HonestReport(1.0), Gaussian(5.0), collude=False, seed=4).reports(*args, 8)
    other = Swarm(3, 2, HonestReport(1.0), Gaussian(5.0), collude=False, seed=5).reports(*args, 7)
    assert not np.array_equal(three, later) and not np.array_equal(three, other)


def test_unencodable_reports_are_not_committed():
    reports = np.zeros((2, 3, 2))
    reports[:, 1] = np.nan
    commits, reveals = seal(0, node_addresses(3, 0), reports, 16, np.random.default_rng(0))
    assert [c.sender for c in commits] == [node_addresses(3, 0)[i] for i in (0, 2)]
    assert all(np.array_equal(r.report_fx, codec.encode(reports[:, 0], 16)) for r in reveals)
