"""What every image datamodule shares: deterministic splits and loaders.

Datamodules yield ``(images, labels)`` with images float in [0, 1], NCHW, and expose
``image_shape`` (C, H, W), ``num_classes`` and ``batch_kind = "images"`` so the CLI can
size the model from the data and refuse a model that needs paired or unpaired batches.
"""

from __future__ import annotations

import os
import warnings

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, Subset
from torchdata.stateful_dataloader import StatefulDataLoader

# torchdata 0.11 calls a torch function that torch now flags as deprecated, once per loader: not the user's concern.
warnings.filterwarnings("ignore", message="'set_vital' is deprecated")


def split_indices(n: int, fractions: tuple[float, ...], seed: int) -> list[list[int]]:
    """Split ``range(n)`` into consecutive chunks of a seeded permutation.

    The last chunk takes the remainder, so the split is exact and the same on every
    machine and every process (DDP ranks must agree on it).
    """
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    chunks, start = [], 0
    for fraction in fractions[:-1]:
        size = round(n * fraction)
        chunks.append(order[start : start + size])
        start += size
    chunks.append(order[start:])
    return chunks


def default_num_workers() -> int:
    """Two workers where the machine has cores to spare, none on tiny machines."""
    return min(2, max(0, (os.cpu_count() or 1) - 1))


def unrepeated_distributed_sampler(dataset: Dataset, trainer: L.Trainer | None) -> Sampler | None:
    """A sampler that shards an evaluation split across DDP processes without repeating any image.

    Lightning's default DistributedSampler pads every process to the same length with
    repeats of the first images, so validation metrics (PSNR, SSIM, losses) over several
    processes would count those twice and differ from the one-process value. Under plain DDP
    evaluation has no per-batch collective after the first batch, so processes may run one
    batch more or less (Lightning uses the same sampler for predict). FSDP and DeepSpeed
    gather parameters in every forward and would wait on the shorter process: they keep
    Lightning's padded sampler, as do a single process and a split with fewer images than
    processes (each must get at least one). None means "Lightning's default".
    """
    from lightning.pytorch.strategies import DDPStrategy

    if trainer is None or type(trainer.strategy) is not DDPStrategy:  # subclasses (DeepSpeed) excluded
        return None
    if trainer.world_size <= 1 or len(dataset) < trainer.world_size:
        return None
    from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler

    return UnrepeatedDistributedSampler(dataset, num_replicas=trainer.world_size, rank=trainer.global_rank,
                                        shuffle=False)


class ImageDataModule(L.LightningDataModule):
    """Loaders over ``train``/``val``/``test`` datasets that a subclass builds in ``setup``."""

    batch_kind = "images"
    image_shape: tuple[int, int, int]
    num_classes: int | None = None

    def __init__(self, batch_size: int = 64, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__()
        if batch_size < 1:
            from zoo.errors import ZooError

            raise ZooError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    def _loader(self, dataset: Dataset | None, shuffle: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup() has not built this split yet")
        sampler = None if shuffle else unrepeated_distributed_sampler(dataset, self.trainer)
        # torchdata's StatefulDataLoader has state_dict/load_state_dict, which Lightning saves in every
        # checkpoint: a run resumed mid-epoch goes on from the next batch of the same shuffled order, neither
        # repeating nor skipping an image (a plain DataLoader would start the epoch's order again).
        return StatefulDataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            sampler=sampler,
            # A last batch of 1 breaks batch norm in training; validation keeps every image.
            drop_last=shuffle and len(dataset) > self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)


def subsets(dataset: Dataset, fractions: tuple[float, ...], seed: int) -> list[Subset]:
    return [Subset(dataset, idx) for idx in split_indices(len(dataset), fractions, seed)]
