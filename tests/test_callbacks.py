"""Sample grids: a user training a generative model sees the same noise improve, in whatever logger they use."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from PIL import Image

from zoo.callbacks import SampleGridCallback
from zoo.data.digits import DigitsDataModule
from zoo.errors import ZooError
from zoo.models.autoencoder import Autoencoder
from zoo.models.gan import GAN


def _fit(tmp_path: Path, model: L.LightningModule, callback: SampleGridCallback, **overrides) -> CSVLogger:
    logger = CSVLogger(tmp_path, name="run")
    settings = dict(accelerator="cpu", max_epochs=1, limit_train_batches=2, limit_val_batches=1,
                    num_sanity_val_steps=0, logger=logger, callbacks=[callback], enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False)
    settings.update(overrides)
    L.Trainer(**settings).fit(model, DigitsDataModule(batch_size=16))
    return logger


def test_with_the_csv_logger_each_validation_writes_a_png_of_the_fixed_noise_samples(tmp_path):
    callback = SampleGridCallback(num_samples=16, seed=5)
    model = GAN()
    logger = _fit(tmp_path, model, callback, max_epochs=2)

    pngs = sorted((Path(logger.log_dir) / "samples").glob("*.png"))
    assert [png.name for png in pngs] == ["epoch=000.png", "epoch=001.png"]
    with Image.open(pngs[-1]) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape == (4 * 28 + 5 * 2, 4 * 28 + 5 * 2, 3)  # 4x4 digits with 2-pixel padding
    # The file holds the trained model's samples from the callback's fixed noise.
    expected = callback.sample_grid(model).mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(pixels, expected)
    assert pixels.std() > 0


def test_grids_follow_every_n_epochs(tmp_path):
    logger = _fit(tmp_path, GAN(), SampleGridCallback(num_samples=4, every_n_epochs=2), max_epochs=3)
    assert [png.name for png in (Path(logger.log_dir) / "samples").glob("*.png")] == ["epoch=001.png"]


class _SanityCheckWitness(L.Callback):
    def __init__(self) -> None:
        self.sanity_validations = 0

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        self.sanity_validations += trainer.sanity_checking


def test_the_sanity_check_writes_no_grid(tmp_path):
    witness, grids = _SanityCheckWitness(), SampleGridCallback(num_samples=4)
    # The sanity check runs before epoch 0; the first real validation would come after epoch 1.
    logger = _fit(tmp_path, GAN(), grids, num_sanity_val_steps=1, check_val_every_n_epoch=2,
                  callbacks=[witness, grids])
    assert witness.sanity_validations == 1
    assert not (Path(logger.log_dir) / "samples").exists()


def test_models_without_sample_get_no_grid_and_no_error(tmp_path):
    logger = _fit(tmp_path, Autoencoder(), SampleGridCallback(num_samples=4))
    assert not (Path(logger.log_dir) / "samples").exists()


class _RecordingWandbLogger(WandbLogger):
    """A W&B logger that records images instead of starting a run."""

    def __init__(self) -> None:
        self.images: list[tuple] = []

    def log_image(self, key, images, step=None, **kwargs) -> None:
        self.images.append((key, images, step))


class _RecordingTensorBoardLogger(TensorBoardLogger):
    """A TensorBoard logger whose ``experiment`` records ``add_image`` calls (tensorboard need not be installed)."""

    def __init__(self) -> None:
        self.images: list[tuple] = []

    @property
    def experiment(self):
        return SimpleNamespace(add_image=lambda tag, image, global_step: self.images.append((tag, image, global_step)))


def _validation_end(tmp_path: Path, loggers: list, is_global_zero: bool = True) -> None:
    trainer = SimpleNamespace(sanity_checking=False, current_epoch=0, is_global_zero=is_global_zero, global_step=7,
                              loggers=loggers, default_root_dir=str(tmp_path))
    SampleGridCallback(num_samples=9).on_validation_epoch_end(trainer, GAN())


def test_wandb_and_tensorboard_get_the_grid_through_their_own_image_calls(tmp_path):
    wandb, tensorboard = _RecordingWandbLogger(), _RecordingTensorBoardLogger()
    _validation_end(tmp_path, [wandb, tensorboard])

    ((key, images, step),) = wandb.images
    assert (key, step, images[0].shape) == ("samples", 7, (3, 3 * 28 + 4 * 2, 3 * 28 + 4 * 2))
    ((tag, grid, global_step),) = tensorboard.images
    assert (tag, global_step) == ("samples", 7) and torch.equal(grid, images[0])
    assert not list(tmp_path.rglob("*.png"))


def test_only_rank_zero_writes(tmp_path):
    _validation_end(tmp_path, [], is_global_zero=False)
    assert not list(tmp_path.rglob("*.png"))
    _validation_end(tmp_path, [])  # no logger at all: the PNG goes under the trainer's root
    assert [png.name for png in tmp_path.rglob("*.png")] == ["epoch=000.png"]


def test_nonsense_settings_are_refused():
    with pytest.raises(ZooError, match="every_n_epochs"):
        SampleGridCallback(every_n_epochs=0)
