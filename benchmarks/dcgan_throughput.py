"""DCGAN training throughput on the embedded digits: fp32 against bf16-mixed, NHWC against NCHW, in one process.

Times ``--steps`` training batches of the real :class:`zoo.models.dcgan.DCGAN` LightningModule
(discriminator + generator update per batch) under ``lightning.Trainer`` after ``--warmup``
batches, for every precision x memory format, ``--repeats`` times interleaved so a busy machine
hurts all alike; prints images/s (median over repeats) and ratios against fp32 NCHW.

    python benchmarks/dcgan_throughput.py                        # all four settings
    python benchmarks/dcgan_throughput.py --precisions 32-true   # memory formats only
"""

from __future__ import annotations

import argparse
import statistics
import time

import lightning as L
import torch

from zoo.data.digits import DigitsDataModule
from zoo.models.dcgan import DCGAN


class _BatchTimer(L.Callback):
    """Wall time from the start of batch ``warmup`` to the end of the last batch."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.started = self.finished = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if batch_idx == self.warmup:
            self.started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.finished = time.perf_counter()


def images_per_second(precision: str, steps: int, warmup: int, batch_size: int, memory_format: str,
                      accelerator: str = "cpu") -> float:
    L.seed_everything(0, verbose=False)
    model = DCGAN(image_shape=(1, 28, 28), channels_last=memory_format == "channels_last")
    timer = _BatchTimer(warmup)
    trainer = L.Trainer(
        accelerator=accelerator, devices=1, precision=precision, max_steps=warmup + steps, limit_val_batches=0,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[timer],
    )
    trainer.fit(model, datamodule=DigitsDataModule(batch_size=batch_size))
    return steps * batch_size / (timer.finished - timer.started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="timed batches per run")
    parser.add_argument("--warmup", type=int, default=5, help="untimed batches first (allocator, oneDNN kernels)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--accelerator", default="cpu", help="cpu or gpu")
    parser.add_argument("--precisions", nargs="+", default=["32-true", "bf16-mixed"])
    parser.add_argument("--memory-formats", nargs="+", choices=["contiguous", "channels_last"],
                        default=["contiguous", "channels_last"])
    args = parser.parse_args()
    settings = [(precision, memory_format) for precision in args.precisions for memory_format in args.memory_formats]
    results: dict[tuple[str, str], list[float]] = {setting: [] for setting in settings}
    for _ in range(args.repeats):
        for precision, memory_format in settings:
            results[precision, memory_format].append(
                images_per_second(precision, args.steps, args.warmup, args.batch_size, memory_format,
                                  args.accelerator))
    medians = {setting: statistics.median(runs) for setting, runs in results.items()}
    baseline = medians[settings[0]]
    device = torch.cuda.get_device_name() if args.accelerator == "gpu" else f"{torch.get_num_threads()} CPU threads"
    print(f"torch {torch.__version__}, {device}, batch {args.batch_size}, "
          f"{args.steps} timed steps x {args.repeats} repeats; ratios against {' '.join(settings[0])}")
    for (precision, memory_format), runs in results.items():
        print(f"{precision:>11} {memory_format:>13}: {medians[precision, memory_format]:8.1f} images/s  "
              f"{medians[precision, memory_format] / baseline:5.2f}x  (runs: {', '.join(f'{r:.1f}' for r in runs)})")


if __name__ == "__main__":
    main()
