"""FID and KID of a model's images against real ones: the metric, and functions for the Python API
(``feature_distances`` for both, ``compute_fid``, ``per_class_fid``).

Fréchet distance (Heusel et al., NeurIPS 2017): fit a Gaussian to the features of each
image set and take ``|mu_r - mu_f|^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2))``. Kernel
distance (Bińkowski et al., "Demystifying MMD GANs", ICLR 2018): the unbiased polynomial
MMD between the two feature sets, averaged over random subsets. Both come from
torchmetrics, which accumulates in float64 and reduces across processes; the features
come from :mod:`zoo.metrics.features` (``digits``, ``inception``, ``auto``, a plugin).

During training, :class:`zoo.metrics.fid_callback.FIDCallback` logs them (``--fid.*``).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torchmetrics.image import FrechetInceptionDistance, KernelInceptionDistance

from zoo.errors import ZooError
from zoo.metrics.features import build_feature_extractor


class PrecomputedFeatures(nn.Module):
    """The identity, posing as torchmetrics' feature network.

    The extractor runs once per image in :class:`FeatureDistances` and both metrics get
    its features, instead of each metric running the (possibly 24M-parameter) network again.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


class FeatureDistances(nn.Module):
    """FID, and optionally KID, between real and fake images in one extractor's feature space.

    Real statistics survive :meth:`reset_fake` (``reset_real_features=False``), so a
    training run extracts them once. Both metrics reduce across processes in ``compute``;
    KID keeps every feature (float64, ``num_features`` each) until then.

    Images wait until ``batch_size`` of a side have come (or the metric is read): the
    translation families validate one image per batch (their papers' batch size), and ~1,000
    single-image passes of Inception would leave a GPU idle between kernel launches.
    """

    def __init__(self, extractor: nn.Module, kid_subset_size: int | None = 100, kid_subsets: int = 100,
                 batch_size: int = 250) -> None:
        """
        Args:
            extractor: float [0, 1] NCHW images -> (N, extractor.num_features) features.
            kid_subset_size: images per KID subset (torchmetrics' default is 1000); None for no KID.
            kid_subsets: how many random subsets KID averages over.
            batch_size: images per forward pass of the extractor (fewer for the last ones).
        """
        super().__init__()
        self.extractor = extractor
        self.batch_size = batch_size
        self._pending: dict[bool, list[torch.Tensor]] = {True: [], False: []}
        features = PrecomputedFeatures(int(extractor.num_features))
        # normalize=True says "float in [0, 1]"; torchmetrics only acts on it for its built-in Inception.
        self.fid = FrechetInceptionDistance(feature=features, reset_real_features=False, normalize=True)
        self.kid_subset_size = kid_subset_size
        self.kid: KernelInceptionDistance | None = None
        if kid_subset_size is not None:
            with warnings.catch_warnings():
                # "KID will save all extracted features": known and intended; the callback caps the counts.
                warnings.simplefilter("ignore", UserWarning)
                self.kid = KernelInceptionDistance(feature=features, subsets=kid_subsets, subset_size=kid_subset_size,
                                                   reset_real_features=False, normalize=True)

    @torch.no_grad()
    def update(self, images: torch.Tensor, real: bool) -> None:
        """Add float [0, 1] NCHW images to the real or the fake side (extracted once ``batch_size`` are waiting)."""
        pending = self._pending[real]
        pending.append(images.detach())
        if sum(len(waiting) for waiting in pending) >= self.batch_size:
            self._extract(real)

    def flush(self) -> None:
        """Extract the features of every image still waiting."""
        for real in (True, False):
            if self._pending[real]:
                self._extract(real)

    @torch.no_grad()
    def _extract(self, real: bool) -> None:
        images, self._pending[real] = torch.cat(self._pending[real]), []
        # Full precision whatever the trainer's precision: features of a bf16 network would make FID
        # depend on the precision flag rather than on the images.
        with torch.autocast(images.device.type, enabled=False):
            features = self.extractor(images.float()).double()
        self.fid.update(features, real=real)
        if self.kid is not None:
            self.kid.update(features, real=real)

    def counts(self) -> tuple[int, int]:
        """(real, fake) images seen, summed over processes."""
        self.flush()
        counts = torch.stack([self.fid.real_features_num_samples, self.fid.fake_features_num_samples])
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(counts)
        return int(counts[0]), int(counts[1])

    def _one_kid_tensor_per_side(self) -> None:
        """Concatenate KID's feature lists in place: one tensor per side on every process.

        KID keeps features as lists that torchmetrics gathers element by element
        (``dist_reduce_fx=None``), so processes that made different numbers of updates (an
        uneven validation split, an uneven share of samples) would pair up the wrong tensors.
        """
        feature_sums = self.fid.real_features_sum  # (num_features,), on this process's device
        for side in ("real_features", "fake_features"):
            parts = getattr(self.kid, side)
            empty = torch.empty(0, len(feature_sums), dtype=torch.float64, device=feature_sums.device)
            setattr(self.kid, side, [torch.cat(parts) if parts else empty])

    def compute(self, seed: int = 0) -> dict[str, torch.Tensor]:
        """``{"fid": ..., "kid": ..., "kid_std": ...}`` (KID only when it is on and both sides have 2+ images).

        The same on every process. KID draws its subsets with ``torch.randperm`` on the CPU's
        default generator (torchmetrics takes no generator), so that generator alone is seeded
        with ``seed`` inside a fork that restores it: the value repeats, and training's random
        streams are untouched. Not ``torch.manual_seed``: it would also reseed every CUDA
        generator, and every epoch after a validation would replay the same noise.
        """
        real_count, fake_count = self.counts()
        if min(real_count, fake_count) < 2:
            raise ZooError(f"FID needs at least 2 real and 2 fake images, got {real_count} real and {fake_count} fake")
        results = {"fid": self.fid.compute().float()}
        if self.kid is not None and self.kid_subset_size is not None:
            # KID refuses subsets larger than either side; smaller subsets keep it unbiased, only noisier.
            self.kid.subset_size = min(self.kid_subset_size, real_count, fake_count)
            self._one_kid_tensor_per_side()
            with torch.random.fork_rng(devices=[]):
                torch.default_generator.manual_seed(seed)
                kid_mean, kid_std = self.kid.compute()
            results["kid"], results["kid_std"] = kid_mean.float(), kid_std.float()
        return results

    def reset_fake(self) -> None:
        """Forget the fake images; the real statistics stay."""
        self._pending[False] = []
        self.fid.reset()
        if self.kid is not None:
            self.kid.reset()


