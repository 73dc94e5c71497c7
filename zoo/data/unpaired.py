"""Unpaired images for CycleGAN: two domains of different sizes, no correspondence.

Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
Networks", ICCV 2017 (arXiv:1703.10593); reference data code:
junyanz/pytorch-CycleGAN-and-pix2pix ``data/unaligned_dataset.py``. The CycleGAN layout::

    root/trainA/  root/trainB/    training images of each domain (any counts)
    root/testA/   root/testB/     held-out images (valA/ valB/ are used for validation if present)

An epoch has ``max(len(A), len(B))`` examples: A is walked in order (wrapping round when B
is larger), and each A is paired with a B drawn at random, so no fixed pairing is learnt.
The draws use torch's generator, seeded by Lightning's ``seed_everything`` and re-seeded
per DataLoader worker. Validation pairs each A with a fixed, seeded permutation of B, so
validation metrics compare across epochs. Each image gets its own jitter (resize to
``load_size``, random crop to ``image_size``, flip), as in the reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch.utils.data import Dataset

from zoo.data.base import ImageDataModule
from zoo.data.image_files import check_image_files, list_image_files, load_image
from zoo.data.paired import JointJitter, check_sizes
from zoo.errors import ZooError


class UnpairedImageDataset(Dataset):
    """Lazily loaded images of two domains; B is drawn at random per A (train) or by a fixed permutation (eval)."""

    def __init__(self, files_a: list[Path], files_b: list[Path], channels: int, jitter: JointJitter,
                 train: bool, seed: int) -> None:
        self.files_a, self.files_b, self.channels, self.jitter, self.train = files_a, files_b, channels, jitter, train
        self.fixed_b = torch.randperm(len(files_b), generator=torch.Generator().manual_seed(seed)).tolist()

    def __len__(self) -> int:
        return max(len(self.files_a), len(self.files_b))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        path_a = self.files_a[index % len(self.files_a)]
        if self.train:
            path_b = self.files_b[int(torch.randint(len(self.files_b), ()))]
        else:
            path_b = self.files_b[self.fixed_b[index % len(self.files_b)]]
        # Separate jitter calls: unpaired images share no geometry, so they get independent crops and flips.
        (image_a,) = self.jitter([load_image(path_a, self.channels)])
        (image_b,) = self.jitter([load_image(path_b, self.channels)])
        return {"A": image_a, "B": image_b}


class UnpairedDataModule(ImageDataModule):
    """Two image domains from the CycleGAN folder layout (trainA, trainB, testA, testB)."""

    batch_kind = "unpaired"

    def __init__(
        self,
        root: str,
        image_size: int = 256,
        load_size: int | None = None,
        flip: bool = True,
        channels: Literal[1, 3] = 3,
        batch_size: int = 1,
        num_workers: int | None = None,
        seed: int = 0,
    ) -> None:
        """
        Args:
            root: folder holding ``trainA/``, ``trainB/``, ``testA/``, ``testB/`` (``valA/``, ``valB/`` optional).
            image_size: side of the square images the model sees.
            load_size: side images are resized to before a random ``image_size`` crop in training;
                default ``image_size * 286 / 256`` (the paper's 286 -> 256).
            flip: random horizontal flips in training.
            channels: 3 (RGB) or 1 (grey); both domains are loaded with this many.
            batch_size: images per batch (the paper uses 1).
            num_workers: DataLoader worker processes that read and decode files; None: two where the machine has
                cores to spare, else none, decided where the run starts (a saved config.yaml does not pin it).
            seed: seeds the fixed A-to-B pairing of the validation and test splits.
        """
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        self.root = Path(root).expanduser()
        self.image_size = image_size
        self.load_size = check_sizes(image_size, load_size)
        self.flip = flip
        self.channels = channels
        self.image_shape = (channels, image_size, image_size)

    def _domain_files(self, *prefixes: str) -> tuple[list[Path], list[Path]]:
        if not self.root.is_dir():
            raise ZooError(f"unpaired data folder {self.root} does not exist")
        for prefix in prefixes:
            folder_a, folder_b = self.root / f"{prefix}A", self.root / f"{prefix}B"
            if folder_a.is_dir() or folder_b.is_dir():
                files_a, files_b = list_image_files(folder_a), list_image_files(folder_b)
                check_image_files(files_a + files_b)
                return files_a, files_b
        expected = " or ".join(f"{prefix}A/ and {prefix}B/" for prefix in prefixes)
        raise ZooError(f"unpaired data folder {self.root} has no {expected} (see docs/data/unpaired.md)")

    def _dataset(self, prefixes: tuple[str, ...], train: bool) -> UnpairedImageDataset:
        files_a, files_b = self._domain_files(*prefixes)
        jitter = JointJitter(self.image_size, self.load_size, self.flip, train)
        return UnpairedImageDataset(files_a, files_b, self.channels, jitter, train, self.seed)

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit") and self.train_set is None:
            self.train_set = self._dataset(("train",), train=True)
        if stage in (None, "fit", "validate") and self.val_set is None:
            self.val_set = self._dataset(("val", "test"), train=False)
        if stage in ("test", "predict") and self.test_set is None:
            self.test_set = self._dataset(("test", "val"), train=False)
