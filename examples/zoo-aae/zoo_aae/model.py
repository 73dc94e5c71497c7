"""Adversarial autoencoder: an autoencoder whose codes a GAN in latent space pushes onto a prior.

Makhzani, Shlens, Jaitly, Goodfellow & Frey, "Adversarial Autoencoders", ICLR 2016 workshop
(arXiv:1511.05644). Where a VAE pulls each code distribution towards the prior with a KL term,
an AAE trains a discriminator to tell codes of real images from draws of the prior, and the
encoder to fool it; once it does, decoding prior draws gives images (``sample``). Each batch
runs the paper's two phases (section 2):

1. reconstruction: encoder and decoder minimise the reconstruction error;
2. regularisation: the discriminator learns prior draws (real) from codes (fake), then the
   encoder, as the generator, learns to make its codes pass for prior draws.

The paper's MNIST networks are two hidden layers of 1000 ReLU units each (encoder, decoder and
discriminator) with SGD; here the width is ``hidden_dim`` and the optimizers default to Adam,
which needs no per-dataset learning-rate search.

This file is an example of a zoo plugin: a plain ``LightningModule`` that the zoo finds through
the ``zoo.models`` entry point in this distribution's pyproject.toml. It gets FID and sample
grids because it has ``sample``, ``zoo encode`` / ``zoo score`` because it has ``encode`` and
``anomaly_score``, and DDP with unused parameters because it sets ``automatic_optimization =
False``; it borrows the zoo's plain loss and step functions, and inherits nothing.
"""

from __future__ import annotations

import math

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import OptimizerCallable
from torch import nn

from zoo.losses import bce_discriminator_loss, bce_generator_loss
from zoo.manual_optimization import refuse_gradient_accumulation, step_uncounted
from zoo.nn.gan_nets import latent_noise


