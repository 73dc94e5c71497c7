"""Train the ``digits`` FID feature network and write the weights the package ships.

    python scripts/train_digits_features.py                 # writes zoo/metrics/digits_features.pt
    python scripts/train_digits_features.py --epochs 2 --out /tmp/digits.pt

Trains :class:`zoo.metrics.features.DigitsFeatureNet` on the TRAIN split of the embedded
digits (4,000 images), with random shifts of up to two pixels as augmentation (the
classic MNIST trick: a classifier that ignores small translations gives features that
do too), picks nothing on the test split, and reports accuracy on the validation and
TEST splits. The features are then scaled to root-mean-square 1 on the training digits
(``feature_scale``): order one, as Inception's pooled features are, which KID's cubic
kernel assumes. Seeded: the same torch build on the same machine writes the same weights
(checked: two runs, identical tensors). About a minute and a half on one CPU core.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from jsonargparse import CLI
from torchmetrics.functional.classification import multiclass_accuracy

from zoo.data.digits import digits_splits
from zoo.metrics.features import DIGITS_WEIGHTS, DigitsFeatureNet


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by up to ``max_shift`` pixels in x and y, filling with background (0)."""
    padded = F.pad(images, [max_shift] * 4)
    height, width = images.shape[-2:]
    offsets = torch.randint(0, 2 * max_shift + 1, (len(images), 2), generator=generator)
    return torch.stack([
        image[:, top : top + height, left : left + width] for image, (top, left) in zip(padded, offsets.tolist())
    ])


@torch.no_grad()
def accuracy(net: DigitsFeatureNet, images: torch.Tensor, labels: torch.Tensor) -> float:
    net.eval()
    predictions = torch.cat([net(batch).argmax(dim=1) for batch in images.split(500)])
    return float(multiclass_accuracy(predictions, labels, num_classes=10, average="micro"))


def main(
    out: Path = DIGITS_WEIGHTS,
    epochs: int = 20,
    batch_size: int = 64,
    lr: float = 2e-3,
    max_shift: int = 2,
    num_features: int = 128,
    seed: int = 0,
    threads: int = 1,
) -> dict[str, float]:
    """Train, report accuracies, and save ``{"state_dict", "num_features", accuracies, settings}`` to ``out``.

    Args:
        out: where to write the checkpoint.
        epochs: passes over the 4,000 training digits.
        batch_size: images per optimizer step.
        lr: peak Adam learning rate (one-cycle schedule).
        max_shift: largest random translation in pixels (0 switches augmentation off).
        num_features: size of the penultimate layer, the FID feature dimension.
        seed: seeds the initialisation, the shuffling and the shifts.
        threads: CPU threads. One by default: the summation order, and so the weights, then do not depend on
            the machine's core count, and a network this small gains little from more.
    """
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    splits = digits_splits()
    train_images, train_labels = splits["train"].tensors
    net = DigitsFeatureNet(num_features=num_features)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    steps_per_epoch = -(-len(train_images) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(train_images), generator=generator)
        total_loss = 0.0
        for batch_indices in order.split(batch_size):
            images = train_images[batch_indices]
            if max_shift > 0:
                images = random_shift(images, max_shift, generator)
            loss = F.cross_entropy(net(images), train_labels[batch_indices])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(batch_indices)
        if epoch % 5 == 4 or epoch == epochs - 1:
            val_accuracy = accuracy(net, *splits["val"].tensors)
            print(f"epoch {epoch + 1:3d}  train loss {total_loss / len(train_images):.4f}  "
                  f"val accuracy {val_accuracy:.4f}  ({time.perf_counter() - started:.0f}s)")
    with torch.no_grad():
        train_features = torch.cat([net.embed(batch) for batch in train_images.split(500)])
        net.feature_scale.fill_(1.0 / train_features.pow(2).mean().sqrt())
    results = {
        "train_accuracy": accuracy(net, train_images, train_labels),
        "val_accuracy": accuracy(net, *splits["val"].tensors),
        "test_accuracy": accuracy(net, *splits["test"].tensors),
    }
    print("  ".join(f"{name} {value:.4f}" for name, value in results.items()))
    checkpoint = {
        "state_dict": {name: tensor.clone() for name, tensor in net.state_dict().items()},
        "num_features": num_features,
        **results,
        "settings": {"epochs": epochs, "batch_size": batch_size, "lr": lr, "max_shift": max_shift, "seed": seed,
                     "torch": str(torch.__version__)},
    }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, out)
    print(f"wrote {out} ({Path(out).stat().st_size / 1024:.0f} KiB)")
    return results


if __name__ == "__main__":
    CLI(main)
