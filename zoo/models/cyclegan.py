"""CycleGAN: translate between two image domains learnt from unpaired examples.

Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
Networks", ICCV 2017 (arXiv:1703.10593). Reference implementation:
junyanz/pytorch-CycleGAN-and-pix2pix (``models/cycle_gan_model.py``, ``util/image_pool.py``).

The paper's recipe: two ResNet generators (A->B and B->A; 6 residual blocks for 128x128
images, 9 for 256x256 and up) and two 70x70 PatchGAN discriminators (instance norm), the
least-squares GAN loss, a cycle-consistency L1 loss (lambda 10) that asks A->B->A to give
A back, an identity loss (0.5 * lambda) that asks each generator to leave images of its
target domain alone (it keeps colours), discriminators trained on a history of 50 generated
images rather than only the latest ones, Adam (lr 2e-4, beta1 0.5) at a constant rate for
``epochs_constant`` epochs and then decayed linearly towards zero over ``epochs_decay``.

Batches are ``{"A": images, "B": images}`` in [0, 1] (``unpaired`` datamodule); internally
images live in [-1, 1] (tanh). Manual optimization, one optimizer for both generators and
one for both discriminators, as in the reference. As in every zoo GAN, ``global_step`` (and so
``--trainer.max_steps``) counts generator updates, one per batch (``zoo.manual_optimization``).
Under DDP each process keeps its own image pools; checkpoints hold rank 0's.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import OptimizerCallable
from torchmetrics import MeanAbsoluteError
from torchvision.utils import make_grid

from zoo.conditioning import example_input
from zoo.errors import ZooError, check_non_negative, check_positive
from zoo.losses import least_squares_discriminator_loss, least_squares_generator_loss
from zoo.manual_optimization import (
    catch_up_lr_schedulers,
    refuse_gradient_accumulation,
    save_loadable_hyperparameters,
    step_uncounted,
)
from zoo.nn.layers import Norm, init_normal_weights, tanh_to_unit, unit_to_tanh
from zoo.nn.translation import PatchDiscriminator, ResNetGenerator, pad_to_multiple, patch_layers_for


class ImagePool:
    """The last ``size`` generated images, from which the discriminators are partly fed.

    Shrivastava et al. 2017 (and CycleGAN, section 4): showing the discriminator older fakes as
    well as the newest stops it and the generator from chasing each other round in circles.
    Until full, the pool stores and returns each new image; afterwards each new image is, with
    probability 1/2, swapped for a random stored one (which is returned instead). The pool has
    its own random number generator (``rng``) so that a checkpoint can hold its exact state (``state_dict``) and
    a resumed run makes the same draws.
    """

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []
        self.rng = torch.Generator().manual_seed(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        if self.images and self.images[0].device != images.device:
            # Restored from a checkpoint (CPU) into a run on another device: the pool follows the model.
            self.images = [stored.to(images.device) for stored in self.images]
        returned = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                returned.append(image)
            elif torch.rand((), generator=self.rng) < 0.5:
                index = int(torch.randint(self.size, (), generator=self.rng))
                returned.append(self.images[index].to(device=image.device, dtype=image.dtype))
                self.images[index] = image.clone()
            else:
                returned.append(image)
        return torch.stack(returned)

    def state_dict(self) -> dict[str, Any]:
        stored = torch.stack([image.float().cpu() for image in self.images]) if self.images else torch.empty(0)
        # "generator" is the checkpoint key since the first release: checkpoints written before stay loadable.
        return {"images": stored, "generator": self.rng.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.images = list(state["images"].unbind(0)) if state["images"].numel() else []
        self.rng.set_state(state["generator"])


class CycleGAN(L.LightningModule):
    """Two ResNet generators and two PatchGANs trained with LSGAN, cycle and identity losses."""

    task = "translation"
    batch_kind = "unpaired"

    def __init__(
        self,
        image_shape: tuple[int, int, int] = (3, 256, 256),
        generator_channels: int = 64,
        discriminator_channels: int = 64,
        resnet_blocks: int | None = None,
        norm: Norm = "instance",
        lambda_cycle: float = 10.0,
        lambda_identity: float = 0.5,
        pool_size: int = 50,
        epochs_constant: int = 100,
        epochs_decay: int = 100,
        optimizer_g: OptimizerCallable | None = None,
        optimizer_d: OptimizerCallable | None = None,
    ) -> None:
        """
        Args:
            image_shape: (channels, height, width) of both domains; the CLI links it from the data.
            generator_channels: channels of the generators' first layer (64).
            discriminator_channels: channels of the discriminators' first layer (64).
            resnet_blocks: residual blocks per generator; default 6 for images up to 128 px, 9 above (the paper).
            norm: "instance" (the paper), "batch", "layer" (per image over C, H, W) or "none" (zoo.nn.layers.Norm).
            lambda_cycle: weight of each cycle-consistency L1 term (10).
            lambda_identity: weight of the identity L1 terms relative to ``lambda_cycle`` (0.5; 0 turns them off).
            pool_size: generated images kept per domain to feed the discriminators (50; 0 turns the pool off).
            epochs_constant: epochs at the initial learning rate (100).
            epochs_decay: epochs over which the learning rate then falls linearly towards zero (100).
            optimizer_g: optimizer of both generators; None means the paper setting Adam(lr=2e-4, betas=(0.5, 0.999)).
                In YAML: ``optimizer_g: {class_path: torch.optim.RMSprop, init_args: {lr: 1e-4}}``.
            optimizer_d: optimizer of both discriminators; None means the same Adam.
        """
        check_positive(image_shape=image_shape, generator_channels=generator_channels,
                       discriminator_channels=discriminator_channels)
        check_non_negative(resnet_blocks=resnet_blocks, lambda_cycle=lambda_cycle, lambda_identity=lambda_identity,
                           pool_size=pool_size, epochs_constant=epochs_constant, epochs_decay=epochs_decay)
        super().__init__()
        save_loadable_hyperparameters(self)
        self.automatic_optimization = False
        self.image_shape = tuple(image_shape)
        channels, height, width = self.image_shape
        if height % 4 or width % 4:
            raise ZooError(f"cyclegan's generators halve images twice: sides must divide by 4, got {height}x{width}")
        blocks = resnet_blocks if resnet_blocks is not None else (6 if max(height, width) <= 128 else 9)
        self.generator_ab = ResNetGenerator(channels, channels, blocks, generator_channels, norm)
        self.generator_ba = ResNetGenerator(channels, channels, blocks, generator_channels, norm)
        self.example_input_array = example_input(self, self.image_shape)
        patch_layers = patch_layers_for(min(height, width))
        # discriminator_a tells real A images from generator_ba's fakes; discriminator_b the same for B.
        self.discriminator_a = PatchDiscriminator(channels, discriminator_channels, patch_layers, norm)
        self.discriminator_b = PatchDiscriminator(channels, discriminator_channels, patch_layers, norm)
        for network in (self.generator_ab, self.generator_ba, self.discriminator_a, self.discriminator_b):
            init_normal_weights(network)
        # Kept as attributes: under LightningCLI the saved hparams hold their config, not the callables.
        self.optimizer_g, self.optimizer_d = optimizer_g, optimizer_d
        # Seeded from torch's generator, which seed_everything has seeded: reproducible, and equal on every rank.
        pool_seed = int(torch.randint(2**62, ()))
        self.pool_a, self.pool_b = ImagePool(pool_size, pool_seed), ImagePool(pool_size, pool_seed + 1)
        self.eval_cycle_l1 = MeanAbsoluteError()

    # -- task interface: translation
    @torch.no_grad()
    def translate(self, images: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        """Translate images in [0, 1] (N, C, H, W) from A to B ("AtoB") or B to A ("BtoA"); same shape out."""
        generators = {"AtoB": self.generator_ab, "BtoA": self.generator_ba}
        if direction not in generators:
            raise ZooError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
        if images.ndim != 4 or images.shape[1] != self.image_shape[0]:
            raise ZooError(f"cyclegan expects images of shape (N, {self.image_shape[0]}, H, W), "
                           f"got {tuple(images.shape)}")
        padded, (height, width) = pad_to_multiple(images, 2**ResNetGenerator.downsamplings)
        translated = generators[direction](unit_to_tanh(padded.to(self.dtype)))
        return tanh_to_unit(translated[..., :height, :width]).to(images.dtype)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.translate(images)

    @torch.no_grad()
    def translation_grid(self, batch: dict[str, torch.Tensor], max_images: int = 8) -> torch.Tensor:
        """One image (C, H', W') in [0, 1], a row per example: A | fake B | A again (cycle) | B | fake A | B again."""
        real_a, real_b = batch["A"][:max_images], batch["B"][:max_images]
        count = min(len(real_a), len(real_b))
        real_a, real_b = real_a[:count], real_b[:count]
        fake_b, fake_a = self.translate(real_a, "AtoB"), self.translate(real_b, "BtoA")
        cycled_a, cycled_b = self.translate(fake_b, "BtoA"), self.translate(fake_a, "AtoB")
        rows = torch.stack([real_a, fake_b, cycled_a, real_b, fake_a, cycled_b], dim=1).flatten(0, 1).float()
        return make_grid(rows, nrow=6, padding=2, pad_value=1.0)

    # -- training
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        # In configure_optimizers' order: optimizer_g steps both generators, optimizer_d both discriminators.
        optimizer_g, optimizer_d = self.optimizers()
        real_a, real_b = unit_to_tanh(batch["A"]), unit_to_tanh(batch["B"])
        lambda_cycle = self.hparams.lambda_cycle
        lambda_identity = self.hparams.lambda_identity * lambda_cycle

        with self.toggled_optimizer(optimizer_g):
            fake_b = self.generator_ab(real_a)
            fake_a = self.generator_ba(real_b)
            # The reference weighs each generator's LSGAN term as E[(D(G(x)) - 1)^2], twice Mao et al.'s 1/2 form;
            # lambda_cycle = 10 is balanced against that.
            g_gan = 2 * (least_squares_generator_loss(self.discriminator_b(fake_b))
                         + least_squares_generator_loss(self.discriminator_a(fake_a)))
            g_cycle = (F.l1_loss(self.generator_ba(fake_b).float(), real_a.float())
                       + F.l1_loss(self.generator_ab(fake_a).float(), real_b.float()))
            g_loss = g_gan + lambda_cycle * g_cycle
            if lambda_identity > 0:
                # A generator shown an image already of its target domain should hand it back unchanged.
                g_identity = (F.l1_loss(self.generator_ab(real_b).float(), real_b.float())
                              + F.l1_loss(self.generator_ba(real_a).float(), real_a.float()))
                g_loss = g_loss + lambda_identity * g_identity
            optimizer_g.zero_grad()
            self.manual_backward(g_loss)
            optimizer_g.step()

        with self.toggled_optimizer(optimizer_d):
            pooled_fake_b, pooled_fake_a = self.pool_b.query(fake_b), self.pool_a.query(fake_a)
            # 1/2 (E[(D(x) - 1)^2] + E[D(G(z))^2]): the reference's halving, which slows the discriminators.
            d_loss_b = least_squares_discriminator_loss(self.discriminator_b(real_b),
                                                        self.discriminator_b(pooled_fake_b))
            d_loss_a = least_squares_discriminator_loss(self.discriminator_a(real_a),
                                                        self.discriminator_a(pooled_fake_a))
            d_loss = d_loss_a + d_loss_b
            optimizer_d.zero_grad()
            self.manual_backward(d_loss)
            step_uncounted(self, optimizer_d)  # the step budget counts generator updates

        self.log("train/d_loss", d_loss)
        self.log("train/g_loss", g_loss)
        self.log("train/g_cycle", g_cycle)

    def on_train_epoch_start(self) -> None:
        catch_up_lr_schedulers(self)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def _evaluate(self, batch: dict[str, torch.Tensor], stage: str) -> None:
        """Cycle consistency in [0, 1]: the mean of |A - BtoA(AtoB(A))| and |B - AtoB(BtoA(B))|."""
        real_a, real_b = batch["A"].float(), batch["B"].float()
        cycled_a = self.translate(self.translate(real_a, "AtoB"), "BtoA").float()
        cycled_b = self.translate(self.translate(real_b, "BtoA"), "AtoB").float()
        self.eval_cycle_l1.update(torch.cat([cycled_a, cycled_b]), torch.cat([real_a, real_b]))
        self.log(f"{stage}/cycle_l1", self.eval_cycle_l1, on_epoch=True, prog_bar=True)

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self.translate(batch["A"])

    def learning_rate_factor(self, epoch: int) -> float:
        """The paper's schedule: 1 for ``epochs_constant`` epochs, then a linear fall towards 0 (reference formula)."""
        decayed_epochs = max(0, epoch + 1 - self.hparams.epochs_constant)
        return max(0.0, 1.0 - decayed_epochs / (self.hparams.epochs_decay + 1))

    def configure_callbacks(self) -> list:
        refuse_gradient_accumulation(self)
        return []

    def configure_optimizers(self):
        paper_adam = partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999))
        optimizer_g = (self.optimizer_g or paper_adam)([*self.generator_ab.parameters(),
                                                        *self.generator_ba.parameters()])
        optimizer_d = (self.optimizer_d or paper_adam)([*self.discriminator_a.parameters(),
                                                        *self.discriminator_b.parameters()])
        # A plain function, which LambdaLR leaves out of its state_dict: the schedule is code, its position is state.
        schedulers = [torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: self.learning_rate_factor(epoch))
                      for optimizer in (optimizer_g, optimizer_d)]
        return [optimizer_g, optimizer_d], schedulers

    # -- the image pools are training state: a resumed run must feed the discriminators the same history
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["image_pools"] = {"A": self.pool_a.state_dict(), "B": self.pool_b.state_dict()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "image_pools" in checkpoint:
            self.pool_a.load_state_dict(checkpoint["image_pools"]["A"])
            self.pool_b.load_state_dict(checkpoint["image_pools"]["B"])
