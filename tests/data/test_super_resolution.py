"""Super-resolution pairs: A is B with detail removed by the scale factor, from digits or a folder."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import FAST_TRAINER
from tests.data.image_folders import write_images
from tests.data.test_paired import zoo_error_line
from zoo.data.super_resolution import SuperResolutionDataModule, bicubic_degrade
from zoo.errors import ZooError


def psnr(images: torch.Tensor, targets: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / (images - targets).pow(2).mean()))


def test_digits_pairs_lose_more_detail_at_larger_scales():
    scores = {}
    for scale in (2, 4):
        datamodule = SuperResolutionDataModule(scale=scale, batch_size=64, num_workers=0)
        assert datamodule.image_shape == (1, 28, 28)
        datamodule.setup("fit")
        batch = next(iter(datamodule.val_dataloader()))
        assert batch["A"].shape == batch["B"].shape == (64, 1, 28, 28)
        assert 0 <= batch["A"].min() and batch["A"].max() <= 1
        torch.testing.assert_close(batch["A"], bicubic_degrade(batch["B"], scale))
        scores[scale] = psnr(batch["A"], batch["B"])
    assert 10 < scores[4] < scores[2] < 40


def test_folder_source_crops_and_splits(tmp_path):
    write_images(tmp_path / "photos", 10, 48)
    datamodule = SuperResolutionDataModule(root=str(tmp_path / "photos"), scale=4, image_size=32, batch_size=4,
                                           num_workers=0)
    assert datamodule.image_shape == (3, 32, 32)
    datamodule.setup("fit")
    assert (len(datamodule.train_set), len(datamodule.val_set)) == (9, 1)
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["A"].shape == batch["B"].shape == (4, 3, 32, 32)
    torch.testing.assert_close(batch["A"], bicubic_degrade(batch["B"], 4))


def test_bad_sizes_are_refused():
    with pytest.raises(ZooError, match="multiple of scale 4"):
        SuperResolutionDataModule(scale=4, image_size=30)
    with pytest.raises(ZooError, match="digits are grey"):
        SuperResolutionDataModule(channels=3)


def test_cli_reports_a_non_image_file(tmp_path, capsys):
    write_images(tmp_path / "photos", 6, 32)
    (tmp_path / "photos" / "captions.csv").write_text("0000.png,a cat\n")
    last_line = zoo_error_line(["fit", "--model", "pix2pix", "--data", "super_resolution", "--data.root",
                                str(tmp_path / "photos"), "--data.image_size", "32", *FAST_TRAINER], capsys)
    assert "photos/captions.csv is not an image file" in last_line
