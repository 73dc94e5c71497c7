"""What the GAN family tests share: a quiet in-process Trainer and a recorder of each optimizer step."""

from __future__ import annotations

import warnings

from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint


def quiet_trainer(root: Path, **overrides) -> L.Trainer:
    """A CPU Trainer that prints nothing, writes nothing and skips validation unless asked."""
    settings = dict(
        accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0, default_root_dir=root,
    )
    settings.update(overrides)
    return L.Trainer(**settings)


def _copies(tensors) -> list[torch.Tensor | None]:
    return [None if tensor is None else tensor.detach().clone() for tensor in tensors]


@dataclass
class Snapshot:
    """Both networks' parameters (and the discriminator's gradients) at one moment."""

    network: str  # which optimizer was about to step: "generator" or "discriminator"
    generator_params: list[torch.Tensor]
    generator_grads: list[torch.Tensor | None]
    discriminator_params: list[torch.Tensor]
    discriminator_grads: list[torch.Tensor | None]


class StepRecorder(L.Callback):
    """Snapshots just before every optimizer step (after its backward) and after every batch.

    ``discriminator`` names the model attribute that holds the discriminator ("critic" for the WGANs).
    """

    def __init__(self, discriminator: str = "discriminator") -> None:
        self.discriminator = discriminator
        self.before_steps: list[Snapshot] = []
        self.after_batches: list[Snapshot] = []

    def _snapshot(self, pl_module: L.LightningModule, network: str) -> Snapshot:
        generator = list(pl_module.generator.parameters())
        discriminator = list(getattr(pl_module, self.discriminator).parameters())
        return Snapshot(network, _copies(generator), _copies(p.grad for p in generator),
                        _copies(discriminator), _copies(p.grad for p in discriminator))

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        generator_optimizer = trainer.optimizers[0]
        network = "generator" if optimizer is generator_optimizer else "discriminator"
        self.before_steps.append(self._snapshot(pl_module, network))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.after_batches.append(self._snapshot(pl_module, "after batch"))


def same(first: list[torch.Tensor | None], second: list[torch.Tensor | None]) -> bool:
    return all((a is None and b is None) or (a is not None and b is not None and torch.equal(a, b))
               for a, b in zip(first, second, strict=True))


class LearningRates(L.Callback):
    """Every optimizer's learning rate in each epoch, read at the epoch's first batch."""

    def __init__(self) -> None:
        self.by_epoch: dict[int, list[float]] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.by_epoch.setdefault(trainer.current_epoch, [opt.param_groups[0]["lr"] for opt in trainer.optimizers])


def halving_scheduler(optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    """A schedule that changes every epoch, so a rate off by one epoch shows."""
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)


def check_schedule_resumes(build_model, train_data, val_data, root: Path, epochs: int = 3) -> None:
    """A run interrupted after ``epochs - 1`` epochs and resumed from its checkpoint trains its last epoch at the
    learning rates of an uninterrupted run.

    ``build_model()`` makes the family with a decaying ``halving_scheduler`` on both networks. The checkpoint is
    written at validation end, before the epoch-end hooks, as Lightning does whenever validation runs more often
    than once per epoch.
    """

    def fit(max_epochs: int, folder: Path, ckpt_path: Path | None = None) -> dict[int, list[float]]:
        torch.manual_seed(0)
        rates = LearningRates()
        checkpoint = ModelCheckpoint(dirpath=folder, save_last=True, save_on_train_epoch_end=False)
        trainer = quiet_trainer(folder, max_epochs=max_epochs, limit_train_batches=2, limit_val_batches=1,
                                enable_checkpointing=True, callbacks=[rates, checkpoint])
        trainer.fit(build_model(), train_data(), val_data(), ckpt_path=ckpt_path)
        return rates.by_epoch

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        uninterrupted = fit(epochs, root / "whole")
        fit(epochs - 1, root / "first")
        resumed = fit(epochs, root / "second", ckpt_path=root / "first" / "last.ckpt")
    first_rates = uninterrupted[0]
    assert uninterrupted[epochs - 1] == [rate * 0.5 ** (epochs - 1) for rate in first_rates], uninterrupted
    assert resumed == {epochs - 1: uninterrupted[epochs - 1]}, (resumed, uninterrupted)
    # Catching up before a network's first optimizer step (a critic-heavy GAN, a resumed epoch 0) is no misuse:
    # torch's warning about a skipped first rate would mislead the user.
    assert not [str(warning.message) for warning in caught if "lr_scheduler.step()" in str(warning.message)]
