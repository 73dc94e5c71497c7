"""Pix2Pix: conditional GAN that translates an image A into its aligned counterpart B.

Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017
(arXiv:1611.07004). Reference implementation: junyanz/pytorch-CycleGAN-and-pix2pix
(``models/pix2pix_model.py``, ``models/networks.py``).

The paper's recipe: a U-Net generator with skip connections, a 70x70 PatchGAN
discriminator that sees A next to B (real B or the generator's fake), the loss
``GAN + lambda_L1 * L1`` with lambda_L1 = 100, Adam (lr 2e-4, beta1 0.5), the
discriminator's loss halved to slow it relative to the generator, and batch norm
(instance norm selectable). Dropout in the decoder is the generator's only noise.

Small images: the U-Net gets as many stride-2 levels as the image size divides by 2 (8 for
256x256 as in the paper, 5 for 32x32, 2 for the 28x28 digits) instead of padding images up,
and the PatchGAN drops stride-2 layers below 32 pixels; ``unet_depth`` overrides the former.

Works with any paired datamodule (``paired``, ``super_resolution``): batches are
``{"A": images, "B": images}`` in [0, 1]; internally images live in [-1, 1] (tanh).
One optimizer per network, manual optimization. As in every zoo GAN, ``global_step`` (and so
``--trainer.max_steps``) counts generator updates, one per batch (``zoo.manual_optimization``).
"""

from __future__ import annotations

from functools import partial

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torchmetrics import MeanAbsoluteError
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure
from torchvision.utils import make_grid

from zoo.conditioning import example_input
from zoo.errors import ZooError, check_non_negative, check_positive
from zoo.losses import bce_discriminator_loss, bce_generator_loss
from zoo.manual_optimization import (
    catch_up_lr_schedulers,
    optimizer_config,
    refuse_gradient_accumulation,
    save_loadable_hyperparameters,
    step_uncounted,
)
from zoo.nn.layers import Norm, init_normal_weights, tanh_to_unit, unit_to_tanh
from zoo.nn.translation import PatchDiscriminator, UNetGenerator, pad_to_multiple, patch_layers_for, unet_depth_for


