"""Does Pix2Pix beat bicubic upscaling? Super-resolution on the embedded digits, measured on the validation split.

    python benchmarks/super_resolution_digits.py                  # scale 2, 600 generator steps (CPU: ~1-2 min)
    python benchmarks/super_resolution_digits.py --scale 4 --steps 2000

A is each validation digit downscaled by ``scale`` and upscaled back with bicubic
interpolation, so ``PSNR(A, B)`` *is* the bicubic baseline; the model's PSNR is that of
``translate(A)`` against the same high-resolution B. Both use torchmetrics'
PeakSignalNoiseRatio over the whole split (the ``val/psnr`` that training logs), and likewise
StructuralSimilarityIndexMeasure (SSIM). The
equivalent training run through the CLI is printed at the end.
"""

from __future__ import annotations

import argparse
import sys
import time

import lightning as L
import torch
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from zoo.data.super_resolution import SuperResolutionDataModule
from zoo.models.pix2pix import Pix2Pix


@torch.no_grad()
def validation_psnr(model: Pix2Pix, datamodule: SuperResolutionDataModule) -> tuple[float, float, float, float]:
    """(bicubic PSNR, model PSNR, bicubic SSIM, model SSIM) over the validation split, PSNR in dB."""
    bicubic, translated = PeakSignalNoiseRatio(data_range=1.0), PeakSignalNoiseRatio(data_range=1.0)
    bicubic_ssim, translated_ssim = StructuralSimilarityIndexMeasure(data_range=1.0), \
        StructuralSimilarityIndexMeasure(data_range=1.0)
    model.eval()
    for batch in datamodule.val_dataloader():
        output = model.translate(batch["A"])
        bicubic.update(batch["A"], batch["B"])
        translated.update(output, batch["B"])
        bicubic_ssim.update(batch["A"], batch["B"])
        translated_ssim.update(output, batch["B"])
    return (float(bicubic.compute()), float(translated.compute()), float(bicubic_ssim.compute()),
            float(translated_ssim.compute()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=2, choices=(2, 4))
    parser.add_argument("--steps", type=int, default=600, help="generator updates (one per batch)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=32, help="generator and discriminator width")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    L.seed_everything(args.seed, verbose=False)
    datamodule = SuperResolutionDataModule(scale=args.scale, image_size=args.image_size,
                                           batch_size=args.batch_size, num_workers=0, seed=args.seed)
    # Dropout is pix2pix's source of variety; super-resolution wants the one most likely image, so it is off.
    model = Pix2Pix(image_shape=datamodule.image_shape, generator_channels=args.channels,
                    discriminator_channels=args.channels, dropout=0.0)
    trainer = L.Trainer(max_steps=args.steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, accelerator="auto", devices=1)
    started = time.perf_counter()
    trainer.fit(model, datamodule=datamodule)
    seconds = time.perf_counter() - started
    bicubic_psnr, model_psnr, bicubic_ssim, model_ssim = validation_psnr(model, datamodule)

    print(f"super-resolution x{args.scale} on digits {args.image_size}x{args.image_size}, validation split "
          f"({len(datamodule.val_set)} images), after {trainer.global_step} generator steps "
          f"({seconds:.0f} s on {trainer.strategy.root_device}):")
    print(f"  bicubic upscaling  PSNR {bicubic_psnr:6.2f} dB                SSIM {bicubic_ssim:.3f}")
    print(f"  pix2pix            PSNR {model_psnr:6.2f} dB  ({model_psnr - bicubic_psnr:+.2f} dB)  "
          f"SSIM {model_ssim:.3f} ({model_ssim - bicubic_ssim:+.3f})")
    print("command: python benchmarks/super_resolution_digits.py " + " ".join(sys.argv[1:] if argv is None else argv))
    print(f"same run through the CLI: zoo fit --model pix2pix --data super_resolution --data.scale {args.scale} "
          f"--data.image_size {args.image_size} --data.batch_size {args.batch_size} "
          f"--model.generator_channels {args.channels} --model.discriminator_channels {args.channels} "
          f"--model.dropout 0 --trainer.max_steps {args.steps}")


if __name__ == "__main__":
    main()
