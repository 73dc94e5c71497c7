"""torchvision's MNIST, Fashion-MNIST and CIFAR-10 as zoo datamodules.

Nothing downloads unless asked: ``download`` is off by default, and a missing dataset is
a one-line error saying where the zoo looked and how to fetch it. The official training
set is split into train/val (seeded); the official test set is the test split.
"""

from __future__ import annotations

from pathlib import Path

from torchvision import datasets
from torchvision.transforms import ToTensor

from zoo.data.base import Binarize, ImageDataModule, split_indices
from zoo.errors import ZooError


class _TorchvisionDataModule(ImageDataModule):
    dataset_class: type
    download_size: str

    def __init__(
        self,
        root: str = "data",
        download: bool = False,
        batch_size: int = 64,
        val_fraction: float = 0.1,
        num_workers: int | None = None,
        seed: int = 0,
        normal_classes: list[int | str] | None = None,
        binarize: Binarize = "none",
        translate: int = 0,
    ) -> None:
        """
        Args:
            root: folder holding the dataset (torchvision's layout); created by a download.
            download: fetch the dataset into ``root`` if it is missing (needs network).
            batch_size: images per batch.
            val_fraction: share of the official training set held out for validation.
            num_workers: DataLoader worker processes; None: two where the machine has
                cores to spare, else none, decided where the run starts (a saved config.yaml does not pin it).
            seed: seed of the train/val split.
            normal_classes: one-class training: keep only these classes (label index or name) in train
                and val, every class in test, e.g. ``[3]`` or ``[cat]``; default: every class everywhere.
            binarize: pixels as black or white drawn from Bernoulli(grey level), the "binarized MNIST" of
                likelihood papers: "dynamic" draws the training images anew every epoch and the val/test
                images once (seeded), "fixed" draws every split once; "none" keeps grey levels.
            translate: data augmentation: every training image is shifted by a random whole number of pixels, up to
                this many each way on each axis (zero-filled), drawn anew at every read; validation and test images
                are never shifted; 0 = none. Keeps a density model from memorizing a small training set.
        """
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed, normal_classes=normal_classes,
                         binarize=binarize, translate=translate)
        if not 0.0 < val_fraction < 1.0:
            raise ZooError(f"val_fraction must be between 0 and 1, got {val_fraction}")
        self.root = root
        self.download = download
        self.val_fraction = val_fraction

    def expected_location(self) -> Path:
        """Where torchvision looks for the files (shown in the error when they are missing)."""
        return Path(self.root).resolve() / self.dataset_class.__name__ / "raw"

    def prepare_data(self) -> None:
        # Lightning calls this on one process per node, so a download is never done twice.
        if self.download:
            for train in (True, False):
                try:
                    self.dataset_class(self.root, train=train, download=True)
                except (OSError, RuntimeError) as error:  # urllib's URLError is an OSError; MNIST's mirrors raise
                    name = self.dataset_class.__name__      # RuntimeError once every mirror failed
                    reason = " ".join(str(error).split())
                    raise ZooError(
                        f"--data.download true could not fetch {name} into {Path(self.root).resolve()}: {reason}; "
                        f"check the network, or put torchvision's {name} files in {self.expected_location()} "
                        "and leave --data.download off"
                    ) from error

    def _open(self, train: bool):
        try:
            return self.dataset_class(self.root, train=train, transform=ToTensor(), download=False)
        except RuntimeError as error:
            if "not found" not in str(error).lower():
                raise
            name = self.dataset_class.__name__
            raise ZooError(
                f"{name} not found in {self.expected_location()}; pass --data.download true to fetch it "
                f"({self.download_size}), or put torchvision's {name} files there (--data.root sets the folder)"
            ) from None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        from torch.utils.data import Subset

        full_train = self._open(train=True)
        train_idx, val_idx = split_indices(len(full_train), (1.0 - self.val_fraction, self.val_fraction), self.seed)
        self.train_set, self.val_set = Subset(full_train, train_idx), Subset(full_train, val_idx)
        self.test_set = self._open(train=False)
        self.keep_normal_classes(list(full_train.classes))


class MNISTDataModule(_TorchvisionDataModule):
    """MNIST handwritten digits: 60,000 + 10,000 images, 1x28x28."""

    dataset_class = datasets.MNIST
    download_size = "about 12 MB"
    image_shape = (1, 28, 28)
    num_classes = 10


class FashionMNISTDataModule(_TorchvisionDataModule):
    """Fashion-MNIST clothing images: 60,000 + 10,000 images, 1x28x28."""

    dataset_class = datasets.FashionMNIST
    download_size = "about 30 MB"
    image_shape = (1, 28, 28)
    num_classes = 10


class CIFAR10DataModule(_TorchvisionDataModule):
    """CIFAR-10 natural images: 50,000 + 10,000 images, 3x32x32."""

    dataset_class = datasets.CIFAR10
    download_size = "about 170 MB"
    image_shape = (3, 32, 32)
    num_classes = 10

    def expected_location(self) -> Path:
        return Path(self.root).resolve() / self.dataset_class.base_folder
