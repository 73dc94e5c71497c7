"""Networks shared by the image-to-image families (Pix2Pix, CycleGAN).

- :class:`UNetGenerator`: encoder-decoder with skip connections (pix2pix, Isola et al. 2017,
  arXiv:1611.07004, appendix 6.1.1).
- :class:`ResNetGenerator`: two stride-2 convolutions, residual blocks, two transposed
  convolutions (CycleGAN, Zhu et al. 2017, arXiv:1703.10593, appendix 7.2; after Johnson
  et al. 2016).
- :class:`PatchDiscriminator`: the 70x70 PatchGAN, a grid of real/fake logits, one per
  overlapping patch.

Reference implementation: junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py``.
All generators map [-1, 1] images to [-1, 1] (tanh); the families convert from and to
the zoo's [0, 1] at their boundary (:mod:`zoo.nn.layers`, with the norm choice and initialisation).
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.errors import ZooError
from zoo.nn.layers import Norm, conv_bias, norm_layer

# The paper's U-Net for 256x256 images has 8 stride-2 levels (256 -> 1); deeper buys nothing.
MAX_UNET_DEPTH = 8


def unet_depth_for(height: int, width: int) -> int:
    """How many stride-2 levels fit an image: halve while both sides stay whole numbers, at most 8.

    The zoo's choice for small images (28x28 digits, 32x32 tests): rather than padding them up to
    a power of two, the U-Net gets as many levels as the size divides by 2 (28 -> 2 levels,
    32 -> 5, 64 -> 6, 256 -> 8 as in the paper). The receptive field shrinks with the depth,
    which small images do not miss.
    """
    depth = 0
    while depth < MAX_UNET_DEPTH and height % 2 == 0 and width % 2 == 0 and min(height, width) > 1:
        height, width, depth = height // 2, width // 2, depth + 1
    return depth


class UNetGenerator(nn.Module):
    """U-Net: ``depth`` stride-2 convolutions down, as many transposed convolutions up, skips between mirrors.

    Encoder level i has ``base_channels * min(2**i, 8)`` channels (C64-C128-C256-C512-C512...).
    As in the paper, the encoder's first layer and the bottleneck have no normalisation, and
    dropout (the generator's only noise) follows the three decoder layers nearest the bottleneck.
    """

    def __init__(self, in_channels: int, out_channels: int, depth: int, base_channels: int = 64,
                 norm: Norm = "batch", dropout: float = 0.5) -> None:
        super().__init__()
        if not 1 <= depth <= MAX_UNET_DEPTH:
            raise ZooError(f"U-Net depth must be between 1 and {MAX_UNET_DEPTH}, got {depth}")
        self.depth = depth
        widths = [base_channels * min(2**level, 8) for level in range(depth)]
        bias = conv_bias(norm)
        self.down = nn.ModuleList()
        for level, width in enumerate(widths):
            layers: list[nn.Module] = []
            if level > 0:
                # Not in place: the previous level's output is also kept as that level's skip.
                layers.append(nn.LeakyReLU(0.2))
            fan_in = in_channels if level == 0 else widths[level - 1]
            layers.append(nn.Conv2d(fan_in, width, 4, stride=2, padding=1, bias=bias or level == 0))
            # No norm on the input layer (paper) nor the 1x1 bottleneck (normalising one pixel zeroes it).
            if 0 < level < depth - 1:
                layers.append(norm_layer(norm, width))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        for level in reversed(range(depth)):
            # The bottleneck's decoder sees only its own features; every other level also gets its skip.
            fan_in = widths[level] if level == depth - 1 else 2 * widths[level]
            outermost = level == 0
            fan_out = out_channels if outermost else widths[level - 1]
            layers = [nn.ReLU(inplace=True),
                      nn.ConvTranspose2d(fan_in, fan_out, 4, stride=2, padding=1, bias=bias or outermost)]
            if outermost:
                layers.append(nn.Tanh())
            else:
                layers.append(norm_layer(norm, fan_out))
                if dropout > 0 and level >= depth - 3:
                    layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        skips = []
        features = images
        for block in self.down:
            features = block(features)
            skips.append(features)
        features = self.up[0](skips.pop())
        for block in self.up[1:]:
            features = block(torch.cat([features, skips.pop()], dim=1))
        return features


class ResidualBlock(nn.Module):
    """Two reflection-padded 3x3 convolutions with a skip; reflection avoids border artefacts (paper, 7.2)."""

    def __init__(self, channels: int, norm: Norm, dropout: float) -> None:
        super().__init__()
        bias = conv_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias),
                                   norm_layer(norm, channels), nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), norm_layer(norm, channels)]
        self.body = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features + self.body(features)


class ResNetGenerator(nn.Module):
    """c7s1-64, d128, d256, R256 x ``blocks``, u128, u64, c7s1-3 (the CycleGAN generator); sides must divide by 4."""

    downsamplings = 2

    def __init__(self, in_channels: int, out_channels: int, blocks: int = 9, base_channels: int = 64,
                 norm: Norm = "instance", dropout: float = 0.0) -> None:
        super().__init__()
        bias = conv_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, base_channels, 7, bias=bias),
                                   norm_layer(norm, base_channels), nn.ReLU(inplace=True)]
        width = base_channels
        for _ in range(self.downsamplings):
            layers += [nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=bias),
                       norm_layer(norm, 2 * width), nn.ReLU(inplace=True)]
            width *= 2
        layers += [ResidualBlock(width, norm, dropout) for _ in range(blocks)]
        for _ in range(self.downsamplings):
            layers += [nn.ConvTranspose2d(width, width // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                       norm_layer(norm, width // 2), nn.ReLU(inplace=True)]
            width //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


def patch_output_size(size: int, layers: int) -> int:
    """Side of the logit grid a :class:`PatchDiscriminator` gives for a ``size`` x ``size`` input."""
    for _ in range(layers):
        size = (size + 2 - 4) // 2 + 1
    for _ in range(2):  # two stride-1 4x4 convolutions
        size = size + 2 - 4 + 1
    return size


def patch_layers_for(size: int, layers: int = 3) -> int:
    """The most stride-2 layers, up to ``layers``, that leave a logit grid for a small image.

    Three layers give the paper's 70x70 patches, which need images of at least 32 pixels;
    smaller images (16x16) get fewer layers and smaller patches.
    """
    while layers > 1 and patch_output_size(size, layers) < 2:
        layers -= 1
    if patch_output_size(size, layers) < 1:
        raise ZooError(f"images of {size} px are too small for a PatchGAN discriminator (at least 8 px)")
    return layers


class PatchDiscriminator(nn.Module):
    """PatchGAN: C64-C128-C256-C512 then a 1-channel convolution; logits of shape (N, 1, h, w).

    With ``layers=3`` each logit sees a 70x70 patch (pix2pix, section 3.2.2): the
    discriminator judges local texture and leaves the global structure to the L1 or cycle
    loss. No sigmoid: the losses take logits (stable under mixed precision).
    """

    def __init__(self, in_channels: int, base_channels: int = 64, layers: int = 3, norm: Norm = "batch") -> None:
        super().__init__()
        bias = conv_bias(norm)
        modules: list[nn.Module] = [nn.Conv2d(in_channels, base_channels, 4, stride=2, padding=1),
                                    nn.LeakyReLU(0.2, inplace=True)]
        width = base_channels
        for layer in range(1, layers + 1):
            # The last widening convolution has stride 1: it enlarges the patch without shrinking the grid.
            stride = 2 if layer < layers else 1
            next_width = base_channels * min(2**layer, 8)
            modules += [nn.Conv2d(width, next_width, 4, stride=stride, padding=1, bias=bias),
                        norm_layer(norm, next_width), nn.LeakyReLU(0.2, inplace=True)]
            width = next_width
        modules.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*modules)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


def pad_to_multiple(images: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad height and width up to a multiple (so any image passes the generator); returns the original size."""
    height, width = images.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if pad_h or pad_w:
        mode = "reflect" if pad_h < height and pad_w < width else "replicate"
        images = nn.functional.pad(images, (0, pad_w, 0, pad_h), mode=mode)
    return images, (height, width)
