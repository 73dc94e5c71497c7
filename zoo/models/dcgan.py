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

Class-conditional (``conditional=True``, num_classes linked from the data): the generator takes
a label embedding concatenated to the noise (Mirza & Osindero, "Conditional Generative Adversarial
Nets", 2014, arXiv:1411.1784) and the discriminator scores with a class projection (Miyato &
Koyama, "cGANs with Projection Discriminator", ICLR 2018, arXiv:1802.05637); each training batch
generates fakes of the real batch's classes. ``sample(n, labels=...)`` draws chosen classes.

Averaged generator: ``configs/dcgan_digits.yaml`` adds :class:`zoo.callbacks.GeneratorEMA`, an
exponential moving average of the generator's weights (Yazıcı et al., "The Unusual Effectiveness of
Averaging in GAN Training", ICLR 2019) that sampling, FID and the checkpoints use; the discriminator
is not averaged; and it trains with Adam lr 4e-4, betas (0, 0.9) instead of the paper's 2e-4,
(0.5, 0.999). What each gains on the digits, against the paper's setting, is in docs/benchmarks.md.

Uses: new images from noise (``sample``); the CLI attaches FID and sample grids by that interface.
"""

from __future__ import annotations

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable

from zoo.conditioning import conditional_classes
from zoo.errors import check_positive
from zoo.manual_optimization import save_loadable_hyperparameters
from zoo.models.latent_gan import NonSaturatingGAN
from zoo.nn.gan_nets import (
    ConditionalDCGANGenerator,
    DCGANDiscriminator,
    DCGANGenerator,
    ProjectionDCGANDiscriminator,
)
from zoo.nn.layers import init_normal_weights


class DCGAN(NonSaturatingGAN):
    """DCGAN, convolutional pair sized from image_shape. Step budget: --trainer.max_steps, global_step and the
    checkpoints' step= count generator updates, one per batch (Lightning alone would count both optimizers).

    Training (one discriminator then one generator update per batch, the optimizers, the
    schedule) is :class:`zoo.models.latent_gan.NonSaturatingGAN`'s, shared with the classic GAN.
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
        conditional: bool = False,
        num_classes: int = 0,
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
            conditional: class-conditional generator and projection discriminator; needs labelled data.
            num_classes: how many classes; the CLI links it from the data (used only when conditional).
        """
        check_positive(image_shape=image_shape, latent_dim=latent_dim, generator_features=generator_features,
                       discriminator_features=discriminator_features)
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        super().__init__(image_shape, latent_dim, optimizer_g, optimizer_d, scheduler_g, scheduler_d, memory_format)
        save_loadable_hyperparameters(self)
        classes = conditional_classes("dcgan", conditional, num_classes)
        if classes:
            self.num_classes = classes  # the ConditionalGeneration interface; absent on an unconditional DCGAN
            self.generator = ConditionalDCGANGenerator(latent_dim, self.image_shape, generator_features, classes)
            self.discriminator = ProjectionDCGANDiscriminator(self.image_shape, discriminator_features, "batch",
                                                              classes)
        else:
            self.generator = DCGANGenerator(latent_dim, self.image_shape, generator_features)
            self.discriminator = DCGANDiscriminator(self.image_shape, discriminator_features, norm="batch")
        init_normal_weights(self.generator)
        init_normal_weights(self.discriminator)
        self.to(memory_format=self.memory_format)
