"""`make demo` writes samples, reconstructions and metrics under runs/demo (checked here in quick mode)."""

from __future__ import annotations

import json
import subprocess
import sys

from PIL import Image


def test_demo_writes_sample_grid_reconstructions_and_metrics(tmp_path):
    result = subprocess.run([sys.executable, "-m", "zoo.demo", "--quick"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "runs" / "demo"
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"vae", "autoencoder", "wall_seconds"}
    assert metrics["vae"]["test_metrics"]["test/psnr"] > 0
    assert "test/elbo" in metrics["vae"]["test_metrics"]
    assert metrics["vae"]["last_validation"]["val/fid"] > 0  # the VAE samples, so FID is measured
    with Image.open(out / "vae_samples.png") as grid:
        assert grid.size[0] > 200 and grid.size[1] > 200  # 8x8 digits
    for name in ("vae", "autoencoder"):
        with Image.open(out / f"{name}_reconstructions.png") as pairs:
            assert pairs.size[0] > 2 * pairs.size[1]  # a row of inputs over a row of reconstructions
        assert f"runs/demo/{name}_reconstructions.png" in result.stdout  # the demo says where to look
