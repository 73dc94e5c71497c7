"""Denoising autoencoder: learn to reproduce the clean image from a noisy one.

Vincent et al., "Extracting and Composing Robust Features with Denoising Autoencoders",
ICML 2008. The network is the :class:`~zoo.models.autoencoder.Autoencoder`; only the
input changes: Gaussian noise (std 0.2 by default) clipped back to [0, 1]. Validation
measures the same task, so ``val/psnr`` is the denoising quality.

Uses: denoising (``model(noisy)``), features robust to noise, anomaly scores.
"""

from __future__ import annotations

from typing import Literal

import torch

from zoo.errors import check_non_negative
from zoo.models.autoencoder import Autoencoder
from zoo.nn.autoencoding import Architecture


class DenoisingAutoencoder(Autoencoder):
    """Autoencoder trained on inputs corrupted by clipped Gaussian noise."""

    def __init__(
        self,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        latent_dim: int = 64,
        hidden_dims: list[int] | None = None,
        architecture: Architecture = "dense",
        lr: float = 1e-3,
        noise_std: float = 0.2,
        score: Literal["mse", "bce"] = "mse",
    ) -> None:
        """
        Args:
            image_shape: (channels, height, width) of the images; the CLI links it from the data.
            latent_dim: size of the code ``encode`` returns.
            hidden_dims: hidden widths (dense) or channels (conv), as for ``autoencoder``.
            architecture: "dense" or "conv".
            lr: Adam learning rate.
            noise_std: standard deviation of the Gaussian noise added to inputs in [0, 1].
            score: what ``anomaly_score`` measures on clean inputs: "mse" or "bce", as for ``autoencoder``.
        """
        check_non_negative(noise_std=noise_std)
        super().__init__(image_shape, latent_dim, hidden_dims, architecture, lr, score)
        self.save_hyperparameters()

    def corrupt(self, images: torch.Tensor) -> torch.Tensor:
        return (images + self.hparams.noise_std * torch.randn_like(images)).clamp(0.0, 1.0)
