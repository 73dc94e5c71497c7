"""Generators and discriminators the GAN families share, sized from the data's image shape.

Generators end in ``tanh`` (images in [-1, 1]; the families convert to and from the zoo's
[0, 1]). Discriminators return one raw score per image, shape (N,): logits for the
cross-entropy losses, critic values for the Wasserstein ones, never a sigmoid (the losses
in :mod:`zoo.losses` are the stable form).

- MLP pair: the classic GAN as in Lightning's GAN example (``examples/pytorch/
  domain_templates/generative_adversarial_net.py``) and eriklindernoren/PyTorch-GAN.
- Convolutional pair: Radford et al., "Unsupervised Representation Learning with Deep
  Convolutional GANs", ICLR 2016 (arXiv:1511.06434); layout and init as in the PyTorch
  DCGAN example (``pytorch/examples/dcgan/main.py``).
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import torch
from torch import nn

from zoo.errors import ZooError

Norm = Literal["batch", "layer", "none"]


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


def unit_to_tanh(images: torch.Tensor) -> torch.Tensor:
    """The zoo's [0, 1] images in a tanh generator's [-1, 1]."""
    return images * 2 - 1


def tanh_to_unit(images: torch.Tensor) -> torch.Tensor:
    """A generator's [-1, 1] images as the zoo's float [0, 1]."""
    return ((images.float() + 1) / 2).clamp(0, 1)


@torch.no_grad()
def sample_images(generator_net: nn.Module, n: int, latent_dim: int, device: torch.device,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` images in [0, 1] from a tanh generator; a seeded ``generator`` repeats them on any device.

    The network runs in eval mode, so batch norm uses its running statistics: sampling has no
    side effects on training and an image does not depend on the others in its batch.
    """
    latents = torch.randn(n, latent_dim, generator=generator,
                          device=generator.device if generator is not None else device)
    was_training = generator_net.training
    generator_net.eval()
    try:
        return tanh_to_unit(generator_net(latents.to(device)))
    finally:
        generator_net.train(was_training)


def init_dcgan_weights(module: nn.Module) -> None:
    """Radford et al., section 4: weights from N(0, 0.02); normalisation scales from N(1, 0.02), shifts 0.

    Use as ``network.apply(init_dcgan_weights)``.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)) and module.weight is not None:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


# ---------------------------------------------------------------- MLP pair (the classic GAN)


class MLPGenerator(nn.Module):
    """latent -> hidden widths (LeakyReLU 0.2, batch norm) -> pixels -> tanh.

    As in the reference implementations, the first hidden layer has no batch norm: it
    would only rescale the Gaussian input.
    """

    def __init__(self, latent_dim: int, hidden_dims: list[int], image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        layers: list[nn.Module] = []
        fan_in = latent_dim
        for index, width in enumerate(hidden_dims):
            layers.append(nn.Linear(fan_in, width))
            if index > 0:
                layers.append(nn.BatchNorm1d(width))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            fan_in = width
        layers += [nn.Linear(fan_in, math.prod(image_shape)), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.net(latents).view(-1, *self.image_shape)


class MLPDiscriminator(nn.Module):
    """pixels -> hidden widths (LeakyReLU 0.2) -> one logit per image."""

    def __init__(self, image_shape: tuple[int, int, int], hidden_dims: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        fan_in = math.prod(image_shape)
        for width in hidden_dims:
            layers += [nn.Linear(fan_in, width), nn.LeakyReLU(0.2, inplace=True)]
            fan_in = width
        layers.append(nn.Linear(fan_in, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.flatten(1)).flatten()


# ---------------------------------------------------------------- DCGAN pair


def dcgan_layout(image_shape: tuple[int, int, int]) -> tuple[int, tuple[int, int]]:
    """How many stride-2 stages reach ``image_shape``, and the feature-map size they start from.

    Sides are halved while both stay even and above 7: 64 -> 4 stages from 4x4 (the paper's
    layout), 32 -> 3 from 4x4, 28 -> 2 from 7x7 (MNIST at its own size, no resizing).
    """
    height, width = image_shape[1:]
    stages = 0
    while height % 2 == 0 and width % 2 == 0 and min(height, width) > 7:
        height, width, stages = height // 2, width // 2, stages + 1
    if stages == 0:
        raise ZooError(
            f"a DCGAN needs image sides that halve at least once (even and above 7), got {tuple(image_shape)}; "
            "resize the data, e.g. --data.image_size 32"
        )
    return stages, (height, width)


def _stage_widths(features: int, stages: int) -> list[int]:
    """Channels per stage from the image side inwards: features, 2x, 4x, 8x, then 8x again (the paper's cap)."""
    return [features * min(2**stage, 8) for stage in range(stages)]


def _normalization(norm: Norm, channels: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "layer":
        # Layer norm over (C, H, W) of each image, as WGAN-GP's critic uses: no coupling across the batch.
        return nn.GroupNorm(1, channels)
    return nn.Identity()


class DCGANGenerator(nn.Module):
    """Fractionally-strided convolutions with batch norm and ReLU, from a (start x start) projection to tanh pixels."""

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], features: int = 64) -> None:
        super().__init__()
        stages, start = dcgan_layout(image_shape)
        widths = list(reversed(_stage_widths(features, stages)))
        # The projection of z is a transposed convolution over a 1x1 map (the PyTorch reference's form).
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, widths[0], start, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        for fan_in, fan_out in itertools.pairwise(widths):
            layers += [nn.ConvTranspose2d(fan_in, fan_out, 4, 2, 1, bias=False), nn.BatchNorm2d(fan_out),
                       nn.ReLU(inplace=True)]
        layers += [nn.ConvTranspose2d(widths[-1], image_shape[0], 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.net(latents[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """Strided convolutions with LeakyReLU(0.2); normalisation on every layer but the first (the paper's rule).

    ``norm="batch"`` is the DCGAN (and WGAN) discriminator; WGAN-GP's penalty is taken per
    image, which batch norm would break, so its critic uses ``"layer"`` or ``"none"``.
    """

    def __init__(self, image_shape: tuple[int, int, int], features: int = 64, norm: Norm = "batch") -> None:
        super().__init__()
        stages, start = dcgan_layout(image_shape)
        widths = _stage_widths(features, stages)
        layers: list[nn.Module] = [nn.Conv2d(image_shape[0], widths[0], 4, 2, 1, bias=False),
                                   nn.LeakyReLU(0.2, inplace=True)]
        for fan_in, fan_out in itertools.pairwise(widths):
            # A bias before a normalisation layer is cancelled by it; without one it is needed.
            layers += [nn.Conv2d(fan_in, fan_out, 4, 2, 1, bias=norm == "none"), _normalization(norm, fan_out),
                       nn.LeakyReLU(0.2, inplace=True)]
        layers.append(nn.Conv2d(widths[-1], 1, start, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()
