"""Generative adversarial network: the classic MLP generator and discriminator.

Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014 (arXiv:1406.2661); reference
implementation https://github.com/goodfeli/adversarial. Defaults follow Lightning's GAN example
(``examples/pytorch/domain_templates/generative_adversarial_net.py``) and
eriklindernoren/PyTorch-GAN: generator latent 100 -> 128 -> 256 -> image with LeakyReLU(0.2),
batch norm and a tanh output; discriminator image -> 512 -> 256 -> 1 with LeakyReLU(0.2); the
non-saturating binary cross-entropy on logits; Adam, lr 2e-4, betas (0.5, 0.999).

Uses: new images from noise (``sample``); the CLI attaches FID and sample grids by that interface.
"""

from __future__ import annotations

from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable

from zoo.errors import check_positive
from zoo.manual_optimization import save_loadable_hyperparameters
from zoo.models.latent_gan import NonSaturatingGAN
from zoo.nn.gan_nets import MLPDiscriminator, MLPGenerator


class GAN(NonSaturatingGAN):
    """Classic GAN, MLP generator and discriminator. Step budget: --trainer.max_steps, global_step and the
    checkpoints' step= count generator updates, one per batch (Lightning alone would count both optimizers).

    Training (one discriminator then one generator update per batch, the optimizers, the
    schedule) is :class:`zoo.models.latent_gan.NonSaturatingGAN`'s, shared with DCGAN.
    """

    task = "generation"
    batch_kind = "images"

    def __init__(
        self,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        latent_dim: int = 100,
        generator_dims: tuple[int, ...] = (128, 256),
        discriminator_dims: tuple[int, ...] = (512, 256),
        optimizer_g: OptimizerCallable | None = None,
        optimizer_d: OptimizerCallable | None = None,
        scheduler_g: LRSchedulerCallable | None = None,
        scheduler_d: LRSchedulerCallable | None = None,
    ) -> None:
        """
        Args:
            image_shape: (channels, height, width) of the images; the CLI links it from the data.
            latent_dim: size of the noise vector the generator maps to an image.
            generator_dims: hidden widths of the generator.
            discriminator_dims: hidden widths of the discriminator.
            optimizer_g: generator optimizer; None means the paper setting Adam(lr=2e-4, betas=(0.5, 0.999)).
                In YAML: ``optimizer_g: {class_path: torch.optim.RMSprop, init_args: {lr: 1e-4}}``.
            optimizer_d: discriminator optimizer; None means the same Adam.
            scheduler_g: optional learning-rate scheduler of the generator, stepped once per epoch.
            scheduler_d: optional learning-rate scheduler of the discriminator, stepped once per epoch.
        """
        check_positive(image_shape=image_shape, latent_dim=latent_dim, generator_dims=generator_dims,
                       discriminator_dims=discriminator_dims)
        super().__init__(image_shape, latent_dim, optimizer_g, optimizer_d, scheduler_g, scheduler_d)
        save_loadable_hyperparameters(self)
        # The reference implementations keep PyTorch's default initialisation for the MLP pair.
        self.generator = MLPGenerator(latent_dim, list(generator_dims), self.image_shape)
        self.discriminator = MLPDiscriminator(self.image_shape, list(discriminator_dims))
