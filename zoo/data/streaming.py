"""Image data written by ``zoo prepare``, streamed with litdata from a local folder or object storage.

``zoo prepare --data NAME --out DIR`` writes each split of any image datamodule as litdata
chunks (``DIR/train``, ``DIR/val``, ``DIR/test``) plus ``DIR/zoo.json``, which holds the image
shape and class count, so the model is sized before a single chunk is read or downloaded.
Sharding across nodes, processes and workers, caching of remote chunks, and the loader state
that lets a run resume mid-epoch are litdata's (``StreamingDataset`` + ``StreamingDataLoader``).
"""

from __future__ import annotations

import json
import tempfile
from functools import cache, partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.data.base import ImageDataModule, pins_memory
from zoo.errors import ZooError

METADATA_FILE = "zoo.json"
METADATA_FORMAT = "zoo-streaming"
METADATA_VERSION = 1
SPLITS = ("train", "val", "test")
# The splits each Lightning stage reads; a missing one fails in setup, naming the split.
SPLITS_OF_STAGE = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("test",)}


def is_remote(root: str) -> bool:
    """An object-store URL (s3://, gs://, ...) that litdata streams from, rather than a local folder."""
    return "://" in root


def _prepare_hint(root: str) -> str:
    return f"write one with `zoo prepare --data NAME --out {root}`"


def read_metadata(root: str, storage_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``zoo.json`` that ``zoo prepare`` wrote beside the chunks, checked; a one-line ZooError otherwise."""
    if is_remote(root):
        # Only this small file is fetched here; chunks are downloaded by StreamingDataset while training.
        from litdata.streaming.fs_provider import _get_fs_provider

        remote_file = root.rstrip("/") + "/" + METADATA_FILE
        with tempfile.TemporaryDirectory() as folder:
            local_file = Path(folder) / METADATA_FILE
            try:
                _get_fs_provider(remote_file, storage_options or {}).download_file(remote_file, str(local_file))
                text = local_file.read_text()
            except Exception as error:  # the provider's own error types (botocore, gcs, ...) differ
                raise ZooError(f"cannot read {remote_file} ({type(error).__name__}: {str(error).splitlines()[0]}); "
                               f"--data.root must be a dataset written by `zoo prepare`") from error
    else:
        folder = Path(root).expanduser()
        if not folder.is_dir():
            raise ZooError(f"streaming root {root} does not exist; {_prepare_hint(root)}")
        metadata_file = folder / METADATA_FILE
        if not metadata_file.is_file():
            found = "litdata chunks" if any(folder.glob("**/index.json")) else "no prepared dataset"
            raise ZooError(f"{root} was not written by `zoo prepare` (it holds {found} but no {METADATA_FILE}); "
                           f"{_prepare_hint(root)}")
        text = metadata_file.read_text()
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError as error:
        raise ZooError(f"{root}/{METADATA_FILE} is not valid JSON ({error}); rerun `zoo prepare`") from error
    if not isinstance(metadata, dict) or metadata.get("format") != METADATA_FORMAT:
        raise ZooError(f"{root}/{METADATA_FILE} was not written by `zoo prepare` "
                       f"(expected format {METADATA_FORMAT!r}); {_prepare_hint(root)}")
    if metadata.get("version", 0) > METADATA_VERSION:
        raise ZooError(f"{root} was written by a newer zoo (format version {metadata['version']}, this zoo reads "
                       f"up to {METADATA_VERSION}); upgrade zoo")
    return metadata


def to_image_and_label(item: dict[str, Any], channels: int) -> tuple[torch.Tensor, int]:
    """One stored sample as the zoo's ``(image, label)``: float in [0, 1], CHW.

    Raw images come back as uint8 numpy arrays; PNG images as litdata's decoded uint8 RGB
    tensor, of which a greyscale image keeps one channel. Done per item (not in a collate
    function) so any DataLoader over the dataset, including ``zoo encode``'s, gets tuples.
    """
    pixels = item["image"]
    if isinstance(pixels, np.ndarray):
        image = torch.tensor(pixels, dtype=torch.float32)  # a copy: the chunk's buffer is read-only
    else:
        image = pixels[:channels].to(torch.float32)
    return image.div_(255.0), int(item["label"])


class StreamingDataModule(ImageDataModule):
    """A dataset written by ``zoo prepare``, streamed with litdata (local folder or s3://, gs://, ... URL)."""

    def __init__(
        self,
        root: str,
        batch_size: int = 64,
        num_workers: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        cache_dir: str | None = None,
        max_cache_size: str | None = None,
        normal_classes: list[int | str] | None = None,
    ) -> None:
        """
        Args:
            root: folder or object-store URL that `zoo prepare --out` wrote (train/, val/, test/ and zoo.json).
            batch_size: images per batch (per process under DDP).
            num_workers: DataLoader worker processes; litdata shards the chunks across them. None: two where the
                machine has cores to spare, else none, decided where the run starts (a saved config.yaml does not pin it).
            shuffle: shuffle the training split (chunk order and items within chunks), reseeded every epoch.
            seed: seed of the shuffle; every process must use the same one.
            cache_dir: where remote chunks are cached (default: litdata's cache folder).
            max_cache_size: cap on the remote chunk cache, e.g. "50GB" (default: litdata's, 75% of free disk).
            normal_classes: one-class data, as for the other datamodules. litdata streams chunks and cannot
                drop items on the way, so the filter is applied when writing: `zoo prepare --data NAME
                --data.normal_classes [3]` writes train and val with those classes only and test with all;
                this option checks that the prepared data is that (a one-line error says how to prepare it).
        """
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed, normal_classes=normal_classes)
        self.root = root
        self.shuffle = shuffle
        self.cache_dir = cache_dir
        self.max_cache_size = max_cache_size
        self._metadata: dict[str, Any] | None = None

    # Read on first use, before setup: the CLI links data.image_shape into the model right after
    # instantiating the datamodule. Not read in __init__, because jsonargparse wraps an exception
    # raised there in a traceback, while one raised here reaches the user as one line.
    @property
    def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            self._metadata = read_metadata(self.root)
        return self._metadata

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.metadata["image_shape"])

    @property
    def num_classes(self) -> int | None:
        return self.metadata.get("num_classes")

    def split_location(self, split: str) -> str:
        return self.root.rstrip("/") + "/" + split if is_remote(self.root) else str(Path(self.root).expanduser() / split)

    def _check_split(self, split: str) -> None:
        written = self.metadata.get("splits", {})
        local_index_missing = not is_remote(self.root) and not (Path(self.split_location(split)) / "index.json").is_file()
        if split not in written or local_index_missing:
            raise ZooError(f"{self.root} has no {split} split (it holds {', '.join(sorted(written)) or 'none'}); "
                           f"rerun `zoo prepare` to write train, val and test")

    def _dataset(self, split: str, shuffle: bool):
        from litdata import StreamingDataset

        self._check_split(split)
        return StreamingDataset(
            self.split_location(split),
            cache_dir=self.cache_dir,
            max_cache_size=self.max_cache_size,
            shuffle=shuffle,
            seed=self.seed,
            transform=partial(to_image_and_label, channels=self.image_shape[0]),
        )

    def check_normal_classes(self) -> None:
        """Take the prepared data's normal classes, refusing ``normal_classes`` that the prepared splits do not hold."""
        prepared = self.metadata.get("normal_classes")
        if self.normal_classes is None:
            self.normal_class_ids = prepared
            return
        num_classes = self.metadata.get("num_classes")
        if not num_classes:
            raise ZooError(f"normal_classes {self.normal_classes}: {self.root} holds no labels (classes found: none)")
        from zoo.data.base import class_ids

        names = self.metadata.get("class_names") or [str(index) for index in range(num_classes)]
        self.class_names = list(names)
        wanted = class_ids(self.normal_classes, names, "streaming")
        if wanted != prepared:
            source = self.metadata.get("source", "NAME")
            held = "every class" if prepared is None else "classes " + ", ".join(names[index] for index in prepared)
            raise ZooError(f"normal_classes {self.normal_classes}: the train and val splits of {self.root} hold "
                           f"{held} (classes found: {', '.join(names)}); streaming cannot drop items, so prepare a "
                           f"one-class copy: zoo prepare --data {source} --data.normal_classes {wanted} --out DIR")
        self.normal_class_ids = wanted

    def setup(self, stage: str | None = None) -> None:
        self.check_normal_classes()
        for split in SPLITS_OF_STAGE.get(stage, SPLITS) if stage else SPLITS:
            if getattr(self, f"{split}_set") is None:
                setattr(self, f"{split}_set", self._dataset(split, shuffle=self.shuffle and split == "train"))

    def _loader(self, dataset, shuffle: bool):
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup() has not built this split yet")
        # StreamingDataLoader, not DataLoader: Lightning saves its state_dict in checkpoints, so
        # `--ckpt_path last` resumes mid-epoch at the next unseen batch instead of restarting the epoch.
        return _streaming_loader_class()(
            dataset,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            # A last batch of 1 breaks batch norm in training. Validation passes None, litdata's default:
            # keep every image in one process, equal counts across DDP processes (so none waits on another).
            drop_last=True if shuffle and len(dataset) > self.batch_size else None,
            persistent_workers=self.num_workers > 0,
            pin_memory=pins_memory(self.trainer),
        )


