"""On the real MNIST files (skipped where they are absent): loading, and FAR-SIGN learning under attack."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from nodes import data

ROOT = Path(__file__).resolve().parents[2]
CANDIDATES = [os.environ.get("DEML_DATA_DIR"), str(ROOT.parent / "shared" / "data" / "mnist")]
MNIST_DIR = next((c for c in CANDIDATES if c and data.find(Path(c), data.FILES["train"][0])), None)

pytestmark = [pytest.mark.mnist,
              pytest.mark.skipif(MNIST_DIR is None, reason="MNIST IDX files absent (set DEML_DATA_DIR)")]


def test_mnist_loads():
    ds = data.load_mnist(MNIST_DIR)
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert sorted(ds.y_train.unique().tolist()) == list(range(10))


def test_farsign_learns_mnist_under_sign_flip():
    from sims.farsign_experiments import MnistConfig, run_mnist

    cfg = MnistConfig(data_dir=MNIST_DIR, methods=["farsign"], attacks=["sign-flip"], horizon=25.0,
                      test_size=1000)
    summary = run_mnist(cfg)["summary"].iloc[0]
    assert summary["best_acc"] > 0.75
