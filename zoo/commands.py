"""``zoo sample``, ``zoo encode`` and ``zoo score``: use a trained checkpoint of any registered model.

Each command reads the model's class from the checkpoint (see :func:`zoo.checkpoints.load_model`)
and switches on by interface: ``sample`` needs ``sample(n, generator)``, ``encode`` needs
``encode(x)``, ``score`` needs ``anomaly_score(x)``. A checkpoint of the wrong task gets one
line saying what the command needs and which models have it.

    zoo sample --ckpt runs/dcgan/version_0/checkpoints/last.ckpt -n 64 --out grid.png
    zoo sample --ckpt ... -n 1000 --out augment/            # one PNG per image
    zoo encode --ckpt runs/vae/.../last.ckpt --data digits --out latents.npy   # or .npz, .png
    zoo score  --ckpt runs/autoencoder/.../last.ckpt --data folder --data.root suspects --out scores.csv
    zoo score  --ckpt ... --data digits --normal-class 3 --out scores.csv    # and the AUROC
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import torch

from zoo import registry
from zoo.errors import CommandParser, ZooError

INTERFACE_OF = {"sample": "sample", "encode": "encode", "score": "anomaly_score"}


# Which registered models offer each interface, for the wrong-task message.
HAVE_INTERFACE = {
    "sample": "generation models (gan, dcgan, wgan, wgan_gp) and the vae",
    "encode": "reconstruction models (autoencoder, denoising_autoencoder, vae)",
    "anomaly_score": "reconstruction models (autoencoder, denoising_autoencoder, vae)",
}


def load_for(command: str, checkpoint: str):
    """The checkpoint's model, refusing one that lacks the interface ``command`` needs."""
    from zoo.checkpoints import load_model

    model = load_model(checkpoint)
    method = INTERFACE_OF[command]
    if not callable(getattr(model, method, None)):
        name = registry.name_of(type(model), "model") or type(model).__name__
        task = getattr(model, "task", "another")
        raise ZooError(f"`zoo {command}` needs a model with {method}(); {checkpoint} holds {name}, a {task} model "
                       f"without it; use a checkpoint of one of the {HAVE_INTERFACE[method]}")
    return model


