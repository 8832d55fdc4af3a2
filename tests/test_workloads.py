"""Learning workloads: vectorised per-node gradients equal a per-node loop; device choice; the reference task's
cache; the learning swarm's honest and adversarial reports; the DC's calibration of Delta."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from economics import GameSpec, solve
from nodes import data
from nodes.adversary import RationalAdversary
from nodes.attacks import Mimic
from nodes.calibration import calibrate
from nodes.models import MODELS, FlatModel
from nodes.workloads import LearningSwarm, ReferenceTask, Workload, pick_device


def make_workload(model: str = "mlp", features: int = 20, nodes: int = 4, batch: int = 8, per_call: int = 1,
                  seed: int = 0) -> Workload:
    ds = data.synthetic(train=400, test=50, features=features, seed=seed)
    torch.manual_seed(seed)
    module = MODELS[model](features, 10)
    shards = tuple(np.array_split(np.random.default_rng(seed).permutation(400), nodes))
    return Workload(FlatModel(module), ds.x_train, ds.y_train, shards, batch, torch.device("cpu"), per_call)


def inits(work: Workload, runs: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    return work.model.initial() + 0.01 * rng.standard_normal((runs, work.dim))


@pytest.mark.parametrize("model, features, per_call", [("mlp", 20, 1), ("mlp", 20, 3), ("lenet", 784, 1),
                                                      ("lenet", 784, 2)])
def test_node_gradients_equal_a_per_node_loop(model, features, per_call):
    work = make_workload(model, features, per_call=per_call)
    theta = inits(work, 3)
    idx = work.minibatches(3, 4, np.random.default_rng(2))
    got = work.node_grads(theta, idx)
    assert got.shape == (3, 4, work.dim)
    for b in range(3):
        for m in range(4):
            i = torch.from_numpy(idx[b, m])
            want = work.model.grads(theta[b], work.x[i][None], work.y[i][None])[0]
            np.testing.assert_allclose(got[b, m], want, rtol=1e-4, atol=1e-6)


class _Residual(torch.nn.Module):
    """Not a plain stack of layers: grouped gradients do not apply."""

    def __init__(self):
        super().__init__()
        self.inner = torch.nn.Linear(6, 6)
        self.head = torch.nn.Linear(6, 3)

    def forward(self, x):
        return self.head(x + torch.relu(self.inner(x)))


@pytest.mark.parametrize("module, grouped", [
    (torch.nn.Sequential(torch.nn.Unflatten(1, (1, 6, 6)), torch.nn.Conv2d(1, 2, 3, bias=False), torch.nn.ReLU(),
                         torch.nn.Conv2d(2, 3, 2, stride=2, padding=1), torch.nn.Flatten(),
                         torch.nn.Linear(27, 4, bias=False), torch.nn.Tanh(), torch.nn.Linear(4, 3)),
     True),
    (torch.nn.Sequential(torch.nn.Linear(36, 5), torch.nn.BatchNorm1d(5), torch.nn.Linear(5, 3)), False),
    (torch.nn.Sequential(torch.nn.Linear(36, 5), torch.nn.ReLU(inplace=True), torch.nn.Linear(5, 3)), False),
    (_Residual(), False),
])
def test_minibatch_gradients_from_one_pass_equal_each_minibatchs_own(module, grouped):
    torch.manual_seed(0)
    model = FlatModel(module.eval())
    assert (model._layers is not None) == grouped
    features = 6 if isinstance(module, _Residual) else 36
    x, y = torch.randn(5, 7, features), torch.randint(0, 3, (5, 7))
    theta = torch.from_numpy(model.initial()).float()
    got = model.minibatch_grads(theta, x, y)
    for g in range(5):
        want = model.grads(model.initial(), x[g][None], y[g][None])[0]
        np.testing.assert_allclose(got[g].double().numpy(), want, rtol=1e-4, atol=1e-6)


def test_minibatches_come_from_each_nodes_own_shard():
    work = make_workload(nodes=4)
    idx = work.minibatches(5, 4, np.random.default_rng(0))
    assert idx.shape == (5, 4, work.batch)
    for m in range(4):
        assert np.isin(idx[:, m], work.shards[m]).all()


def test_device_choice(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto").type == "cpu" and pick_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="no GPU"):
        pick_device("cuda")
    with pytest.raises(ValueError, match="device: unknown"):
        pick_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto").type == "cuda" and pick_device("cuda:1").index == 1


def test_reference_task_recomputes_only_moved_models():
    work = make_workload()
    reference = np.arange(100)
    task = ReferenceTask(work, reference, inits(work, 2))
    theta = task.init(4)
    np.testing.assert_array_equal(theta[0], theta[2])  # run r of every method starts from the same model
    calls = []
    real = work.value_and_grad
    object.__setattr__(work, "value_and_grad", lambda t, i: calls.append(len(t)) or real(t, i))
    g = task.grad(theta)
    loss = task.loss(theta)  # the posted model's loss comes with its gradient
    moved = theta.copy()
    moved[1] -= 0.1 * g[1]
    g2 = task.grad(moved)
    assert calls == [4, 1]
    want_loss, want = real(moved, reference)
    np.testing.assert_allclose(g2, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(task.loss(moved), want_loss, rtol=1e-6)
    assert loss.shape == (4,) and np.array_equal(task.current, moved)


def table_for(dim: int, honest: int, adversaries: int, tmp_path) -> object:
    return solve(GameSpec(dim=dim, honest=honest, adversaries=adversaries), np.array([2.0, 3.0]), cache_dir=tmp_path,
                 progress=False)


def test_learning_swarm_reports(tmp_path):
    work = make_workload(nodes=4)
    table = table_for(work.dim, 2, 2, tmp_path)
    swarm = LearningSwarm(work, 2, 2, RationalAdversary(table))
    theta = inits(work, 3)
    grad = ReferenceTask(work, np.arange(200), theta).grad(theta)
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    reports = swarm.reports(theta, grad, np.full(3, 2.0), np.array([0, 1, 1]), rng_a)
    assert reports.shape == (3, 4, work.dim)
    np.testing.assert_allclose(reports[:, :2], work.node_grads(theta, work.minibatches(3, 2, rng_b)), rtol=1e-6)
    np.testing.assert_array_equal(reports[:, 2], reports[:, 3])  # colluding nodes send one point
    offset = np.linalg.norm(reports[:, 2] - grad, axis=1)  # the equilibrium radius around the reference gradient
    np.testing.assert_allclose(offset, table.radii[[0, 1, 1], 0], rtol=1e-9)
    commits, reveals = swarm.round(0, ["0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, "0x" + "44" * 20],
                                   theta, grad, np.full(3, 2.0), np.zeros(3, dtype=int), 16, rng_a)
    assert len(commits) == len(reveals) == 4 and reveals[0].report_fx.shape == (3, work.dim)


def test_adversary_knowledge_and_omniscient_attacks():
    work = make_workload(nodes=4)
    theta = inits(work, 2)
    grad = np.zeros_like(theta)  # a reference the minibatch adversary must not use
    own = LearningSwarm(work, 2, 2, Mimic(0), knowledge="minibatch", collude=False)
    reports = own.reports(theta, grad, np.ones(2), np.zeros(2, dtype=int), np.random.default_rng(0))
    np.testing.assert_array_equal(reports[:, 2], reports[:, 0])  # Mimic reads the honest reports it is shown
    with pytest.raises(ValueError, match="shards"):
        LearningSwarm(work, 3, 2, Mimic())


def test_calibration_is_the_largest_checkpoint_quantile():
    work = make_workload(nodes=4, batch=16)
    sample = np.arange(300)
    cal = calibrate(work, sample, work.model.initial(), checkpoints=[0, 20, 60], lr=0.5, train_batch=64, draws=32,
                    quantile=0.9, scale_bits=16, rng=np.random.default_rng(0))
    assert cal.norms.shape == (3, 32) and cal.models.shape == (3, work.dim) and list(cal.steps) == [0, 20, 60]
    assert cal.delta == pytest.approx(cal.spread().max() + np.sqrt(work.dim) * 2.0**-17)
    assert not np.array_equal(cal.models[0], cal.models[2])  # the DC trained along the way
    # the noise of a minibatch of 16 is about sqrt(64 / 16) = 2 times that of 64: Delta scales with the batch
    bigger = calibrate(Workload(work.model, work.x, work.y, work.shards, 64, work.device, 1), sample,
                       work.model.initial(), checkpoints=[0], lr=0.5, train_batch=64, draws=32, quantile=0.5,
                       scale_bits=16, rng=np.random.default_rng(0))
    small = np.median(cal.norms[0])
    assert 1.4 < small / np.median(bigger.norms[0]) < 2.6
