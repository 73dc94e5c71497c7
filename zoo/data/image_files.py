"""Image files on disk: list a folder's images and load one as a tensor, failing by file name.

Shared by every datamodule that reads folders (``paired``, ``unpaired``,
``super_resolution``, ``folder``) and by ``zoo translate``. Every failure is a
:class:`~zoo.errors.ZooError` that names the file or folder, so the CLI prints one line
a user can act on.

Why check files up front (:func:`check_image_files`) rather than only when a batch is
loaded: an exception raised inside a DataLoader worker process reaches the main process
re-wrapped with the worker's traceback in its message, so the user would see a wall of
text instead of the file name. Reading each file's header costs one small read per file,
not a decode, so it stays cheap for folders larger than memory.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from zoo.errors import ZooError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
# Files that operating systems and tools drop into image folders; never data.
IGNORED_NAMES = {"Thumbs.db", "desktop.ini"}


def _is_ignored(path: Path) -> bool:
    return path.name.startswith(".") or path.name in IGNORED_NAMES


def list_image_files(root: str | Path, recursive: bool = False) -> list[Path]:
    """The image files in ``root``, sorted by path (so every process and every run agrees).

    Sub-folders are skipped unless ``recursive``; hidden files (``.DS_Store``) and
    ``Thumbs.db`` are ignored. Any other file that is not an image by its extension is an
    error naming it: a stray ``labels.csv`` in a training folder is more likely a mistake
    than something to skip silently.

    Raises:
        ZooError: ``root`` is missing or not a folder, holds no images, or holds a non-image file.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ZooError(f"image folder {root} does not exist" if not root.exists() else f"{root} is not a folder")
    candidates = root.rglob("*") if recursive else root.iterdir()
    images = []
    for path in sorted(candidates):
        if path.is_dir() or _is_ignored(path) or any(_is_ignored(Path(part)) for part in path.relative_to(root).parts):
            continue
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            raise ZooError(f"{path} is not an image file (expected one of {', '.join(IMAGE_EXTENSIONS)})")
        images.append(path)
    if not images:
        raise ZooError(f"image folder {root} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    return images


def image_size_of(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding the pixels."""
    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ZooError(f"{path} is not a readable image ({type(exc).__name__}: {exc})") from exc


def check_image_files(paths: Iterable[Path]) -> list[tuple[int, int]]:
    """The (width, height) of each file, read from its header; a file that is not an image fails by name."""
    return [image_size_of(path) for path in paths]


def readable_images(paths: Iterable[Path], where: str) -> list[Path]:
    """The files that decode in full, with one warning that counts (and names the first of) those that do not.

    Unlike :func:`check_image_files` it decodes every pixel, which finds truncated files too; that is a pass
    over the whole dataset, paid only when a user asks to skip broken files.
    """
    readable, broken = [], []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.load()
            readable.append(path)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            broken.append(f"{path} ({type(exc).__name__}: {exc})")
    if broken:
        warnings.warn(f"skipped {len(broken)} broken image file(s) in {where}, e.g. {broken[0]}", stacklevel=2)
    if not readable:
        raise ZooError(f"image folder {where} holds no readable images ({len(broken)} broken)")
    return readable


def load_image(path: str | Path, channels: int) -> torch.Tensor:
    """One image as a float tensor in [0, 1], shape (channels, H, W); ``channels`` is 1 (grey) or 3 (RGB).

    Palette, alpha and 16-bit images are converted by PIL, so any image a viewer shows loads.

    Raises:
        ZooError: the file cannot be read or decoded, or ``channels`` is not 1 or 3.
    """
    if channels not in (1, 3):
        raise ZooError(f"images are loaded with 1 (grey) or 3 (RGB) channels, got {channels}")
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ZooError(f"{path} is not a readable image ({type(exc).__name__}: {exc})") from exc
    tensor = torch.from_numpy(pixels.copy()).float().div_(255.0)
    return tensor.unsqueeze(0) if channels == 1 else tensor.permute(2, 0, 1).contiguous()


def save_image(image: torch.Tensor, path: str | Path) -> None:
    """Write a (C, H, W) tensor in [0, 1] as an image file; the format follows the file name's extension."""
    pixels = (image.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu())
    array = pixels[0].numpy() if pixels.shape[0] == 1 else pixels.permute(1, 2, 0).numpy()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