def mlp(sizes: list[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Linear layers of the given sizes with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for index, (size_in, size_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(size_in, size_out))
        if index < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class AdversarialAutoencoder(L.LightningModule):
    """Adversarial autoencoder with a standard-normal prior on its codes. Step budget: --trainer.max_steps and
    global_step count reconstruction updates, one per batch (the adversarial updates are not counted).

    Trains unchanged under DDP (the zoo switches on unused-parameter search for manual
    optimization) and bf16/16-mixed precision; ``accumulate_grad_batches`` is refused.
    """

    # Registry metadata, read by `zoo list` and `zoo info` (a plugin has no registry.yaml entry).
    task = "generation"
    summary = "Adversarial autoencoder (example plugin): a latent-space GAN makes the codes N(0, I)."
    default_data = "digits"
    config = "examples/zoo-aae/configs/aae_digits.yaml"
    paper = "Makhzani et al., Adversarial Autoencoders, ICLR 2016 workshop (arXiv:1511.05644)"
    # The batches it trains on: (images, labels), as every image datamodule gives.
    batch_kind = "images"

    def __init__(
        self,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        latent_dim: int = 8,
        hidden_dim: int = 512,
        optimizer_ae: OptimizerCallable | None = None,
        optimizer_d: OptimizerCallable | None = None,
        optimizer_g: OptimizerCallable | None = None,
    ) -> None:
        """
        Args:
            image_shape: (channels, height, width) of the images; the zoo's CLI links it from the data.
            latent_dim: dimension of the codes and of the N(0, I) prior.
            hidden_dim: width of the two hidden layers of the encoder, the decoder and the discriminator
                (the paper uses 1000 on MNIST).
            optimizer_ae: reconstruction phase, encoder and decoder; None means Adam(lr=1e-3).
            optimizer_d: discriminator; None means Adam(lr=2e-4, betas=(0.5, 0.999)), the usual GAN setting.
            optimizer_g: regularisation phase of the encoder; None means the same Adam as the discriminator.
        """
        super().__init__()
        self.save_hyperparameters()
        # Three updates per batch, stepped by hand (read by the zoo's CLI to pick a DDP mode that allows it).
        self.automatic_optimization = False
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        pixels = math.prod(self.image_shape)
        self.encoder = nn.Sequential(nn.Flatten(), mlp([pixels, hidden_dim, hidden_dim, latent_dim]))
        self.decoder = nn.Sequential(mlp([latent_dim, hidden_dim, hidden_dim, pixels]),
                                     nn.Unflatten(1, self.image_shape))
        self.discriminator = mlp([latent_dim, hidden_dim, hidden_dim, 1])
        # Kept as attributes: under LightningCLI the saved hparams hold their config, not the callables.
        self.optimizer_ae, self.optimizer_d, self.optimizer_g = optimizer_ae, optimizer_d, optimizer_g

    # -- task interfaces: reconstruction and generation
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Codes (N, latent_dim) of images in [0, 1]; distributed like N(0, I) once training has succeeded."""
        return self.encoder(images.to(self.dtype)).float()

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], shape (N, *image_shape), of codes (N, latent_dim)."""
        return torch.sigmoid(self.decoder(codes.to(self.dtype)).float())

    @torch.no_grad()
    def anomaly_score(self, images: torch.Tensor) -> torch.Tensor:
        """Reconstruction error in nats per image, shape (N,): higher for images unlike the training data."""
        return self._reconstruction_nats(self.decoder(self.encoder(images.to(self.dtype))), images)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images in [0, 1] decoded from prior draws; a seeded CPU ``generator`` repeats them on any device."""
        codes = torch.randn(n, self.latent_dim, generator=generator,
                            device=generator.device if generator is not None else self.device)
        return self.decode(codes.to(self.device))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Reconstructions in [0, 1] of images in [0, 1]."""
        return self.decode(self.encode(images))

    # -- training
    @staticmethod
    def _reconstruction_nats(logits: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """Bernoulli negative log-likelihood per image, in float32 (the log-sigmoid loses too much in bf16)."""
        per_pixel = F.binary_cross_entropy_with_logits(logits.float(), images.float(), reduction="none")
        return per_pixel.flatten(1).sum(1)

    def _prior_draws(self, batch_size: int) -> torch.Tensor:
        # Distinct draws on every DDP rank, though seed_everything gives all ranks one seed.
        return latent_noise(batch_size, self.latent_dim, self.device, self.global_rank, self.trainer.world_size)

    def training_step(self, batch, batch_idx: int) -> None:
        real_images = batch[0].to(self.dtype)
        optimizer_ae, optimizer_d, optimizer_g = self.optimizers()

        # Phase 1, reconstruction: encoder and decoder. The only counted step: the step budget is one per batch.
        with self.toggled_optimizer(optimizer_ae):
            reconstruction_loss = self._reconstruction_nats(self.decoder(self.encoder(real_images)), real_images).mean()
            optimizer_ae.zero_grad()
            self.manual_backward(reconstruction_loss)
            optimizer_ae.step()

        # Phase 2a, the discriminator: prior draws are real, codes are fake. Detached codes leave the encoder alone.
        codes = self.encoder(real_images)
        with self.toggled_optimizer(optimizer_d):
            d_loss = bce_discriminator_loss(self.discriminator(self._prior_draws(codes.shape[0])),
                                            self.discriminator(codes.detach()))
            optimizer_d.zero_grad()
            self.manual_backward(d_loss)
            step_uncounted(self, optimizer_d)

        # Phase 2b, the encoder as generator: its codes, judged by the updated discriminator (frozen here).
        with self.toggled_optimizer(optimizer_g):
            g_loss = bce_generator_loss(self.discriminator(codes))
            optimizer_g.zero_grad()
            self.manual_backward(g_loss)
            step_uncounted(self, optimizer_g)

        self.log("train/loss", reconstruction_loss, prog_bar=True)
        self.log("train/d_loss", d_loss)
        self.log("train/g_loss", g_loss)

    def validation_step(self, batch, batch_idx: int) -> None:
        real_images = batch[0].to(self.dtype)
        codes = self.encoder(real_images)
        logits = self.decoder(codes)
        self.log("val/loss", self._reconstruction_nats(logits, real_images).mean(), prog_bar=True, sync_dist=True)
        self.log("val/mse", F.mse_loss(torch.sigmoid(logits.float()), real_images.float()), sync_dist=True)
        # How far the codes are from N(0, I): both drift to their prior values as the encoder learns to fool D.
        self.log("val/code_mean", codes.float().mean(), sync_dist=True)
        self.log("val/code_std", codes.float().std(), sync_dist=True)
        prior_logits = self.discriminator(self._prior_draws(codes.shape[0]))
        self.log("val/d_loss", bce_discriminator_loss(prior_logits, self.discriminator(codes)), sync_dist=True)

    def configure_callbacks(self) -> list:
        refuse_gradient_accumulation(self)
        return []

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        autoencoder_params = [*self.encoder.parameters(), *self.decoder.parameters()]
        optimizer_ae = (self.optimizer_ae(autoencoder_params) if self.optimizer_ae is not None
                        else torch.optim.Adam(autoencoder_params, lr=1e-3))
        optimizer_d = (self.optimizer_d(self.discriminator.parameters()) if self.optimizer_d is not None
                       else torch.optim.Adam(self.discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999)))
        optimizer_g = (self.optimizer_g(self.encoder.parameters()) if self.optimizer_g is not None
                       else torch.optim.Adam(self.encoder.parameters(), lr=2e-4, betas=(0.5, 0.999)))
        return [optimizer_ae, optimizer_d, optimizer_g]
