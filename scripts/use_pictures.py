"""Pictures for the use pages, made by rerunning each recipe as printed: ``python scripts/use_pictures.py [USE ...]``.

Every recipe of ``docs/uses/`` runs here through the ``zoo`` command a user types (a subprocess
per command, in ``runs/use_pictures/``), and its picture is copied to ``docs/uses/images/``:

    anomaly_detection   zoo fit on the 3s only, zoo score --maps: most_anomalous.png, most_normal.png
    denoising           zoo fit denoising_autoencoder, zoo reconstruct --noise-std: clean | noisy | denoised
    interpolation       zoo fit vae, zoo sample --interpolate
    reduction           the same vae, zoo encode --out latents.png
    augmentation        zoo fit vae and dcgan with --model.conditional true, zoo sample --per-class 10
    super_resolution    zoo fit pix2pix on super_resolution, zoo translate --upscale 2: small | bicubic | pix2pix | original

The budgets are the ones the pages print, so a page's picture is what its commands give; the
reduction picture reuses the interpolation recipe's 15-epoch VAE, as its caption says.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "uses" / "images"
WORK = ROOT / "runs" / "use_pictures"


def zoo(*args: str) -> str:
    """``zoo ARGS`` in WORK, as a user runs it; its output, or the error's tail and exit."""
    print("zoo", *args, file=sys.stderr, flush=True)
    result = subprocess.run([sys.executable, "-m", "zoo.cli", *args], cwd=WORK, capture_output=True, text=True,
                            env={**os.environ, "ZOO_QUIET": "1"})
    if result.returncode != 0:
        raise SystemExit(f"zoo {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def fit(name: str, *flags: str) -> str:
    """Train once per script run under runs/use_pictures/NAME; the run folder, for --ckpt."""
    run = f"runs/{name}"
    if not (WORK / run).exists():
        zoo("fit", *flags, "--trainer.default_root_dir", run, "--fid.every_n_epochs", "0")
    return run


def write_test_digits(folder: Path, count: int) -> None:
    from zoo.data.digits import digits_splits
    from zoo.data.image_files import save_image

    for index, (image, _) in enumerate(digits_splits()["test"]):
        if index == count:
            break
        save_image(image, folder / f"digit_{index:03d}.png")


def anomaly_detection() -> None:
    run = fit("one_class_3", "--model", "autoencoder", "--data", "digits", "--data.normal_classes", "[3]",
              "--trainer.max_epochs", "30")
    print(zoo("score", "--ckpt", run, "--data", "digits", "--split", "test", "--normal-class", "3",
              "--out", "scores.csv", "--maps", "maps", "--top", "6"))
    for sheet in ("most_anomalous.png", "most_normal.png"):
        shutil.copy(WORK / "maps" / sheet, IMAGES / sheet)


def denoising() -> None:
    from torchvision.utils import make_grid, save_image

    from zoo.data.image_files import load_image

    run = fit("denoising_autoencoder", "--model", "denoising_autoencoder", "--data", "digits",
              "--model.noise_std", "0.3", "--trainer.max_epochs", "10")
    write_test_digits(WORK / "my_images", 12)
    print(zoo("reconstruct", "--ckpt", run, "--input", "my_images", "--out", "demo", "--noise-std", "0.3"))
    names = sorted(path.name for path in (WORK / "my_images").iterdir())
    folders = (WORK / "my_images", WORK / "demo" / "noisy", WORK / "demo")  # clean, noisy, denoised rows
    rows = [load_image(folder / name, channels=1) for folder in folders for name in names]
    save_image(make_grid(rows, nrow=len(names), padding=2, pad_value=1.0), IMAGES / "denoising.png")


def vae() -> str:
    return fit("vae", "--model", "vae", "--data", "digits", "--trainer.max_epochs", "15")


def interpolation() -> None:
    zoo("sample", "--ckpt", vae(), "--interpolate", "--steps", "8", "-n", "4", "--out", "walk.png")
    shutil.copy(WORK / "walk.png", IMAGES / "interpolation.png")


def reduction() -> None:
    zoo("encode", "--ckpt", vae(), "--data", "digits", "--split", "test", "--out", "latents.png")
    shutil.copy(WORK / "latents.png", IMAGES / "latents.png")


def augmentation() -> None:
    """The recipe's two conditional models at the budgets of its table (vae with a 4-d latent, 15 epochs)."""
    runs = {"vae": fit("cvae", "--model", "vae", "--data", "digits", "--model.conditional", "true",
                       "--model.latent_dim", "4", "--trainer.max_epochs", "15"),
            "dcgan": fit("cdcgan", "--model", "dcgan", "--data", "digits", "--model.conditional", "true",
                         "--trainer.max_epochs", "20")}
    for model, run in runs.items():
        zoo("sample", "--ckpt", run, "--per-class", "10", "--out", f"grid_{model}.png")
        shutil.copy(WORK / f"grid_{model}.png", IMAGES / f"augmentation_{model}.png")


def super_resolution() -> None:
    """Test digits halved in size, enlarged back by bicubic alone and by the recipe's pix2pix."""
    import torchvision.transforms.v2.functional as TF
    from torchvision.transforms import InterpolationMode
    from torchvision.utils import make_grid, save_image

    from zoo.data.digits import digits_splits
    from zoo.data.image_files import load_image

    run = fit("super_resolution", "--config", str(ROOT / "configs" / "super_resolution_digits.yaml"),
              "--data.scale", "2", "--trainer.max_steps", "600")
    originals = [image for (image, _), _ in zip(digits_splits()["test"], range(12))]
    small = WORK / "small"
    small.mkdir(exist_ok=True)
    for index, image in enumerate(originals):  # downscaled as the super_resolution datamodule does
        save_image(TF.resize(image, [14, 14], interpolation=InterpolationMode.BICUBIC, antialias=True).clamp(0, 1),
                   small / f"digit_{index:03d}.png")
    print(zoo("translate", "--ckpt", run, "--input", "small", "--out", "large", "--upscale", "2", "--size", "native"))
    names = sorted(path.name for path in small.iterdir())
    inputs = [load_image(small / name, channels=1) for name in names]
    rows = [TF.resize(image, [28, 28], interpolation=InterpolationMode.NEAREST) for image in inputs]  # pixels as given
    rows += [TF.resize(image, [28, 28], interpolation=InterpolationMode.BICUBIC, antialias=False).clamp(0, 1)
             for image in inputs]  # what --upscale 2 feeds the model: the bicubic baseline
    rows += [load_image(WORK / "large" / name, channels=1) for name in names]
    rows += originals
    save_image(make_grid(rows, nrow=len(names), padding=2, pad_value=1.0), IMAGES / "super_resolution.png")


USES = {"anomaly_detection": anomaly_detection, "denoising": denoising, "interpolation": interpolation,
        "reduction": reduction, "augmentation": augmentation, "super_resolution": super_resolution}


def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(USES))
    if unknown:
        raise SystemExit(f"unknown use {', '.join(unknown)}; expected some of: {', '.join(USES)}")
    IMAGES.mkdir(parents=True, exist_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    for name in names or list(USES):
        started = time.perf_counter()
        USES[name]()
        print(f"{name}: done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
