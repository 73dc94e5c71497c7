"""Reconstruction quality logged by the autoencoder families: MSE and PSNR (torchmetrics)."""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torchmetrics import MeanSquaredError
from torchmetrics.image import PeakSignalNoiseRatio

from zoo.metrics.means import reset_if_inference


class ReconstructionMetrics(nn.Module):
    """Epoch-level ``{stage}/mse`` and ``{stage}/psnr`` of images in [0, 1]; reduced across processes."""

    def __init__(self) -> None:
        super().__init__()
        self.mse = MeanSquaredError()
        self.psnr = PeakSignalNoiseRatio(data_range=1.0)

    def update_and_log(self, module: L.LightningModule, stage: str, reconstructions: torch.Tensor,
                       targets: torch.Tensor) -> None:
        reconstructions, targets = reconstructions.float(), targets.float()
        reset_if_inference(self.mse, self.psnr)
        self.mse.update(reconstructions, targets)
        self.psnr.update(reconstructions, targets)
        module.log(f"{stage}/mse", self.mse, on_step=False, on_epoch=True)
        module.log(f"{stage}/psnr", self.psnr, on_step=False, on_epoch=True, prog_bar=stage == "val")
