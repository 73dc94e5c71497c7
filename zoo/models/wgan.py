"""Wasserstein GAN: a critic kept Lipschitz by clipping its weights.

Arjovsky, Chintala & Bottou, "Wasserstein GAN", ICML 2017 (arXiv:1701.07875); reference
implementation https://github.com/martinarjovsky/WassersteinGAN. The critic estimates the
Wasserstein-1 distance E[f(x)] - E[f(G(z))] instead of classifying, so its loss tracks sample
quality. Algorithm 1's defaults: clip every critic weight to [-0.01, 0.01] after each critic
update, ``n_critic`` = 5 critic updates per generator update, RMSprop lr 5e-5 (momentum-based
optimizers were unstable with clipping, section 3). Networks: the DCGAN pair
(:mod:`zoo.nn.gan_nets`, batch norm in the critic as in the reference code), no sigmoid.
Not reproduced: the reference's 100 critic updates per generator update for the first 25
generator updates and every 500th.

Uses: new images from noise (``sample``); the CLI attaches FID and sample grids by that interface.
"""

from __future__ import annotations

from functools import partial

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable

from zoo.errors import check_positive
from zoo.losses import wasserstein_critic_loss, wasserstein_estimate, wasserstein_generator_loss
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


class WGAN(L.LightningModule):
    """Wasserstein GAN, weight-clipped critic. Step budget: --trainer.max_steps, global_step and the checkpoints'
    step= count generator updates, each after n_critic batches (one critic update per batch), as the paper counts.

    Each batch updates the critic once on fresh real images (Algorithm 1 samples a new real
    batch per critic iteration); every ``n_critic``-th batch, counted across epochs so the
    rhythm survives epoch ends and resuming, the generator is updated once after it. Trains
    unchanged under DDP and bf16/16-mixed; ``accumulate_grad_batches`` is refused (use a larger
    batch). Learning-rate schedulers, if given, step once per epoch.
    """

    task = "generation"
    batch_kind = "images"

    def __init__(
        self,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        latent_dim: int = 100,
        generator_features: int = 64,
        critic_features: int = 64,
        channels_last: bool = True,
        n_critic: int = 5,
        clip_value: float = 0.01,
        optimizer_g: OptimizerCallable | None = None,
        optimizer_d: OptimizerCallable | None = None,
        scheduler_g: LRSchedulerCallable | None = None,
        scheduler_d: LRSchedulerCallable | None = None,
    ) -> None:
        """
        Args:
            image_shape: (channels, height, width) of the images; the CLI links it from the data.
            latent_dim: size of the noise vector the generator maps to an image.
            generator_features: channels of the generator's last hidden layer (DCGAN's ngf).
            critic_features: channels of the critic's first layer (DCGAN's ndf).
            channels_last: keep convolution weights and images in NHWC memory layout, which oneDNN (CPU) and
                cuDNN (tensor cores) run faster (see benchmarks/dcgan_throughput.py).
            n_critic: critic updates (batches) per generator update.
            clip_value: every critic parameter is clipped to [-clip_value, clip_value] after each critic update.
            optimizer_g: generator optimizer; None means the paper's RMSprop(lr=5e-5).
                In YAML: ``optimizer_g: {class_path: torch.optim.Adam, init_args: {lr: 1e-4}}``.
            optimizer_d: critic optimizer; None means the same RMSprop.
            scheduler_g: optional learning-rate scheduler of the generator, stepped once per epoch.
            scheduler_d: optional learning-rate scheduler of the critic, stepped once per epoch.
        """
        check_positive(image_shape=image_shape, latent_dim=latent_dim, generator_features=generator_features,
                       critic_features=critic_features, n_critic=n_critic, clip_value=clip_value)
        super().__init__()
        self.save_hyperparameters()
        # Two networks, two optimizers, stepped by hand below (read by the CLI to pick a DDP mode that allows it).
        self.automatic_optimization = False
        self.eval_means = EvaluationMeans("wasserstein", prog_bar=("wasserstein",))
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        self.n_critic = n_critic
        self.clip_value = clip_value
        self.generator = DCGANGenerator(latent_dim, self.image_shape, generator_features)
        self.critic = DCGANDiscriminator(self.image_shape, critic_features, norm="batch")
        self.generator.apply(init_dcgan_weights)
        self.critic.apply(init_dcgan_weights)
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
        batch_size = real_images.shape[0]
        optimizer_g, optimizer_d = self.optimizers()

        # Critic: maximise E[f(x)] - E[f(G(z))], then clip its weights back into a compact set (Lipschitz).
        with self.toggled_optimizer(optimizer_d):
            with torch.no_grad():
                fake_images = self.generator(self._latents(batch_size))
            d_loss = wasserstein_critic_loss(self.critic(real_images), self.critic(fake_images))
            optimizer_d.zero_grad()
            self.manual_backward(d_loss)
            step_uncounted(self, optimizer_d)  # the step budget counts generator updates
            with torch.no_grad():
                for parameter in self.critic.parameters():
                    parameter.clamp_(-self.clip_value, self.clip_value)
        self.log("train/d_loss", d_loss)
        self.log("train/wasserstein", -d_loss)

        # Generator, once every n_critic batches: maximise the critic's score of fresh fakes.
        if (self.trainer.fit_loop.epoch_loop.total_batch_idx + 1) % self.n_critic == 0:
            with self.toggled_optimizer(optimizer_g):
                g_loss = wasserstein_generator_loss(self.critic(self.generator(self._latents(batch_size))))
                optimizer_g.zero_grad()
                self.manual_backward(g_loss)
                optimizer_g.step()
            self.log("train/g_loss", g_loss)

    def validation_step(self, batch, batch_idx: int) -> None:
        real_images = self._to_tanh_range(batch[0])
        fake_images = self.generator(self._latents(real_images.shape[0]))
        # The critic's Wasserstein estimate on held-out images: it falls as the samples improve.
        self.eval_means.log(self, "val", len(real_images),
                            wasserstein=wasserstein_estimate(self.critic(real_images), self.critic(fake_images)))

    def on_train_epoch_end(self) -> None:
        step_lr_schedulers(self)

    def configure_callbacks(self) -> list:
        refuse_gradient_accumulation(self)
        return []

    def configure_optimizers(self) -> list[dict]:
        return configure_gan_optimizers(self, self.critic, partial(torch.optim.RMSprop, lr=5e-5))
