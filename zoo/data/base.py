"""What every image datamodule shares: deterministic splits and loaders.

Datamodules yield ``(images, labels)`` with images float in [0, 1], NCHW, and expose
``image_shape`` (C, H, W), ``num_classes`` and ``batch_kind = "images"`` so the CLI can
size the model from the data and refuse a model that needs paired or unpaired batches.
"""

from __future__ import annotations

import os
import warnings
from typing import Literal

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, Subset, TensorDataset
from torchdata.stateful_dataloader import StatefulDataLoader

from zoo.errors import ZooError

# torchdata 0.11 calls a torch function that torch now flags as deprecated, once per loader: not the user's concern.
warnings.filterwarnings("ignore", message="'set_vital' is deprecated")
# Lightning 2.6's CombinedLoader checks `isinstance(spec, LeafSpec)`, which torch (2.14 here) flags as deprecated,
# once per fit: printed by every run, and nothing a user could act on.
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning)


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


def pins_memory(trainer: L.Trainer | None) -> bool:
    """Page-locked batches (faster, asynchronous copies to the GPU) when the run's device is a GPU, not merely when
    the machine has one (``--trainer.accelerator cpu`` on a GPU machine would lock host memory for nothing)."""
    return trainer is not None and trainer.strategy.root_device.type == "cuda"


def process_count() -> int:
    """The processes of the run (the process group's size), 1 outside one."""
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    return torch.distributed.get_world_size() if distributed else 1


class ResumableLoader(StatefulDataLoader):
    """torchdata's StatefulDataLoader that knows the process count its state was saved under.

    Its state (saved by Lightning in every checkpoint) is the position in one process's shuffled
    order: a random sampler's on one process, the DistributedSampler's share under DDP; one does
    not load into the other (torchdata asserts). Resumed on another process count, the loader
    starts the epoch's order afresh, with a warning: the run still ends at the planned step, but
    images seen before the stop may come again this epoch. ``streaming`` data resumes exactly.
    """

    def state_dict(self) -> dict:
        return {**super().state_dict(), "process_count": process_count()}

    def load_state_dict(self, state_dict: dict) -> None:
        state = dict(state_dict)
        saved = state.pop("process_count", None)
        if saved is not None and saved != process_count():
            from lightning.pytorch.utilities import rank_zero_warn

            rank_zero_warn(f"resumed on {process_count()} processes from a checkpoint of {saved}: the data loader "
                           "starts this epoch's shuffled order again (the step count goes on; images seen before the "
                           "stop may repeat this epoch; --data streaming resumes exactly)")
            return
        super().load_state_dict(state)


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


Binarize = Literal["none", "dynamic", "fixed"]


class BinarizedImages(Dataset):
    """Black-and-white pixels drawn from Bernoulli(pixel): each grey level is the chance that the pixel is on.

    ``fresh=True`` draws anew at every read (dynamic binarization, a training split: every epoch
    sees another sample, which regularizes like data augmentation); ``fresh=False`` draws each
    image once from a generator seeded by ``seed`` and its index, so it is the same on every read,
    in every process and on every machine (fixed binarization, the evaluation splits).
    """

    def __init__(self, dataset: Dataset, fresh: bool, seed: int) -> None:
        self.dataset, self.fresh, self.seed = dataset, fresh, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        image, *rest = self.dataset[index]
        generator = None if self.fresh else torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        return (torch.bernoulli(image, generator=generator), *rest)


class TranslatedImages(Dataset):
    """Each read shifts the image by a random whole number of pixels, up to ``pixels`` each way on each axis.

    torchvision's ``RandomCrop`` of the zero-padded image: what leaves one side is lost, the other side fills
    with black. Data augmentation for a training split; a drawing keeps its strokes while it stays inside
    the frame (the embedded digits have a 4-pixel border).
    """

    def __init__(self, dataset: Dataset, pixels: int, size: tuple[int, int]) -> None:
        from torchvision.transforms import v2

        self.dataset = dataset
        self.crop = v2.RandomCrop(list(size), padding=pixels)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        image, *rest = self.dataset[index]
        return (self.crop(image), *rest)


