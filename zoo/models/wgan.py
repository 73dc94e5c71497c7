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

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable

from zoo.errors import check_positive
from zoo.losses import wasserstein_critic_loss, wasserstein_estimate, wasserstein_generator_loss
from zoo.manual_optimization import optimizer_config, save_loadable_hyperparameters, step_uncounted
from zoo.metrics.means import EvaluationMeans
from zoo.models.latent_gan import LatentGAN
from zoo.nn.gan_nets import DCGANDiscriminator, DCGANGenerator
from zoo.nn.layers import init_normal_weights


class WGAN(LatentGAN):
    """Wasserstein GAN, weight-clipped critic. Step budget: --trainer.max_steps, global_step and the checkpoints'
    step= count generator updates, each after n_critic batches (one critic update per batch), as the paper counts.

    Each batch updates the critic once on fresh real images (Algorithm 1 samples a new real
    batch per critic iteration); every ``n_critic``-th batch, counted across epochs so the
    rhythm survives epoch ends and resuming, the generator is updated once after it. Trains
    unchanged under DDP and bf16/16-mixed; ``accumulate_grad_batches`` is refused (use a larger
    batch). Learning-rate schedulers, if given, follow the epoch (brought to it at each epoch start, also after
    a resume).
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
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        super().__init__(image_shape, latent_dim, optimizer_g, optimizer_d, scheduler_g, scheduler_d, memory_format)
        save_loadable_hyperparameters(self)
        self.eval_means = EvaluationMeans("wasserstein", prog_bar=("wasserstein",))
        self.n_critic = n_critic
        self.clip_value = clip_value
        self.generator = DCGANGenerator(latent_dim, self.image_shape, generator_features)
        self.critic = DCGANDiscriminator(self.image_shape, critic_features, norm="batch")
        init_normal_weights(self.generator)
        init_normal_weights(self.critic)
        self.to(memory_format=self.memory_format)

    # -- training (the generation interface, the noise and the epoch policies are LatentGAN's)
    def training_step(self, batch, batch_idx: int) -> None:
        real_images = self._to_tanh_range(batch[0])
        batch_size = real_images.shape[0]
        # In configure_optimizers' order: optimizer_g steps self.generator, optimizer_d self.critic.
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

    def configure_optimizers(self) -> list[dict]:
        paper_rmsprop = partial(torch.optim.RMSprop, lr=5e-5)
        optimizer_g = (self.optimizer_g or paper_rmsprop)(self.generator.parameters())
        optimizer_d = (self.optimizer_d or paper_rmsprop)(self.critic.parameters())
        return [optimizer_config(optimizer_g, self.scheduler_g, "generator"),
                optimizer_config(optimizer_d, self.scheduler_d, "critic")]
