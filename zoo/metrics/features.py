"""Feature extractors for FID and KID, chosen by name: ``digits``, ``inception``, ``auto`` or a class path.

FID compares the mean and covariance of two image sets in some network's feature space,
so the number means what that network sees. Inception-v3 (Heusel et al., "GANs Trained by
a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017) is the
convention for natural images, but on 28x28 grayscale digits it mostly measures blur
from upscaling to 299x299 and needs 91 MB of weights. The zoo therefore ships ``digits``:
a small CNN classifier trained on the embedded digits by
``scripts/train_digits_features.py`` (weights in ``zoo/metrics/digits_features.pt``),
whose penultimate layer gives FID/KID numbers that track digit quality. ``auto`` picks
``digits`` for 1x28x28 images and ``inception`` otherwise.

Every extractor takes float images in [0, 1], NCHW, and has ``num_features``, which is
what torchmetrics' ``FrechetInceptionDistance(feature=module)`` expects. Extractors
register in the entry-point group ``zoo.features``; a plugin registers its own there or
is named by class path (``--fid.feature my_pkg.features.MyExtractor``).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from zoo import registry
from zoo.errors import ZooError

DIGITS_WEIGHTS = Path(__file__).with_name("digits_features.pt")
DIGITS_IMAGE_SHAPE = (1, 28, 28)
# The MNIST pixel statistics, so the classifier sees zero-mean, unit-variance inputs.
DIGITS_MEAN, DIGITS_STD = 0.1307, 0.3081


def to_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Grayscale <-> RGB for extractors that need a fixed channel count; anything else is refused."""
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1)
    if have == 3 and channels == 1:
        # ITU-R 601 luma, the weights torchvision's rgb_to_grayscale uses.
        weights = images.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images * weights).sum(dim=1, keepdim=True)
    raise ZooError(f"this FID feature extractor takes 1- or 3-channel images, got {have} channels")


class NoTrainMixin:
    """Feature networks stay in eval mode: a FID whose dropout or batch-norm statistics move is no metric."""

    def train(self, mode: bool = True):
        return super().train(False)


# ---------------------------------------------------------------- digits


class DigitsFeatureNet(nn.Module):
    """A small CNN digit classifier for 1x28x28 images in [0, 1]; ``features`` is its penultimate layer.

    Three 3x3 convolution stages (28 -> 14 -> 7 -> 3), a linear embedding of
    ``num_features`` and the 10-way classifier: about 100k parameters (the shipped weights
    stay under half a megabyte) and about 2M multiply-adds per image, so it trains in a
    few minutes on a laptop CPU. The 3x3 map is flattened rather than averaged: where a
    stroke is matters for telling digits apart.
    """

    def __init__(self, num_features: int = 128, num_classes: int = 10) -> None:
        super().__init__()
        self.num_features = num_features
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        )
        self.embedding = nn.Linear(64 * 3 * 3, num_features)
        self.classifier = nn.Sequential(nn.ReLU(), nn.Dropout(0.3), nn.Linear(num_features, num_classes))
        # Set by the training script so that training digits get features of root-mean-square 1 (order one,
        # like Inception's pooled features): KID's cubic kernel (x.y/d + 1)^3 explodes on features of size ~7.
        self.register_buffer("feature_scale", torch.ones(()))

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.embedding(self.body((images - DIGITS_MEAN) / DIGITS_STD))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(N, num_features) FID features: the embedding before its ReLU (dense, roughly Gaussian features suit
        FID better than half-zero rectified ones), times ``feature_scale``."""
        return self.embed(images) * self.feature_scale

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits, shape (N, num_classes)."""
        return self.classifier(self.embed(images))


def load_digits_checkpoint(path: str | Path = DIGITS_WEIGHTS) -> dict:
    """The shipped checkpoint: ``state_dict``, ``num_features`` and the accuracies the training script measured."""
    path = Path(path)
    if not path.exists():
        raise ZooError(f"digits feature weights not found at {path}; run `python scripts/train_digits_features.py`")
    return torch.load(path, map_location="cpu", weights_only=True)


