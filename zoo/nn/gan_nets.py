"""Generators and discriminators the GAN families share, sized from the data's image shape.

Generators end in ``tanh`` (images in [-1, 1]; the families convert to and from the zoo's
[0, 1]). Discriminators return one raw score per image, shape (N,): logits for the
cross-entropy losses, critic values for the Wasserstein ones, never a sigmoid (the losses
in :mod:`zoo.losses` are the stable form). Norm choice, initialisation, pixel ranges and latent
noise are :mod:`zoo.nn.layers`'.

- MLP pair: the classic GAN as in Lightning's GAN example (``examples/pytorch/
  domain_templates/generative_adversarial_net.py``) and eriklindernoren/PyTorch-GAN.
- Convolutional pair: Radford et al., "Unsupervised Representation Learning with Deep
  Convolutional GANs", ICLR 2016 (arXiv:1511.06434); layout and init as in the PyTorch
  DCGAN example (``pytorch/examples/dcgan/main.py``).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from zoo.errors import ZooError

# Plugins written against earlier zoos import these from here; they live in zoo.nn.layers.
from zoo.nn.layers import Norm, conv_bias, latent_noise, norm_layer, sample_images, tanh_to_unit, unit_to_tanh

__all__ = ["ConditionalDCGANGenerator", "DCGANDiscriminator", "DCGANGenerator", "MLPDiscriminator", "MLPGenerator",
           "ProjectionDCGANDiscriminator", "dcgan_layout", "latent_noise", "sample_images", "tanh_to_unit",
           "unit_to_tanh"]

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
            layers += [nn.Conv2d(fan_in, fan_out, 4, 2, 1, bias=conv_bias(norm)), norm_layer(norm, fan_out),
                       nn.LeakyReLU(0.2, inplace=True)]
        layers.append(nn.Conv2d(widths[-1], 1, start, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()


# ---------------------------------------------------------------- class-conditional DCGAN pair


class ConditionalDCGANGenerator(DCGANGenerator):
    """The DCGAN generator fed ``[z, embed(y)]``: a learned label embedding concatenated to the noise.

    Mirza & Osindero, "Conditional Generative Adversarial Nets", 2014 (arXiv:1411.1784), with the
    one-hot label replaced by its (equivalent, linear) embedding of ``latent_dim`` values.
    """

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], features: int, num_classes: int) -> None:
        super().__init__(2 * latent_dim, image_shape, features)
        self.class_embedding = nn.Embedding(num_classes, latent_dim)

    def forward(self, latents: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.cat([latents, self.class_embedding(labels).to(latents.dtype)], dim=1))


class ProjectionDCGANDiscriminator(DCGANDiscriminator):
    """The DCGAN discriminator with a class projection: D(x, y) = psi(phi(x)) + <embed(y), sum_pool(phi(x))>.

    Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018 (arXiv:1802.05637), eq. 3:
    phi is every layer but the last, psi the last (the unconditional score), and the label's
    embedding is matched against the features summed over space.
    """

    def __init__(self, image_shape: tuple[int, int, int], features: int, norm: Norm, num_classes: int) -> None:
        super().__init__(image_shape, features, norm)
        self.class_embedding = nn.Embedding(num_classes, self.net[-1].in_channels)
        # On the scale of psi's N(0, 0.02) weights: nn.Embedding's N(0, 1) would let the projection, a sum over
        # every feature, swamp the score (logits in the hundreds) before training starts.
        nn.init.normal_(self.class_embedding.weight, 0.0, 0.02)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        features = self.net[:-1](images)
        projection = (self.class_embedding(labels).to(features.dtype) * features.sum(dim=(2, 3))).sum(dim=1)
        return self.net[-1](features).flatten() + projection