class ImageDataModule(L.LightningDataModule):
    """Loaders over ``train``/``val``/``test`` datasets that a subclass builds in ``setup``."""

    batch_kind = "images"
    image_shape: tuple[int, int, int]
    num_classes: int | None = None

    def __init__(self, batch_size: int = 64, num_workers: int | None = 0, seed: int = 0,
                 normal_classes: list[int | str] | None = None, binarize: Binarize = "none",
                 translate: int = 0) -> None:
        super().__init__()
        if batch_size < 1:
            raise ZooError(f"batch_size must be at least 1, got {batch_size}")
        if binarize not in ("none", "dynamic", "fixed"):
            raise ZooError(f"binarize must be none, dynamic or fixed, got {binarize!r}")
        if isinstance(translate, bool) or not isinstance(translate, int) or translate < 0:
            raise ZooError(f"translate must be a whole number of pixels >= 0, got {translate!r}")
        self.binarize = binarize
        self.translate = translate
        self.batch_size = batch_size
        # None is resolved here, on the machine that runs: config.yaml keeps `num_workers: null`.
        self.num_workers = default_num_workers() if num_workers is None else num_workers
        self.seed = seed
        self.normal_classes = None if normal_classes is None else list(normal_classes)
        self.normal_class_ids: list[int] | None = None
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    def keep_normal_classes(self, class_names: list[str]) -> None:
        """One-class training: keep only ``normal_classes`` in train and val; test keeps every class.

        Called by each subclass at the end of its ``setup`` with the names of its classes (the
        label is the index). The protocol of Ruff et al. 2018 (Deep SVDD): a model that never saw
        the anomalies, scored on a test split that holds them. Nothing happens without
        ``normal_classes``.
        """
        self.class_names = list(class_names)
        if self.normal_classes is None:
            return
        from zoo import registry

        name = registry.display_name(type(self), "datamodule")
        self.normal_class_ids = class_ids(self.normal_classes, class_names, name)
        for split in ("train", "val"):
            dataset = getattr(self, f"{split}_set")
            labels = dataset_labels(dataset)
            keep = torch.isin(labels, torch.tensor(self.normal_class_ids)).nonzero().flatten().tolist()
            if not keep:
                found = ", ".join(class_names[label] for label in sorted(set(labels.tolist())))
                raise ZooError(f"normal_classes {self.normal_classes} leaves the {split} split of "
                               f"{name} empty (classes found in it: {found or 'none'})")
            setattr(self, f"{split}_set", subset_of(dataset, keep))

    def _loader(self, dataset: Dataset | None, shuffle: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup() has not built this split yet")
        if shuffle and self.translate:
            # Augmentation of the training split only: evaluation measures the images as they are.
            dataset = TranslatedImages(dataset, self.translate, self.image_shape[1:])
        if self.binarize != "none":
            # Dynamic binarization draws the training split anew each epoch; evaluation splits stay fixed, so
            # validation and test likelihoods compare across epochs and runs (Burda et al. 2016's protocol).
            dataset = BinarizedImages(dataset, fresh=shuffle and self.binarize == "dynamic", seed=self.seed)
        sampler = None if shuffle else unrepeated_distributed_sampler(dataset, self.trainer)
        # torchdata's StatefulDataLoader has state_dict/load_state_dict, which Lightning saves in every
        # checkpoint: a run resumed mid-epoch goes on from the next batch of the same shuffled order, neither
        # repeating nor skipping an image (a plain DataLoader would start the epoch's order again).
        return ResumableLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            sampler=sampler,
            # A last batch of 1 breaks batch norm in training; validation keeps every image.
            drop_last=shuffle and len(dataset) > self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=pins_memory(self.trainer),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)


def class_ids(wanted: list[int | str], class_names: list[str], owner: str) -> list[int]:
    """Label indices of ``wanted`` classes, each given by name or by index; an unknown one is a ZooError."""
    ids = []
    for name in wanted:
        if isinstance(name, str) and name in class_names:
            ids.append(class_names.index(name))
        elif isinstance(name, int) and not isinstance(name, bool) and 0 <= name < len(class_names):
            ids.append(name)
        elif isinstance(name, str) and name.isdigit() and int(name) < len(class_names):
            ids.append(int(name))
        else:
            shown = ", ".join(f"{index} ({label})" if label != str(index) else label
                              for index, label in enumerate(class_names))
            raise ZooError(f"normal_classes: {owner} has no class {name!r} (classes found: {shown or 'none'})")
    return sorted(set(ids))


def dataset_labels(dataset: Dataset) -> torch.Tensor:
    """Every label of a map-style dataset, read from its label list where it keeps one, else item by item."""
    if isinstance(dataset, Subset):
        return dataset_labels(dataset.dataset)[torch.as_tensor(dataset.indices, dtype=torch.long)]
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) > 1:
        return dataset.tensors[1].long()
    for attribute in ("targets", "labels"):  # torchvision's datasets; the zoo's ImageFiles
        if getattr(dataset, attribute, None) is not None:
            return torch.as_tensor(getattr(dataset, attribute), dtype=torch.long)
    return torch.tensor([int(dataset[index][1]) for index in range(len(dataset))], dtype=torch.long)


def subset_of(dataset: Dataset, indices: list[int]) -> Subset:
    """``Subset(dataset, indices)``, flattened when ``dataset`` is itself a Subset (file lists index the base)."""
    if isinstance(dataset, Subset):
        return Subset(dataset.dataset, [dataset.indices[index] for index in indices])
    return Subset(dataset, indices)


def subsets(dataset: Dataset, fractions: tuple[float, ...], seed: int) -> list[Subset]:
    return [Subset(dataset, idx) for idx in split_indices(len(dataset), fractions, seed)]