class Pix2Pix(L.LightningModule):
    """U-Net generator + conditional PatchGAN, trained with GAN + 100 * L1 on aligned pairs."""

    task = "translation"
    batch_kind = "paired"

    def __init__(
        self,
        image_shape: tuple[int, int, int] = (3, 256, 256),
        generator_channels: int = 64,
        discriminator_channels: int = 64,
        norm: Norm = "batch",
        lambda_l1: float = 100.0,
        dropout: float = 0.5,
        unet_depth: int | None = None,
        discriminator_layers: int = 3,
        optimizer_g: OptimizerCallable | None = None,
        optimizer_d: OptimizerCallable | None = None,
        scheduler_g: LRSchedulerCallable | None = None,
        scheduler_d: LRSchedulerCallable | None = None,
    ) -> None:
        """
        Args:
            image_shape: (channels, height, width) of A and B; the CLI links it from the data.
            generator_channels: channels of the U-Net's first level (the paper's 64).
            discriminator_channels: channels of the PatchGAN's first layer (64).
            norm: "batch" (the paper), "instance", "layer" (per image over C, H, W) or "none" (zoo.nn.layers.Norm).
            lambda_l1: weight of the L1 term against the GAN term (100).
            dropout: dropout after the three decoder layers nearest the bottleneck (0.5; 0 turns it off).
            unet_depth: stride-2 levels of the U-Net; default as many as the image size divides by 2, at most 8.
            discriminator_layers: stride-2 layers of the PatchGAN (3 = 70x70 patches; fewer for images < 32 px).
            optimizer_g: optimizer of the generator; None means the paper setting Adam(lr=2e-4, betas=(0.5, 0.999)).
                In YAML: ``optimizer_g: {class_path: torch.optim.RMSprop, init_args: {lr: 1e-4}}``.
            optimizer_d: optimizer of the discriminator; None means the same Adam.
            scheduler_g: optional learning-rate scheduler of the generator, following the epoch (the reference
                decays linearly: ``{class_path: torch.optim.lr_scheduler.LinearLR, init_args: {...}}``).
            scheduler_d: optional learning-rate scheduler of the discriminator, likewise.
        """
        check_positive(image_shape=image_shape, generator_channels=generator_channels,
                       discriminator_channels=discriminator_channels, discriminator_layers=discriminator_layers)
        check_non_negative(lambda_l1=lambda_l1, dropout=dropout)
        if dropout >= 1:
            raise ZooError(f"dropout must be below 1 (it is a probability), got {dropout!r}")
        super().__init__()
        save_loadable_hyperparameters(self)
        self.automatic_optimization = False
        self.image_shape = tuple(image_shape)
        channels, height, width = self.image_shape
        depth = unet_depth if unet_depth is not None else unet_depth_for(height, width)
        if depth < 1 or height % 2**depth or width % 2**depth:
            raise ZooError(f"pix2pix needs image sides divisible by 2**unet_depth; got {height}x{width} "
                           f"with depth {depth}: use an even image_size or set unet_depth")
        self.generator = UNetGenerator(channels, channels, depth, generator_channels, norm, dropout)
        self.example_input_array = example_input(self, self.image_shape)
        # Conditional discriminator: it judges B next to the A it should have come from.
        self.discriminator = PatchDiscriminator(2 * channels, discriminator_channels,
                                                patch_layers_for(min(height, width), discriminator_layers), norm)
        init_normal_weights(self.generator)
        init_normal_weights(self.discriminator)
        # Kept as attributes: under LightningCLI the saved hparams hold their config, not the callables.
        self.optimizer_g, self.optimizer_d = optimizer_g, optimizer_d
        self.scheduler_g, self.scheduler_d = scheduler_g, scheduler_d
        self.eval_l1 = MeanAbsoluteError()
        self.eval_psnr = PeakSignalNoiseRatio(data_range=1.0)
        self.eval_ssim = StructuralSimilarityIndexMeasure(data_range=1.0)

    # -- task interface: translation
    @torch.no_grad()
    def translate(self, images: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        """Translate A images in [0, 1] (N, C, H, W) to B images in [0, 1] of the same shape.

        Any size works: sides that the U-Net cannot halve ``depth`` times are reflect-padded and cropped back.
        """
        if direction != "AtoB":
            raise ZooError(f"pix2pix translates in the one direction it learnt (AtoB), not {direction!r}; "
                           "train a second model with --data.direction BtoA for the other way")
        if images.ndim != 4 or images.shape[1] != self.image_shape[0]:
            raise ZooError(f"pix2pix expects images of shape (N, {self.image_shape[0]}, H, W), "
                           f"got {tuple(images.shape)}")
        padded, (height, width) = pad_to_multiple(images, 2**self.generator.depth)
        fake = self.generator(unit_to_tanh(padded.to(self.dtype)))
        return tanh_to_unit(fake[..., :height, :width]).to(images.dtype)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.translate(images)

    @torch.no_grad()
    def translation_grid(self, batch: dict[str, torch.Tensor], max_images: int = 8) -> torch.Tensor:
        """One image (C, H', W') in [0, 1]: a row per example of A | fake B | real B, for a logging callback."""
        real_a, real_b = batch["A"][:max_images], batch["B"][:max_images]
        fake_b = self.translate(real_a)
        rows = torch.stack([real_a, fake_b, real_b], dim=1).flatten(0, 1).float()
        return make_grid(rows, nrow=3, padding=2, pad_value=1.0)

    # -- training
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        # In configure_optimizers' order: optimizer_g steps self.generator, optimizer_d self.discriminator.
        optimizer_g, optimizer_d = self.optimizers()
        real_a, real_b = unit_to_tanh(batch["A"]), unit_to_tanh(batch["B"])
        # One generator pass serves both updates: detached for the discriminator, attached for the generator.
        fake_b = self.generator(real_a)

        with self.toggled_optimizer(optimizer_d):
            real_logits = self.discriminator(torch.cat([real_a, real_b], dim=1))
            fake_logits = self.discriminator(torch.cat([real_a, fake_b.detach()], dim=1))
            # Halved, as in the paper: slows the discriminator relative to the generator.
            d_loss = 0.5 * bce_discriminator_loss(real_logits, fake_logits)
            optimizer_d.zero_grad()
            self.manual_backward(d_loss)
            step_uncounted(self, optimizer_d)  # the step budget counts generator updates

        with self.toggled_optimizer(optimizer_g):
            fake_logits = self.discriminator(torch.cat([real_a, fake_b], dim=1))
            g_gan = bce_generator_loss(fake_logits)
            # L1 measured on [0, 1] images would be half this; the paper's lambda = 100 is for [-1, 1].
            g_l1 = F.l1_loss(fake_b.float(), real_b.float())
            g_loss = g_gan + self.hparams.lambda_l1 * g_l1
            optimizer_g.zero_grad()
            self.manual_backward(g_loss)
            optimizer_g.step()

        self.log("train/d_loss", d_loss)
        self.log("train/g_loss", g_loss)
        self.log("train/g_l1", g_l1)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def _evaluate(self, batch: dict[str, torch.Tensor], stage: str) -> None:
        fake_b, real_b = self.translate(batch["A"]).float(), batch["B"].float()
        self.eval_l1.update(fake_b, real_b)
        self.eval_psnr.update(fake_b, real_b)
        self.eval_ssim.update(fake_b, real_b)
        self.log(f"{stage}/l1", self.eval_l1, on_epoch=True)
        self.log(f"{stage}/psnr", self.eval_psnr, on_epoch=True, prog_bar=True)
        self.log(f"{stage}/ssim", self.eval_ssim, on_epoch=True)

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self.translate(batch["A"])

    def on_train_epoch_start(self) -> None:
        catch_up_lr_schedulers(self)

    def configure_callbacks(self) -> list:
        refuse_gradient_accumulation(self)
        return []

    def configure_optimizers(self):
        paper_adam = partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999))
        optimizer_g = (self.optimizer_g or paper_adam)(self.generator.parameters())
        optimizer_d = (self.optimizer_d or paper_adam)(self.discriminator.parameters())
        if self.scheduler_g is None and self.scheduler_d is None:
            return [optimizer_g, optimizer_d]
        return [optimizer_config(optimizer_g, self.scheduler_g, "generator"),
                optimizer_config(optimizer_d, self.scheduler_d, "discriminator")]
