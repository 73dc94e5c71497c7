"""The classic GAN: a user trains it from the CLI, then samples digits from it."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from lightning.pytorch.plugins.precision import MixedPrecision

from tests.conftest import FAST_TRAINER, run_zoo
from tests.models.adversarial_checks import StepRecorder, check_schedule_resumes, halving_scheduler, quiet_trainer, same
from zoo.cli import main
from zoo.data.digits import DigitsDataModule
from zoo.models.gan import GAN


def test_gan_fits_from_the_cli_in_bf16_mixed_precision_and_writes_a_checkpoint(tmp_path):
    run_zoo(["fit", "--model", "gan", "--data", "digits", "--data.batch_size", "16", *FAST_TRAINER,
             "--trainer.precision", "bf16-mixed"], cwd=tmp_path, in_process=True)
    run_dir = tmp_path / "runs" / "gan" / "version_0"
    # The step budget counts generator updates: 4 batches, 4 steps (Lightning alone would say 8).
    assert (run_dir / "checkpoints" / "epoch=0-step=4.ckpt").exists()
    with open(run_dir / "metrics.csv") as handle:
        validation = [row for row in csv.DictReader(handle) if row.get("val/d_real")]
    # After a few steps the discriminator already tells real digits from fakes (any sigmoid is in (0, 1)).
    assert validation and float(validation[-1]["val/d_real"]) > float(validation[-1]["val/d_fake"]) + 0.05

    model = GAN.load_from_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    images = model.sample(8)
    assert images.shape == (8, 1, 28, 28)


def test_one_batch_updates_the_discriminator_then_the_generator_each_leaving_the_other_alone(tmp_path):
    recorder = StepRecorder()
    quiet_trainer(tmp_path, max_steps=1, callbacks=[recorder]).fit(GAN(), DigitsDataModule(batch_size=16))

    d_step, g_step = recorder.before_steps
    (after,) = recorder.after_batches
    assert (d_step.network, g_step.network) == ("discriminator", "generator")
    # The discriminator's update moves the discriminator; its backward never reaches the generator.
    assert not same(d_step.discriminator_params, g_step.discriminator_params)
    assert same(d_step.generator_params, g_step.generator_params)
    assert all(grad is None for grad in d_step.generator_grads)
    # The generator's update moves the generator, and neither the discriminator's weights nor its gradients.
    assert not same(g_step.generator_params, after.generator_params)
    assert same(g_step.discriminator_params, after.discriminator_params)
    assert same(d_step.discriminator_grads, g_step.discriminator_grads)


def test_sample_gives_images_in_the_unit_range_repeatably_and_without_side_effects():
    model = GAN()
    running_mean = model.generator.net[3].running_mean.clone()  # the generator's batch norm statistics
    first = model.sample(16, generator=torch.Generator().manual_seed(3))
    again = model.sample(16, generator=torch.Generator().manual_seed(3))

    assert first.shape == (16, 1, 28, 28) and first.dtype == torch.float32
    assert 0 <= first.min() and first.max() <= 1 and first.std() > 0
    assert torch.equal(first, again)
    assert torch.equal(model.generator.net[3].running_mean, running_mean)
    assert model.training and model.latent_dim == 100


def test_max_steps_counts_generator_updates_and_resuming_continues_the_count(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    checkpoints = ModelCheckpoint(dirpath=tmp_path / "checkpoints", save_last=True)
    first = quiet_trainer(tmp_path, max_steps=3, limit_train_batches=10, enable_checkpointing=True,
                          callbacks=[checkpoints])
    first.fit(GAN(), DigitsDataModule(batch_size=16))
    assert (first.global_step, first.fit_loop.epoch_loop.total_batch_idx + 1) == (3, 3)

    resumed = quiet_trainer(tmp_path, max_steps=5, limit_train_batches=10)
    resumed.fit(GAN(), DigitsDataModule(batch_size=16), ckpt_path=checkpoints.last_model_path)
    assert (resumed.global_step, resumed.fit_loop.epoch_loop.total_batch_idx + 1) == (5, 5)


def test_fp16_mixed_precision_trains_both_networks_through_one_grad_scaler(tmp_path):
    """16-mixed runs this code on GPUs; fp16 autocast and the same grad scaler also exist on the CPU."""
    scaler = torch.amp.GradScaler("cpu")
    recorder = StepRecorder()
    trainer = quiet_trainer(tmp_path, max_steps=3, callbacks=[recorder],
                            plugins=[MixedPrecision("16-mixed", "cpu", scaler)])
    trainer.fit(GAN(), DigitsDataModule(batch_size=16))

    assert trainer.global_step == 3
    assert all(torch.isfinite(trainer.callback_metrics[key]) for key in ("train/d_loss", "train/g_loss"))
    # manual_backward scaled the losses and each step unscaled before updating: finite, moved weights.
    assert not same(recorder.before_steps[0].generator_params, recorder.after_batches[-1].generator_params)
    assert not same(recorder.before_steps[0].discriminator_params, recorder.after_batches[-1].discriminator_params)
    assert all(torch.isfinite(p).all() for p in recorder.after_batches[-1].generator_params)
    # The scaler was in the loop: it either backed off from its initial scale or counted clean steps.
    state = scaler.state_dict()
    assert state["scale"] < 2.0**16 or state["_growth_tracker"] > 0


def test_gradient_accumulation_is_refused_in_one_line_that_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--model", "gan", "--data", "digits", *FAST_TRAINER, "--trainer.accumulate_grad_batches", "4"])
    assert exit_info.value.code == 2
    error_lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("zoo: error:")]
    assert len(error_lines) == 1
    assert "accumulate_grad_batches=4" in error_lines[0] and "--data.batch_size" in error_lines[0]


class LargestGradient:
    """Patched in as the module's ``on_before_optimizer_step``, which Lightning calls after every callback's."""

    def __init__(self, monkeypatch) -> None:
        self.seen: list[float] = []
        recorder = self

        def record(module, optimizer) -> None:
            recorder.seen.append(max(parameter.grad.abs().max().item() for group in optimizer.param_groups
                                     for parameter in group["params"] if parameter.grad is not None))

        monkeypatch.setattr(GAN, "on_before_optimizer_step", record)


def test_gradient_clipping_from_the_cli_clips_each_networks_step_of_a_gan(tmp_path, monkeypatch):
    """`--trainer.gradient_clip_val`, which Lightning refuses for manual optimization, clips D's and G's steps."""
    largest = LargestGradient(monkeypatch)
    fit = ["fit", "--model", "gan", "--data", "digits", *FAST_TRAINER, "--trainer.limit_train_batches", "2",
           "--fid.every_n_epochs", "0"]
    run_zoo([*fit, "--trainer.default_root_dir", "unclipped"], cwd=tmp_path, in_process=True)
    assert max(largest.seen) > 1e-3  # so the clipped run below has something to clip
    largest.seen.clear()
    run_zoo([*fit, "--trainer.gradient_clip_val", "0.001", "--trainer.gradient_clip_algorithm", "value"],
            cwd=tmp_path, in_process=True)
    assert len(largest.seen) == 4  # the discriminator's and the generator's step, for each of 2 batches
    assert max(largest.seen) <= 1e-3 * (1 + 1e-6)  # 0.001 as a float32


def test_gradient_clipping_under_a_grad_scaler_clips_the_unscaled_gradients(tmp_path, monkeypatch):
    """Clipped after the scaler unscaled them: the largest gradient is the clip value, not 65,536 times less."""
    from zoo.manual_optimization import ClipGradientsByHand

    largest = LargestGradient(monkeypatch)
    trainer = quiet_trainer(tmp_path, max_steps=1, callbacks=[ClipGradientsByHand(1e-3, "value")],
                            plugins=[MixedPrecision("16-mixed", "cpu", torch.amp.GradScaler("cpu"))])
    trainer.fit(GAN(), DigitsDataModule(batch_size=16))
    assert len(largest.seen) == 2
    assert all(abs(value - 1e-3) < 1e-6 for value in largest.seen), largest.seen


def test_the_shipped_config_builds_a_gan_for_the_digits(tmp_path, monkeypatch):
    from zoo.training.cli import run_cli

    monkeypatch.chdir(tmp_path)
    cli = run_cli(["--config", str(Path(__file__).parents[2] / "configs" / "gan.yaml")], run=False)
    assert isinstance(cli.model, GAN) and cli.model.image_shape == (1, 28, 28)
    optimizer_g, optimizer_d = (config["optimizer"] for config in cli.model.configure_optimizers())
    assert isinstance(optimizer_g, torch.optim.Adam) and optimizer_d.defaults["betas"] == (0.5, 0.999)


def test_a_resumed_run_keeps_the_learning_rate_schedule_of_an_uninterrupted_one(tmp_path):
    data = DigitsDataModule(batch_size=16)
    data.setup("fit")
    check_schedule_resumes(
        lambda: GAN(scheduler_g=halving_scheduler, scheduler_d=halving_scheduler),
        data.train_dataloader, data.val_dataloader, tmp_path)