class DigitsFeatureExtractor(NoTrainMixin, nn.Module):
    """The ``digits`` FID feature extractor: the shipped :class:`DigitsFeatureNet`, frozen.

    Images of another size are resized to 28x28 (bilinear, antialiased) and RGB images
    are converted to grayscale, so the extractor runs on anything; its numbers only mean
    "digit quality" on digit-like data.
    """

    def __init__(self, weights: str | None = None) -> None:
        """
        Args:
            weights: a checkpoint written by ``scripts/train_digits_features.py``; default the shipped one.
        """
        super().__init__()
        checkpoint = load_digits_checkpoint(weights or DIGITS_WEIGHTS)
        self.net = DigitsFeatureNet(num_features=int(checkpoint["num_features"]))
        self.net.load_state_dict(checkpoint["state_dict"])
        self.num_features = self.net.num_features
        self.test_accuracy = float(checkpoint.get("test_accuracy", float("nan")))
        self.requires_grad_(False)
        self.eval()

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Float 1x28x28 in [0, 1], whatever came in."""
        images = to_channels(images.float().clamp(0, 1), 1)
        if tuple(images.shape[-2:]) != DIGITS_IMAGE_SHAPE[1:]:
            images = F.interpolate(images, size=DIGITS_IMAGE_SHAPE[1:], mode="bilinear", antialias=True)
        return images

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net.features(self.prepare(images))

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """Predicted digit per image, shape (N,)."""
        return self.net(self.prepare(images)).argmax(dim=1)


# ---------------------------------------------------------------- inception


def inception_weights_url() -> str:
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    return URL_INCEPTION_V3


def inception_cache_path() -> Path:
    """Where ``torch.hub`` keeps the downloaded Inception weights (under ``$TORCH_HOME``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / inception_weights_url().rsplit("/", 1)[-1]


def missing_inception_weights_message(reason: str) -> str:
    return (
        f"FID feature 'inception' needs the FID Inception-v3 weights (torch-fidelity's {inception_cache_path().name},"
        f" about 91 MB): {reason}. Fix it either way: give a local copy with `--fid.inception_weights PATH`"
        f" (Python: inception_weights=PATH), or allow the one-time download into {inception_cache_path().parent}"
        f" with `--fid.allow_download true` (Python: allow_download=True). For 28x28 grayscale data"
        f" `--fid.feature digits` needs no download."
    )


class InceptionFeatureExtractor(NoTrainMixin, nn.Module):
    """The ``inception`` FID feature extractor: torchmetrics' Inception-v3 (the torch-fidelity/TTUR weights).

    Nothing downloads unless asked: without ``weights`` the network loads from the
    ``torch.hub`` cache, and only with ``allow_download=True`` does torchmetrics fetch it
    there. Grayscale images are repeated to RGB.
    """

    def __init__(
        self,
        weights: str | None = None,
        allow_download: bool = False,
        num_features: Literal[64, 192, 768, 2048] = 2048,
        antialias: bool = False,
    ) -> None:
        """
        Args:
            weights: path to ``weights-inception-2015-12-05-6726825d.pth``; default the ``torch.hub`` cache.
            allow_download: fetch the weights into the ``torch.hub`` cache when they are not there.
            num_features: which Inception layer to pool: 2048 is the standard FID.
            antialias: resize to 299x299 with antialiasing. False (the default) uses the TensorFlow-1
                bilinear resize of the original FID code, so numbers compare with pytorch-fid and TTUR.
        """
        super().__init__()
        try:
            import torch_fidelity  # noqa: F401 - torchmetrics' Inception lives in torch-fidelity
            from torchmetrics.image.fid import NoTrainInceptionV3
        except ImportError as exc:
            raise ZooError(
                "FID feature 'inception' needs torch-fidelity: `pip install torch-fidelity`"
                " (or `pip install torchmetrics[image]`); or use `--fid.feature digits` for 28x28 grayscale data"
            ) from exc
        if weights is not None and not Path(weights).is_file():
            raise ZooError(missing_inception_weights_message(f"--fid.inception_weights {weights} is not a file"))
        if weights is None and not allow_download and not inception_cache_path().is_file():
            raise ZooError(missing_inception_weights_message(f"they are not in {inception_cache_path().parent}"))
        try:
            self.inception = NoTrainInceptionV3(
                name="inception-v3-compat",
                features_list=[str(num_features)],
                feature_extractor_weights_path=weights,
                antialias=antialias,
            )
        except OSError as exc:  # urllib's URLError and HTTPError are OSErrors: offline, proxy, 404
            raise ZooError(missing_inception_weights_message(f"the download failed ({exc})")) from exc
        self.num_features = int(num_features)
        self.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # The network was trained on 8-bit images; quantising as torchmetrics does with normalize=True keeps
        # our numbers equal to FrechetInceptionDistance(feature=2048, normalize=True).
        pixels = (to_channels(images.float().clamp(0, 1), 3) * 255).byte()
        return self.inception(pixels)


# ---------------------------------------------------------------- by name


def auto_feature(image_shape: tuple[int, ...] | None) -> str:
    """``digits`` for 1x28x28 images, ``inception`` for anything else (or an unknown shape)."""
    return "digits" if image_shape is not None and tuple(image_shape) == DIGITS_IMAGE_SHAPE else "inception"


def feature_class(name: str, image_shape: tuple[int, ...] | None = None) -> type[nn.Module]:
    """The extractor class for ``auto``, a ``zoo.features`` name, or a class path; fails clearly on typos."""
    if name == "auto":
        name = auto_feature(image_shape)
    class_path = registry.resolve_class_path("feature", name)
    cls = registry.import_path(class_path)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ZooError(f"FID feature '{name}' ({class_path}) is not a torch.nn.Module subclass")
    return cls


def build_feature_extractor(
    name: str,
    image_shape: tuple[int, ...] | None = None,
    inception_weights: str | None = None,
    allow_download: bool = False,
) -> nn.Module:
    """A frozen feature extractor in eval mode, with ``num_features`` set.

    Args:
        name: ``auto``, a name registered in ``zoo.features`` (``digits``, ``inception``, a plugin's) or a
            class path.
        image_shape: (C, H, W) of the images to compare; decides ``auto``, and is passed to a plugin whose
            ``__init__`` takes ``image_shape``.
        inception_weights: local Inception weights (only for ``inception``).
        allow_download: let ``inception`` download its weights when they are not cached.
    """
    cls = feature_class(name, image_shape)
    if issubclass(cls, InceptionFeatureExtractor):
        extractor = cls(weights=inception_weights, allow_download=allow_download)
    elif "image_shape" in inspect.signature(cls).parameters:
        extractor = cls(image_shape=image_shape)
    else:
        extractor = cls()
    if not isinstance(getattr(extractor, "num_features", None), int):
        if image_shape is None:
            raise ZooError(f"FID feature extractor {cls.__name__} has no integer `num_features` attribute")
        with torch.no_grad():  # a plugin without num_features: measure it on two blank images of the data's shape
            extractor.num_features = int(extractor(torch.zeros(2, *image_shape)).shape[-1])
    extractor.requires_grad_(False)
    return extractor.eval()
