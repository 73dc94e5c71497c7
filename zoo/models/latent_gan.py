"""What the noise-to-image GAN families share, top-down: the generation interface, then the BCE training.

- :class:`LatentGAN`: a ``generator`` network from ``latent_dim`` noise to tanh images, its
  ``sample``/``forward`` in the zoo's [0, 1], the noise it trains on (distinct per DDP rank),
  and the policies every adversarial family keeps (:mod:`zoo.manual_optimization`: schedulers
  caught up at epoch start, gradient accumulation refused). GAN, DCGAN, WGAN and WGAN-GP.
- :class:`NonSaturatingGAN`: the training the classic GAN and DCGAN have in common. Goodfellow
  et al., "Generative Adversarial Nets", NeurIPS 2014 (arXiv:1406.2661), section 3: the
  discriminator learns real -> 1, fake -> 0; the generator maximises log D(G(z)) (the
  non-saturating loss) instead of minimising log(1 - D(G(z))). Binary cross-entropy on logits
  (:mod:`zoo.losses`), Adam lr 2e-4 with betas (0.5, 0.999) as in Radford et al. 2016.

Not registered families and not bases a plugin needs: each family file builds its own networks
(and, for the WGANs, writes its own training step) and leaves the rest here.
"""

from __future__ import annotations

from functools import partial

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable

from zoo.conditioning import (
    batch_labels,
    example_input,
    load_class_names,
    network_labels,
    sample_labels,
    save_class_names,
)
from zoo.losses import bce_discriminator_loss, bce_generator_loss
from zoo.manual_optimization import (
    catch_up_lr_schedulers,
    optimizer_config,
    refuse_gradient_accumulation,
    step_uncounted,
)
from zoo.metrics.means import EvaluationMeans
from zoo.nn.layers import latent_noise, sample_images, tanh_to_unit, unit_to_tanh


