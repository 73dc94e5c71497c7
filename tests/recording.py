"""A callback that records what a user cannot see from outside a run: each process's first random draw."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch


class RecordFirstNoise(L.Callback):
    """Writes ``<folder>/rank<R>.pt``: a draw from the global generator as training starts, and the first weights."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        first_weights = next(pl_module.parameters()).detach().cpu().clone()
        torch.save({"noise": torch.randn(8), "weights": first_weights}, self.folder / f"rank{trainer.global_rank}.pt")
