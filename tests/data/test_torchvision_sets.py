"""torchvision datasets: read from disk (a tiny fake MNIST written here), never downloaded unasked."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import FAST_TRAINER, run_zoo, zoo_in_process
from zoo.data.torchvision_sets import CIFAR10DataModule, FashionMNISTDataModule, MNISTDataModule
from zoo.errors import ZooError


def write_idx_mnist(root: Path, folder: str = "MNIST", train_count: int = 40, test_count: int = 10) -> None:
    """MNIST's IDX files, as torchvision expects them under root/MNIST/raw."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", train_count), ("t10k", test_count)):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=count, dtype=np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, count, 28, 28) + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, count) + labels.tobytes())


def test_mnist_reads_idx_files_from_root_and_splits_train_into_train_and_val(tmp_path):
    write_idx_mnist(tmp_path)
    data = MNISTDataModule(root=str(tmp_path), batch_size=8, val_fraction=0.25, num_workers=0)
    data.setup()
    assert (len(data.train_set), len(data.val_set), len(data.test_set)) == (30, 10, 10)
    images, labels = next(iter(data.train_dataloader()))
    assert images.shape == (8, 1, 28, 28) and images.dtype == torch.float32
    assert 0 <= images.min() and images.max() <= 1


@pytest.mark.parametrize("module, where", [
    (MNISTDataModule, "MNIST/raw"), (FashionMNISTDataModule, "FashionMNIST/raw"),
    (CIFAR10DataModule, "cifar-10-batches-py"),
])
def test_missing_dataset_says_where_it_looked_and_how_to_download(module, where, tmp_path):
    with pytest.raises(ZooError) as error:
        module(root=str(tmp_path)).setup()
    assert f"{tmp_path}/{where}" in str(error.value)
    assert "--data.download true" in str(error.value)


@pytest.mark.parametrize("module", [MNISTDataModule, CIFAR10DataModule])
def test_a_download_without_network_is_one_line_saying_what_to_do(module, tmp_path, monkeypatch):
    """torchvision's own download code runs; only the network is missing (every URL fails to resolve)."""
    import urllib.error
    import urllib.request

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(ZooError) as error:
        module(root=str(tmp_path), download=True).prepare_data()
    message = str(error.value)
    name = module.dataset_class.__name__
    assert message.startswith(f"--data.download true could not fetch {name} into {tmp_path}")
    assert "check the network" in message and "\n" not in message


def test_zoo_fit_on_mnist_from_disk_and_the_missing_dataset_error_line(tmp_path, capsys):
    write_idx_mnist(tmp_path / "data")
    run_zoo(["fit", "--model", "autoencoder", "--data", "mnist", "--data.num_workers", "0",
             "--data.batch_size", "8", *FAST_TRAINER], cwd=tmp_path, in_process=True)
    assert (tmp_path / "runs/autoencoder/version_0/checkpoints/last.ckpt").exists()
    missing = zoo_in_process(["fit", "--model", "autoencoder", "--data", "fashion_mnist", *FAST_TRAINER],
                             cwd=tmp_path, capsys=capsys)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "zoo: error: FashionMNIST not found in" in missing.stderr
