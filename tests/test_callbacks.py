"""Image grids: a user sees the same noise improve (generation) or the same pairs translated (translation),
in whatever logger they use."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from PIL import Image

from tests.data.image_folders import write_side_by_side
from zoo.callbacks import SampleGridCallback, TranslationGridCallback
from zoo.data.digits import DigitsDataModule
from zoo.data.paired import PairedDataModule
from zoo.errors import ZooError
from zoo.models.autoencoder import Autoencoder
from zoo.models.gan import GAN
from zoo.models.pix2pix import Pix2Pix


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
    from lightning.pytorch.plugins.precision import Precision

    trainer = SimpleNamespace(sanity_checking=False, fast_dev_run=False, current_epoch=0,
                              is_global_zero=is_global_zero, global_step=7, loggers=loggers,
                              default_root_dir=str(tmp_path), precision_plugin=Precision())
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
    with pytest.raises(ZooError, match="max_images"):
        TranslationGridCallback(max_images=0)


# ---------------------------------------------------------------- translation grids


def _fit_pix2pix(tmp_path: Path, callback: TranslationGridCallback, **overrides) -> CSVLogger:
    write_side_by_side(tmp_path / "data" / "train", 4, 32)
    write_side_by_side(tmp_path / "data" / "val", 3, 32, seed=1)
    logger = CSVLogger(tmp_path, name="run")
    settings = dict(accelerator="cpu", max_epochs=1, limit_train_batches=2, limit_val_batches=2,
                    num_sanity_val_steps=0, logger=logger, callbacks=[callback], enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False)
    settings.update(overrides)
    model = Pix2Pix(image_shape=(3, 32, 32), generator_channels=16, discriminator_channels=16)
    L.Trainer(**settings).fit(model, PairedDataModule(str(tmp_path / "data"), image_size=32, batch_size=2,
                                                      num_workers=0))
    return logger


def test_a_pix2pix_run_writes_its_first_validation_pairs_translated(tmp_path):
    logger = _fit_pix2pix(tmp_path, TranslationGridCallback(max_images=2), max_epochs=2)

    pngs = sorted((Path(logger.log_dir) / "translations").glob("*.png"))
    assert [png.name for png in pngs] == ["epoch=000.png", "epoch=001.png"]
    with Image.open(pngs[-1]) as image:
        pixels = np.asarray(image.convert("RGB"))
    # 2 rows (the first validation batch) of A | fake B | real B, 32-pixel tiles with 2 pixels of padding.
    assert pixels.shape == (2 * 34 + 2, 3 * 34 + 2, 3)
    first_pair = np.asarray(Image.open(tmp_path / "data" / "val" / "0000.png").convert("RGB"))
    assert np.array_equal(pixels[2:34, 2:34], first_pair[:, :32])  # A, the grey half
    assert np.array_equal(pixels[2:34, 70:102], first_pair[:, 32:])  # real B, the colour half
    assert pixels[2:34, 36:68].std() > 0  # the generator's B


def test_no_translation_grid_for_the_sanity_check_or_models_without_one(tmp_path):
    # The sanity check runs before epoch 0; the first real validation would come after epoch 1.
    witness, grids = _SanityCheckWitness(), TranslationGridCallback()
    logger = _fit_pix2pix(tmp_path / "pix2pix", grids, num_sanity_val_steps=1, check_val_every_n_epoch=2,
                          callbacks=[witness, grids])
    assert witness.sanity_validations == 1
    assert not (Path(logger.log_dir) / "translations").exists()
    logger = _fit(tmp_path / "gan", GAN(), TranslationGridCallback())
    assert not (Path(logger.log_dir) / "translations").exists()


def test_cuda_settings_apply_on_a_gpu_run_only_and_are_undone_at_its_end():
    from zoo.callbacks import CUDASettings

    before = (torch.get_float32_matmul_precision(), torch.backends.cudnn.benchmark)
    settings = CUDASettings()
    cpu_run = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cpu")))
    settings.setup(cpu_run, None, "fit")
    assert (torch.get_float32_matmul_precision(), torch.backends.cudnn.benchmark) == before
    gpu_run = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cuda", 0)))
    settings.setup(gpu_run, None, "fit")
    try:
        assert torch.get_float32_matmul_precision() == "high" and torch.backends.cudnn.benchmark
    finally:
        settings.teardown(gpu_run, None, "fit")
    assert (torch.get_float32_matmul_precision(), torch.backends.cudnn.benchmark) == before


class _GeneratorWeights(L.Callback):
    """The trained generator's and discriminator's parameters after every batch (before GeneratorEMA reads them)."""

    def __init__(self) -> None:
        self.generator, self.discriminator = [], []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.generator.append([p.detach().clone() for p in pl_module.generator.parameters()])
        self.discriminator.append([p.detach().clone() for p in pl_module.discriminator.parameters()])


def test_generator_ema_samples_and_checkpoints_the_averaged_generator_and_trains_on(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    from zoo.callbacks import GeneratorEMA
    from zoo.models.dcgan import DCGAN

    decay = 0.5
    weights, checkpoint = _GeneratorWeights(), ModelCheckpoint(dirpath=tmp_path, save_last=True)
    model = DCGAN(generator_features=8, discriminator_features=8)
    L.Trainer(accelerator="cpu", max_steps=3, limit_val_batches=0, logger=False, enable_progress_bar=False,
              enable_model_summary=False, callbacks=[weights, GeneratorEMA(decay=decay), checkpoint],
              default_root_dir=tmp_path).fit(model, DigitsDataModule(batch_size=16))

    average = weights.generator[0]  # the average starts as the first step's weights
    for step in weights.generator[1:]:
        average = [decay * averaged + (1 - decay) * current for averaged, current in zip(average, step)]
    assert not all(torch.equal(a, b) for a, b in zip(average, weights.generator[-1]))
    # After fit the model holds the average, so sample() draws from it; the discriminator is the trained one.
    for averaged, parameter in zip(average, model.generator.parameters()):
        assert torch.allclose(parameter, averaged, atol=1e-6)
    for trained, parameter in zip(weights.discriminator[-1], model.discriminator.parameters()):
        assert torch.equal(parameter, trained)
    # The checkpoint's weights are the averaged generator's (what zoo sample loads); the trained ones are kept
    # under current_model_state, from which a resumed fit trains on.
    saved = torch.load(tmp_path / "last.ckpt", map_location="cpu", weights_only=False)
    reloaded = DCGAN.load_from_checkpoint(tmp_path / "last.ckpt", map_location="cpu")
    for averaged, parameter in zip(average, reloaded.generator.parameters()):
        assert torch.allclose(parameter, averaged, atol=1e-6)
    first_name = next(name for name, _ in model.generator.named_parameters())
    assert torch.equal(saved["current_model_state"][f"generator.{first_name}"], weights.generator[-1][0])


def test_generator_ema_refuses_a_model_without_a_generator(tmp_path):
    from zoo.callbacks import GeneratorEMA

    with pytest.raises(ZooError, match="generator"):
        L.Trainer(accelerator="cpu", max_steps=1, logger=False, enable_progress_bar=False,
                  enable_model_summary=False, callbacks=[GeneratorEMA()],
                  default_root_dir=tmp_path).fit(Autoencoder(), DigitsDataModule(batch_size=16))
    with pytest.raises(ZooError, match="decay"):
        GeneratorEMA(decay=1.0)
