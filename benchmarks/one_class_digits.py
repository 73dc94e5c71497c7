"""One-class anomaly detection on the embedded digits, through the CLI: AUROC per digit and the mean.

    python benchmarks/one_class_digits.py --model autoencoder --scores mse bce
    python benchmarks/one_class_digits.py --model vae --scores elbo mse bce --epochs 30
    python benchmarks/one_class_digits.py --model autoencoder --digits 3 --epochs 5     # one quick digit
    python benchmarks/one_class_digits.py --data mnist --data.root data --epochs 10      # full MNIST

The protocol of Ruff et al. 2018 (Deep SVDD): for each digit k, train on the training split's
images of k only (``--data.normal_classes [k]``, validation likewise), then score the whole test
split (500 digits, all classes) with ``zoo score --split test --normal-class k``: the AUROC says
how well the score ranks the other nine digits above the k's. Each score choice is a model
hyper-parameter (``--model.score``), so each is a fit of its own; training does not depend on it
(the same seed gives the same weights), only the score does. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from run_zoo import zoo  # benchmarks/run_zoo.py, beside this script


def metric(stdout: str, name: str) -> float:
    """The value printed after ``NAME ...:`` by `zoo score`."""
    line = next(line for line in stdout.splitlines() if line.startswith(name))
    return float(line.split(":", 1)[1].split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="autoencoder", help="autoencoder, denoising_autoencoder, vae, ...")
    parser.add_argument("--scores", nargs="+", default=["mse", "bce"], help="values of --model.score to compare")
    parser.add_argument("--digits", nargs="+", type=int, default=list(range(10)))
    parser.add_argument("--data", nargs="+", default=["digits"],
                        help="datamodule and its options, e.g. --data mnist --data.root data (default: digits)")
    parser.add_argument("--epochs", type=int, default=30, help="training epochs on the ~400 images of one digit")
    parser.add_argument("--model-args", nargs=argparse.REMAINDER, default=[],
                        help="further --model.* options, e.g. --model-args --model.architecture conv (last)")
    args = parser.parse_args()
    table: dict[str, dict[int, tuple[float, float, float]]] = {score: {} for score in args.scores}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for digit in args.digits:
            for score in args.scores:
                run_dir = work / f"{score}_{digit}"
                zoo("fit", "--model", args.model, "--data", *args.data, "--data.normal_classes", f"[{digit}]",
                    "--model.score", score, *args.model_args, "--trainer.max_epochs", str(args.epochs),
                    "--trainer.default_root_dir", str(run_dir), "--fid.every_n_epochs", "0", cwd=work)
                checkpoint = next(run_dir.glob("**/last.ckpt"))
                stdout = zoo("score", "--ckpt", str(checkpoint), "--data", *args.data, "--split", "test",
                             "--normal-class", str(digit), "--out", str(run_dir / "scores.csv"), cwd=work)
                table[score][digit] = (metric(stdout, "AUROC"), metric(stdout, "AUPR"), metric(stdout, "F1 at"))
                print(f"digit {digit} score {score}: AUROC {table[score][digit][0]:.4f}  "
                      f"({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    extra = " ".join(args.model_args)
    print(f"\n{args.model} {extra}, {args.epochs} epochs per digit; "
          f"one-class AUROC on the test split of {' '.join(args.data)}\n")
    print("| score | " + " | ".join(str(digit) for digit in args.digits) + " | mean AUROC | mean AUPR | mean F1 |")
    print("|---" * (len(args.digits) + 4) + "|")
    for score, rows in table.items():
        aurocs = [rows[digit][0] for digit in args.digits]
        means = [sum(rows[digit][index] for digit in args.digits) / len(args.digits) for index in range(3)]
        print(f"| {score} | " + " | ".join(f"{value:.3f}" for value in aurocs)
              + f" | **{means[0]:.3f}** | {means[1]:.3f} | {means[2]:.3f} |")
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
