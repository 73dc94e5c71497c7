"""What the zoo itself copies from the device to the host per training step: on a GPU each copy waits for every
queued kernel. Counted on the CPU, where the same calls are made."""

from __future__ import annotations

import os
import sys

import lightning as L
import torch
from lightning.pytorch.plugins import MixedPrecision

from zoo.training.cli import run_cli
from zoo.data.digits import DigitsDataModule
from zoo.guards import NonFiniteGuard
from zoo.models.wgan_gp import WGANGP


class CountItemCalls(L.Callback):
    """Counts ``Tensor.item()`` between the first and the last training batch, but for torch's optimizers' own.

    Adam reads its step count with ``.item()``; that count lives on the CPU (unless ``capturable``), so it waits
    for nothing on a GPU.
    """

    def __init__(self) -> None:
        self.calls = 0
        self._item = torch.Tensor.item

    def on_train_start(self, trainer, pl_module) -> None:
        original, counter = self._item, self

        def counted(tensor):
            caller = sys._getframe(1).f_code.co_filename
            counter.calls += f"torch{os.sep}optim{os.sep}" not in caller
            return original(tensor)

        torch.Tensor.item = counted

    def on_train_end(self, trainer, pl_module) -> None:
        torch.Tensor.item = self._item


def test_a_gan_fit_with_its_progress_bar_reads_losses_every_log_interval_not_every_step(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.Tensor, "item", torch.Tensor.item)  # restored even if the fit fails
    cli = run_cli(["fit", "--model", "gan", "--data", "digits", "--data.batch_size", "16", "--trainer.max_steps", "40",
                   "--trainer.log_every_n_steps", "20", "--trainer.limit_val_batches", "0",
                   "--fid.every_n_epochs", "0", "--trainer.default_root_dir", str(tmp_path),
                   "--trainer.callbacks", "tests.test_host_syncs.CountItemCalls"])
    counter = next(callback for callback in cli.trainer.callbacks if isinstance(callback, CountItemCalls))
    assert type(cli.trainer.progress_bar_callback).__name__ in ("LossProgressBar", "LossRichProgressBar")
    assert "train/g_loss" in cli.trainer.progress_bar_callback.get_metrics(cli.trainer, cli.model)
    # Measured over these 40 steps: 250 before (the losses logged with prog_bar=True, converted after every batch),
    # 6 now (the bar's reads at batches 0 and 20, the loggers' every 20 steps, the checkpoint's).
    assert counter.calls <= 20, counter.calls


def test_16_mixed_wgan_gp_and_the_nan_guard_leave_the_loss_scale_on_the_device(tmp_path, monkeypatch):
    """``GradScaler.get_scale()`` is a host copy; the penalty and the guard use the scale tensor itself."""
    calls = []
    get_scale = torch.amp.GradScaler.get_scale
    monkeypatch.setattr(torch.amp.GradScaler, "get_scale", lambda scaler: calls.append(1) or get_scale(scaler))
    trainer = L.Trainer(default_root_dir=tmp_path, max_steps=2, limit_val_batches=0, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        accelerator="cpu", plugins=[MixedPrecision("16-mixed", "cpu", torch.amp.GradScaler("cpu"))],
                        callbacks=[NonFiniteGuard()])
    trainer.fit(WGANGP(n_critic=1), DigitsDataModule(batch_size=16))
    assert trainer.global_step == 2
    # Before: 3 a batch (the penalty's scale, the guard's before and after). Now at most the penalty's first, which
    # the scaler answers with its initial value before any scale tensor exists.
    assert len(calls) <= 1, len(calls)
