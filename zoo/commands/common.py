"""What several commands share: the device, a writable ``--out``, and a datamodule built and iterated as
``zoo fit`` would (``zoo encode``, ``zoo score`` and ``zoo prepare`` take ``--data NAME --data.OPTION VALUE``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from zoo.errors import CommandParser, ZooError

SPLITS = ("train", "val", "test")


def device_named(name: str | None) -> torch.device:
    """``--device``: ``auto`` (or none given) is CUDA when there is one, else the CPU."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def writable_folder(folder: Path, out: str) -> None:
    """Make the folder ``--out`` writes into, or fail in one line before the model has done any work."""
    blocking = next((parent for parent in (folder, *folder.parents) if parent.exists()), folder)
    if not blocking.is_dir():
        raise ZooError(f"--out {out}: cannot write into {folder}: {blocking} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ZooError(f"--out {out}: cannot write into {folder} ({exc.strerror or type(exc).__name__})") from exc


def build_datamodule(data_args: Sequence[str]):
    """A datamodule from ``--data NAME --data.option value ...``, exactly as ``zoo fit`` parses them."""
    from jsonargparse import ArgumentParser
    from lightning.pytorch import LightningDataModule

    from zoo.training.arguments import import_registered_classes, resolve_names

    import_registered_classes()
    parser = ArgumentParser(prog="zoo", exit_on_error=False)
    parser.add_subclass_arguments(LightningDataModule, "data", required=True)
    try:
        config = parser.parse_args(resolve_names(data_args))
    except Exception as error:  # jsonargparse's ArgumentError: the message names the bad option
        from zoo.parse_errors import condense

        raise ZooError(condense(str(error))) from error
    return parser.instantiate_classes(config).data


def iterate_split(datamodule, split: str):
    """Batches of ``split`` (train, val, test, or all three in that order), set up as Lightning would."""
    if split == "all":
        for part in SPLITS:
            yield from iterate_split(datamodule, part)
        return
    datamodule.prepare_data()
    datamodule.setup("fit" if split in ("train", "val") else "test")
    if split == "train":
        # Every image in file order, so rows line up with file names: the dataset, not the training loader.
        from torch.utils.data import DataLoader

        yield from DataLoader(split_dataset(datamodule, "train"), shuffle=False,
                              batch_size=getattr(datamodule, "batch_size", 64),
                              num_workers=getattr(datamodule, "num_workers", 0))
    else:
        yield from {"val": datamodule.val_dataloader, "test": datamodule.test_dataloader}[split]()


def split_dataset(datamodule, split: str):
    """The dataset of a set-up datamodule's split, every image in order.

    Read from ``train_set`` / ``val_set`` / ``test_set`` where the datamodule keeps them
    (ImageDataModule): building a training loader shuffles, drops the last partial batch, and
    makes a streaming dataset drop it too. Any other datamodule: the dataset behind its loader.
    """
    dataset = getattr(datamodule, f"{split}_set", None)
    if dataset is None:
        loader = {"train": datamodule.train_dataloader, "val": datamodule.val_dataloader,
                  "test": datamodule.test_dataloader}[split]
        dataset = loader().dataset
    return dataset


def split_files(datamodule, split: str) -> list[str] | None:
    """The file of each image of ``split``, in order, where the datamodule reads files; else None."""
    files = getattr(datamodule, "files", None)
    if not callable(files):
        return None
    return [str(path) for part in (SPLITS if split == "all" else (split,)) for path in files(part)]


def data_parser(prog: str, description: str, out_help: str) -> CommandParser:
    """The options of a command that runs a checkpoint over a datamodule's split."""
    parser = CommandParser(prog=prog, description=description,
                           epilog="Any --data.OPTION VALUE of the datamodule is accepted, as in `zoo fit`.")
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--data", required=True, help="datamodule name, class name or class path (see `zoo list`)")
    parser.add_argument("--out", required=True, help=out_help)
    parser.add_argument("--split", choices=(*SPLITS, "all"), default="test",
                        help="which split (default test; `all` for every image, e.g. a folder of suspects)")
    parser.add_argument("--device", default="auto")
    return parser


def folder_parser(prog: str, description: str, input_help: str, out_help: str) -> CommandParser:
    """The options of a command that runs a checkpoint over a folder of images, one output file per image."""
    parser = CommandParser(prog=prog, description=description)
    parser.add_argument("--ckpt", required=True, type=Path, help="checkpoint written by `zoo fit`")
    parser.add_argument("--input", required=True, type=Path, help=input_help)
    parser.add_argument("--out", required=True, type=Path, help=out_help)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    return parser


def split_data_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separate ``--data.*`` options (for the datamodule) from the command's own."""
    own, data = [], []
    tokens = list(argv)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.startswith(("--data.", "--data=")):
            data.append(token)
            if "=" not in token and index + 1 < len(tokens):
                data.append(tokens[index + 1])
                index += 1
        else:
            own.append(token)
        index += 1
    return own, data


def run_over_split(model, args, data_args: list[str], method: Callable[..., torch.Tensor],
                   with_labels: bool = False) -> tuple[torch.Tensor, torch.Tensor, list[str] | None]:
    """``method`` (the model's ``encode`` or ``anomaly_score``) over a split: outputs, labels, files.

    ``with_labels``: ``method(images, labels)``, the split's labels given (a conditional model's code needs them).
    """
    datamodule = build_datamodule(["--data", args.data, *data_args])
    device = device_named(args.device)
    model = model.to(device)
    outputs, labels = [], []
    with torch.no_grad():
        for batch in iterate_split(datamodule, args.split):
            if isinstance(batch, dict):
                raise ZooError(f"{args.data} gives paired/unpaired batches; this command needs image data")
            images, batch_labels = batch[0], batch[1]
            given = (torch.as_tensor(batch_labels).to(device),) if with_labels else ()
            outputs.append(method(images.to(device), *given).float().cpu())
            labels.append(torch.as_tensor(batch_labels))
    return torch.cat(outputs), torch.cat(labels), split_files(datamodule, split=args.split)