class LatentGAN(L.LightningModule):
    """A ``generator`` from noise to images, trained by hand against a second network the subclass names.

    Trains unchanged under DDP and bf16/16-mixed; ``accumulate_grad_batches`` is refused (use a
    larger batch). Learning-rate schedulers, if given, follow the epoch (brought to it at each
    epoch start, also after a resume).
    """

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: int,
                 optimizer_g: OptimizerCallable | None, optimizer_d: OptimizerCallable | None,
                 scheduler_g: LRSchedulerCallable | None, scheduler_d: LRSchedulerCallable | None,
                 memory_format: torch.memory_format = torch.contiguous_format) -> None:
        super().__init__()
        # Two networks, two optimizers, stepped by hand below (read by the CLI to pick a DDP mode that allows it).
        self.automatic_optimization = False
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        self.memory_format = memory_format
        # Kept as attributes: under LightningCLI the saved hparams hold their config, not the callables.
        self.optimizer_g, self.optimizer_d = optimizer_g, optimizer_d
        self.scheduler_g, self.scheduler_d = scheduler_g, scheduler_d

    # -- task interface: generation (self.generator is the subclass's network)
    def forward(self, latents: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [0, 1] for latents of shape (N, latent_dim) (and their (N,) labels, when conditional)."""
        return tanh_to_unit(self.generator(latents, *self._conditions(labels)))

    def sample(self, n: int, generator: torch.Generator | None = None,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` images in [0, 1], shape (n, *image_shape); a seeded ``generator`` (a torch RNG) repeats them anywhere.

        A class-conditional model takes ``labels`` (n,); None draws them uniformly (from ``generator``).
        """
        return sample_images(self.generator, n, self.latent_dim, self.device, rng=generator,
                             labels=sample_labels(self, n, labels, generator))

    @property
    def example_input_array(self):  # a property: a subclass decides on conditioning after this __init__
        return example_input(self, (self.latent_dim,))

    # -- class conditioning: a subclass that builds label-taking networks sets self.num_classes
    @property
    def conditional(self) -> bool:
        return hasattr(self, "num_classes")

    def _conditions(self, labels: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        return network_labels(self, labels)

    def _batch_conditions(self, batch) -> tuple[torch.Tensor, ...]:
        return (batch_labels(batch, self.num_classes),) if self.conditional else ()

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        save_class_names(self, checkpoint)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        load_class_names(self, checkpoint)

    # -- training
    def _latents(self, batch_size: int) -> torch.Tensor:
        return latent_noise(batch_size, self.latent_dim, self.device, self.global_rank, self.trainer.world_size)

    def _to_tanh_range(self, images: torch.Tensor) -> torch.Tensor:
        """The zoo's [0, 1] images in the generator's [-1, 1], in the networks' memory layout."""
        return unit_to_tanh(images).contiguous(memory_format=self.memory_format)

    def on_train_epoch_start(self) -> None:
        catch_up_lr_schedulers(self)

    def configure_callbacks(self) -> list:
        refuse_gradient_accumulation(self)
        return []


class NonSaturatingGAN(LatentGAN):
    """A generator and a discriminator trained with the non-saturating BCE. Step budget: --trainer.max_steps,
    global_step and the checkpoints' step= count generator updates, one per batch (Lightning alone would count both
    optimizers).

    Each batch updates the discriminator once, then the generator once against the updated
    discriminator, on the same fake images.
    """

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: int,
                 optimizer_g: OptimizerCallable | None, optimizer_d: OptimizerCallable | None,
                 scheduler_g: LRSchedulerCallable | None, scheduler_d: LRSchedulerCallable | None,
                 memory_format: torch.memory_format = torch.contiguous_format) -> None:
        super().__init__(image_shape, latent_dim, optimizer_g, optimizer_d, scheduler_g, scheduler_d, memory_format)
        self.eval_means = EvaluationMeans("d_real", "d_fake", "d_loss", "g_loss")

    def training_step(self, batch, batch_idx: int) -> None:
        real_images = self._to_tanh_range(batch[0])
        # Class-conditional: fakes of the real batch's classes, each image judged with its label.
        labels = self._batch_conditions(batch)
        # In configure_optimizers' order: optimizer_g steps self.generator, optimizer_d self.discriminator.
        optimizer_g, optimizer_d = self.optimizers()
        fake_images = self.generator(self._latents(real_images.shape[0]), *labels)

        # Discriminator: real -> 1, fake -> 0. Detached fakes keep this update off the generator.
        with self.toggled_optimizer(optimizer_d):
            d_loss = bce_discriminator_loss(self.discriminator(real_images, *labels),
                                            self.discriminator(fake_images.detach(), *labels))
            optimizer_d.zero_grad()
            self.manual_backward(d_loss)
            step_uncounted(self, optimizer_d)  # the step budget counts generator updates

        # Generator: the same fakes, judged by the updated discriminator (whose parameters are frozen here).
        with self.toggled_optimizer(optimizer_g):
            g_loss = bce_generator_loss(self.discriminator(fake_images, *labels))
            optimizer_g.zero_grad()
            self.manual_backward(g_loss)
            optimizer_g.step()

        self.log("train/d_loss", d_loss)
        self.log("train/g_loss", g_loss)

    def validation_step(self, batch, batch_idx: int) -> None:
        real_images = self._to_tanh_range(batch[0])
        labels = self._batch_conditions(batch)
        real_logits = self.discriminator(real_images, *labels)
        fake_logits = self.discriminator(self.generator(self._latents(real_images.shape[0]), *labels), *labels)
        # D(x) and D(G(z)) as probabilities: both drift to 0.5 as the generator catches up.
        self.eval_means.log(self, "val", len(real_images),
                            d_real=torch.sigmoid(real_logits.float()).mean(),
                            d_fake=torch.sigmoid(fake_logits.float()).mean(),
                            d_loss=bce_discriminator_loss(real_logits, fake_logits),
                            g_loss=bce_generator_loss(fake_logits))

    def configure_optimizers(self) -> list[dict]:
        paper_adam = partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999))
        optimizer_g = (self.optimizer_g or paper_adam)(self.generator.parameters())
        optimizer_d = (self.optimizer_d or paper_adam)(self.discriminator.parameters())
        return [optimizer_config(optimizer_g, self.scheduler_g, "generator"),
                optimizer_config(optimizer_d, self.scheduler_d, "discriminator")]
