"""`zoo reconstruct`: a denoising autoencoder cleans a folder of noisy images, keeping names, sizes and channels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import FAST_TRAINER, run_zoo, zoo_in_process
from tests.test_errors import write_checkpoint
from zoo.data.digits import digits_splits
from zoo.data.image_files import load_image, save_image


def psnr(image: torch.Tensor, reference: torch.Tensor) -> float:
    return float(10 * torch.log10(1.0 / (image - reference).pow(2).mean()))


@pytest.fixture(scope="module")
def denoiser(tmp_path_factory):
    root = tmp_path_factory.mktemp("denoiser")
    run_zoo(["fit", "--model", "denoising_autoencoder", "--data", "digits", "--model.noise_std", "0.5",
             "--model.lr", "0.005", "--data.batch_size", "32", *FAST_TRAINER, "--trainer.limit_train_batches", "60",
             "--fid.every_n_epochs", "0"], cwd=root, in_process=True)
    return root / "runs" / "denoising_autoencoder" / "version_0" / "checkpoints" / "last.ckpt"


def test_reconstructing_a_noisy_folder_raises_psnr_against_the_clean_images(denoiser, tmp_path):
    clean = [image for image, _ in list(digits_splits()["test"])[:12]]
    generator = torch.Generator().manual_seed(1)
    for index, image in enumerate(clean):
        save_image((image + 0.5 * torch.randn(image.shape, generator=generator)).clamp(0, 1),
                   tmp_path / "noisy" / f"digit_{index:02d}.png")
    run_zoo(["reconstruct", "--ckpt", str(denoiser), "--input", "noisy", "--out", "denoised"],
            cwd=tmp_path, in_process=True)
    before = [psnr(load_image(tmp_path / "noisy" / f"digit_{i:02d}.png", 1), clean[i]) for i in range(12)]
    after = [psnr(load_image(tmp_path / "denoised" / f"digit_{i:02d}.png", 1), clean[i]) for i in range(12)]
    assert np.mean(after) > np.mean(before) + 1.0  # dB


def test_names_sizes_and_channels_are_kept_and_noise_std_writes_the_noisy_inputs(denoiser, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(photos / "colour.png")
    Image.fromarray(rng.integers(0, 256, (56, 56), dtype=np.uint8)).save(photos / "grey.jpg")
    result = run_zoo(["reconstruct", "--ckpt", str(denoiser), "--input", "photos", "--out", "out",
                      "--noise-std", "0.3"], cwd=tmp_path, in_process=True)
    for folder in (tmp_path / "out", tmp_path / "out" / "noisy"):
        with Image.open(folder / "colour.png") as colour, Image.open(folder / "grey.jpg") as grey:
            assert (colour.size, colour.mode) == ((40, 30), "RGB")
            assert (grey.size, grey.mode) == ((56, 56), "L")
    assert "mean PSNR against the originals: noisy" in result.stdout


def test_a_model_without_encode_and_decode_is_refused_in_one_line(tmp_path, capsys):
    from zoo.models.gan import GAN

    checkpoint = write_checkpoint(GAN(), tmp_path / "gan.ckpt")  # what `zoo fit --model gan` writes, untrained
    (tmp_path / "in").mkdir()
    save_image(torch.zeros(1, 28, 28), tmp_path / "in" / "x.png")
    result = zoo_in_process(["reconstruct", "--ckpt", str(checkpoint), "--input", "in", "--out", "out"], cwd=tmp_path,
                            capsys=capsys)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "zoo: error: `zoo reconstruct` needs a model with encode() and decode()" in result.stderr
