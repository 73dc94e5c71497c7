"""Small image folders in the layouts users have, written from real photographs (scikit-image's, offline).

B is a crop of a photograph; A is the same crop in grey (a colourisation task), so a paired
model has something real to learn and a test can tell A from B.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image


@cache
def _photographs() -> tuple[np.ndarray, ...]:
    from skimage import data

    return data.astronaut(), data.coffee(), data.chelsea()


def photo_crops(count: int, size: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` RGB crops (size x size, uint8) from random places of three photographs."""
    rng = np.random.default_rng(seed)
    crops = []
    for index in range(count):
        photo = _photographs()[index % 3]
        window = int(rng.integers(size, min(photo.shape[:2]) // 2))
        top = int(rng.integers(0, photo.shape[0] - window))
        left = int(rng.integers(0, photo.shape[1] - window))
        crop = Image.fromarray(photo[top : top + window, left : left + window]).resize((size, size), Image.BICUBIC)
        crops.append(np.asarray(crop))
    return crops


def grey_of(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).convert("L").convert("RGB"))


def write_side_by_side(folder: Path, count: int, size: int, ext: str = ".png", seed: int = 0) -> list[Path]:
    """pix2pix's layout: ``folder/NNNN.ext`` holding grey A | colour B side by side."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, photo in enumerate(photo_crops(count, size, seed)):
        path = folder / f"{index:04d}{ext}"
        Image.fromarray(np.concatenate([grey_of(photo), photo], axis=1)).save(path)
        paths.append(path)
    return paths


def write_folder_pairs(folder: Path, count: int, size: int, seed: int = 0) -> None:
    """The two-folder layout: ``folder/A/NNNN.png`` (grey) and ``folder/B/NNNN.jpg`` (colour), matched by name."""
    (folder / "A").mkdir(parents=True, exist_ok=True)
    (folder / "B").mkdir(parents=True, exist_ok=True)
    for index, photo in enumerate(photo_crops(count, size, seed)):
        Image.fromarray(grey_of(photo)).save(folder / "A" / f"{index:04d}.png")
        Image.fromarray(photo).save(folder / "B" / f"{index:04d}.jpg", quality=95)


def write_images(folder: Path, count: int, size: int, seed: int = 0, grey: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, photo in enumerate(photo_crops(count, size, seed)):
        Image.fromarray(grey_of(photo) if grey else photo).save(folder / f"{index:04d}.png")


def write_unpaired(root: Path, count_a: int, count_b: int, size: int, test_count: int = 3) -> None:
    """CycleGAN's layout with domains of different sizes: grey photos (A) and colour photos (B)."""
    for split, count_a_split, count_b_split, seed in (("train", count_a, count_b, 0), ("test", test_count,
                                                                                       test_count + 1, 1)):
        write_images(root / f"{split}A", count_a_split, size, seed=seed, grey=True)
        write_images(root / f"{split}B", count_b_split, size, seed=seed + 10)
