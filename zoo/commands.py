"""``zoo sample``, ``zoo encode`` and ``zoo score``: use a trained checkpoint of any registered model.

Each command reads the model's class from the checkpoint (see :func:`zoo.checkpoints.load_model`)
and switches on by interface: ``sample`` needs ``sample(n, generator)``, ``encode`` needs
``encode(x)``, ``score`` needs ``anomaly_score(x)``. A checkpoint of the wrong task gets one
line saying what the command needs and which models have it.

    zoo sample --ckpt runs/dcgan -n 64 --out grid.png          # runs/NAME: its newest last.ckpt
    zoo sample --ckpt runs/dcgan -n 1000 --out augment/           # one PNG per image
    zoo sample --ckpt runs/vae --per-class 500 --out aug/         # conditional: aug/<class>/*.png, a `folder` dataset
    zoo encode --ckpt runs/vae --data digits --out latents.npy   # or .npz, .png
    zoo score  --ckpt runs/autoencoder --data folder --data.root suspects --out scores.csv
    zoo score  --ckpt runs/autoencoder --data digits --normal-class 3 --out scores.csv    # AUROC, AUPR, F1, confusion
    zoo score  --ckpt runs/autoencoder --data digits --maps maps/ --top 8                 # anomaly-map sheets
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import torch

from zoo import registry
from zoo.errors import CommandParser, ZooError

def load_for(command: str, checkpoint: str):
    """The checkpoint's model, refusing one that lacks the interface ``command`` needs."""
    from zoo import interfaces
    from zoo.checkpoints import load_model

    method, protocol = {"sample": ("sample", interfaces.Generation), "encode": ("encode", interfaces.Encoding),
                        "score": ("anomaly_score", interfaces.AnomalyScoring)}[command]
    model = load_model(checkpoint)
    if not isinstance(model, protocol):
        name = registry.name_of(type(model), "model") or type(model).__name__
        task = interfaces.declared_task(model) or "another"
        raise ZooError(f"`zoo {command}` needs a model with {method}(); {checkpoint} holds {name}, a {task} model "
                       f"without it; use a checkpoint of one of: {', '.join(interfaces.registered_with(protocol))}")
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
    parser.add_argument("--interpolate", action="store_true",
                        help="-n rows, each a walk of --steps images between two random latent points "
                             "(spherical interpolation: the path stays where Gaussian latents have mass)")
    parser.add_argument("--steps", type=int, default=8, help="images per interpolation row, ends included (default 8)")
    parser.add_argument("--class", dest="class_name", default=None,
                        help="conditional models: -n images of this class (name or index); into DIR/<class>/")
    parser.add_argument("--per-class", type=int, default=None,
                        help="conditional models: this many images of every class; DIR/<class>/*.png for each, "
                             "which `--data folder --data.root DIR` reads back with those labels (a grid: a row each)")
    args = parser.parse_args(list(argv))
    if args.class_name is not None and args.per_class is not None:
        raise ZooError("give --class (with -n) or --per-class, not both")
    if args.per_class is not None and args.per_class < 1:
        raise ZooError(f"--per-class must be at least 1, got {args.per_class}")
    if args.num < 1:
        raise ZooError(f"-n must be at least 1, got {args.num}")
    out = Path(args.out)
    to_folder = args.out.endswith(("/", "\\")) or out.is_dir()
    if not to_folder and out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ZooError(f"--out {args.out}: give an image file (.png, .jpg) for a grid, or a folder ending in /")
    writable_folder(out if to_folder else out.parent, args.out)
    from torchvision.utils import make_grid, save_image

    model = load_for("sample", args.ckpt).to(_device(args.device))
    rng = torch.Generator().manual_seed(args.seed)
    if args.interpolate:
        return [write_interpolation(model, args, rng)]
    if args.class_name is not None or args.per_class is not None:
        return write_class_samples(model, args, rng, out, to_folder)
    with torch.no_grad():
        images = torch.cat([
            model.sample(min(args.batch_size, args.num - start), generator=rng).float().cpu().clamp(0, 1)
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


def _classes_wanted(model, args) -> tuple[list[str], list[int]]:
    """A conditional model's class names and the indices ``--class``/``--per-class`` ask for, or a one-line error."""
    from zoo import interfaces
    from zoo.conditioning import class_names_of

    flag = "--class" if args.class_name is not None else "--per-class"
    if not isinstance(model, interfaces.ConditionalGeneration):
        name = registry.name_of(type(model), "model") or type(model).__name__
        raise ZooError(f"{flag} needs a class-conditional model; {args.ckpt} holds an unconditional {name}; train one "
                       f"of {', '.join(interfaces.registered_with(interfaces.ConditionalGeneration))} with "
                       "--model.conditional true")
    names = class_names_of(model)
    if args.per_class is not None:
        return names, list(range(len(names)))
    if args.class_name in names:
        return names, [names.index(args.class_name)]
    if args.class_name.isdigit() and int(args.class_name) < len(names):
        return names, [int(args.class_name)]
    raise ZooError(f"--class {args.class_name}: {args.ckpt} has no such class (classes: {', '.join(names)})")


def write_class_samples(model, args, rng: torch.Generator, out: Path, to_folder: bool) -> list[Path]:
    """Images of chosen classes: ``out/<class>/sample_*.png`` per class, or one grid with a row per class."""
    from torchvision.utils import make_grid, save_image

    names, wanted = _classes_wanted(model, args)
    count = args.per_class if args.per_class is not None else args.num
    per_class = {}
    with torch.no_grad():
        for label in wanted:
            per_class[label] = torch.cat([
                model.sample(size, generator=rng, labels=torch.full((size,), label, dtype=torch.long))
                .float().cpu().clamp(0, 1)
                for size in (min(args.batch_size, count - start) for start in range(0, count, args.batch_size))
            ])
    if not to_folder:
        images = torch.cat(list(per_class.values()))
        save_image(make_grid(images, nrow=args.nrow or count, padding=2, pad_value=1.0), out)
        print(f"wrote a grid of {len(images)} samples, one row per class ({', '.join(names[i] for i in wanted)}), "
              f"to {out}")
        return [out]
    written = []
    for label, images in per_class.items():
        folder = out / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / f"sample_{index:05d}.png" for index in range(len(images))]
        for image, path in zip(images, paths):
            save_image(image, path)
        written += paths
    print(f"wrote {count} images of each of {len(wanted)} class(es) to {out}/<class>/")
    return written


def slerp(start: torch.Tensor, end: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of ``start`` and ``end`` (N, D) at ``fractions`` (S,): (N, S, D).

    A straight line between two Gaussian latents passes near the origin, where a standard normal
    in many dimensions has almost no mass, so the middle images look washed out; the great circle
    keeps the norm typical (White, "Sampling Generative Networks", 2016). Parallel points fall back
    to the straight line.
    """
    cosine = torch.nn.functional.cosine_similarity(start, end, dim=1).clamp(-1.0, 1.0)
    angle = torch.arccos(cosine)[:, None]
    fractions = fractions[None, :]
    sine = torch.sin(angle)
    parallel = sine.abs() < 1e-6
    safe = torch.where(parallel, torch.ones_like(sine), sine)
    start_weight = torch.where(parallel, 1 - fractions, torch.sin((1 - fractions) * angle) / safe)
    end_weight = torch.where(parallel, fractions, torch.sin(fractions * angle) / safe)
    return start_weight[..., None] * start[:, None] + end_weight[..., None] * end[:, None]


def write_interpolation(model, args, rng: torch.Generator) -> Path:
    """A grid of ``-n`` rows, each decoding ``--steps`` points on the great circle between two latent samples."""
    from torchvision.utils import make_grid, save_image

    from zoo import interfaces

    latent_dim = interfaces.latent_dim_of(model)
    if latent_dim is None:
        name = registry.name_of(type(model), "model") or type(model).__name__
        raise ZooError(f"--interpolate needs a model with a latent space (latent_dim); {name} has none")
    if args.steps < 2:
        raise ZooError(f"--steps must be at least 2 (the two ends), got {args.steps}")
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ZooError(f"--out {args.out}: --interpolate writes one grid; give an image file (.png, .jpg)")
    # Latents a generator draws with randn (GANs, the VAE's prior): images from `decode` where the
    # model has it (VAE), else from `forward` (the GANs map latents to images).
    decode = model.decode if isinstance(model, interfaces.Decoding) else model
    ends = torch.randn(2, args.num, latent_dim, generator=rng)
    path = slerp(ends[0], ends[1], torch.linspace(0, 1, args.steps)).reshape(-1, latent_dim)
    device = next(model.parameters()).device
    with torch.no_grad():
        images = torch.cat([decode(chunk.to(device)).float().cpu().clamp(0, 1)
                            for chunk in path.split(args.batch_size)])
    out.parent.mkdir(parents=True, exist_ok=True)
    save_image(make_grid(images, nrow=args.steps, padding=2, pad_value=1.0), out)
    print(f"wrote {args.num} interpolations of {args.steps} steps to {out}")
    return out


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


def _run_over_split(model, args, data_args: list[str], method, with_labels: bool = False):
    """``method`` (the model's ``encode`` or ``anomaly_score``) over a split: outputs, labels, files.

    ``with_labels``: ``method(images, labels)``, the split's labels given (a conditional model's code needs them).
    """
    datamodule = build_datamodule(["--data", args.data, *data_args])
    device = _device(args.device)
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
    from zoo.interfaces import ConditionalGeneration

    latents, labels, _ = _run_over_split(model, args, data_args, model.encode,
                                         with_labels=isinstance(model, ConditionalGeneration))
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


def command_score(argv: Sequence[str]) -> dict:
    own, data_args = _split_data_args(argv)
    parser = _data_parser("zoo score", "Anomaly scores of a dataset (higher = more anomalous), and decisions.",
                          "scores.csv: index, file, label, score, normalized_score (threshold = 0.5), is_anomaly")
    parser.add_argument("--normal-class", nargs="+", default=None,
                        help="with labelled data: the label(s) of the normal class(es); reports AUROC, "
                             "AUPR, F1 at the threshold and the confusion counts")
    parser.add_argument("--threshold", type=float, default=None,
                        help="decide with this score threshold instead of the one stored in the checkpoint")
    parser.add_argument("--threshold-quantile", type=float, default=None,
                        help="decide with this quantile (0-1) of the normal validation scores stored at fit time")
    parser.add_argument("--maps", default=None, help="folder for anomaly-map sheets (reconstruction models)")
    parser.add_argument("--top", type=int, default=8,
                        help="inputs per map sheet: the N most anomalous and the N most normal")
    parser.add_argument("--map-sigma", type=float, default=1.0,
                        help="standard deviation in pixels of the Gaussian smoothing the maps (0: none)")
    args = parser.parse_args(own)
    if not args.out.lower().endswith(".csv"):
        raise ZooError(f"--out {args.out}: expected a .csv file")
    if args.top < 1:
        raise ZooError(f"--top must be at least 1, got {args.top}")
    model = load_for("score", args.ckpt)
    from zoo import anomaly

    from zoo.interfaces import Reconstruction

    if args.maps is not None and not isinstance(model, Reconstruction):
        name = registry.name_of(type(model), "model") or type(model).__name__
        raise ZooError(f"--maps needs a model with encode() and decode() to draw reconstruction errors; "
                       f"{name} has none")
    state = anomaly.read_threshold(args.ckpt)
    threshold, source = _decision_threshold(state, args)
    scores, labels, files = _run_over_split(model, args, data_args, model.anomaly_score)
    scores = scores.double()
    normalized = is_anomaly = None
    if threshold is not None:
        low, high = (state["min"], state["max"]) if state else (float(scores.min()), float(scores.max()))
        normalized = anomaly.normalize(scores, threshold, low, high)
        is_anomaly = scores > threshold
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "file", "label", "score", "normalized_score", "is_anomaly"])
        for index, (score, label) in enumerate(zip(scores.tolist(), labels.tolist())):
            writer.writerow([index, files[index] if files else "", label, f"{score:.6g}",
                             f"{float(normalized[index]):.6g}" if normalized is not None else "",
                             int(is_anomaly[index]) if is_anomaly is not None else ""])
    print(f"wrote {len(scores)} anomaly scores of the {args.split} split to {out}")
    if threshold is None:
        print("no threshold: the checkpoint holds none (fitted without validation or by an older zoo); "
              "pass --threshold T to decide")
    else:
        print(f"threshold {threshold:.6g} ({source}): {int(is_anomaly.sum())} of {len(scores)} flagged as anomalies")
    results: dict = {"threshold": threshold, "num_anomalies": int(is_anomaly.sum()) if is_anomaly is not None else None}
    if args.normal_class is not None:
        results.update(_labelled_metrics(scores, labels, is_anomaly, args))
    if args.maps is not None:
        results["maps"] = _write_maps(model, args, data_args, scores, labels, files)
    return results


def _decision_threshold(state: dict | None, args) -> tuple[float | None, str]:
    """The threshold a decision uses, and where it came from, for the printed line."""
    from zoo import anomaly

    if args.threshold is not None and args.threshold_quantile is not None:
        raise ZooError("give --threshold or --threshold-quantile, not both")
    if args.threshold is not None:
        return args.threshold, "given by --threshold"
    if args.threshold_quantile is not None:
        if state is None:
            raise ZooError(f"--threshold-quantile needs the validation scores a `zoo fit` stores; {args.ckpt} has "
                           "none (fit with validation, or pass --threshold T)")
        quantile = anomaly.threshold_at_quantile(state, args.threshold_quantile)
        return quantile, f"the {args.threshold_quantile} quantile of the normal validation scores"
    if state is None:
        return None, ""
    if state["method"] == "f1":
        return state["threshold"], f"stored in the checkpoint: F1-optimal on validation, F1 {state['f1']:.3f}"
    return state["threshold"], f"stored in the checkpoint: the {state['quantile']} quantile of the validation scores"


def _normal_ids(names: list[str], labels: torch.Tensor, args) -> list[int]:
    ids = []
    for name in names:
        try:
            ids.append(int(name))
        except ValueError:
            raise ZooError(f"--normal-class {name}: give the class index (a label of the {args.split} split, "
                           f"found: {sorted(set(labels.tolist()))})") from None
    return ids


def _labelled_metrics(scores: torch.Tensor, labels: torch.Tensor, is_anomaly: torch.Tensor | None, args) -> dict:
    """AUROC, AUPR, F1 at the threshold and the confusion counts, with anomalies as the positive class."""
    from torchmetrics.functional.classification import (binary_auroc, binary_average_precision,
                                                        binary_confusion_matrix, binary_f1_score)

    from zoo.anomaly import f1_optimal_threshold, order_preserving_unit

    normal_ids = _normal_ids(args.normal_class, labels, args)
    anomalous = (~torch.isin(labels, torch.tensor(normal_ids, dtype=labels.dtype))).long()
    if anomalous.min() == anomalous.max():
        raise ZooError(f"--normal-class {' '.join(args.normal_class)}: the {args.split} split needs both those "
                       f"classes and others to measure (labels found: {sorted(set(labels.tolist()))})")
    unit = order_preserving_unit(scores)
    metrics = {"auroc": float(binary_auroc(unit, anomalous)), "aupr": float(binary_average_precision(unit, anomalous))}
    normal = ", ".join(args.normal_class)
    print(f"AUROC (class {normal} normal, all others anomalous): {metrics['auroc']:.4f}")
    print(f"AUPR (anomalies positive, {float(anomalous.double().mean()):.1%} of inputs): {metrics['aupr']:.4f}")
    if is_anomaly is not None:
        predicted = is_anomaly.long()
        (tn, fp), (fn, tp) = binary_confusion_matrix(predicted, anomalous).tolist()
        metrics.update(f1=float(binary_f1_score(predicted, anomalous)), tp=tp, fp=fp, tn=tn, fn=fn)
        print(f"F1 at the threshold: {metrics['f1']:.4f}  (true positives {tp}, false positives {fp}, "
              f"true negatives {tn}, false negatives {fn})")
    best_threshold, best_f1 = f1_optimal_threshold(scores, anomalous.bool())
    metrics.update(best_threshold=best_threshold, best_f1=best_f1)
    print(f"best F1 on this split: {best_f1:.4f} at threshold {best_threshold:.6g} (--threshold to use it)")
    return metrics


def _write_maps(model, args, data_args: list[str], scores: torch.Tensor, labels: torch.Tensor,
                files: list[str] | None) -> list[Path]:
    """Sheets of the ``--top`` most anomalous and most normal inputs: input | reconstruction | error map."""
    from zoo.anomaly import error_maps, write_map_sheet

    order = torch.argsort(scores, descending=True)
    top = min(args.top, len(scores))
    chosen = {"most_anomalous": order[:top].tolist(), "most_normal": order.flip(0)[:top].tolist()}
    wanted = set(chosen["most_anomalous"]) | set(chosen["most_normal"])
    # A second pass keeps only the chosen images in memory, whatever the size of the split.
    datamodule = build_datamodule(["--data", args.data, *data_args])
    images, seen = {}, 0
    for batch in iterate_split(datamodule, args.split):
        for offset in range(len(batch[0])):
            if seen + offset in wanted:
                images[seen + offset] = batch[0][offset]
        seen += len(batch[0])
    device = next(model.parameters()).device
    sheets = {}
    for name, indices in chosen.items():
        stacked = torch.stack([images[index] for index in indices]).to(device)
        sheets[name] = (indices, stacked, *error_maps(model, stacked, args.map_sigma))
    vmax = max(float(errors.max()) for *_, errors in sheets.values()) or 1.0
    written = []
    for name, (indices, stacked, reconstructions, errors) in sheets.items():
        captions = [f"#{index} label {int(labels[index])}\nscore {float(scores[index]):.4g}"
                    + (f"\n{Path(files[index]).name}" if files else "") for index in indices]
        path = Path(args.maps) / f"{name}.png"
        title = f"{name.replace('_', ' ')} {len(indices)} of {len(scores)} ({args.split} split)"
        write_map_sheet(path, title, stacked.cpu(), reconstructions.cpu(), errors.cpu(), captions, vmax)
        written.append(path)
    print(f"wrote anomaly maps of the {top} most anomalous and {top} most normal inputs to {args.maps}/")
    return written
