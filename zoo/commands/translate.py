"""``zoo translate``: run a trained translation model over a folder of images.

    zoo translate --ckpt runs/pix2pix/version_0/checkpoints/last.ckpt --input photos/ --out translated/
    zoo translate --ckpt runs/cyclegan/…/last.ckpt --input zebras/ --out horses/ --direction BtoA

Each image is written under its input's name (and so format), at its input's size. By
default images are resized to the size the model was trained at and the result resized
back (``--size model``, like the reference's test script); ``--size native`` translates at
the image's own resolution (the networks are fully convolutional; sides are padded inside
the model), which is what super-resolution wants: give it images already upscaled
(bicubic) to the target size, or small images with ``--upscale N``, which upscales each by N
(bicubic, as the ``super_resolution`` datamodule's inputs are made) and keeps that size::

    zoo translate --ckpt runs/pix2pix --input small/ --out large/ --upscale 2 --size native

The model class comes from the checkpoint (:func:`zoo.checkpoints.load_model`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from zoo.checkpoints import load_with
from zoo.commands.common import device_named, folder_parser
from zoo.data.image_files import check_image_files, list_image_files, load_image, save_image
from zoo.errors import ZooError
from zoo.interfaces import Translation

REFUSAL = ("checkpoint {checkpoint} holds a {name} model, which has no translate(); `zoo translate` needs a "
           "translation model: {models}")


def translate_folder(model, input_dir: Path, out_dir: Path, direction: str, native_size: bool,
                     device: torch.device, upscale: int = 1) -> list[Path]:
    """Translate every image of ``input_dir`` into ``out_dir`` under the same name; returns the written paths.

    ``upscale`` > 1 first enlarges each image that many times (bicubic, the super-resolution input) and
    writes the result at that larger size.
    """
    channels, height, width = tuple(getattr(model, "image_shape", None) or model.hparams["image_shape"])
    files = list_image_files(input_dir)
    check_image_files(files)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in files:
        image = load_image(path, channels).to(device)
        if upscale > 1:  # the same degraded input the super_resolution datamodule trains on (no antialias up)
            image = TF.resize(image, [side * upscale for side in image.shape[-2:]],
                              interpolation=InterpolationMode.BICUBIC, antialias=False).clamp(0, 1)
        original_size = list(image.shape[-2:])
        if not native_size and original_size != [height, width]:
            image = TF.resize(image, [height, width], interpolation=InterpolationMode.BICUBIC,
                              antialias=True).clamp(0, 1)
        translated = model.translate(image.unsqueeze(0), direction=direction)[0]
        if list(translated.shape[-2:]) != original_size:
            translated = TF.resize(translated, original_size, interpolation=InterpolationMode.BICUBIC,
                                   antialias=True).clamp(0, 1)
        target = out_dir / path.name
        save_image(translated, target)
        written.append(target)
    return written


def command_translate(argv: Sequence[str]) -> None:
    """``zoo translate --ckpt CKPT --input DIR --out DIR [--direction AtoB|BtoA] [--size model|native]
    [--upscale N]``."""
    parser = folder_parser(
        "zoo translate", "Translate every image of a folder with a trained translation model (pix2pix, cyclegan, ...).",
        "folder of images to translate", "folder to write the results into, same names")
    parser.add_argument("--direction", choices=("AtoB", "BtoA"), default="AtoB",
                        help="AtoB (default) or BtoA; pix2pix knows only the direction it was trained in")
    parser.add_argument("--size", choices=("model", "native"), default="model",
                        help="model: resize to the training size and back (default); native: translate as is")
    parser.add_argument("--upscale", type=int, default=1,
                        help="super-resolution: enlarge each image N times (bicubic) first, write it at that size")
    args = parser.parse_args(list(argv))
    if args.upscale < 1:
        raise ZooError(f"--upscale must be at least 1, got {args.upscale}")

    model = load_with(args.ckpt, Translation, REFUSAL)
    device = device_named(args.device)
    model.to(device)
    with torch.inference_mode():
        written = translate_folder(model, args.input.expanduser(), args.out.expanduser(), args.direction,
                                   args.size == "native", device, args.upscale)
    print(f"wrote {len(written)} translated image(s) ({args.direction}) to {args.out}")
