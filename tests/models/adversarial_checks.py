"""What the GAN family tests share: a quiet in-process Trainer and a recorder of each optimizer step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch


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
