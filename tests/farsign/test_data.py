"""MNIST loading: IDX parsing, where the files are looked for, and the error when they are absent."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from nodes import data


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    (gzip.open if compress else open)(path, "wb").write(header + array.astype(np.uint8).tobytes())


def fake_mnist(folder: Path, n: int = 6, compress: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if compress else ""
    rng = np.random.default_rng(0)
    for images, labels in data.FILES.values():
        write_idx(folder / f"{images}{suffix}", rng.integers(0, 256, (n, 28, 28)), compress)
        write_idx(folder / f"{labels}{suffix}", np.arange(n) % 10, compress)


def test_reads_idx_files_gzipped_or_not(tmp_path):
    fake_mnist(tmp_path / "gz")
    fake_mnist(tmp_path / "raw", compress=False)
    a, b = data.load_mnist(str(tmp_path / "gz")), data.load_mnist(str(tmp_path / "raw"))
    assert a.x_train.shape == (6, 784) and a.y_test.tolist() == [0, 1, 2, 3, 4, 5]
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    assert np.array_equal(a.x_train.numpy(), b.x_train.numpy())


def test_the_setting_beats_the_environment_which_beats_the_torchvision_root(tmp_path, monkeypatch):
    monkeypatch.setenv("DEML_DATA_DIR", str(tmp_path / "env"))
    assert data.data_root(str(tmp_path / "set")) == tmp_path / "set"
    assert data.data_root(None) == tmp_path / "env"
    monkeypatch.delenv("DEML_DATA_DIR")
    assert data.data_root(None) == data.TORCHVISION_ROOT


def test_torchvision_layout_is_found(tmp_path):
    fake_mnist(tmp_path / "MNIST" / "raw")
    assert data.load_mnist(str(tmp_path)).y_train.shape == (6,)


def test_missing_files_name_the_setting_and_never_download_unasked(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_dir") as err:
        data.load_mnist(str(tmp_path))
    assert "download=true" in str(err.value) and not any(tmp_path.iterdir())


def test_not_an_idx_file_is_refused(tmp_path):
    (tmp_path / "x").write_bytes(b"\x00\x00\x0d\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="IDX"):
        data.read_idx(tmp_path / "x")


def test_shards_partition_the_indices():
    parts = data.shards(103, 10, seed=1)
    assert len(parts) == 10 and sorted(np.concatenate(parts).tolist()) == list(range(103))
