"""Paired images for Pix2Pix: each A has exactly one B, aligned pixel for pixel.

Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017
(arXiv:1611.07004); reference data code: junyanz/pytorch-CycleGAN-and-pix2pix
``data/aligned_dataset.py``. Two layouts users already have on disk:

``side_by_side`` (the pix2pix datasets: facades, maps, edges2shoes)::

    root/train/*.jpg    each image is A | B, side by side, each half the same width
    root/val/*.jpg      (root/test/ is used for `zoo test`; val falls back to test)

``folders`` (two folders matched by file name, extension ignored)::

    root/train/A/0001.png  root/train/B/0001.jpg  ...
    root/val/A/...         root/val/B/...

The layout is detected from ``root/train`` (``A`` and ``B`` sub-folders mean
``folders``), or named with ``layout``. Batches are ``{"A": images, "B": images}``,
float in [0, 1], NCHW. Training applies the paper's jitter identically to A and B:
resize to ``load_size`` (286 for 256 crops), random crop to ``image_size``, random
horizontal flip; validation resizes straight to ``image_size``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch
from torch.utils.data import Dataset
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from zoo.data.base import ImageDataModule
from zoo.data.image_files import check_image_files, list_image_files, load_image
from zoo.errors import ZooError

Layout = Literal["auto", "side_by_side", "folders"]
Direction = Literal["AtoB", "BtoA"]
# pix2pix jitters 256x256 crops out of 286x286 resizes; other sizes keep the same ratio.
LOAD_SIZE_RATIO = 286 / 256


def default_load_size(image_size: int) -> int:
    return round(image_size * LOAD_SIZE_RATIO)


def resize_square(image: torch.Tensor, size: int) -> torch.Tensor:
    """Bicubic resize to size x size (the aspect ratio is not kept, as in pix2pix), clamped to [0, 1]."""
    if tuple(image.shape[-2:]) == (size, size):
        return image
    resized = TF.resize(image, [size, size], interpolation=InterpolationMode.BICUBIC, antialias=True)
    return resized.clamp_(0.0, 1.0)  # bicubic overshoots at edges


class JointJitter:
    """The same resize, random crop and flip for every image of one example.

    Randomness comes from torch's global generator, which Lightning's ``seed_everything``
    seeds and the DataLoader re-seeds per worker, so runs are reproducible.
    """

    def __init__(self, image_size: int, load_size: int, flip: bool, train: bool) -> None:
        self.image_size, self.load_size, self.flip, self.train = image_size, load_size, flip, train

    def __call__(self, images: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if not self.train:
            return [resize_square(image, self.image_size) for image in images]
        images = [resize_square(image, self.load_size) for image in images]
        margin = self.load_size - self.image_size
        top, left = (torch.randint(0, margin + 1, (2,)).tolist() if margin > 0 else (0, 0))
        images = [image[:, top : top + self.image_size, left : left + self.image_size] for image in images]
        if self.flip and torch.rand(()) < 0.5:
            images = [image.flip(-1) for image in images]
        return images


def check_sizes(image_size: int, load_size: int | None) -> int:
    if image_size < 8:
        raise ZooError(f"image_size must be at least 8, got {image_size}")
    load_size = default_load_size(image_size) if load_size is None else load_size
    if load_size < image_size:
        raise ZooError(f"load_size ({load_size}) must be at least image_size ({image_size}): crops come out of it")
    return load_size


class PairedImageDataset(Dataset):
    """Lazily loaded pairs: ``(path, None)`` for an A|B image, ``(path_a, path_b)`` for two files."""

    def __init__(self, pairs: list[tuple[Path, Path | None]], channels: int, jitter: JointJitter,
                 swap: bool) -> None:
        self.pairs, self.channels, self.jitter, self.swap = pairs, channels, jitter, swap

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        path_a, path_b = self.pairs[index]
        if path_b is None:
            side_by_side = load_image(path_a, self.channels)
            half = side_by_side.shape[-1] // 2
            image_a, image_b = side_by_side[..., :half], side_by_side[..., half:]
        else:
            image_a, image_b = load_image(path_a, self.channels), load_image(path_b, self.channels)
        if self.swap:
            image_a, image_b = image_b, image_a
        image_a, image_b = self.jitter([image_a, image_b])
        return {"A": image_a, "B": image_b}


def side_by_side_pairs(folder: Path) -> list[tuple[Path, Path | None]]:
    """Every A|B image of ``folder``; one whose two halves cannot be the same width is named."""
    files = list_image_files(folder)
    for path, (width, _height) in zip(files, check_image_files(files)):
        if width % 2:
            raise ZooError(
                f"{path} is {width} px wide: a side-by-side A|B image needs two halves of equal width "
                "(an even width); is this folder in the `folders` layout (A/ and B/ sub-folders)?"
            )
    return [(path, None) for path in files]


def folder_pairs(folder: Path) -> list[tuple[Path, Path | None]]:
    """Files of ``folder/A`` and ``folder/B`` matched by name (extension ignored); an unmatched file is named."""
    by_stem: dict[str, dict[str, Path]] = {"A": {}, "B": {}}
    for domain in ("A", "B"):
        for path in list_image_files(folder / domain):
            if path.stem in by_stem[domain]:
                raise ZooError(f"{path} and {by_stem[domain][path.stem]} have the same name: which one pairs "
                               f"with {folder / ('B' if domain == 'A' else 'A') / path.stem}.*?")
            by_stem[domain][path.stem] = path
    for domain, other in (("A", "B"), ("B", "A")):
        unmatched = sorted(set(by_stem[domain]) - set(by_stem[other]))
        if unmatched:
            shown = ", ".join(str(by_stem[domain][stem]) for stem in unmatched[:3])
            more = f" and {len(unmatched) - 3} more" if len(unmatched) > 3 else ""
            raise ZooError(f"{shown}{more} has no file of the same name in {folder / other} "
                           f"(pairs are matched by file name)")
    stems = sorted(by_stem["A"])
    pairs = [(by_stem["A"][stem], by_stem["B"][stem]) for stem in stems]
    check_image_files(path for pair in pairs for path in pair)
    return pairs


def detect_layout(folder: Path) -> str:
    return "folders" if (folder / "A").is_dir() or (folder / "B").is_dir() else "side_by_side"


class PairedDataModule(ImageDataModule):
    """Aligned A/B image pairs from disk (pix2pix layouts), with the paper's joint jitter."""

    batch_kind = "paired"

    def __init__(
        self,
        root: str,
        layout: Layout = "auto",
        direction: Direction = "AtoB",
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
            root: dataset folder holding ``train/`` and ``val/`` (and optionally ``test/``).
            layout: "side_by_side" (A|B in one image, the pix2pix datasets), "folders" (``A/`` and ``B/``
                matched by file name) or "auto" (``folders`` when ``root/train/A`` exists).
            direction: "AtoB" translates the left half / ``A`` folder into the right half / ``B``;
                "BtoA" swaps them (the pix2pix facades set stores photo | labels, so labels -> photo is BtoA).
            image_size: side of the square images the model sees.
            load_size: side images are resized to before a random ``image_size`` crop in training;
                default ``image_size * 286 / 256`` (the paper's 286 -> 256).
            flip: random horizontal flips in training, the same for A and B.
            channels: 3 (RGB) or 1 (grey); both domains are loaded with this many.
            batch_size: images per batch (the paper uses 1).
            num_workers: DataLoader worker processes that read and decode files; None: two where the machine has
                cores to spare, else none, decided where the run starts (a saved config.yaml does not pin it).
            seed: unused by the pairs themselves (they come in file-name order); kept for a common interface.
        """
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        self.root = Path(root).expanduser()
        self.layout = layout
        self.direction = direction
        self.image_size = image_size
        self.load_size = check_sizes(image_size, load_size)
        self.flip = flip
        self.channels = channels
        self.image_shape = (channels, image_size, image_size)

    def _split_folder(self, *names: str) -> Path:
        for name in names:
            if (self.root / name).is_dir():
                return self.root / name
        if not self.root.is_dir():
            raise ZooError(f"paired data folder {self.root} does not exist")
        raise ZooError(f"paired data folder {self.root} has no {' or '.join(names)}/ folder "
                       f"(expected {self.root}/train and {self.root}/val; see docs/data/paired.md)")

    def _dataset(self, folder: Path, train: bool) -> PairedImageDataset:
        layout = detect_layout(folder) if self.layout == "auto" else self.layout
        pairs = folder_pairs(folder) if layout == "folders" else side_by_side_pairs(folder)
        jitter = JointJitter(self.image_size, self.load_size, self.flip, train)
        return PairedImageDataset(pairs, self.channels, jitter, swap=self.direction == "BtoA")

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit") and self.train_set is None:
            self.train_set = self._dataset(self._split_folder("train"), train=True)
        if stage in (None, "fit", "validate") and self.val_set is None:
            self.val_set = self._dataset(self._split_folder("val", "test"), train=False)
        if stage in ("test", "predict") and self.test_set is None:
            self.test_set = self._dataset(self._split_folder("test", "val"), train=False)
