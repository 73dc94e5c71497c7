"""Deep convolutional GAN, sized from the data's image shape.

Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks", ICLR 2016 (arXiv:1511.06434); reference implementations
https://github.com/Newmu/dcgan_code and ``pytorch/examples/dcgan``. The paper's rules: strided
convolutions instead of pooling, batch norm in both networks (not on the discriminator's input
layer nor the generator's output), ReLU in the generator with tanh output, LeakyReLU(0.2) in
the discriminator, weights from N(0, 0.02), Adam lr 2e-4 with beta1 0.5; the non-saturating
binary cross-entropy on logits.

Any size whose sides halve to 7 or less works without resizing: 64x64 starts from 4x4 (the
paper's four stages), 32x32 from 4x4, 28x28 (MNIST) from 7x7; 1 or 3 channels
(:func:`zoo.nn.gan_nets.dcgan_layout`).

Uses: new images from noise (``sample``); the CLI attaches FID and sample grids by that interface.
"""

from __future__ import annotations

from functools import partial

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable

from zoo.errors import check_positive
from zoo.losses import bce_discriminator_loss, bce_generator_loss
from zoo.manual_optimization import (
    configure_gan_optimizers,
    refuse_gradient_accumulation,
    step_lr_schedulers,
    step_uncounted,
)
from zoo.metrics.means import EvaluationMeans
from zoo.nn.gan_nets import (
    DCGANDiscriminator,
    DCGANGenerator,
    init_dcgan_weights,
    latent_noise,
    sample_images,
    tanh_to_unit,
    unit_to_tanh,
)


class DCGAN(L.LightningModule):
    """DCGAN, convolutional pair sized from image_shape. Step budget: --trainer.max_steps, global_step and the
    checkpoints' step= count generator updates, one per batch (Lightning alone would count both optimizers).

    Each batch updates the discriminator once, then the generator once against the updated
    discriminator, on the same fake images. Trains unchanged under DDP and bf16/16-mixed;
    ``accumulate_grad_batches`` is refused (use a larger batch). Learning-rate schedulers, if
    given, step once per epoch.
    """

    task = "generation"
    batch_kind = "images"

    def __init__(
        self,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        latent_dim: int = 100,
        generator_features: int = 128,
        discriminator_features: int = 64,
        channels_last: bool = True,
        optimizer_g: OptimizerCallable | None = None,
        optimizer_d: OptimizerCallable | None = None,
        scheduler_g: LRSchedulerCallable | None = None,
        scheduler_d: LRSchedulerCallable | None = None,
    ) -> None:
        """
        Args:
            image_shape: (channels, height, width) of the images; the CLI links it from the data.
            latent_dim: size of the noise vector the generator maps to an image.
            generator_features: channels of the generator's last hidden layer (the paper's ngf); they double
                per stage inwards, up to 8x.
            discriminator_features: channels of the discriminator's first layer (ndf), doubling likewise.
            channels_last: keep convolution weights and images in NHWC memory layout, which oneDNN (CPU) and
                cuDNN (tensor cores) run faster, in bf16 above all (see benchmarks/dcgan_throughput.py).
            optimizer_g: generator optimizer; None means the paper setting Adam(lr=2e-4, betas=(0.5, 0.999)).
                In YAML: ``optimizer_g: {class_path: torch.optim.RMSprop, init_args: {lr: 1e-4}}``.
            optimizer_d: discriminator optimizer; None means the same Adam.
            scheduler_g: optional learning-rate scheduler of the generator, stepped once per epoch.
            scheduler_d: optional learning-rate scheduler of the discriminator, stepped once per epoch.
        """
        check_positive(image_shape=image_shape, latent_dim=latent_dim, generator_features=generator_features,
                       discriminator_features=discriminator_features)
        super().__init__()
        self.save_hyperparameters()
        # Two networks, two optimizers, stepped by hand below (read by the CLI to pick a DDP mode that allows it).
        self.automatic_optimization = False
        self.eval_means = EvaluationMeans("d_real", "d_fake", "d_loss", "g_loss")
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        self.generator = DCGANGenerator(latent_dim, self.image_shape, generator_features)
        self.discriminator = DCGANDiscriminator(self.image_shape, discriminator_features, norm="batch")
        self.generator.apply(init_dcgan_weights)
        self.discriminator.apply(init_dcgan_weights)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.to(memory_format=self.memory_format)
        # Kept as attributes: under LightningCLI the saved hparams hold their config, not the callables.
        self.optimizer_g, self.optimizer_d = optimizer_g, optimizer_d
        self.scheduler_g, self.scheduler_d = scheduler_g, scheduler_d

    # -- task interface: generation
    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] for latents of shape (N, latent_dim)."""
        return tanh_to_unit(self.generator(latents))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images in [0, 1], shape (n, *image_shape); a seeded ``generator`` repeats them on any device."""
        return sample_images(self.generator, n, self.latent_dim, self.device, generator)

    # -- training
    def _latents(self, batch_size: int) -> torch.Tensor:
        return latent_noise(batch_size, self.latent_dim, self.device, self.global_rank, self.trainer.world_size)

    def _to_tanh_range(self, images: torch.Tensor) -> torch.Tensor:
        """The zoo's [0, 1] images in the generator's [-1, 1], in the networks' memory layout."""
        return unit_to_tanh(images).contiguous(memory_format=self.memory_format)

    def training_step(self, batch, batch_idx: int) -> None:
        real_images = self._to_tanh_range(batch[0])
        optimizer_g, optimizer_d = self.optimizers()
        fake_images = self.generator(self._latents(real_images.shape[0]))

        # Discriminator: real -> 1, fake -> 0. Detached fakes keep this update off the generator.
        with self.toggled_optimizer(optimizer_d):
            d_loss = bce_discriminator_loss(self.discriminator(real_images), self.discriminator(fake_images.detach()))
            optimizer_d.zero_grad()
            self.manual_backward(d_loss)
            step_uncounted(self, optimizer_d)  # the step budget counts generator updates

        # Generator: the same fakes, judged by the updated discriminator (whose parameters are frozen here).
        with self.toggled_optimizer(optimizer_g):
            g_loss = bce_generator_loss(self.discriminator(fake_images))
            optimizer_g.zero_grad()
            self.manual_backward(g_loss)
            optimizer_g.step()

        self.log("train/d_loss", d_loss, prog_bar=True)
        self.log("train/g_loss", g_loss, prog_bar=True)

    def validation_step(self, batch, batch_idx: int) -> None:
        real_images = self._to_tanh_range(batch[0])
        real_logits = self.discriminator(real_images)
        fake_logits = self.discriminator(self.generator(self._latents(real_images.shape[0])))
        # D(x) and D(G(z)) as probabilities: both drift to 0.5 as the generator catches up.
        self.eval_means.log(self, "val", len(real_images),
                            d_real=torch.sigmoid(real_logits.float()).mean(),
                            d_fake=torch.sigmoid(fake_logits.float()).mean(),
                            d_loss=bce_discriminator_loss(real_logits, fake_logits),
                            g_loss=bce_generator_loss(fake_logits))

    def on_train_epoch_end(self) -> None:
        step_lr_schedulers(self)

    def configure_callbacks(self) -> list:
        refuse_gradient_accumulation(self)
        return []

    def configure_optimizers(self) -> list[dict]:
        return configure_gan_optimizers(self, self.discriminator,
                                        partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999)))
