"""Denoising gain on the embedded digits, through the CLI: PSNR of the noisy test digits and of their reconstructions.

    python benchmarks/denoising_digits.py                                   # denoising_autoencoder and autoencoder
    python benchmarks/denoising_digits.py --models denoising_autoencoder --noise-std 0.1 0.3 0.5 --epochs 20

Each model is fitted on the training split (``zoo fit``, the denoising autoencoder with its own
training noise ``--train-noise``); the 500 test digits are written as PNGs; ``zoo reconstruct
--noise-std S`` adds seeded Gaussian noise, reconstructs, and prints the mean PSNR against the
clean digits of the noisy inputs and of the reconstructions. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from run_zoo import zoo  # benchmarks/run_zoo.py, beside this script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["denoising_autoencoder", "autoencoder"])
    parser.add_argument("--noise-std", nargs="+", type=float, default=[0.1, 0.3, 0.5])
    parser.add_argument("--train-noise", type=float, default=0.3, help="the denoising autoencoder's --model.noise_std")
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    from zoo.data.digits import digits_splits
    from zoo.data.image_files import save_image

    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for index, (image, _) in enumerate(digits_splits()["test"]):
            save_image(image, work / "clean" / f"digit_{index:03d}.png")
        for model in args.models:
            extra = ["--model.noise_std", str(args.train_noise)] if model == "denoising_autoencoder" else []
            zoo("fit", "--model", model, "--data", "digits", *extra, "--trainer.max_epochs", str(args.epochs),
                "--trainer.default_root_dir", str(work / model), "--fid.every_n_epochs", "0", cwd=work)
            checkpoint = next((work / model).glob("**/last.ckpt"))
            for noise in args.noise_std:
                stdout = zoo("reconstruct", "--ckpt", str(checkpoint), "--input", "clean", "--out",
                             f"out_{model}_{noise}", "--noise-std", str(noise), cwd=work)
                line = stdout.strip().splitlines()[-1]
                noisy = float(line.split("noisy ")[-1].split(" dB")[0])
                reconstructed = float(line.split("reconstructed ")[-1].split(" dB")[0])
                rows.append((model, noise, noisy, reconstructed))
                print(f"{model} noise {noise}: {noisy:.2f} -> {reconstructed:.2f} dB "
                      f"({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    print(f"\n{args.epochs} epochs on the 4,000 training digits; mean PSNR over the 500 test digits\n")
    print("| model | noise std | PSNR noisy (dB) | PSNR reconstructed (dB) | gain (dB) |")
    print("|---|---|---|---|---|")
    for model, noise, noisy, reconstructed in rows:
        print(f"| {model} | {noise} | {noisy:.2f} | {reconstructed:.2f} | **{reconstructed - noisy:+.2f}** |")
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
