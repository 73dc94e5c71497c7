"""Layers and helpers every image family shares: norm choice, N(0, 0.02) weights, pixel ranges, latent noise.

- :data:`Norm` and :func:`norm_layer`: one normalisation choice for every network, as the
  reference implementations build them (pytorch-CycleGAN-and-pix2pix ``networks.py``
  ``get_norm_layer``; WGAN-GP's per-image layer norm).
- :func:`init_normal_weights`: Radford et al. 2016 (section 4), kept by pix2pix and CycleGAN:
  convolution and linear weights from N(0, 0.02), normalisation scales from N(1, 0.02), biases 0.
- :func:`unit_to_tanh` / :func:`tanh_to_unit`: the zoo's images are [0, 1] at every boundary;
  tanh generators work in [-1, 1] and convert inside the family.
- :func:`latent_noise` and :func:`sample_images`: the noise a generator trains on (distinct per
  DDP rank) and the images it samples for users (repeatable with a seeded ``rng``).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from zoo.errors import ZooError

# "batch": BatchNorm2d; "instance": per image and channel, no affine (CycleGAN); "layer": per image over
# (C, H, W) (WGAN-GP's critic); "none": no normalisation.
Norm = Literal["batch", "instance", "layer", "none"]


def norm_layer(norm: Norm, channels: int) -> nn.Module:
    """The normalisation layer ``norm`` names, for a feature map of ``channels`` channels."""
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "layer":
        # Layer norm over (C, H, W) of each image: no coupling across the batch (a per-image gradient penalty).
        return nn.GroupNorm(1, channels)
    if norm == "none":
        return nn.Identity()
    raise ZooError(f"norm must be one of 'batch', 'instance', 'layer', 'none', got {norm!r}")


def conv_bias(norm: Norm) -> bool:
    """Whether a convolution before ``norm_layer(norm)`` needs a bias: not when the norm's learned shift cancels it."""
    return norm in ("instance", "none")


def init_normal_weights(network: nn.Module, std: float = 0.02) -> None:
    """The papers' initialisation of every layer of ``network``: weights ~ N(0, std), norm scales ~ N(1, std), bias 0."""
    for layer in network.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)) and layer.weight is not None:
            nn.init.normal_(layer.weight, 1.0, std)
            nn.init.zeros_(layer.bias)


def unit_to_tanh(images: torch.Tensor) -> torch.Tensor:
    """The zoo's [0, 1] images in a tanh generator's [-1, 1]."""
    return images * 2 - 1


def tanh_to_unit(images: torch.Tensor) -> torch.Tensor:
    """A generator's [-1, 1] images as the zoo's float [0, 1]."""
    return ((images.float() + 1) / 2).clamp(0, 1)


def latent_noise(batch_size: int, latent_dim: int, device: torch.device | str, rank: int = 0,
                 world_size: int = 1) -> torch.Tensor:
    """Standard normal latents of shape (batch_size, latent_dim), different on every DDP rank.

    Lightning's ``seed_everything`` gives every process the same seed, so a plain
    ``torch.randn`` hands each rank the same latents and DDP trains on ``world_size`` copies of
    one fake batch. Each rank draws every rank's latents from its (identical) stream and keeps
    its own slice: distinct latents per rank, random streams that stay in step, and a run that
    repeats exactly.
    """
    return torch.randn(world_size, batch_size, latent_dim, device=device)[rank]


@torch.no_grad()
def sample_images(generator: nn.Module, n: int, latent_dim: int, device: torch.device,
                  rng: torch.Generator | None = None, labels: torch.Tensor | None = None) -> torch.Tensor:
    """``n`` images in [0, 1] from a tanh ``generator`` network; a seeded ``rng`` repeats them on any device.

    The network runs in eval mode, so batch norm uses its running statistics: sampling has no
    side effects on training and an image does not depend on the others in its batch.
    """
    latents = torch.randn(n, latent_dim, generator=rng, device=rng.device if rng is not None else device)
    was_training = generator.training
    generator.eval()
    try:
        conditions = () if labels is None else (labels.to(device),)  # a class-conditional generator's labels
        return tanh_to_unit(generator(latents.to(device), *conditions))
    finally:
        generator.train(was_training)
