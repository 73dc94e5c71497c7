"""Encoders and decoders shared by the autoencoder families, for any image size.

Decoders return logits: the families apply the sigmoid themselves so the loss can be
binary cross-entropy *with logits*, which is stable and safe under bf16/fp16 autocast.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import ZooError

Architecture = Literal["dense", "conv"]


def mlp(dims: list[int], final_activation: bool = False) -> nn.Sequential:
    """Linear layers with ReLU between them (and after the last one if asked)."""
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(itertools.pairwise(dims)):
        layers.append(nn.Linear(fan_in, fan_out))
        if index < len(dims) - 2 or final_activation:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def with_condition(features: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
    """``features`` (N, F) with a condition (N, K) appended, as in Sohn et al. 2015's conditional VAE."""
    return features if condition is None else torch.cat([features, condition.to(features.dtype)], dim=1)


class DenseEncoder(nn.Module):
    """Pixels (and ``condition_features`` more inputs, e.g. a one-hot label) -> hidden widths -> ``out_features``."""

    def __init__(self, image_shape: tuple[int, int, int], hidden_dims: list[int], out_features: int,
                 condition_features: int = 0) -> None:
        super().__init__()
        self.net = mlp([math.prod(image_shape) + condition_features, *hidden_dims, out_features])

    def forward(self, images: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(with_condition(images.flatten(1), condition))


class DenseDecoder(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int], hidden_dims: list[int], latent_dim: int) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.net = mlp([latent_dim, *hidden_dims, math.prod(image_shape)])

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.net(latents).view(-1, *self.image_shape)


class ConvEncoder(nn.Module):
    """Stride-2 convolutions (one per entry of ``channels``), then a linear map to ``out_features``."""

    def __init__(self, image_shape: tuple[int, int, int], channels: list[int], out_features: int,
                 condition_features: int = 0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        fan_in = image_shape[0]
        for fan_out in channels:
            layers += [nn.Conv2d(fan_in, fan_out, 4, stride=2, padding=1), nn.ReLU(inplace=True)]
            fan_in = fan_out
        self.features = nn.Sequential(*layers)
        with torch.no_grad():
            self.feature_shape = tuple(self.features(torch.zeros(1, *image_shape)).shape[1:])
        # A condition (one-hot label) joins the convolutional features, where the image is already summarised.
        self.head = nn.Linear(math.prod(self.feature_shape) + condition_features, out_features)

    def forward(self, images: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(with_condition(self.features(images).flatten(1), condition))


class ConvDecoder(nn.Module):
    """Mirror of :class:`ConvEncoder`; resizes to the exact image size when strides do not land on it."""

    def __init__(self, image_shape: tuple[int, int, int], channels: list[int], latent_dim: int) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.start_shape = tuple(ConvEncoder(image_shape, channels, 1).feature_shape)
        self.head = nn.Linear(latent_dim, math.prod(self.start_shape))
        layers: list[nn.Module] = []
        widths = [*reversed(channels), image_shape[0]]
        for index, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
            layers.append(nn.ConvTranspose2d(fan_in, fan_out, 4, stride=2, padding=1))
            if index < len(widths) - 2:
                layers.append(nn.ReLU(inplace=True))
        self.body = nn.Sequential(*layers)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        logits = self.body(torch.relu(self.head(latents)).view(-1, *self.start_shape))
        if tuple(logits.shape[-2:]) != self.image_shape[1:]:
            logits = F.interpolate(logits, size=self.image_shape[1:], mode="bilinear", align_corners=False)
        return logits


def build_encoder(architecture: Architecture, image_shape: tuple[int, int, int], hidden_dims: list[int],
                  out_features: int, condition_features: int = 0) -> nn.Module:
    if architecture == "conv":
        halvings = len(hidden_dims)
        if min(image_shape[1:]) < 2**halvings:  # a feature map of 0 pixels fails later, deep inside conv2d
            raise ZooError(f"the conv architecture halves images once per hidden_dims entry ({halvings}): sides must "
                           f"be at least {2**halvings} px, got {image_shape[1]}x{image_shape[2]}; use fewer "
                           "hidden_dims or larger images")
        return ConvEncoder(image_shape, hidden_dims, out_features, condition_features)
    return DenseEncoder(image_shape, hidden_dims, out_features, condition_features)


def build_decoder(architecture: Architecture, image_shape: tuple[int, int, int], hidden_dims: list[int],
                  latent_dim: int) -> nn.Module:
    if architecture == "conv":
        return ConvDecoder(image_shape, hidden_dims, latent_dim)
    return DenseDecoder(image_shape, list(reversed(hidden_dims)), latent_dim)
