"""Dimensionality reduction on the embedded digits: k-NN accuracy on latents, against raw pixels and PCA.

    python benchmarks/reduction_digits.py                                   # autoencoder and vae, 16 dimensions
    python benchmarks/reduction_digits.py --models vae --latent-dim 8 32 --epochs 30

Each model is fitted on the training split through the CLI (``zoo fit``), then ``zoo encode``
writes the latents of the 4,000 training and the 500 test digits. A k-nearest-neighbour
classifier (Euclidean, majority vote) fitted on the training latents labels the test latents;
the same classifier runs on the raw 784 pixels and on PCA of the pixels with as many
components as the latent space, fitted on the training split. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from run_zoo import zoo  # benchmarks/run_zoo.py, beside this script


def knn_accuracy(train: torch.Tensor, train_labels: torch.Tensor, test: torch.Tensor, test_labels: torch.Tensor,
                 k: int) -> float:
    """Test accuracy of a k-NN majority vote over Euclidean distances (ties go to the smaller label)."""
    nearest = torch.cdist(test, train).topk(k, largest=False).indices
    votes = torch.nn.functional.one_hot(train_labels[nearest], int(train_labels.max()) + 1).sum(1)
    return (votes.argmax(1) == test_labels).float().mean().item()


def pca(train: torch.Tensor, test: torch.Tensor, dimensions: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Both splits projected on the first ``dimensions`` principal components of the training split."""
    mean = train.mean(0, keepdim=True)
    _, _, components = torch.linalg.svd(train - mean, full_matrices=False)
    basis = components[:dimensions].T
    return (train - mean) @ basis, (test - mean) @ basis


def pixels(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from zoo.data.digits import digits_splits

    dataset = digits_splits()[split]
    images = torch.stack([image for image, _ in dataset]).flatten(1)
    return images, torch.tensor([label for _, label in dataset])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["autoencoder", "vae"])
    parser.add_argument("--latent-dim", nargs="+", type=int, default=[16])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("-k", type=int, default=5, help="neighbours in the vote")
    args = parser.parse_args()

    started = time.perf_counter()
    train_pixels, train_labels = pixels("train")
    test_pixels, test_labels = pixels("test")
    rows = [("raw pixels", train_pixels.shape[1], knn_accuracy(train_pixels, train_labels, test_pixels, test_labels,
                                                              args.k))]
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for dimensions in args.latent_dim:
            train_pca, test_pca = pca(train_pixels, test_pixels, dimensions)
            rows.append(("PCA of the pixels", dimensions,
                         knn_accuracy(train_pca, train_labels, test_pca, test_labels, args.k)))
            for model in args.models:
                run = work / f"{model}_{dimensions}"
                zoo("fit", "--model", model, "--data", "digits", "--model.latent_dim", str(dimensions),
                    "--trainer.max_epochs", str(args.epochs), "--trainer.default_root_dir", str(run),
                    "--fid.every_n_epochs", "0", cwd=work)
                latents = {}
                for split in ("train", "test"):
                    out = run / f"{split}.npz"
                    zoo("encode", "--ckpt", str(run), "--data", "digits", "--split", split, "--out", str(out),
                        cwd=work)
                    saved = np.load(out)
                    latents[split] = (torch.from_numpy(saved["latents"]), torch.from_numpy(saved["labels"]))
                accuracy = knn_accuracy(*latents["train"], *latents["test"], args.k)
                rows.append((model, dimensions, accuracy))
                print(f"{model} {dimensions}-d: {accuracy:.3f} ({time.perf_counter() - started:.0f} s)",
                      file=sys.stderr, flush=True)
    print(f"\n{args.k}-NN test accuracy on the 500 test digits, fitted on the 4,000 training digits; "
          f"models trained {args.epochs} epochs\n")
    print("| features | dimensions | k-NN accuracy |")
    print("|---|---|---|")
    for features, dimensions, accuracy in rows:
        print(f"| {features} | {dimensions} | {accuracy:.3f} |")
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
