"""DCGAN: a user trains it on the digits from the CLI, swaps an optimizer, and samples at any image size."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from tests.conftest import FAST_TRAINER, run_zoo
from tests.models.adversarial_checks import StepRecorder, check_schedule_resumes, halving_scheduler, quiet_trainer, same
from zoo.data.digits import DigitsDataModule
from zoo.errors import ZooError
from zoo.models.dcgan import DCGAN


def test_dcgan_fits_from_the_cli_with_an_optimizer_swapped_and_reloads_from_its_checkpoint(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_zoo(["fit", "--model", "dcgan", "--data", "digits", "--data.batch_size", "16", *FAST_TRAINER,
                 "--model.optimizer_d", "torch.optim.RMSprop", "--model.optimizer_d.lr", "0.0001",
                 "--checkpoint.every_n_train_steps", "2", "--checkpoint.save_top_k", "-1"],
                cwd=tmp_path, in_process=True)
    checkpoints = tmp_path / "runs" / "dcgan" / "version_0" / "checkpoints"
    # One step per generator update: a checkpoint every 2 of the 4, and no warning about when it was taken.
    assert (checkpoints / "epoch=0-step=2.ckpt").exists() and (checkpoints / "epoch=0-step=4.ckpt").exists()
    assert not [str(warning.message) for warning in caught if "manual optimization" in str(warning.message)]

    # The discriminator really trained with RMSprop; the generator kept the paper's Adam.
    checkpoint = torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=False)
    generator_group, discriminator_group = (state["param_groups"][0] for state in checkpoint["optimizer_states"])
    assert generator_group["betas"] == (0.5, 0.999) and generator_group["lr"] == pytest.approx(2e-4)
    assert "alpha" in discriminator_group and discriminator_group["lr"] == pytest.approx(1e-4)

    # load_from_checkpoint rebuilds the model, optimizer choice included.
    model = DCGAN.load_from_checkpoint(checkpoints / "last.ckpt")
    assert isinstance(model.optimizer_d(model.discriminator.parameters()), torch.optim.RMSprop)
    assert model.sample(4).shape == (4, 1, 28, 28)


@pytest.mark.parametrize(
    ("image_shape", "start_size", "upsampling_stages"),
    [((1, 28, 28), 7, 2), ((3, 32, 32), 4, 3), ((3, 64, 64), 4, 4)],
)
def test_dcgan_builds_for_the_image_shape_of_the_data(image_shape, start_size, upsampling_stages):
    model = DCGAN(image_shape=image_shape, generator_features=8, discriminator_features=8)
    transposed = [layer for layer in model.generator.modules() if isinstance(layer, nn.ConvTranspose2d)]
    assert transposed[0].kernel_size == (start_size, start_size)
    assert sum(layer.stride == (2, 2) for layer in transposed) == upsampling_stages

    images = model.sample(3)
    assert images.shape == (3, *image_shape) and 0 <= images.min() and images.max() <= 1
    assert model.discriminator(images * 2 - 1).shape == (3,)


def test_a_size_that_cannot_be_halved_is_refused_with_a_hint():
    with pytest.raises(ZooError, match="image_size"):
        DCGAN(image_shape=(3, 15, 15))


def test_weights_start_from_the_papers_normal_distribution():
    model = DCGAN(image_shape=(3, 64, 64))
    convolution = model.generator.net[3]  # the first fractionally-strided stage, 512 -> 256 channels
    assert isinstance(convolution, nn.ConvTranspose2d)
    weights = convolution.weight.detach()
    assert weights.mean().abs() < 1e-3 and weights.std().item() == pytest.approx(0.02, rel=0.02)


def test_one_batch_updates_the_discriminator_then_the_generator_each_leaving_the_other_alone(tmp_path):
    recorder = StepRecorder()
    model = DCGAN(generator_features=8, discriminator_features=8)
    quiet_trainer(tmp_path, max_steps=1, callbacks=[recorder]).fit(model, DigitsDataModule(batch_size=16))

    d_step, g_step = recorder.before_steps
    (after,) = recorder.after_batches
    assert (d_step.network, g_step.network) == ("discriminator", "generator")
    assert not same(d_step.discriminator_params, g_step.discriminator_params)
    assert same(d_step.generator_params, g_step.generator_params)
    assert not same(g_step.generator_params, after.generator_params)
    assert same(g_step.discriminator_params, after.discriminator_params)
    assert same(d_step.discriminator_grads, g_step.discriminator_grads)


def test_the_shipped_config_builds_a_dcgan_for_the_digits(tmp_path, monkeypatch):
    from zoo.training.cli import run_cli

    monkeypatch.chdir(tmp_path)
    cli = run_cli(["--config", str(Path(__file__).parents[2] / "configs" / "dcgan.yaml")], run=False)
    assert isinstance(cli.model, DCGAN) and cli.model.image_shape == (1, 28, 28)
    optimizer_g, optimizer_d = (config["optimizer"] for config in cli.model.configure_optimizers())
    assert isinstance(optimizer_d, torch.optim.Adam) and optimizer_g.defaults["lr"] == pytest.approx(2e-4)


def test_a_resumed_run_keeps_the_learning_rate_schedule_of_an_uninterrupted_one(tmp_path):
    data = DigitsDataModule(batch_size=16)
    data.setup("fit")
    check_schedule_resumes(
        lambda: DCGAN(generator_features=8, discriminator_features=8, scheduler_g=halving_scheduler, scheduler_d=halving_scheduler),
        data.train_dataloader, data.val_dataloader, tmp_path)
