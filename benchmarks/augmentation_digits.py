"""Labelled generation for augmentation on the embedded digits: does a conditional model's output help a classifier?

    python benchmarks/augmentation_digits.py                        # vae and dcgan, conditional
    python benchmarks/augmentation_digits.py --models vae --epochs 10 --seeds 1   # quicker

Each conditional model is fitted on the whole training split (4,000 labelled digits) through
the CLI (``zoo fit --model.conditional true``); ``zoo sample --per-class 450 --out DIR/``
writes its augmentation set as class folders, read back by the ``folder`` datamodule as a
user would. A small CNN (two conv layers, one linear) learns from 50 real digits per class
(drawn from the training split), alone or with the 450 generated digits per class, for the same
number of optimizer steps, and is scored on the 500 test digits; the mean and spread over
``--seeds`` draws of the real subset. Also printed per model: per-class FID of 500 samples
against the training split's digits of that class (``digits`` features, real statistics
extracted once per class), and how often the shipped digits classifier reads a generated
digit as the class it was asked for. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from run_zoo import zoo  # benchmarks/run_zoo.py, beside this script


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 7 * 7, 10),
    )


def classifier_accuracy(images: torch.Tensor, labels: torch.Tensor, test_images: torch.Tensor,
                        test_labels: torch.Tensor, steps: int, seed: int) -> float:
    """Test accuracy of :func:`small_cnn` after ``steps`` Adam steps on shuffled batches of 64."""
    rng = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # a benchmark process of its own: the initialisation repeats
    network = small_cnn()
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    network.train()
    for _ in range(steps):
        batch = torch.randint(len(images), (64,), generator=rng)
        loss = nn.functional.cross_entropy(network(images[batch]), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    network.eval()
    with torch.no_grad():
        predictions = torch.cat([network(chunk).argmax(1) for chunk in test_images.split(500)])
    return (predictions == test_labels).float().mean().item()


def split_tensors(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from zoo.data.digits import digits_splits

    dataset = digits_splits()[split]
    return torch.stack([image for image, _ in dataset]), torch.tensor([label for _, label in dataset])


def real_subset(images: torch.Tensor, labels: torch.Tensor, per_class: int, seed: int):
    rng = torch.Generator().manual_seed(seed)
    chosen = torch.cat([
        (labels == label).nonzero().flatten()[torch.randperm(int((labels == label).sum()), generator=rng)[:per_class]]
        for label in range(10)
    ])
    return images[chosen], labels[chosen]


def folder_tensors(root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The generated class folders through the ``folder`` datamodule, labels from the folder names."""
    from zoo.data.folder import ImageFolderDataModule

    data = ImageFolderDataModule(str(root), image_size=28, channels=1, val_fraction=0, test_fraction=0)
    data.setup("fit")
    images = torch.stack([image for image, _ in data.dataset])
    # Folder names are the class names the checkpoint kept: "0".."9" for digits.
    labels = torch.tensor([int(data.class_names[label]) for label in data.dataset.labels])
    return images, labels


def summary(values: list[float]) -> str:
    mean = statistics.mean(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * mean:.1f} ± {100 * spread:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["vae", "dcgan"])
    parser.add_argument("--epochs", nargs="+", default=["15", "dcgan=20"],
                        help="epochs of the conditional models: N for all, MODEL=N for one (default 15, dcgan=20)")
    parser.add_argument("--real-per-class", type=int, default=50)
    parser.add_argument("--generated-per-class", type=int, default=450)
    parser.add_argument("--steps", type=int, default=800, help="classifier optimizer steps, the same for every run")
    parser.add_argument("--seeds", type=int, default=3, help="draws of the real subset (and classifier seeds)")
    parser.add_argument("--fid-per-class", type=int, default=500)
    parser.add_argument("--grid", default=None, help="also write each model's per-class grid to GRID_<model>.png")
    parser.add_argument("--model-args", nargs="*", default=[],
                        help="extra `zoo fit` flags for every model, e.g. --model.latent_dim=32")
    args = parser.parse_args()
    epochs = {name: int(value) for name, _, value in (each.rpartition("=") for each in args.epochs)}

    from zoo.checkpoints import load_model
    from zoo.metrics.features import build_feature_extractor
    from zoo.metrics.fid import per_class_fid

    started = time.perf_counter()
    train_images, train_labels = split_tensors("train")
    test_images, test_labels = split_tensors("test")
    generated: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    models = {}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for model in args.models:
            run = work / model
            fitted = time.perf_counter()
            zoo("fit", "--model", model, "--data", "digits", "--model.conditional", "true", *args.model_args,
                "--trainer.max_epochs", str(epochs.get(model, epochs.get(""))), "--trainer.default_root_dir", str(run),
                "--fid.every_n_epochs", "0", cwd=work)
            print(f"{model}: {epochs.get(model, epochs.get(''))} epochs in {time.perf_counter() - fitted:.0f} s",
                  file=sys.stderr)
            zoo("sample", "--ckpt", str(run), "--per-class", str(args.generated_per_class), "--out",
                str(work / f"{model}_aug") + "/", cwd=work)
            if args.grid:
                zoo("sample", "--ckpt", str(run), "--per-class", "10", "--out", f"{args.grid}_{model}.png",
                    cwd=Path.cwd())
            generated[model] = folder_tensors(work / f"{model}_aug")
            models[model] = load_model(run)

        digits = build_feature_extractor("digits", (1, 28, 28))
        print(f"models fitted and sampled after {time.perf_counter() - started:.0f} s", file=sys.stderr)
        fids = per_class_fid(models, train_images, train_labels, per_class=args.fid_per_class, feature=digits)

    print("\nConditional models, trained on the 4,000 training digits\n")
    print("| model | mean per-class FID | per-class FID (0-9) | generated read as the asked class |")
    print("| --- | --- | --- | --- |")
    for name, (images, labels) in generated.items():
        with torch.no_grad():
            agreement = (torch.cat([digits.classify(chunk) for chunk in images.split(500)]) == labels).float().mean()
        per_class = fids[name]
        print(f"| {name} | {statistics.mean(per_class.values()):.1f} | "
              f"{' / '.join(f'{per_class[label]:.1f}' for label in sorted(per_class))} | {100 * agreement:.1f} % |")

    rows = {"real only": []} | {f"real + {name}": [] for name in generated}
    for seed in range(args.seeds):
        real_images, real_labels = real_subset(train_images, train_labels, args.real_per_class, seed)
        rows["real only"].append(classifier_accuracy(real_images, real_labels, test_images, test_labels,
                                                     args.steps, seed))
        for name, (images, labels) in generated.items():
            rows[f"real + {name}"].append(classifier_accuracy(torch.cat([real_images, images]),
                                                              torch.cat([real_labels, labels]),
                                                              test_images, test_labels, args.steps, seed))
    print(f"\nSmall CNN, {args.real_per_class} real digits per class (+ {args.generated_per_class} generated), "
          f"{args.steps} steps, test accuracy (%) on 500 test digits, mean ± std over {args.seeds} seeds\n")
    print("| training set | test accuracy |")
    print("| --- | --- |")
    for name, values in rows.items():
        print(f"| {name} | {summary(values)} |")
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
