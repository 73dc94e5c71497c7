"""Super-resolution pairs made on the fly: B is an image, A the same image with detail removed.

A is B downscaled by ``scale`` (bicubic, antialiased) and resized back to B's size
(bicubic), so A and B align pixel for pixel and Pix2Pix (or any paired model) learns to
restore the lost detail. Bicubic upscaling of the low-resolution image *is* A, so
``PSNR(A, B)`` is the baseline a trained model must beat (``benchmarks/super_resolution_digits.py``).

Sources:
- the embedded ``digits`` (no ``root``; 28x28 grey, ``image_size`` resizes them), or
- any folder of images (``root``): ``root/train`` and ``root/val`` if both exist, else
  every image of ``root`` split 90/10 by a seeded permutation. Training takes random
  ``image_size`` crops (with flips), validation the centre crop; images smaller than
  ``image_size`` are first resized up. Files are read lazily, by DataLoader workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch.utils.data import Dataset
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from zoo.data.base import ImageDataModule, split_indices
from zoo.data.image_files import check_image_files, list_image_files, load_image
from zoo.errors import ZooError

VAL_FRACTION = 0.1


def bicubic_degrade(high_resolution: torch.Tensor, scale: int) -> torch.Tensor:
    """Downscale (C, H, W) or (N, C, H, W) images by ``scale`` and resize back: the bicubic-upscaling baseline."""
    height, width = high_resolution.shape[-2:]
    low_resolution = TF.resize(high_resolution, [height // scale, width // scale],
                               interpolation=InterpolationMode.BICUBIC, antialias=True)
    upscaled = TF.resize(low_resolution, [height, width], interpolation=InterpolationMode.BICUBIC, antialias=False)
    return upscaled.clamp_(0.0, 1.0)  # bicubic overshoots at edges


class SuperResolutionDataset(Dataset):
    """``{"A": degraded, "B": image}`` from a source of high-resolution images (tensors or files)."""

    def __init__(self, images: torch.Tensor | list[Path], scale: int, image_size: int, channels: int,
                 train: bool, flip: bool) -> None:
        self.images, self.scale, self.image_size, self.channels = images, scale, image_size, channels
        self.train, self.flip = train, flip

    def __len__(self) -> int:
        return len(self.images)

    def _crop(self, image: torch.Tensor) -> torch.Tensor:
        size = self.image_size
        height, width = image.shape[-2:]
        if min(height, width) < size:
            scale = size / min(height, width)
            image = TF.resize(image, [max(size, round(height * scale)), max(size, round(width * scale))],
                              interpolation=InterpolationMode.BICUBIC, antialias=True).clamp_(0.0, 1.0)
            height, width = image.shape[-2:]
        if self.train:
            top = int(torch.randint(0, height - size + 1, ()))
            left = int(torch.randint(0, width - size + 1, ()))
        else:
            top, left = (height - size) // 2, (width - size) // 2
        return image[:, top : top + size, left : left + size]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if isinstance(self.images, torch.Tensor):
            high_resolution = self.images[index]
        else:
            high_resolution = self._crop(load_image(self.images[index], self.channels))
        if self.train and self.flip and torch.rand(()) < 0.5:
            high_resolution = high_resolution.flip(-1)
        high_resolution = high_resolution.contiguous()
        return {"A": bicubic_degrade(high_resolution, self.scale), "B": high_resolution}


class SuperResolutionDataModule(ImageDataModule):
    """Paired (low-resolution upscaled, high-resolution) images from digits or any image folder."""

    batch_kind = "paired"

    def __init__(
        self,
        root: str | None = None,
        scale: Literal[2, 3, 4, 8] = 2,
        image_size: int | None = None,
        channels: Literal[1, 3] | None = None,
        flip: bool = True,
        batch_size: int = 16,
        num_workers: int | None = None,
        seed: int = 0,
    ) -> None:
        """
        Args:
            root: a folder of images; none means the embedded digits.
            scale: the downscaling factor A loses (2 or 4 in most papers).
            image_size: side of the square images (digits: 28 unless set; folders: 128 unless set).
                Must be divisible by ``scale``.
            channels: 1 (grey) or 3 (RGB); default 1 for digits, 3 for folders.
            flip: random horizontal flips in training.
            batch_size: images per batch.
            num_workers: DataLoader worker processes that read and decode files; None: two where the machine has
                cores to spare, else none, decided where the run starts (a saved config.yaml does not pin it).
            seed: seeds the digits split and, for a folder without train/ and val/, its 90/10 split.
        """
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        self.root = None if root is None else Path(root).expanduser()
        self.scale = scale
        self.image_size = image_size if image_size is not None else (28 if root is None else 128)
        if self.image_size % scale or self.image_size // scale < 2:
            raise ZooError(f"super_resolution image_size {self.image_size} must be a multiple of scale {scale} "
                           f"(and at least twice it)")
        if root is None and channels == 3:
            raise ZooError("the embedded digits are grey: leave channels unset (1) or give --data.root")
        self.channels = channels if channels is not None else (1 if root is None else 3)
        self.flip = flip
        self.image_shape = (self.channels, self.image_size, self.image_size)

    def _folder_splits(self) -> dict[str, list[Path]]:
        assert self.root is not None
        if not self.root.is_dir():
            raise ZooError(f"super_resolution image folder {self.root} does not exist")
        if (self.root / "train").is_dir() and (self.root / "val").is_dir():
            splits = {name: list_image_files(self.root / name) for name in ("train", "val")}
        else:
            files = list_image_files(self.root)
            train_idx, val_idx = split_indices(len(files), (1 - VAL_FRACTION, VAL_FRACTION), self.seed)
            if not val_idx or not train_idx:
                raise ZooError(f"super_resolution image folder {self.root} has {len(files)} image(s): too few to "
                               f"split into train and val; add images or give {self.root}/train and {self.root}/val")
            splits = {"train": [files[i] for i in train_idx], "val": [files[i] for i in val_idx]}
        check_image_files(splits["train"] + splits["val"])
        return splits

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        if self.root is None:
            from zoo.data.digits import digits_splits

            digits = digits_splits(self.image_size, self.seed)
            sources = {name: digits[name].tensors[0] for name in ("train", "val", "test")}
        else:
            folders = self._folder_splits()
            sources = {"train": folders["train"], "val": folders["val"], "test": folders["val"]}
        self.train_set, self.val_set, self.test_set = (
            SuperResolutionDataset(sources[name], self.scale, self.image_size, self.channels,
                                   train=name == "train", flip=self.flip)
            for name in ("train", "val", "test")
        )
