"""Reconstruction quality logged by the autoencoder families: MSE and PSNR (torchmetrics)."""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torchmetrics import MeanSquaredError
from torchmetrics.image import PeakSignalNoiseRatio


class ReconstructionMetrics(nn.Module):
    """Epoch-level ``{stage}/mse`` and ``{stage}/psnr`` of images in [0, 1]; reduced across processes."""

    def __init__(self) -> None:
        super().__init__()
        self.mse = MeanSquaredError()
        self.psnr = PeakSignalNoiseRatio(data_range=1.0)

    def update_and_log(self, module: L.LightningModule, stage: str, reconstructions: torch.Tensor,
                       targets: torch.Tensor) -> None:
        reconstructions, targets = reconstructions.float(), targets.float()
        if self.mse.sum_squared_error.is_inference() and not torch.is_inference_mode_enabled():
            # States last reset under `trainer.validate` (inference mode) cannot be updated in place
            # by validation inside `trainer.fit` (no_grad): start them afresh, they hold nothing yet.
            self.mse.reset()
            self.psnr.reset()
        self.mse.update(reconstructions, targets)
        self.psnr.update(reconstructions, targets)
        module.log(f"{stage}/mse", self.mse, on_step=False, on_epoch=True)
        module.log(f"{stage}/psnr", self.psnr, on_step=False, on_epoch=True, prog_bar=stage == "val")