@cache
def _streaming_loader_class():
    """litdata's StreamingDataLoader, warning when a resume changes the global batch (imported late: litdata is slow)."""
    from litdata import StreamingDataLoader
    from lightning.pytorch.utilities import rank_zero_warn

    from zoo.data.base import process_count

    class GlobalBatchCheckingLoader(StreamingDataLoader):
        """Resumed on another process count, litdata (>= 0.2.76) restripes the epoch's unseen images over the new
        processes: exact when the global batch (batch size x processes) is the one saved, as Lightning's loop
        counts the epoch's batches done and litdata the images; with another global batch the two disagree and
        images repeat (measured: 1 process of 500 -> 2 of 500 resumed at step 3 of 8 saw 500 of the 1,000 next
        images again, and the next epoch's two shares overlapped by 1,000 of 4,000)."""

        def load_state_dict(self, obj: dict[str, Any]) -> None:
            saved = obj.get("dataset", {})
            if "batch_size" in saved and "world_size" in saved:
                processes = process_count()
                before, now = saved["batch_size"] * saved["world_size"], self.batch_size * processes
                if before != now:
                    exact = (f"--data.batch_size {before // processes}" if before % processes == 0
                             else f"a --data.batch_size that times {processes} processes makes {before}")
                    rank_zero_warn(f"resuming streamed data with a global batch of {now} images ({self.batch_size} x "
                                   f"{processes} processes) where the checkpoint had {before}: images of this "
                                   f"epoch will repeat; for an exact resume use {exact}")
            super().load_state_dict(obj)

    return GlobalBatchCheckingLoader
