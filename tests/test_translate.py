"""``zoo translate``: a trained checkpoint turns a folder of images into translated images of the same names."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from tests.conftest import FAST_TRAINER, run_zoo
from tests.data.image_folders import write_images, write_side_by_side
from tests.data.test_paired import zoo_error_line
from zoo.errors import ZooError
from zoo.models.autoencoder import Autoencoder
from zoo.models.cyclegan import CycleGAN
from zoo.commands.translate import command_translate


@pytest.fixture(scope="module")
def pix2pix_checkpoint(tmp_path_factory):
    """A pix2pix trained for a few steps by `zoo fit` on side-by-side A|B images."""
    folder = tmp_path_factory.mktemp("pix2pix")
    write_side_by_side(folder / "data" / "train", 6, 32, ext=".jpg")
    write_side_by_side(folder / "data" / "val", 2, 32, ext=".jpg")
    run_zoo(["fit", "--model", "pix2pix", "--data", "paired", "--data.root", str(folder / "data"),
             "--data.image_size", "32", "--data.batch_size", "2", "--data.num_workers", "0",
             "--model.generator_channels", "8", "--model.discriminator_channels", "8",
             "--fid.every_n_epochs", "0",  # RGB FID would need the Inception weights, not available offline
             *FAST_TRAINER], cwd=folder, in_process=True)
    return folder / "runs" / "pix2pix" / "version_0" / "checkpoints" / "last.ckpt"


def photos_of_several_sizes(folder):
    write_images(folder, 2, 32)
    Image.fromarray(np.full((24, 40, 3), 200, np.uint8)).save(folder / "wide.jpg")


def assert_same_names_and_sizes(source_dir, out_dir) -> None:
    for source in source_dir.iterdir():
        with Image.open(source) as original, Image.open(out_dir / source.name) as translated:
            assert translated.size == original.size and translated.mode == "RGB"


def test_translates_a_folder_keeping_names_and_sizes(pix2pix_checkpoint, tmp_path, capsys):
    photos_of_several_sizes(tmp_path / "in")
    result = run_zoo(["translate", "--ckpt", str(pix2pix_checkpoint), "--input", str(tmp_path / "in"),
                      "--out", str(tmp_path / "out")], cwd=tmp_path, in_process=True)
    assert "wrote 3 translated image(s)" in result.stdout
    assert_same_names_and_sizes(tmp_path / "in", tmp_path / "out")
    # At the images' own resolution (what super-resolution wants) the sizes are kept too.
    command_translate(["--ckpt", str(pix2pix_checkpoint), "--input", str(tmp_path / "in"),
                       "--out", str(tmp_path / "native"), "--size", "native"])
    assert_same_names_and_sizes(tmp_path / "in", tmp_path / "native")


def test_upscale_enlarges_small_images_for_super_resolution(pix2pix_checkpoint, tmp_path, capsys):
    photos_of_several_sizes(tmp_path / "small")
    command_translate(["--ckpt", str(pix2pix_checkpoint), "--input", str(tmp_path / "small"),
                       "--out", str(tmp_path / "large"), "--upscale", "2", "--size", "native"])
    for source in (tmp_path / "small").iterdir():
        with Image.open(source) as small, Image.open(tmp_path / "large" / source.name) as large:
            assert large.size == (2 * small.size[0], 2 * small.size[1])


def test_refuses_a_direction_pix2pix_did_not_learn(pix2pix_checkpoint, tmp_path):
    photos_of_several_sizes(tmp_path / "in")
    with pytest.raises(ZooError, match="pix2pix translates in the one direction it learnt"):
        command_translate(["--ckpt", str(pix2pix_checkpoint), "--input", str(tmp_path / "in"),
                           "--out", str(tmp_path / "out"), "--direction", "BtoA"])


def fit_one_step(model: L.LightningModule, batch, path) -> None:
    trainer = L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, DataLoader([batch], batch_size=None))
    trainer.save_checkpoint(path)


def test_python_api_checkpoints_are_found_by_trying_registered_models(tmp_path, capsys):
    """A CycleGAN saved without the CLI (no class path inside) still translates, in both directions."""
    fit_one_step(CycleGAN(image_shape=(3, 32, 32), generator_channels=8, discriminator_channels=8, resnet_blocks=1),
                 {"A": torch.rand(2, 3, 32, 32), "B": torch.rand(2, 3, 32, 32)}, tmp_path / "cyclegan.ckpt")
    write_images(tmp_path / "zebras", 2, 32)
    command_translate(["--ckpt", str(tmp_path / "cyclegan.ckpt"), "--input", str(tmp_path / "zebras"),
                       "--out", str(tmp_path / "horses"), "--direction", "BtoA"])
    assert sorted(p.name for p in (tmp_path / "horses").iterdir()) == ["0000.png", "0001.png"]

    fit_one_step(Autoencoder(image_shape=(1, 28, 28)), (torch.rand(4, 1, 28, 28), torch.zeros(4)),
                 tmp_path / "autoencoder.ckpt")
    last_line = zoo_error_line(["translate", "--ckpt", str(tmp_path / "autoencoder.ckpt"), "--input",
                                str(tmp_path / "zebras"), "--out", str(tmp_path / "nowhere")], capsys)
    assert "holds a autoencoder model, which has no translate()" in last_line
    assert not (tmp_path / "nowhere").exists()
