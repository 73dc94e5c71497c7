"""`make demo` writes samples, reconstructions and metrics under runs/demo (checked here in quick mode)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
from PIL import Image


def blank_image_fid() -> float:
    """FID of all-black images against the digits' validation split (about 123 with the digits features)."""
    from zoo.data.digits import DigitsDataModule
    from zoo.metrics.fid import compute_fid

    datamodule = DigitsDataModule()
    datamodule.setup("fit")
    real_images = torch.cat([batch[0] for batch in datamodule.val_dataloader()])
    return compute_fid(real_images, torch.zeros_like(real_images), feature="digits")


def test_demo_writes_sample_grid_reconstructions_and_metrics(tmp_path):
    result = subprocess.run([sys.executable, "-m", "zoo.commands.demo", "--quick"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "runs" / "demo"
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"vae", "autoencoder", "wall_seconds"}
    for name in ("vae", "autoencoder"):  # PSNR is the MSE's, in dB, for images in [0, 1]
        test_metrics = metrics[name]["test_metrics"]
        assert test_metrics["test/psnr"] == pytest.approx(10 * math.log10(1 / test_metrics["test/mse"]), abs=0.05)
    assert "test/elbo" in metrics["vae"]["test_metrics"]
    # The VAE samples, so FID is measured; even after the quick demo's few batches its samples must be nearer
    # the digits than blank images are (a decoder that collapsed to black would not be).
    assert 0 < metrics["vae"]["last_validation"]["val/fid"] < blank_image_fid()
    with Image.open(out / "vae_samples.png") as grid:
        assert grid.size[0] > 200 and grid.size[1] > 200  # 8x8 digits
    for name in ("vae", "autoencoder"):
        with Image.open(out / f"{name}_reconstructions.png") as pairs:
            assert pairs.size[0] > 2 * pairs.size[1]  # a row of inputs over a row of reconstructions
        assert f"runs/demo/{name}_reconstructions.png" in result.stdout  # the demo says where to look
