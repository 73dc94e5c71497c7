"""WGAN: a user trains it from its config; the critic stays clipped and the generator steps every n_critic batches."""

from __future__ import annotations

import csv
from pathlib import Path

import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from tests.conftest import FAST_TRAINER, run_zoo
from tests.models.adversarial_checks import StepRecorder, check_schedule_resumes, halving_scheduler, quiet_trainer, same
from zoo.data.digits import DigitsDataModule
from zoo.models.wgan import WGAN

CONFIG = Path(__file__).parents[2] / "configs" / "wgan.yaml"


def test_wgan_fits_from_its_config_and_counts_generator_updates(tmp_path):
    run_zoo(["fit", "--config", str(CONFIG), "--data.batch_size", "16", *FAST_TRAINER,
             "--trainer.limit_train_batches", "10"], cwd=tmp_path, in_process=True)
    run_dir = tmp_path / "runs" / "wgan" / "version_0"
    # 10 batches, one critic update each, a generator update after every 5th: 2 steps.
    assert (run_dir / "checkpoints" / "epoch=0-step=2.ckpt").exists()
    with open(run_dir / "metrics.csv") as handle:
        assert any(row.get("val/wasserstein") for row in csv.DictReader(handle))


def test_the_critic_steps_every_batch_and_the_generator_every_n_critic_batches(tmp_path):
    recorder = StepRecorder(discriminator="critic")
    model = WGAN(generator_features=8, critic_features=8, n_critic=3)
    trainer = quiet_trainer(tmp_path, max_steps=2, callbacks=[recorder])
    trainer.fit(model, DigitsDataModule(batch_size=16))

    assert [step.network for step in recorder.before_steps] == (["discriminator"] * 3 + ["generator"]) * 2
    assert (trainer.global_step, len(recorder.after_batches)) == (2, 6)
    # The generator's update leaves the critic's weights and gradients as the critic's own step left them.
    last_critic_step, generator_step = recorder.before_steps[-2:]
    after = recorder.after_batches[-1]
    assert same(generator_step.discriminator_params, after.discriminator_params)
    assert same(last_critic_step.discriminator_grads, generator_step.discriminator_grads)
    assert not same(generator_step.generator_params, after.generator_params)


def test_the_critics_weights_stay_clipped_after_training_steps(tmp_path):
    model = WGAN(generator_features=8, critic_features=8, clip_value=0.01)
    quiet_trainer(tmp_path, max_steps=1).fit(model, DigitsDataModule(batch_size=16))
    weights = torch.cat([parameter.detach().flatten() for parameter in model.critic.parameters()])
    assert weights.abs().max() <= 0.01
    # N(0, 0.02) initial weights and N(1, 0.02) norm scales: clipping had work to do.
    assert (weights.abs() == 0.01).sum() > 100


def test_resuming_keeps_the_critic_generator_rhythm_and_the_step_count(tmp_path):
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "checkpoints", save_last=True)
    first = quiet_trainer(tmp_path, max_steps=1, limit_train_batches=20, enable_checkpointing=True,
                          callbacks=[checkpoints])
    first.fit(WGAN(generator_features=8, critic_features=8), DigitsDataModule(batch_size=16))

    recorder = StepRecorder(discriminator="critic")
    resumed = quiet_trainer(tmp_path, max_steps=2, limit_train_batches=20, callbacks=[recorder])
    resumed.fit(WGAN(generator_features=8, critic_features=8), DigitsDataModule(batch_size=16),
                ckpt_path=checkpoints.last_model_path)
    # One more generator update costs five more batches, as in an uninterrupted run.
    assert resumed.global_step == 2
    assert [step.network for step in recorder.before_steps] == ["discriminator"] * 5 + ["generator"]


def test_the_shipped_config_uses_the_papers_rmsprop(tmp_path, monkeypatch):
    from zoo.training.cli import run_cli

    monkeypatch.chdir(tmp_path)
    cli = run_cli(["--config", str(CONFIG)], run=False)
    assert isinstance(cli.model, WGAN) and (cli.model.n_critic, cli.model.clip_value) == (5, 0.01)
    optimizers = [config["optimizer"] for config in cli.model.configure_optimizers()]
    assert all(isinstance(optimizer, torch.optim.RMSprop) and optimizer.defaults["lr"] == 5e-5
               for optimizer in optimizers)


def test_a_resumed_run_keeps_the_learning_rate_schedule_of_an_uninterrupted_one(tmp_path):
    data = DigitsDataModule(batch_size=16)
    data.setup("fit")
    check_schedule_resumes(
        lambda: WGAN(generator_features=8, critic_features=8, scheduler_g=halving_scheduler, scheduler_d=halving_scheduler),
        data.train_dataloader, data.val_dataloader, tmp_path)
