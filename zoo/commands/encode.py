"""``zoo encode``: latent features of a dataset from a checkpoint of any model with ``encode(x)``.

    zoo encode --ckpt runs/vae --data digits --out latents.npy   # or .npz, .png (a 2-D projection by label)

Any ``--data.OPTION VALUE`` of the datamodule is accepted, as in ``zoo fit``; a conditional
model's ``encode`` is given each image's label.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from zoo import interfaces
from zoo.checkpoints import load_with
from zoo.commands.common import data_parser, run_over_split, split_data_args
from zoo.errors import ZooError

REFUSAL = ("`zoo encode` needs a model with encode(); {checkpoint} holds {name}, a {task} model without it; "
           "use a checkpoint of one of: {models}")


def command_encode(argv: Sequence[str]) -> Path:
    own, data_args = split_data_args(argv)
    parser = data_parser("zoo encode", "Latent features of a dataset from a reconstruction checkpoint.",
                          "latents.npy (N x D; labels beside it in NAME.labels.npy), latents.npz (latents, labels), "
                          "or latents.png (a 2-D projection coloured by label)")
    args = parser.parse_args(own)
    out = Path(args.out)
    if out.suffix.lower() not in (".npy", ".npz", ".png"):
        raise ZooError(f"--out {args.out}: expected a .npy, .npz or .png file")
    model = load_with(args.ckpt, interfaces.Encoding, REFUSAL)
    latents, labels, _ = run_over_split(model, args, data_args, model.encode,
                                        with_labels=isinstance(model, interfaces.ConditionalGeneration))
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