def feature_distances(
    real_images: torch.Tensor,
    fake_images: torch.Tensor,
    feature: str | nn.Module = "auto",
    batch_size: int = 250,
    inception_weights: str | None = None,
    allow_download: bool = False,
    kid_subset_size: int | None = 100,
    kid_subsets: int = 100,
    seed: int = 0,
) -> dict[str, float]:
    """FID and KID between two sets of float [0, 1] NCHW images: ``{"fid", "kid", "kid_std"}``.

    Args:
        real_images: the reference images, e.g. a test split.
        fake_images: the images to judge, e.g. ``model.sample(1000)``.
        feature: ``auto`` (``digits`` for 1x28x28, else ``inception``), a ``zoo.features`` name, a class
            path, or a feature module with ``num_features``.
        batch_size: images per forward pass of the feature network.
        inception_weights: local Inception weights, for ``inception`` offline.
        allow_download: let ``inception`` fetch its weights when they are not cached.
        kid_subset_size: images per KID subset (fewer when a side has fewer); None for FID alone.
        kid_subsets: how many random subsets KID averages over.
        seed: seeds KID's subsets, so the value repeats (see :meth:`FeatureDistances.compute`).
    """
    if isinstance(feature, str):
        feature = build_feature_extractor(feature, tuple(real_images.shape[1:]), inception_weights, allow_download)
    distances = FeatureDistances(feature, kid_subset_size=kid_subset_size, kid_subsets=kid_subsets,
                                 batch_size=batch_size).to(real_images.device)
    for real_batch in real_images.split(batch_size):
        distances.update(real_batch, real=True)
    for fake_batch in fake_images.to(real_images.device).split(batch_size):
        distances.update(fake_batch, real=False)
    return {name: float(value) for name, value in distances.compute(seed=seed).items()}


def compute_fid(real_images: torch.Tensor, fake_images: torch.Tensor, feature: str | nn.Module = "auto",
                batch_size: int = 250, inception_weights: str | None = None, allow_download: bool = False) -> float:
    """FID between two sets of float [0, 1] NCHW images, for users of the Python API: :func:`feature_distances`
    without KID (same arguments)."""
    return feature_distances(real_images, fake_images, feature, batch_size, inception_weights, allow_download,
                             kid_subset_size=None)["fid"]


@torch.no_grad()
def per_class_fid(
    models: dict[str, nn.Module],
    real_images: torch.Tensor,
    real_labels: torch.Tensor,
    per_class: int = 500,
    feature: str | nn.Module = "auto",
    seed: int = 0,
    batch_size: int = 250,
) -> dict[str, dict[int, float]]:
    """FID of each class-conditional model's images of class k against the real images of class k.

    The real statistics of each class are extracted once and shared by every model (the distances
    keep them across :meth:`FeatureDistances.reset_fake`); each model draws ``per_class`` images of
    every class from a generator seeded with ``seed``. Returns ``{model name: {class: FID}}``.
    """
    if isinstance(feature, str):
        feature = build_feature_extractor(feature, tuple(real_images.shape[1:]))
    results: dict[str, dict[int, float]] = {name: {} for name in models}
    for label in sorted(set(real_labels.tolist())):
        distances = FeatureDistances(feature, kid_subset_size=None).to(real_images.device)
        for real_batch in real_images[real_labels == label].split(batch_size):
            distances.update(real_batch, real=True)
        for name, model in models.items():
            distances.reset_fake()
            rng = torch.Generator().manual_seed(seed)
            for start in range(0, per_class, batch_size):
                size = min(batch_size, per_class - start)
                fakes = model.sample(size, generator=rng, labels=torch.full((size,), label, dtype=torch.long))
                distances.update(fakes.to(real_images.device), real=False)
            results[name][label] = float(distances.compute()["fid"])
    return results
