"""Any folder of images as a datamodule, loaded lazily from disk.

``root/*.png`` gives unlabelled images (label 0); ``root/<class>/*.png`` gives one label per
sub-folder, in sorted order, as torchvision's ImageFolder does. Images are resized and
centre-cropped to ``image_size`` squares with ``channels`` 1 (grey) or 3 (RGB), and split
into train/val/test by a seeded permutation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch.utils.data import Dataset, Subset
from torchvision.transforms.v2 import functional as TF

from zoo.data.base import ImageDataModule, split_indices
from zoo.data.image_files import check_image_files, list_image_files, load_image, readable_images
from zoo.errors import ZooError


SKIP_BROKEN_HINT = "--data.skip_broken true leaves out files that do not decode"


class ImageFiles(Dataset):
    """``(image, label)`` pairs read from ``files`` when indexed, never all at once.

    With ``cache`` each image is decoded once and kept (in each DataLoader worker that reads it;
    persistent workers keep theirs across epochs): resize and crop are deterministic, so the
    kept tensor is exactly what a second read would give.
    """

    def __init__(self, files: list[Path], labels: list[int], image_size: int, channels: int,
                 cache: bool = False) -> None:
        self.files, self.labels = files, labels
        self.image_size, self.channels = image_size, channels
        self.cache: dict[int, torch.Tensor] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if self.cache is not None and index in self.cache:
            return self.cache[index], self.labels[index]
        image = self._decode(index)
        if self.cache is not None:
            self.cache[index] = image
        return image, self.labels[index]

    def _decode(self, index: int) -> torch.Tensor:
        try:
            image = load_image(self.files[index], self.channels)
        except ZooError as error:  # a truncated file: its header was fine when the folder was checked
            raise ZooError(f"{error}; {SKIP_BROKEN_HINT}") from None
        image = TF.resize(image, self.image_size, antialias=True)
        image = TF.center_crop(image, [self.image_size, self.image_size])
        return image.clamp_(0.0, 1.0)


def class_folders(root: Path, files: list[Path]) -> list[str]:
    """The sorted names of the sub-folders of ``root`` that hold images: the classes, as ImageFolder reads them."""
    return sorted({path.relative_to(root).parts[0] for path in files if len(path.relative_to(root).parts) > 1})


class ImageFolderDataModule(ImageDataModule):
    """Images from a folder (optionally one sub-folder per class), resized to ``image_size``."""

    def __init__(
        self,
        root: str,
        image_size: int = 64,
        channels: Literal[1, 3] = 3,
        batch_size: int = 64,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        num_workers: int | None = None,
        seed: int = 0,
        skip_broken: bool = False,
        normal_classes: list[int | str] | None = None,
        cache_mb: int = 512,
    ) -> None:
        """
        Args:
            root: the folder; images directly inside it, or in one sub-folder per class.
            image_size: side of the square images the model sees (resize, then centre crop).
            channels: 1 for greyscale, 3 for RGB; images are converted on load.
            batch_size: images per batch.
            val_fraction: share of images held out for validation (at least one image).
            test_fraction: share of images held out for testing (at least one image).
            num_workers: DataLoader worker processes decoding images; None: two where the machine has
                cores to spare, else none, decided where the run starts (a saved config.yaml does not pin it).
            seed: seed of the split.
            skip_broken: leave out files that do not decode (unreadable or truncated), counted in one warning;
                this decodes every image once at setup. Without it the first broken file stops the run, by name.
            normal_classes: one-class training, with one sub-folder per class: keep only these classes
                (folder name, or index in sorted order) in train and val, every class in test, e.g.
                ``[good]``; default: every image everywhere.
            cache_mb: keep decoded images in memory after their first read when the whole folder, decoded,
                fits in this many megabytes (in each DataLoader worker), so later epochs decode nothing;
                0 decodes every image every epoch.
        """
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed, normal_classes=normal_classes)
        if image_size < 4:
            raise ZooError(f"image_size must be at least 4, got {image_size}")
        if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
            raise ZooError(f"val_fraction + test_fraction must be below 1, got {val_fraction} + {test_fraction}")
        self.root = root
        self.image_size = image_size
        self.channels = channels
        self.image_shape = (channels, image_size, image_size)
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.skip_broken = skip_broken
        if cache_mb < 0:
            raise ZooError(f"cache_mb must be 0 (no cache) or more, got {cache_mb}")
        self.cache_mb = cache_mb
        self.dataset: ImageFiles | None = None
        self.class_names: list[str] = []

    def setup(self, stage: str | None = None) -> None:
        if self.dataset is not None:
            return
        root = Path(self.root).expanduser()
        files = list_image_files(root, recursive=True)
        if self.skip_broken:
            files = readable_images(files, str(root))
        else:
            try:
                check_image_files(files)  # a broken header fails here, by name, not inside a worker
            except ZooError as error:
                raise ZooError(f"{error}; {SKIP_BROKEN_HINT}") from error
        self.class_names = class_folders(root, files)
        if self.class_names:
            index_of = {name: index for index, name in enumerate(self.class_names)}
            labels = [index_of.get(path.relative_to(root).parts[0], 0) for path in files]
        else:
            labels = [0] * len(files)
        decoded_mb = len(files) * self.channels * self.image_size**2 * 4 / 2**20  # float32
        self.dataset = ImageFiles(files, labels, self.image_size, self.channels,
                                  cache=0 < self.cache_mb and decoded_mb <= self.cache_mb)
        train_idx, val_idx, test_idx = self._split(len(files))
        self.train_set, self.val_set, self.test_set = (Subset(self.dataset, idx) for idx in (train_idx, val_idx, test_idx))
        if self.normal_classes is not None and not self.class_names:
            raise ZooError(f"normal_classes {self.normal_classes}: {root} has no class sub-folders (classes found: "
                           "none); put each class's images in root/<class>/")
        self.keep_normal_classes(self.class_names)

    @property
    def num_classes(self) -> int | None:
        """One class per sub-folder, None without sub-folders; known before ``setup`` (the CLI links it into
        conditional models when it builds them), from the folder's listing."""
        if self.dataset is None:
            root = Path(self.root).expanduser()
            try:
                return len(class_folders(root, list_image_files(root, recursive=True))) or None
            except ZooError:  # a missing or broken folder: setup reports it, with its hint
                return None
        return len(self.class_names) or None

    def _split(self, n: int) -> list[list[int]]:
        if n < 3:  # too few to hold any out: every split sees every image
            return [list(range(n))] * 3
        val_size = max(1, round(n * self.val_fraction)) if self.val_fraction else 0
        test_size = max(1, round(n * self.test_fraction)) if self.test_fraction else 0
        train_fraction = (n - val_size - test_size) / n
        return split_indices(n, (train_fraction, val_size / n, test_size / n), self.seed)

    def files(self, split: Literal["train", "val", "test"] = "test") -> list[Path]:
        """The file behind each item of a split, in loader order (for per-file scores)."""
        subset = {"train": self.train_set, "val": self.val_set, "test": self.test_set}[split]
        return [self.dataset.files[index] for index in subset.indices]
