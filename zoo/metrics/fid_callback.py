"""``val/fid`` and ``val/kid`` during validation of every generative or translation model (``--fid.*``).

The callback switches on by interface, so a plugin model gets it without inheriting
anything: ``sample(n, generator=None)`` -> ``val/fid`` of ``num_samples`` samples against
the validation images; ``translate(x, direction="AtoB")`` with ``{"A", "B"}`` batches ->
``val/fid`` of translated A against real B; neither -> nothing. The metric itself:
:mod:`zoo.metrics.fid`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import lightning as L
import torch
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn
from torch.utils.data import DistributedSampler

from zoo.callbacks import in_last_epoch
from zoo.errors import ZooError
from zoo.interfaces import Generation, Translation, fid_interface
from zoo.metrics.features import build_feature_extractor
from zoo.metrics.fid import FeatureDistances


class FIDCallback(L.Callback):
    """Log ``val/fid`` (and ``val/kid``) during validation of every generative or translation model.

    Real statistics come from the validation images of the first validation that computes
    FID and are kept for the run (re-extracted after a restart). Fake images come from
    fixed seeds, so epoch-to-epoch changes come from the model, not from the noise. The
    sanity check computes nothing. Under DDP each process takes at most
    ``len(val_dataset) // world_size`` validation images: the distributed sampler pads
    the last batch with repeats and the cap leaves them out (so up to ``world_size - 1``
    images go unused); generated samples are one sequence, a seed per batch, that the
    processes cut into equal contiguous slices, so the set of samples does not depend on
    the number of processes and each process has some (``num_samples >= world_size``).
    """

    def __init__(
        self,
        feature: str = "auto",
        num_samples: int = 1000,
        kid: bool = True,
        kid_subset_size: int = 100,
        every_n_epochs: int = 5,
        batch_size: int = 250,
        inception_weights: str | None = None,
        allow_download: bool = False,
        seed: int = 0,
    ) -> None:
        """
        Args:
            feature: feature network: ``auto`` (``digits`` for 1x28x28 grayscale, ``inception`` otherwise),
                ``digits``, ``inception``, another name registered in ``zoo.features``, or a class path.
            num_samples: generated images per FID (translation models: at most this many translated images).
                FID is biased upwards at small counts; compare runs only at equal ``num_samples``.
            kid: also log ``val/kid`` (unbiased at any count, so better than FID for small ``num_samples``).
            kid_subset_size: images per KID subset; reduced, with a warning, when fewer are available.
            every_n_epochs: compute FID on every n-th epoch's validation and on the last epoch's; 0 switches
                the callback off. Measured on the digits (benchmarks/fid_cost.py), one FID of 1,000 samples
                costs 0.02x (pix2pix) to 0.27x (gan) of a training epoch: every 5th keeps it near 5% or less.
            batch_size: images per call to ``sample`` and per forward pass of the feature network.
            inception_weights: local path of the FID Inception weights (``inception`` offline).
            allow_download: let ``inception`` download its weights (91 MB) into the torch hub cache.
            seed: seeds the generated samples and the KID subsets.
        """
        super().__init__()
        if num_samples < 2:
            raise ZooError(f"fid.num_samples must be at least 2, got {num_samples}")
        if kid_subset_size < 2:
            raise ZooError(f"fid.kid_subset_size must be at least 2, got {kid_subset_size}")
        if every_n_epochs < 0:
            raise ZooError(f"fid.every_n_epochs must be 0 (off) or more, got {every_n_epochs}")
        if batch_size < 1:
            raise ZooError(f"fid.batch_size must be at least 1, got {batch_size}")
        self.feature = feature
        self.num_samples = num_samples
        self.kid = kid
        self.kid_subset_size = kid_subset_size
        self.every_n_epochs = every_n_epochs
        self.batch_size = batch_size
        self.inception_weights = inception_weights
        self.allow_download = allow_download
        self.seed = seed
        # Where the fakes come from, by interface (zoo.interfaces.fid_interface): Translation, Generation or none.
        self.interface: type | None = None
        self.distances: FeatureDistances | None = None
        self.has_real_statistics = False
        self.real_statistics_passes = 0  # validations that extracted real features: 1 in a healthy run
        self._computing = False
        self._real_quota = self._fake_quota = 0
        self._warned_kid_subset = False

    # -- set-up
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.interface = fid_interface(pl_module) if self.every_n_epochs > 0 else None
        if self.interface is not None and self.num_samples < trainer.world_size:
            # A process without fake images would crash KID's gather and stall the others.
            raise ZooError(f"fid.num_samples ({self.num_samples}) must be at least the number of processes "
                           f"({trainer.world_size})")
        if self.interface is not None and self.distances is None:
            image_shape = getattr(trainer.datamodule, "image_shape", None) or getattr(pl_module, "image_shape", None)
            if image_shape is not None or self.feature != "auto":
                # Built now, not at the first validation: a missing Inception file fails before training starts.
                self._build(tuple(image_shape) if image_shape is not None else None)

    def _build(self, image_shape: tuple[int, ...] | None) -> None:
        try:
            # Building a network draws its initial weights from the global generator before loading the real
            # ones; in a fork, so switching FID on or off does not shift the random stream training sees.
            with torch.random.fork_rng(devices=[]):
                extractor = build_feature_extractor(self.feature, image_shape, self.inception_weights,
                                                    self.allow_download)
        except ZooError as error:
            if self.feature != "auto":
                raise  # asked for by name: the run is about this metric, so it fails before training
            # The user asked to train, not to measure: `auto` picked Inception for these images and it cannot load.
            rank_zero_warn(f"FID is off for this run: {error} (`--fid.feature auto` picked inception for "
                           f"{'x'.join(map(str, image_shape or ()))} images; `--fid.every_n_epochs 0` silences this)")
            self.interface, self._computing = None, False
            return
        self.distances = FeatureDistances(extractor, kid_subset_size=self.kid_subset_size if self.kid else None,
                                          batch_size=self.batch_size)

    def _due(self, trainer: L.Trainer) -> bool:
        if self.interface is None or trainer.sanity_checking:
            return False
        # The fit's last epoch always measures, so a run ends with its FID whatever its length.
        return (trainer.state.fn == TrainerFn.VALIDATING or (trainer.current_epoch + 1) % self.every_n_epochs == 0
                or in_last_epoch(trainer))

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._computing = self._due(trainer)
        if not self._computing:
            return
        if self.distances is not None:
            self.distances.to(pl_module.device)
        per_process = per_process_limit(trainer)
        self._real_quota = 0 if self.has_real_statistics else per_process
        self._fake_quota = min(per_process, self.num_samples // trainer.world_size)

    # -- real images (and translated fakes) batch by batch
    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if not self._computing or dataloader_idx != 0:
            return
        if self.interface is Translation:
            if not (isinstance(batch, dict) and "A" in batch and "B" in batch):
                raise ZooError(f"{type(pl_module).__name__} has translate(); FID needs {{'A', 'B'}} batches, "
                               f"got {type(batch).__name__}")
            real_images, source_images = batch["B"], batch["A"]
        else:
            real_images, source_images = images_of(batch, pl_module), None
        if self.distances is None:
            self._build(tuple(real_images.shape[1:]))
            if self.distances is None:
                return
            self.distances.to(pl_module.device)
        if self._real_quota > 0:
            taken = real_images[: self._real_quota]
            self.distances.update(taken, real=True)
            self._real_quota -= len(taken)
        if source_images is not None and self._fake_quota > 0:
            with torch.no_grad(), trainer.precision_plugin.val_step_context():
                translated = pl_module.translate(source_images[: self._fake_quota], direction="AtoB")
            self.distances.update(translated, real=False)
            self._fake_quota -= len(translated)

    # -- generated fakes, the metrics, the log
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._computing or self.distances is None:
            return
        self._computing = False
        if self.interface is Generation:
            share = (trainer.global_rank + 1) * self.num_samples // trainer.world_size \
                - trainer.global_rank * self.num_samples // trainer.world_size
            with torch.no_grad(), trainer.precision_plugin.val_step_context(), \
                    progress_task(trainer, "FID: sampling + features", share) as advance:
                for sample_batch in self._sample_batches(pl_module, trainer.global_rank, trainer.world_size):
                    self.distances.update(sample_batch, real=False)
                    advance(len(sample_batch))
        real_count, fake_count = self.distances.counts()
        if real_count < 2 or fake_count < 2:
            rank_zero_warn(f"val/fid skipped: {real_count} real and {fake_count} generated images this validation; "
                           "FID needs at least 2 of each (are there validation batches?)")
            self.distances.reset_fake()
            return
        if not self.has_real_statistics:
            self.has_real_statistics = True
            self.real_statistics_passes += 1
        if self.kid and min(real_count, fake_count) < self.kid_subset_size and not self._warned_kid_subset:
            self._warned_kid_subset = True
            rank_zero_warn(f"val/kid uses subsets of {min(real_count, fake_count)} images: fid.kid_subset_size="
                           f"{self.kid_subset_size} is more than the {real_count} real / {fake_count} generated ones")
        results = self.distances.compute(self.seed)
        self.distances.reset_fake()
        # The values are already reduced by torchmetrics and equal on every process; sync_dist only
        # averages equal numbers (and keeps Lightning from warning about epoch-level logging under DDP).
        pl_module.log("val/fid", results["fid"], prog_bar=True, on_epoch=True, sync_dist=True)
        if "kid" in results:
            pl_module.log("val/kid", results["kid"], on_epoch=True, sync_dist=True)

    def _sample_batches(self, pl_module: L.LightningModule, rank: int, world_size: int) -> Iterator[torch.Tensor]:
        """This process's share of ``num_samples`` generated images, batch by batch.

        The samples are one fixed sequence: batch ``b`` of ``batch_size`` always comes from the
        same seed. Process ``rank`` takes the contiguous slice ``[rank * n // world_size,
        (rank + 1) * n // world_size)`` of it, generating in full each batch the slice touches
        and keeping its part. So the union over processes is the same set of images whatever
        the number of processes, and every process gets some even when ``num_samples`` fits in
        fewer batches than there are processes (a process with none would crash KID's
        all-gather). The generator is a CPU one, as the ``sample`` interface documents.
        """
        start, stop = rank * self.num_samples // world_size, (rank + 1) * self.num_samples // world_size
        for batch_index in range(start // self.batch_size, -(-stop // self.batch_size)):
            batch_start = batch_index * self.batch_size
            size = min(self.batch_size, self.num_samples - batch_start)
            rng = torch.Generator().manual_seed(self.seed * 1_000_003 + batch_index)
            samples = pl_module.sample(size, generator=rng)
            yield samples[max(start - batch_start, 0): stop - batch_start]


@contextmanager
def progress_task(trainer: L.Trainer, description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A row in Lightning's own rich progress bar while FID generates and extracts; a no-op without one.

    Generating ``num_samples`` images and running the feature network can take longer than the
    validation loop itself (Inception on a CPU); the row shows it is working, and how far.
    """
    progress = getattr(trainer.progress_bar_callback, "progress", None)  # RichProgressBar's live rich.Progress
    if progress is None or not trainer.is_global_zero or not hasattr(progress, "add_task"):
        yield lambda count: None
        return
    task = progress.add_task(description, total=total)
    try:
        yield lambda count: progress.update(task, advance=count)
    finally:
        progress.remove_task(task)


def images_of(batch, pl_module: nn.Module) -> torch.Tensor:
    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], torch.Tensor):
        return batch[0]
    raise ZooError(f"{type(pl_module).__name__} has sample(); FID needs (images, labels) batches, "
                   f"got {type(batch).__name__}")


def per_process_limit(trainer: L.Trainer) -> int:
    """How many validation images this process may count without counting the sampler's padding.

    DistributedSampler (unshuffled, as Lightning builds it for validation) pads the index
    list to a multiple of world_size with repeats of the first indices, and gives rank r the
    positions r, r + world_size, ...; those below ``len(dataset)`` are the real images. With
    one process, or a loader that shards without such a sampler, there is no cap: litdata's
    streaming loader gives each process its own shards (its dataset's length is already this
    process's share) and drops the remainder instead of repeating it.
    """
    loaders = trainer.val_dataloaders
    loader = loaders[0] if isinstance(loaders, (list, tuple)) else loaders
    if trainer.world_size <= 1 or not isinstance(getattr(loader, "sampler", None), DistributedSampler):
        return 2**62
    return len(range(trainer.global_rank, len(loader.dataset), trainer.world_size))
