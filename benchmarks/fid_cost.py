"""What validation FID costs against training, per family on the embedded digits, through ``zoo fit``.

Each family trains ``--epochs`` epochs in-process through the zoo's CLI with the given ``--fid.*``
flags (none: the defaults); the time spent inside the FID callback (real statistics, sampling,
features, FID and KID) is clocked apart from the training epochs (batches, without validation).
FID runs every epoch here (``--fid.every_n_epochs 1``, after any ``--fid-flags``) so each epoch
has one to clock. Prints, per family, the median training epoch, the first FID (which also
extracts the real statistics, once per run: the last column counts those passes), a later FID,
and the share of training + FID time that FID takes when it runs every epoch and every
``--every`` epochs (the default of ``--fid.every_n_epochs``).

    python benchmarks/fid_cost.py                                    # defaults of --fid.*
    python benchmarks/fid_cost.py --fid-flags --fid.num_samples 500  # another setting
    python benchmarks/fid_cost.py --families vae dcgan --epochs 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from throughput import build_cli, silenced, write_digit_domains  # noqa: E402

FAMILIES = ("vae", "gan", "dcgan", "wgan", "wgan_gp", "pix2pix", "cyclegan")
DEFAULT_FAMILIES = ("vae", "gan", "dcgan", "wgan_gp", "pix2pix")  # cyclegan: minutes per epoch here


def data_flags(family: str, root: Path) -> list[str]:
    if family == "pix2pix":
        return ["--data", "super_resolution", "--data.num_workers", "0"]
    if family == "cyclegan":
        return ["--data", "unpaired", "--data.root", str(write_digit_domains(root)), "--data.image_size", "28",
                "--data.channels", "1", "--data.flip", "false", "--data.batch_size", "16", "--data.num_workers", "0"]
    return ["--data", "digits"]


def clocked(callback, names: tuple[str, ...], spent: list[float]) -> None:
    """Add the wall time of each named hook of ``callback`` to ``spent[-1]``."""
    for name in names:
        hook = getattr(callback, name)

        def timed(*args, _hook=hook, **kwargs):
            started = time.perf_counter()
            try:
                return _hook(*args, **kwargs)
            finally:
                spent[-1] += time.perf_counter() - started

        setattr(callback, name, timed)


def measure(family: str, root: Path, epochs: int, limit_batches: int | None, fid_flags: list[str]) -> dict:
    import lightning as L

    from zoo.metrics.fid_callback import FIDCallback

    flags = ["--model", family, *data_flags(family, root), "--trainer.max_epochs", str(epochs),
             "--trainer.default_root_dir", str(root / "runs"), "--trainer.num_sanity_val_steps", "0",
             "--fid.every_n_epochs", "1", *fid_flags]
    if limit_batches:
        flags += ["--trainer.limit_train_batches", str(limit_batches)]
    cli = build_cli(flags)
    fid = next(callback for callback in cli.trainer.callbacks if isinstance(callback, FIDCallback))
    fid_seconds: list[float] = []
    clocked(fid, ("on_validation_epoch_start", "on_validation_batch_end", "on_validation_epoch_end"), fid_seconds)

    class EpochClock(L.Callback):
        def __init__(self) -> None:
            self.epochs: list[float] = []

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self.started = time.perf_counter()
            fid_seconds.append(0.0)

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            self.epochs.append(time.perf_counter() - self.started)

    clock = EpochClock()
    cli.trainer.callbacks.append(clock)
    with silenced():
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    # on_train_epoch_end runs after the epoch's validation: take validation's FID time out of it.
    training = [epoch - (seconds if seconds else 0.0) for epoch, seconds in zip(clock.epochs, fid_seconds)]
    computed = [seconds for seconds in fid_seconds if seconds > 0.01]
    return {"epoch": statistics.median(training), "fid": computed,
            "passes": fid.real_statistics_passes,
            "batches": cli.trainer.num_training_batches}


def default_every_n_epochs() -> int:
    import inspect

    from zoo.metrics.fid_callback import FIDCallback

    return inspect.signature(FIDCallback).parameters["every_n_epochs"].default


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", default=list(DEFAULT_FAMILIES), choices=FAMILIES)
    parser.add_argument("--every", type=int, default=default_every_n_epochs(), help="the share at every n-th epoch")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit-batches", type=int, default=None,
                        help="training batches per epoch (a smaller budget; FID's share then reads high)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--fid-flags", nargs=argparse.REMAINDER, default=[],
                        help="--fid.* flags of zoo fit (last on the line)")
    args = parser.parse_args(argv)
    import warnings

    warnings.filterwarnings("ignore")
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); fid flags: "
          f"{' '.join(args.fid_flags) or '(defaults)'}; {args.epochs} epochs")
    print(f"{'family':<10} {'batches':>7} {'train s/epoch':>14} {'1st FID s':>10} {'later FID s':>12} "
          f"{'FID/epoch':>10} {'share, every epoch':>19} {f'share, every {args.every}':>16} {'real passes':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families:
            result = measure(family, Path(tmp), args.epochs, args.limit_batches, args.fid_flags)
            first = result["fid"][0] if result["fid"] else 0.0
            later = statistics.median(result["fid"][1:]) if len(result["fid"]) > 1 else float("nan")
            fid = later if later == later else first
            print(f"{family:<10} {result['batches']:>7} {result['epoch']:14.2f} {first:10.2f} {later:12.2f} "
                  f"{fid / result['epoch']:10.2f} {fid / (fid + result['epoch']):19.1%} "
                  f"{fid / (fid + args.every * result['epoch']):16.1%} {result['passes']:>12}")
    print(f"\n(python benchmarks/fid_cost.py {' '.join(sys.argv[1:] if argv is None else argv)})")


if __name__ == "__main__":
    main()
