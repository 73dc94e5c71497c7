"""``zoo reconstruct``: pass a folder of images through a reconstruction model, e.g. to denoise them.

    zoo reconstruct --ckpt runs/denoising_autoencoder --input noisy/ --out clean/   # runs/NAME: newest last.ckpt
    zoo reconstruct --ckpt runs/denoising_autoencoder --input photos/ --out demo/ --noise-std 0.3   # before/after: demo/noisy/ + demo/

Works for any model with ``encode`` and ``decode`` (autoencoder, denoising_autoencoder, vae, a
plugin's). Each image is written under its input's name (and so format), at its input's size and
with its input's channels: it is resized to the size the model was trained at, reconstructed,
and resized back. ``--noise-std S`` first adds Gaussian noise of standard deviation S (pixels in
[0, 1], clipped; seeded by ``--seed``), writes that noisy input to ``OUT/noisy/NAME``, and prints
the PSNR of the noisy and of the reconstructed images against the originals.
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
from zoo.interfaces import Reconstruction

REFUSAL = ("`zoo reconstruct` needs a model with encode() and decode(); {checkpoint} holds {name}, which lacks them; "
           "use a checkpoint of {models}")


def file_channels(path: Path) -> int:
    """1 for a greyscale file, 3 for anything a viewer shows in colour."""
    from PIL import Image

    with Image.open(path) as image:
        return 1 if image.mode in ("1", "L", "LA", "I", "I;16", "F") else 3


def to_channels(image: torch.Tensor, channels: int) -> torch.Tensor:
    if image.shape[0] == channels:
        return image
    if channels == 1:  # ITU-R 601 luma, as PIL's convert("L")
        return (image * torch.tensor([0.299, 0.587, 0.114], device=image.device).view(3, 1, 1)).sum(0, keepdim=True)
    return image.expand(3, -1, -1)


@torch.inference_mode()
def reconstruct_image(model, image: torch.Tensor) -> torch.Tensor:
    """The model's reconstruction of one (C, H, W) image in [0, 1], at the image's own size."""
    _, height, width = tuple(model.image_shape)
    size = list(image.shape[-2:])
    resized = image if size == [height, width] else TF.resize(
        image, [height, width], interpolation=InterpolationMode.BICUBIC, antialias=True).clamp(0, 1)
    output = model.decode(model.encode(resized.unsqueeze(0)))[0].float().clamp(0, 1)
    if list(output.shape[-2:]) != size:
        output = TF.resize(output, size, interpolation=InterpolationMode.BICUBIC, antialias=True).clamp(0, 1)
    return output


def command_reconstruct(argv: Sequence[str]) -> dict:
    """``zoo reconstruct --ckpt CKPT --input DIR --out DIR [--noise-std S]``."""
    parser = folder_parser(
        "zoo reconstruct", "Reconstruct (denoise) every image of a folder with a model that has encode() and decode().",
        "folder of images", "folder to write the reconstructions into, same names")
    parser.add_argument("--noise-std", type=float, default=0.0,
                        help="add Gaussian noise of this std (pixels in [0, 1]) first; noisy inputs go to OUT/noisy/")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise")
    args = parser.parse_args(list(argv))
    if args.noise_std < 0:
        raise ZooError(f"--noise-std must be >= 0, got {args.noise_std}")
    if args.out.expanduser().resolve() == args.input.expanduser().resolve():
        raise ZooError(f"--out {args.out} is the input folder; choose another folder so no input is overwritten")

    model = load_with(args.ckpt, Reconstruction, REFUSAL)
    device = device_named(args.device)
    model.to(device)
    files = list_image_files(args.input.expanduser())
    check_image_files(files)
    out_dir = args.out.expanduser()
    out_dir.mkdir(parents=True, exist_ok=True)
    noise = torch.Generator().manual_seed(args.seed)
    from torchmetrics.functional.image import peak_signal_noise_ratio

    model_channels = tuple(model.image_shape)[0]
    psnr_noisy, psnr_reconstructed = [], []
    for path in files:
        channels = file_channels(path)
        original = load_image(path, channels)
        image = original
        if args.noise_std > 0:
            image = (original + args.noise_std * torch.randn(original.shape, generator=noise)).clamp(0, 1)
            save_image(image, out_dir / "noisy" / path.name)
        reconstruction = reconstruct_image(model, to_channels(image, model_channels).to(device)).cpu()
        reconstruction = to_channels(reconstruction, channels)
        save_image(reconstruction, out_dir / path.name)
        if args.noise_std > 0:
            psnr_noisy.append(float(peak_signal_noise_ratio(image, original, data_range=1.0)))
            psnr_reconstructed.append(float(peak_signal_noise_ratio(reconstruction, original, data_range=1.0)))
    print(f"wrote {len(files)} reconstructions to {out_dir}/")
    result = {"files": len(files)}
    if psnr_noisy:
        result["psnr_noisy"] = sum(psnr_noisy) / len(psnr_noisy)
        result["psnr_reconstructed"] = sum(psnr_reconstructed) / len(psnr_reconstructed)
        print(f"noisy inputs (std {args.noise_std}) in {out_dir / 'noisy'}/; mean PSNR against the originals: "
              f"noisy {result['psnr_noisy']:.2f} dB, reconstructed {result['psnr_reconstructed']:.2f} dB")
    return result
