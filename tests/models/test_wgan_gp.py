"""WGAN-GP: a user trains it on two processes with DDP; the critic carries no batch norm."""

from __future__ import annotations

import csv
from pathlib import Path

import torch
from torch import nn

from tests.conftest import FAST_TRAINER, run_zoo
from tests.models.adversarial_checks import StepRecorder, check_schedule_resumes, halving_scheduler, quiet_trainer
from zoo.data.digits import DigitsDataModule
from zoo.models.wgan_gp import WGANGP


def test_wgan_gp_fits_under_ddp_on_two_cpu_processes(tmp_path):
    run_zoo(["fit", "--model", "wgan_gp", "--data", "digits", "--data.batch_size", "16", *FAST_TRAINER,
             "--trainer.limit_train_batches", "10",
             "--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu"], cwd=tmp_path)
    run_dir = tmp_path / "runs" / "wgan_gp" / "version_0"
    # Each process reads 10 batches: 10 critic updates, 2 generator updates, the same on both ranks.
    assert (run_dir / "checkpoints" / "epoch=0-step=2.ckpt").exists()
    with open(run_dir / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert any(row.get("val/wasserstein") for row in rows)


def test_the_critic_has_layer_norm_or_none_and_never_batch_norm():
    layer_norm_critic = WGANGP(critic_features=8).critic
    assert not any(isinstance(module, nn.BatchNorm2d) for module in layer_norm_critic.modules())
    assert any(isinstance(module, nn.GroupNorm) and module.num_groups == 1 for module in layer_norm_critic.modules())
    plain_critic = WGANGP(critic_features=8, critic_norm="none").critic
    assert not any(isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)) for module in plain_critic.modules())


def test_the_critic_loss_includes_the_gradient_penalty(tmp_path):
    recorder = StepRecorder(discriminator="critic")
    trainer = quiet_trainer(tmp_path, max_steps=1, callbacks=[recorder])
    trainer.fit(WGANGP(generator_features=8, critic_features=8), DigitsDataModule(batch_size=16))

    metrics = trainer.callback_metrics
    penalty, wasserstein = metrics["train/gradient_penalty"], metrics["train/wasserstein"]
    assert penalty > 0 and torch.isfinite(wasserstein)
    assert torch.allclose(metrics["train/d_loss"], -wasserstein + 10.0 * penalty)
    assert [step.network for step in recorder.before_steps] == ["discriminator"] * 5 + ["generator"]


def test_the_shipped_config_uses_the_papers_adam(tmp_path, monkeypatch):
    from zoo.training.cli import run_cli

    monkeypatch.chdir(tmp_path)
    cli = run_cli(["--config", str(Path(__file__).parents[2] / "configs" / "wgan_gp.yaml")], run=False)
    assert isinstance(cli.model, WGANGP) and cli.model.penalty_weight == 10.0
    for config in cli.model.configure_optimizers():
        assert isinstance(config["optimizer"], torch.optim.Adam)
        assert config["optimizer"].defaults["betas"] == (0.0, 0.9) and config["optimizer"].defaults["lr"] == 1e-4


def test_a_resumed_run_keeps_the_learning_rate_schedule_of_an_uninterrupted_one(tmp_path):
    data = DigitsDataModule(batch_size=16)
    data.setup("fit")
    check_schedule_resumes(
        lambda: WGANGP(generator_features=8, critic_features=8, scheduler_g=halving_scheduler, scheduler_d=halving_scheduler),
        data.train_dataloader, data.val_dataloader, tmp_path)