def writable_folder(folder: Path, out: str) -> None:
    """Make the folder ``--out`` writes into, or fail in one line before the model has done any work."""
    import tempfile

    blocking = next((parent for parent in (folder, *folder.parents) if parent.exists()), folder)
    if not blocking.is_dir():
        raise ZooError(f"--out {out}: cannot write into {folder}: {blocking} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ZooError(f"--out {out}: cannot write into {folder} ({exc.strerror or type(exc).__name__})") from exc


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# ---------------------------------------------------------------------------------- zoo sample


def command_sample(argv: Sequence[str]) -> list[Path]:
    parser = CommandParser(prog="zoo sample", description="Draw images from a generative checkpoint.")
    parser.add_argument("--ckpt", required=True, help="checkpoint of a model with sample() (GANs, VAE)")
    parser.add_argument("-n", "--num", type=int, default=64, help="how many images (default 64)")
    parser.add_argument("--out", required=True,
                        help="grid.png for one grid, or DIR/ (ending in /, or an existing folder) for one PNG each")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise: the same seed gives the same images")
    parser.add_argument("--nrow", type=int, default=None, help="images per grid row (default: a square)")
    parser.add_argument("--batch-size", type=int, default=256, help="images generated at once")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    args = parser.parse_args(list(argv))
    if args.num < 1:
        raise ZooError(f"-n must be at least 1, got {args.num}")
    out = Path(args.out)
    to_folder = args.out.endswith(("/", "\\")) or out.is_dir()
    if not to_folder and out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ZooError(f"--out {args.out}: give an image file (.png, .jpg) for a grid, or a folder ending in /")
    writable_folder(out if to_folder else out.parent, args.out)
    from torchvision.utils import make_grid, save_image

    model = load_for("sample", args.ckpt).to(_device(args.device))
    generator = torch.Generator().manual_seed(args.seed)
    with torch.no_grad():
        images = torch.cat([
            model.sample(min(args.batch_size, args.num - start), generator=generator).float().cpu().clamp(0, 1)
            for start in range(0, args.num, args.batch_size)
        ])
    if to_folder:
        written = [out / f"sample_{index:05d}.png" for index in range(len(images))]
        for image, path in zip(images, written):
            save_image(image, path)
        print(f"wrote {len(written)} images to {out}/")
        return written
    nrow = args.nrow or math.ceil(math.sqrt(len(images)))
    save_image(make_grid(images, nrow=nrow, padding=2, pad_value=1.0), out)
    print(f"wrote a grid of {len(images)} samples to {out}")
    return [out]


# ------------------------------------------------------------------- data for encode and score


def build_datamodule(data_args: Sequence[str]):
    """A datamodule from ``--data NAME --data.option value ...``, exactly as ``zoo fit`` parses them."""
    from jsonargparse import ArgumentParser
    from lightning.pytorch import LightningDataModule

    from zoo.lightning_cli import import_registered_classes, resolve_names

    import_registered_classes()
    parser = ArgumentParser(prog="zoo", exit_on_error=False)
    parser.add_subclass_arguments(LightningDataModule, "data", required=True)
    try:
        config = parser.parse_args(resolve_names(data_args))
    except Exception as error:  # jsonargparse's ArgumentError: the message names the bad option
        from zoo.parse_errors import condense

        raise ZooError(condense(str(error))) from error
    return parser.instantiate_classes(config).data


SPLITS = ("train", "val", "test")


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


def _split_files(datamodule, split: str) -> list[str] | None:
    files = getattr(datamodule, "files", None)
    if not callable(files):
        return None
    return [str(path) for part in (SPLITS if split == "all" else (split,)) for path in files(part)]


def _data_parser(prog: str, description: str, out_help: str) -> CommandParser:
    parser = CommandParser(prog=prog, description=description,
                                     epilog="Any --data.OPTION VALUE of the datamodule is accepted, as in `zoo fit`.")
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--data", required=True, help="datamodule name, class name or class path (see `zoo list`)")
    parser.add_argument("--out", required=True, help=out_help)
    parser.add_argument("--split", choices=(*SPLITS, "all"), default="test",
                        help="which split (default test; `all` for every image, e.g. a folder of suspects)")
    parser.add_argument("--device", default="auto")
    return parser


def _split_data_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
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


def _run_over_split(model, args, data_args: list[str], method: str):
    datamodule = build_datamodule(["--data", args.data, *data_args])
    device = _device(args.device)
    model = model.to(device)
    outputs, labels = [], []
    with torch.no_grad():
        for batch in iterate_split(datamodule, args.split):
            if isinstance(batch, dict):
                raise ZooError(f"{args.data} gives paired/unpaired batches; this command needs image data")
            images, batch_labels = batch[0], batch[1]
            outputs.append(getattr(model, method)(images.to(device)).float().cpu())
            labels.append(torch.as_tensor(batch_labels))
    return torch.cat(outputs), torch.cat(labels), _split_files(datamodule, args.split)


# ---------------------------------------------------------------------------------- zoo encode


def command_encode(argv: Sequence[str]) -> Path:
    own, data_args = _split_data_args(argv)
    parser = _data_parser("zoo encode", "Latent features of a dataset from a reconstruction checkpoint.",
                          "latents.npy (N x D; labels beside it in NAME.labels.npy), latents.npz (latents, labels), "
                          "or latents.png (a 2-D projection coloured by label)")
    args = parser.parse_args(own)
    out = Path(args.out)
    if out.suffix.lower() not in (".npy", ".npz", ".png"):
        raise ZooError(f"--out {args.out}: expected a .npy, .npz or .png file")
    model = load_for("encode", args.ckpt)
    latents, labels, _ = _run_over_split(model, args, data_args, "encode")
    out.parent.mkdir(parents=True, exist_ok=True)
    import numpy as np

    if out.suffix.lower() == ".npy":
        np.save(out, latents.numpy())
        np.save(out.with_suffix(".labels.npy"), labels.numpy())
    elif out.suffix.lower() == ".npz":
        np.savez(out, latents=latents.numpy(), labels=labels.numpy())
    else:
        plot_latents(latents, labels, out)
    print(f"wrote {tuple(latents.shape)} latents of the {args.split} split to {out}")
    return out


def project_2d(latents: torch.Tensor) -> torch.Tensor:
    """Latents as 2-D points: themselves if 2-D, else their first two principal components."""
    if latents.shape[1] <= 2:
        return torch.nn.functional.pad(latents, (0, 2 - latents.shape[1]))
    centred = latents - latents.mean(0, keepdim=True)
    _, _, components = torch.pca_lowrank(centred, q=2, center=False)
    return centred @ components[:, :2]


def plot_latents(latents: torch.Tensor, labels: torch.Tensor, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = project_2d(latents).numpy()
    figure, axes = plt.subplots(figsize=(6, 6), dpi=100)
    scatter = axes.scatter(points[:, 0], points[:, 1], c=labels.numpy(), cmap="tab10", s=6)
    axes.legend(*scatter.legend_elements(), title="label", loc="best", fontsize=7)
    axes.set_title("latent space (first two principal components)" if latents.shape[1] > 2 else "latent space")
    figure.tight_layout()
    figure.savefig(out)
    plt.close(figure)


# ----------------------------------------------------------------------------------- zoo score


def command_score(argv: Sequence[str]) -> float | None:
    own, data_args = _split_data_args(argv)
    parser = _data_parser("zoo score", "Anomaly scores of a dataset (higher = more anomalous).", "scores.csv")
    parser.add_argument("--normal-class", type=int, default=None,
                        help="with labelled data: the class that is normal; reports the AUROC of the scores")
    args = parser.parse_args(own)
    if not args.out.lower().endswith(".csv"):
        raise ZooError(f"--out {args.out}: expected a .csv file")
    model = load_for("score", args.ckpt)
    scores, labels, files = _run_over_split(model, args, data_args, "anomaly_score")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "file", "label", "score"])
        for index, (score, label) in enumerate(zip(scores.tolist(), labels.tolist())):
            writer.writerow([index, files[index] if files else "", label, f"{score:.6g}"])
    print(f"wrote {len(scores)} anomaly scores of the {args.split} split to {out}")
    if args.normal_class is None:
        return None
    anomalous = (labels != args.normal_class).long()
    if anomalous.min() == anomalous.max():
        raise ZooError(f"--normal-class {args.normal_class}: the {args.split} split needs both that class and others "
                       f"to measure an AUROC (labels found: {sorted(set(labels.tolist()))})")
    from torchmetrics.functional.classification import binary_auroc

    # binary_auroc reads values outside [0, 1] as logits and squashes them; AUROC depends only on
    # the order, so pass dense ranks scaled to [0, 1] (ties stay ties).
    _, ranks = torch.unique(scores, return_inverse=True)
    auroc = float(binary_auroc(ranks.float() / max(1, int(ranks.max())), anomalous))
    print(f"AUROC (class {args.normal_class} normal, all others anomalous): {auroc:.4f}")
    return auroc
