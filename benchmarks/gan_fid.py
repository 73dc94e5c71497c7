"""FID (digits features) of a GAN family on the embedded digits, at initialization and after N generator steps.

    python benchmarks/gan_fid.py --model dcgan --steps 600

Prints FID of ``--samples`` generated images against the 500 validation digits before
and after training, and their ratio, all measured in this run.
"""

from __future__ import annotations

import argparse
import time

import lightning as L
import torch

from zoo import registry
from zoo.data.digits import DigitsDataModule
from zoo.metrics.fid import compute_fid


def fid_of(model, real_images: torch.Tensor, samples: int) -> float:
    model.eval()
    fake_images = model.sample(samples, generator=torch.Generator().manual_seed(0))
    model.train()
    return compute_fid(real_images, fake_images, feature="digits")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dcgan")
    parser.add_argument("--steps", type=int, default=600, help="generator updates (Trainer max_steps)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--precision", default="32-true")
    args = parser.parse_args()
    L.seed_everything(0, verbose=False)
    data = DigitsDataModule(batch_size=args.batch_size)
    data.setup()
    real_images = data.val_set.tensors[0]
    model = registry.get("model", args.model).load()(image_shape=data.image_shape)
    before = fid_of(model, real_images, args.samples)
    trainer = L.Trainer(max_steps=args.steps, accelerator="cpu", precision=args.precision, logger=False,
                        enable_checkpointing=False, enable_model_summary=False, limit_val_batches=0,
                        enable_progress_bar=False)
    started = time.perf_counter()
    trainer.fit(model, datamodule=data)
    seconds = time.perf_counter() - started
    after = fid_of(model, real_images, args.samples)
    print(f"{args.model} on digits, {args.steps} generator steps of batch {args.batch_size} ({args.precision}), "
          f"{seconds:.0f} s: FID (digits features, {args.samples} samples vs 500 val digits) "
          f"{before:.2f} at init -> {after:.2f} after training (ratio {after / before:.3f})")


if __name__ == "__main__":
    main()
