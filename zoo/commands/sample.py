"""``zoo sample``: images from a checkpoint of any model with ``sample(n, generator)`` (the GANs, the VAE).

    zoo sample --ckpt runs/dcgan -n 64 --out grid.png          # runs/NAME: its newest last.ckpt
    zoo sample --ckpt runs/dcgan -n 1000 --out augment/           # one PNG per image
    zoo sample --ckpt runs/vae --per-class 500 --out aug/         # conditional: aug/<class>/*.png, a `folder` dataset
    zoo sample --ckpt runs/vae -n 8 --interpolate --out walk.png  # rows of spherical interpolations

The model's class comes from the checkpoint (:func:`zoo.checkpoints.load_model`); a checkpoint of a
model without ``sample`` gets one line saying which registered models have it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch

from zoo import interfaces, registry
from zoo.checkpoints import load_with
from zoo.commands.common import device_named, writable_folder
from zoo.errors import CommandParser, ZooError

REFUSAL = ("`zoo sample` needs a model with sample(); {checkpoint} holds {name}, a {task} model without it; "
           "use a checkpoint of one of: {models}")


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

    model = load_with(args.ckpt, interfaces.Generation, REFUSAL).to(device_named(args.device))
    rng = torch.Generator().manual_seed(args.seed)
    if args.interpolate:
        return [write_interpolation(model, args, rng)]
    if args.class_name is not None or args.per_class is not None:
        return write_class_samples(model, args, rng, out, to_folder)
    if to_folder:
        written = write_to_folder(sample_batches(model, args.num, args.batch_size, rng), args.num, out)
        print(f"wrote {len(written)} images to {out}/")
        return written
    nrow = args.nrow or math.ceil(math.sqrt(args.num))
    check_grid_size(model, args.num, nrow, args.out)
    images = torch.cat(list(sample_batches(model, args.num, args.batch_size, rng)))
    save_image(make_grid(images, nrow=nrow, padding=2, pad_value=1.0), out)
    print(f"wrote a grid of {len(images)} samples to {out}")
    return [out]


def sample_batches(model, count: int, batch_size: int, rng: torch.Generator, label: int | None = None):
    """``count`` samples as CPU float [0, 1] batches of at most ``batch_size``, one batch in memory at a time."""
    for start in range(0, count, batch_size):
        size = min(batch_size, count - start)
        conditions = {} if label is None else {"labels": torch.full((size,), label, dtype=torch.long)}
        with torch.no_grad():
            yield model.sample(size, generator=rng, **conditions).float().cpu().clamp(0, 1)


def write_to_folder(batches, count: int, folder: Path) -> list[Path]:
    """``folder/sample_N.png`` for each image, batch by batch (a million images never sit in memory together),
    numbered with as many digits as the largest index needs so that the names sort in order; a progress bar on a
    terminal."""
    from torchvision.utils import save_image
    from tqdm import tqdm

    folder.mkdir(parents=True, exist_ok=True)
    width = max(5, len(str(count - 1)))
    written: list[Path] = []
    with tqdm(total=count, unit="image", desc=f"writing {folder}/", disable=None, leave=False) as bar:
        for images in batches:
            for image in images:
                path = folder / f"sample_{len(written):0{width}d}.png"
                save_image(image, path)
                written.append(path)
            bar.update(len(images))
    return written


MAX_GRID_PIXELS = 100_000_000  # past this a PNG takes minutes to write and most viewers refuse it


def check_grid_size(model, count: int, per_row: int, out: str) -> None:
    """Refuse a grid too large to look at, before generating it: a folder takes any number of images."""
    image_shape = model.hparams.get("image_shape")
    if not image_shape:  # a plugin that does not say; its images are made and the grid is tried
        return
    height, width = tuple(image_shape)[-2:]
    pixels = per_row * math.ceil(count / per_row) * (height + 2) * (width + 2)
    if pixels > MAX_GRID_PIXELS:
        raise ZooError(f"-n {count}: a grid of {count} images of {height}x{width} would have {pixels / 1e6:.0f} "
                       f"million pixels (at most {MAX_GRID_PIXELS // 1_000_000} million); write them to a folder "
                       f"instead (--out {Path(out).with_suffix('')}/)")


def classes_wanted(model, args) -> tuple[list[str], list[int]]:
    """A conditional model's class names and the indices ``--class``/``--per-class`` ask for, or a one-line error."""
    from zoo.conditioning import class_names_of

    flag = "--class" if args.class_name is not None else "--per-class"
    if not isinstance(model, interfaces.ConditionalGeneration):
        name = registry.display_name(type(model), "model")
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

    names, wanted = classes_wanted(model, args)
    count = args.per_class if args.per_class is not None else args.num
    if not to_folder:
        check_grid_size(model, count * len(wanted), args.nrow or count, args.out)
        images = torch.cat([batch for label in wanted
                            for batch in sample_batches(model, count, args.batch_size, rng, label)])
        save_image(make_grid(images, nrow=args.nrow or count, padding=2, pad_value=1.0), out)
        print(f"wrote a grid of {len(images)} samples, one row per class ({', '.join(names[i] for i in wanted)}), "
              f"to {out}")
        return [out]
    written = []
    for label in wanted:
        written += write_to_folder(sample_batches(model, count, args.batch_size, rng, label), count, out / names[label])
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

    latent_dim = interfaces.latent_dim_of(model)
    if latent_dim is None:
        name = registry.display_name(type(model), "model")
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
