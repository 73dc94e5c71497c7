"""Variational autoencoder: a Gaussian latent space you can sample from.

Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014 (arXiv:1312.6114);
beta weighting from Higgins et al., "beta-VAE", ICLR 2017. Gaussian encoder
q(z|x) = N(mu, sigma^2) with the reparameterization trick, Bernoulli decoder
p(x|z) on pixels in [0, 1], loss = negative ELBO = reconstruction + beta * KL.

Uses: image generation (``sample``), latent features (``encode`` returns the mean),
anomaly detection (``anomaly_score`` = negative ELBO, in nats per image), and the model's
likelihood of images (``log_likelihood``: the importance-weighted bound of Burda, Grosse &
Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016, with k = 5000 their
evaluation; on binarized images, see the datamodules' ``binarize``).
"""

from __future__ import annotations

import math
from typing import Literal

import lightning as L
import torch
import torch.nn.functional as F

from zoo.errors import check_non_negative, check_positive
from zoo.metrics.means import EvaluationMeans
from zoo.metrics.reconstruction import ReconstructionMetrics
from zoo.nn.autoencoding import Architecture, build_decoder, build_encoder

DEFAULT_HIDDEN = {"dense": [512, 256], "conv": [32, 64]}


class VAE(L.LightningModule):
    """Variational autoencoder with a standard-normal prior and a ``beta``-weighted KL term."""

    task = "reconstruction"
    batch_kind = "images"

    def __init__(
        self,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        latent_dim: int = 16,
        hidden_dims: list[int] | None = None,
        architecture: Architecture = "dense",
        beta: float = 1.0,
        lr: float = 1e-3,
        score: Literal["elbo", "mse", "bce"] = "elbo",
    ) -> None:
        """
        Args:
            image_shape: (channels, height, width) of the images; the CLI links it from the data.
            latent_dim: dimension of the latent Gaussian.
            hidden_dims: hidden widths (dense, default [512, 256]) or conv channels (default [32, 64]).
            architecture: "dense" or "conv".
            beta: weight of the KL term (1 = the true ELBO; >1 = beta-VAE, more disentangled, blurrier).
            lr: Adam learning rate.
            score: what ``anomaly_score`` measures: "elbo" (negative ELBO, nats per image), "mse" (mean
                squared error of the reconstruction at the posterior mean) or "bce" (its reconstruction
                term alone); see docs/uses/anomaly_detection.md for which ranks digits better.
        """
        check_positive(image_shape=image_shape, latent_dim=latent_dim, hidden_dims=hidden_dims, lr=lr)
        check_non_negative(beta=beta)
        super().__init__()
        self.save_hyperparameters()
        hidden = DEFAULT_HIDDEN[architecture] if hidden_dims is None else list(hidden_dims)
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        self.encoder = build_encoder(architecture, self.image_shape, hidden, 2 * latent_dim)
        self.decoder = build_decoder(architecture, self.image_shape, hidden, latent_dim)
        self.metrics = ReconstructionMetrics()
        self.eval_means = EvaluationMeans("loss", "kl", "elbo", prog_bar=("loss",))

    def posterior(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z|x)."""
        mean, log_var = self.encoder(images).float().chunk(2, dim=1)
        # Clamped so exp() cannot overflow early in training or under reduced precision.
        return mean, log_var.clamp(-30.0, 20.0)

    def elbo_terms(self, images: torch.Tensor, sample_latent: bool = True):
        """Per-image reconstruction NLL and KL (nats), and the decoder's logits."""
        mean, log_var = self.posterior(images)
        latents = mean + torch.randn_like(mean) * (0.5 * log_var).exp() if sample_latent else mean
        logits = self.decoder(latents)
        reconstruction = F.binary_cross_entropy_with_logits(logits.float(), images.float(), reduction="none")
        reconstruction = reconstruction.flatten(1).sum(1)
        kl = 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(1)
        return reconstruction, kl, logits

    # -- task interfaces: reconstruction and generation
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The posterior mean, shape (N, latent_dim): the usual latent features."""
        return self.posterior(images)[0]

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] (the Bernoulli means), shape (N, *image_shape)."""
        return torch.sigmoid(self.decoder(latents))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(images))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images decoded from the prior N(0, I); pass a seeded CPU ``generator`` to repeat them."""
        latents = torch.randn(n, self.latent_dim, generator=generator).to(self.device)
        return self.decode(latents).float()

    @torch.no_grad()
    def anomaly_score(self, images: torch.Tensor) -> torch.Tensor:
        """Per image, at the posterior mean so the score is deterministic: negative ELBO (nats), or per ``score``."""
        reconstruction, kl, logits = self.elbo_terms(images, sample_latent=False)
        score = self.hparams.get("score", "elbo")
        if score == "mse":
            return (torch.sigmoid(logits.float()) - images.float()).pow(2).flatten(1).mean(1)
        return reconstruction if score == "bce" else reconstruction + kl

    @torch.no_grad()
    def log_likelihood(self, images: torch.Tensor, samples: int = 500, chunk: int = 100,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """log p(x) per image in nats, shape (N,): the importance-weighted estimate with ``samples`` draws of q(z|x).

        ``log mean_k p(x|z_k) p(z_k) / q(z_k|x)`` (Burda et al. 2016): a lower bound that tightens
        as ``samples`` grows (``samples=1`` is the ELBO), so ``-log_likelihood(x).mean()`` is the
        test NLL papers report. Meaningful for binary pixels (the decoder is Bernoulli). Draws are
        made ``chunk`` at a time; a seeded CPU ``generator`` repeats them.
        """
        mean, log_var = self.posterior(images)
        std = (0.5 * log_var).exp()
        targets = images.float().flatten(1)
        log_weights = []
        for start in range(0, samples, chunk):
            draws = min(chunk, samples - start)
            noise = torch.randn(draws, *mean.shape, generator=generator).to(mean.device)
            latents = mean + noise * std  # (draws, N, latent_dim)
            logits = self.decoder(latents.flatten(0, 1)).float().flatten(1).view(draws, len(images), -1)
            log_p_x = -F.binary_cross_entropy_with_logits(logits, targets.expand_as(logits), reduction="none").sum(2)
            # log N(z; 0, I) - log N(z; mean, std): the 0.5 log(2 pi) terms cancel.
            log_p_z = -0.5 * latents.pow(2).sum(2)
            log_q_z = -0.5 * (noise.pow(2) + log_var).sum(2)
            log_weights.append(log_p_x + log_p_z - log_q_z)
        return torch.logsumexp(torch.cat(log_weights), dim=0) - math.log(samples)

    # -- training
    def _step(self, images: torch.Tensor, stage: str) -> torch.Tensor:
        reconstruction, kl, logits = self.elbo_terms(images)
        loss = (reconstruction + self.hparams.beta * kl).mean()
        if stage == "train":
            self.log("train/loss", loss, on_step=True, on_epoch=True)
            self.log("train/kl", kl.mean(), on_step=True, on_epoch=True)
        else:
            self.eval_means.log(self, stage, len(images), loss=loss, kl=kl.mean(), elbo=-(reconstruction + kl).mean())
            self.metrics.update_and_log(self, stage, torch.sigmoid(logits), images)
        return loss

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch[0], "train")

    def validation_step(self, batch, batch_idx: int) -> None:
        self._step(batch[0], "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._step(batch[0], "test")

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self.encode(batch[0])

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
