"""A node process computes exactly what the in-process engine's swarm computes for it: the same report, bit for bit,
from its own generator for (seed, node, round) (the coalition's for colluding adversaries), reading eta and tau
back from the posted fixed-point threshold."""
import numpy as np
import pytest

from coordinator import vista
from nodes.runtime import Identity
from nodes.seeds import coalition_rng, node_rng
from nodes.swarm import Swarm
from protocol import codec
from sims.config import ConfigError
from sims.workloads import ADVERSARIAL, get, parse_method

WORKLOAD = get("quad3d")
CFG = WORKLOAD.settings({}, honest=1, adversaries=3, seed=5)


@pytest.mark.parametrize("attack", ["rational", "sign-flip", "gaussian", "non-finite", "threshold-hugging"])
@pytest.mark.parametrize("collude", [True, False])
def test_every_node_reports_what_the_in_process_swarm_reports(attack, collude):
    side = WORKLOAD.dc(CFG, "vista")
    swarm = Swarm(1, 3, WORKLOAD.strategy(CFG, "honest"), WORKLOAD.strategy(CFG, attack), collude=collude, seed=5)
    theta = np.array([[3.0, -1.5, 0.25]])
    grad = side.task.grad(theta)
    for eta_index in (side.control.lo, side.control.hi, side.control.hi - 7):
        eta = side.control.eta_grid[eta_index]
        tau = eta * CFG.delta
        expected = swarm.reports(grad, tau, eta_index, 9)
        tau_fx = int(codec.encode(tau, CFG.scale_bits)[0])
        for i in range(4):
            node = WORKLOAD.node(CFG, "honest" if i < 1 else attack)
            seen_tau, seen_index = node.announcement(tau_fx, CFG.scale_bits)
            assert np.array_equal(seen_index, eta_index) and np.array_equal(seen_tau, tau)
            rng = coalition_rng(5, 9) if collude and i >= 1 else node_rng(5, i, 9)
            assert np.array_equal(node.report(theta, seen_tau, seen_index, rng), expected[:, i], equal_nan=True), i


def test_identity_keys_its_generator_and_salt_by_round():
    from eth_account import Account

    a = Identity(Account.create(), 3, 7)
    assert a.rng(2).random() == node_rng(7, 3, 2).random() != a.rng(3).random()
    assert Identity(a.account, 3, 7, collude=True).rng(2).random() == coalition_rng(7, 2).random()
    assert a.salt(2) == a.salt(2) != a.salt(3) and len(a.salt(2)) == 32
    assert Identity(Account.create(), 3, 7).salt(2) != a.salt(2)  # secret: derived from the key


def test_a_constant_method_is_a_constant_threshold():
    side = WORKLOAD.dc(CFG, "eta=4")
    state = vista.init(side.control, 3)
    assert vista.eta(side.control, state)[0] == 4.0 and side.method == "eta=4"
    for bad in ("eta=", "lam=3", "eta=four"):
        with pytest.raises(ConfigError, match="expected vista or eta=X"):
            parse_method(bad)
    with pytest.raises(ConfigError, match="not on the equilibrium grid"):
        WORKLOAD.dc(CFG, "eta=4.01")


def test_roles_and_settings_are_checked():
    with pytest.raises(ConfigError, match="unknown; use one of honest, rational"):
        WORKLOAD.strategy(CFG, "byzantine")
    with pytest.raises(ConfigError, match="--set honest: set by the command itself"):
        WORKLOAD.settings({"honest": 3}, honest=1, adversaries=1, seed=0)
    with pytest.raises(ConfigError, match="unknown key 'lambda'"):
        WORKLOAD.settings({"lambda": 3}, honest=1, adversaries=1, seed=0)
    assert set(ADVERSARIAL) >= {"rational", "sign-flip", "ipm", "alie", "mimic"}
