"""What the zoo costs over a plain PyTorch loop: training images/s, per-epoch cost of a tiny model, start-up.

Three measurements, each against its baseline in the same process (the machine may be shared:
zoo and plain runs alternate, ``--repeats`` times, and the table shows medians):

1. **steady state**: images/s over ``--steps`` training batches after ``--warmup``, for each
   family through ``zoo fit`` as a user gets it (the zoo's LightningCLI in-process: its
   callbacks, CSV logging, checkpointing, progress bar), against a plain loop that calls the
   very same ``training_step`` on the very same network, optimizers and dataset through a
   ``torch.utils.data.DataLoader``, with Lightning's machinery replaced by the plain PyTorch
   calls it stands for (``loss.backward()``, ``optimizer.step()``, ``requires_grad`` toggles).
   A third column trains the same model and data with a bare ``lightning.Trainer`` (no logger,
   checkpoint, progress bar, summary or zoo callback): Lightning's own per-step cost, so that
   zoo/plain splits into what Lightning costs (lightning/plain) and what the zoo adds (zoo/lightning).
2. **per epoch**: the default ``autoencoder`` on ~360 PNG images of one digit (``--data
   folder``, the one-class use) or on ``digits``; median seconds per epoch of ``zoo fit``
   (validation, logging, checkpoints, progress bar included) against the plain loop's epoch
   (training batches plus a no-grad pass over the same validation images).
3. **start-up**: wall time of ``zoo fit`` for one epoch in a fresh process and of ``zoo --help``,
   against ``python -c "import torch"``.

    python benchmarks/throughput.py                          # every family, all three parts
    python benchmarks/throughput.py --quick                  # a smaller budget (CI, a smoke test)
    python benchmarks/throughput.py --families dcgan --parts steady \\
        --precisions 32-true bf16-mixed --memory-formats contiguous channels_last   # the precision table
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

FAMILIES = ("autoencoder", "vae", "dcgan", "wgan_gp", "pix2pix", "cyclegan")
# The families with a ``channels_last`` switch (on by default); the others train NCHW.
CHANNELS_LAST_FAMILIES = ("dcgan", "wgan", "wgan_gp")


def data_flags(family: str, root: Path, batch_size: int) -> list[str]:
    """The data each family trains on here: digits, digits-made super-resolution pairs, two digit domains."""
    if family == "pix2pix":
        return ["--data", "super_resolution", "--data.batch_size", str(batch_size), "--data.num_workers", "0"]
    if family == "cyclegan":
        return ["--data", "unpaired", "--data.root", str(write_digit_domains(root)), "--data.image_size", "28",
                "--data.channels", "1", "--data.flip", "false", "--data.batch_size", str(batch_size),
                "--data.num_workers", "0"]
    return ["--data", "digits", "--data.batch_size", str(batch_size)]


def _save_digits(folder: Path, images, prefix: str = "") -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        Image.fromarray((image[0] * 255).round().byte().numpy(), mode="L").save(folder / f"{prefix}{index:04d}.png")


def write_digit_domains(root: Path) -> Path:
    """CycleGAN's layout from the embedded digits: domain A the digits 0-4, domain B 5-9."""
    folder = root / "digit_domains"
    if not folder.is_dir():
        import torch

        from zoo.data.digits import load_digits_tensors

        images, labels = load_digits_tensors()
        held_out = torch.arange(len(images)) % 20 == 0  # the file is sorted by label: every 20th digit for test
        for split, part in (("train", ~held_out), ("test", held_out)):
            _save_digits(folder / f"{split}A", images[part & (labels < 5)])
            _save_digits(folder / f"{split}B", images[part & (labels >= 5)])
    return folder


def write_one_digit_folder(root: Path, digit: int = 3) -> Path:
    """Every embedded image of one digit as PNGs (450 here: ~360 train, 45 val, 45 test)."""
    folder = root / f"digit_{digit}"
    if not folder.is_dir():
        from zoo.data.digits import load_digits_tensors

        images, labels = load_digits_tensors()
        _save_digits(folder, images[labels == digit][:450])
    return folder


@contextlib.contextmanager
def silenced():
    """The progress bar and info lines still run (a user pays for them), written nowhere.

    At the level of file descriptors: Lightning's log handlers hold the original ``sys.stderr``.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for descriptor in (*saved, devnull):
            os.close(descriptor)


def build_cli(argv: list[str]):
    from zoo.training.cli import run_cli

    with silenced():
        return run_cli(argv, run=False)


# ---------------------------------------------------------------- the plain loop


def _optimizers(model) -> list:
    """The optimizers ``configure_optimizers`` returns, in order, whatever shape it returns them in."""
    import torch

    configured = model.configure_optimizers()
    if isinstance(configured, torch.optim.Optimizer):
        return [configured]
    if isinstance(configured, dict):
        return [configured["optimizer"]]
    if isinstance(configured, tuple) and len(configured) == 2 and isinstance(configured[0], list):
        configured = configured[0]  # (optimizers, schedulers)
    return [entry["optimizer"] if isinstance(entry, dict) else entry for entry in configured]


def make_plain(model, precision: str = "32-true"):
    """Detach ``model`` from Lightning: each hook it calls becomes the plain PyTorch call it stands for."""
    import torch

    optimizers = _optimizers(model)
    for optimizer in optimizers:
        optimizer.optimizer = optimizer  # what LightningOptimizer wraps, for step_uncounted
    batch_counter = SimpleNamespace(total_batch_idx=0)

    def optimizer_step(optimizer, closure=None):
        optimizer.step()

    @contextlib.contextmanager
    def toggled(optimizer):
        # Lightning's toggle: parameters of the other optimizers get no gradients in this backward pass.
        own = {id(p) for group in optimizer.param_groups for p in group["params"]}
        frozen = [p for other in optimizers if other is not optimizer for group in other.param_groups
                  for p in group["params"] if id(p) not in own and p.requires_grad]
        for parameter in frozen:
            parameter.requires_grad_(False)
        try:
            yield
        finally:
            for parameter in frozen:
                parameter.requires_grad_(True)

    precision_plugin = SimpleNamespace(scaler=None, forward_context=contextlib.nullcontext,
                                       val_step_context=contextlib.nullcontext)
    model._trainer = SimpleNamespace(
        world_size=1, global_rank=0, precision_plugin=precision_plugin,
        strategy=SimpleNamespace(optimizer_step=optimizer_step),
        fit_loop=SimpleNamespace(epoch_loop=batch_counter), current_epoch=0, global_step=0,
    )
    model.optimizers = lambda use_pl_optimizer=True: optimizers if len(optimizers) > 1 else optimizers[0]
    model.manual_backward = lambda loss, *args, **kwargs: loss.backward()
    model.toggled_optimizer = toggled
    model.log = lambda *args, **kwargs: None
    model.log_dict = lambda *args, **kwargs: None
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)

    def step(batch, batch_idx: int) -> None:
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            loss = model.training_step(batch, batch_idx)
        if model.automatic_optimization:
            optimizers[0].zero_grad()
            loss.backward()
            optimizers[0].step()
        batch_counter.total_batch_idx += 1

    return step


def plain_loader(dataset, batch_size: int, shuffle: bool, num_workers: int = 0):
    from torch.utils.data import DataLoader

    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=shuffle and len(dataset) > batch_size,
                      num_workers=num_workers, persistent_workers=num_workers > 0)


# ---------------------------------------------------------------- 1. steady state


def images_per_second(timed: int, steps: int, batch_size: int, seconds: float) -> float:
    """The rate over the batches actually timed: an epoch shorter than warmup + steps ends the run early."""
    if timed < steps:  # counting `steps` over fewer batches would overstate the rate
        raise SystemExit(f"the epoch ended after {timed} timed batches, not --steps {steps}: "
                         "lower --steps, --warmup or --batch-size")
    return timed * batch_size / seconds


def _timer(warmup: int):
    import lightning as L

    class BatchTimer(L.Callback):
        """Wall time from the start of batch ``warmup`` to the end of the last batch, and how many were timed."""

        started = finished = 0.0
        timed = 0

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
            if batch_idx == warmup:
                self.started = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
            self.finished = time.perf_counter()
            self.timed += batch_idx >= warmup

        def rate(self, steps: int, batch_size: int) -> float:
            return images_per_second(self.timed, steps, batch_size, self.finished - self.started)

    return BatchTimer()


def fit_flags(family: str, root: Path, batch_size: int, precision: str, memory_format: str) -> list[str]:
    flags = ["--model", family, *data_flags(family, root, batch_size),
             "--trainer.default_root_dir", str(root / "runs"), "--trainer.precision", precision]
    if family in CHANNELS_LAST_FAMILIES:
        flags += ["--model.channels_last", str(memory_format == "channels_last").lower()]
    return flags


def zoo_steady(family: str, root: Path, steps: int, warmup: int, batch_size: int, precision: str,
               memory_format: str) -> float:
    cli = build_cli([*fit_flags(family, root, batch_size, precision, memory_format), "--trainer.max_epochs", "1",
                     "--trainer.limit_train_batches", str(warmup + steps)])
    timer = _timer(warmup)
    cli.trainer.callbacks.append(timer)
    with silenced():
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return timer.rate(steps, batch_size)


def lightning_steady(family: str, root: Path, steps: int, warmup: int, batch_size: int, precision: str,
                     memory_format: str) -> float:
    """The zoo's model and data under a bare ``lightning.Trainer``: Lightning's loop and ``self.log``, nothing else."""
    import lightning as L

    cli = build_cli(fit_flags(family, root, batch_size, precision, memory_format))
    timer = _timer(warmup)
    with silenced():  # its "GPU available" lines
        trainer = L.Trainer(accelerator="cpu", devices=1, precision=precision, max_epochs=1,
                            limit_train_batches=warmup + steps, limit_val_batches=0, num_sanity_val_steps=0,
                            logger=False, enable_checkpointing=False, enable_progress_bar=False,
                            enable_model_summary=False, callbacks=[timer], default_root_dir=str(root / "bare"))
        trainer.fit(cli.model, datamodule=cli.datamodule)
    return timer.rate(steps, batch_size)


def plain_steady(family: str, root: Path, steps: int, warmup: int, batch_size: int, precision: str,
                 memory_format: str) -> float:
    cli = build_cli(fit_flags(family, root, batch_size, precision, memory_format))
    model, data = cli.model, cli.datamodule
    data.setup("fit")
    step = make_plain(model, precision)
    model.train()
    started, timed = 0.0, 0
    for batch_idx, batch in enumerate(plain_loader(data.train_set, batch_size, shuffle=True,
                                                   num_workers=data.num_workers)):
        if batch_idx == warmup:
            started = time.perf_counter()
        step(batch, batch_idx)
        timed += batch_idx >= warmup
        if batch_idx + 1 == warmup + steps:
            break
    return images_per_second(timed, steps, batch_size, time.perf_counter() - started)


# ---------------------------------------------------------------- 2. per epoch


def _epoch_clock():
    import lightning as L

    class EpochClock(L.Callback):
        """The time at the start of every training epoch and at the end of the fit."""

        def __init__(self) -> None:
            self.times: list[float] = []

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self.times.append(time.perf_counter())

        def on_train_end(self, trainer, pl_module) -> None:
            self.times.append(time.perf_counter())

    return EpochClock()


def epoch_flags(data: str, root: Path) -> list[str]:
    if data == "folder":
        return ["--data", "folder", "--data.root", str(write_one_digit_folder(root)), "--data.channels", "1",
                "--data.image_size", "28"]
    return ["--data", "digits"]


def zoo_epoch(data: str, root: Path, epochs: int) -> float:
    """Median seconds from one epoch's start to the next's (the last: to the end of training, its checkpoint)."""
    cli = build_cli(["--model", "autoencoder", *epoch_flags(data, root), "--trainer.max_epochs", str(epochs),
                     "--trainer.default_root_dir", str(root / "runs")])
    clock = _epoch_clock()
    cli.trainer.callbacks.append(clock)
    with silenced():
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    intervals = [after - before for before, after in zip(clock.times, clock.times[1:])]
    return statistics.median(intervals[1:])  # the first epoch also starts the loaders' workers


def plain_epoch(data: str, root: Path, epochs: int) -> float:
    import torch

    cli = build_cli(["--model", "autoencoder", *epoch_flags(data, root)])
    model, datamodule = cli.model, cli.datamodule
    datamodule.setup("fit")
    step = make_plain(model)
    batch_size, workers = datamodule.batch_size, datamodule.num_workers
    train = plain_loader(datamodule.train_set, batch_size, shuffle=True, num_workers=workers)
    val = plain_loader(datamodule.val_set, batch_size, shuffle=False, num_workers=workers)
    times = []
    for _ in range(epochs):
        times.append(time.perf_counter())
        model.train()
        for batch_idx, batch in enumerate(train):
            step(batch, batch_idx)
        model.eval()
        with torch.no_grad():
            for batch in val:
                model.validation_step(batch, 0)
    times.append(time.perf_counter())
    return statistics.median([after - before for before, after in zip(times, times[1:])][1:])


# ---------------------------------------------------------------- 3. start-up


def wall_time(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                            env={**os.environ, "ZOO_QUIET": "1", "PYTHONWARNINGS": "ignore"})
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def startup_times(root: Path) -> dict[str, float]:
    python = sys.executable
    return {
        'python -c "import torch"': wall_time([python, "-c", "import torch"], root),
        "zoo --help": wall_time([python, "-m", "zoo.cli", "--help"], root),
        "zoo fit --model autoencoder --data digits, 1 epoch": wall_time(
            [python, "-m", "zoo.cli", "fit", "--model", "autoencoder", "--data", "digits", "--trainer.max_epochs", "1",
             "--trainer.default_root_dir", str(root / "runs")], root),
    }


# ---------------------------------------------------------------- the table


def interleaved(measure_pairs, repeats: int, report=None) -> list[list[float]]:
    """Run each tuple of measurements (zoo, ..., plain) alternately, ``repeats`` times; per tuple, the runs of each
    side in the order of the repeats.

    ``report(index, runs)`` prints each tuple's row as soon as its last repeat is in.
    """
    runs = [[[] for _ in pair] for pair in measure_pairs]
    for repeat in range(repeats):
        for index, pair in enumerate(measure_pairs):
            # Each repeat starts with another side, so no side always runs first (after the previous tuple's
            # last run, with caches and the allocator in another state).
            for side in [(repeat + offset) % len(pair) for offset in range(len(pair))]:
                runs[index][side].append(pair[side]())
            if report is not None and repeat == repeats - 1:
                report(index, runs[index])
    return runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--parts", nargs="+", default=["steady", "epoch", "startup"],
                        choices=["steady", "epoch", "startup"])
    parser.add_argument("--steps", type=int, default=50,
                        help="timed training batches per steady-state run, within one epoch (digits: 62 of 64)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed batches first (allocator, oneDNN kernels)")
    parser.add_argument("--batch-size", type=int, default=64, help="steady state (translation families: a quarter)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=12, help="epochs of the per-epoch runs (the first is not timed)")
    parser.add_argument("--epoch-data", nargs="+", default=["folder", "digits"], choices=["folder", "digits"])
    parser.add_argument("--precisions", nargs="+", default=["32-true"],
                        help="steady state under each: 32-true, bf16-mixed, 16-mixed")
    parser.add_argument("--memory-formats", nargs="+", default=["contiguous"], choices=["contiguous", "channels_last"])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (1: steadier numbers on a shared machine; 0: torch's default)")
    parser.add_argument("--quick", action="store_true", help="a small budget: 2 families, 8 steps, 1 repeat, 4 epochs")
    args = parser.parse_args(argv)
    if args.quick:
        args.families = [family for family in args.families if family in ("autoencoder", "dcgan")] or args.families[:1]
        args.steps, args.warmup, args.repeats, args.epochs = 8, 2, 1, 4
        args.epoch_data = args.epoch_data[:1]
    import warnings

    warnings.filterwarnings("ignore")
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("WANDB_MODE", "offline")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads ({os.cpu_count()} cores); "
              f"medians of {args.repeats} interleaved repeat(s)")
        if "steady" in args.parts:
            settings = [(family, precision, memory_format) for family in args.families
                        for precision in args.precisions for memory_format in args.memory_formats
                        if memory_format == "contiguous" or family in CHANNELS_LAST_FAMILIES]
            pairs = []
            for family, precision, memory_format in settings:
                batch = max(1, args.batch_size // 4) if family in ("pix2pix", "cyclegan") else args.batch_size
                arguments = (family, root, args.steps, args.warmup, batch, precision, memory_format)
                pairs.append((lambda a=arguments: zoo_steady(*a), lambda a=arguments: plain_steady(*a),
                              lambda a=arguments: lightning_steady(*a)))
            print(f"\n1. steady state: training images/s, {args.steps} batches after {args.warmup}; "
                  "zoo fit in-process vs the plain loop (same training_step, network, optimizers, data) "
                  "and vs a bare lightning.Trainer; ratios are medians of each repeat's ratio")
            print(f"{'family':<12} {'precision':<11} {'layout':<13} {'zoo img/s':>10} {'plain img/s':>12} "
                  f"{'zoo/plain':>10} {'vs first row of family (zoo)':>29} {'lightning/plain':>16} "
                  f"{'zoo/lightning':>14}", flush=True)
            baselines: dict[str, float] = {}

            def report(index: int, pair_runs: list[list[float]]) -> None:
                family, precision, memory_format = settings[index]
                zoo_rate, plain_rate, lightning_rate = (statistics.median(runs) for runs in pair_runs)
                baselines.setdefault(family, zoo_rate)
                # Ratios of the runs taken one after the other (the same repeat), then their median: a slow
                # moment of a shared machine slows both sides of a pair, where medians of each side would mix them.
                zoo_runs, plain_runs, lightning_runs = pair_runs
                zoo_plain, lightning_plain, zoo_lightning = (
                    statistics.median(a / b for a, b in zip(top, bottom, strict=True))
                    for top, bottom in ((zoo_runs, plain_runs), (lightning_runs, plain_runs),
                                        (zoo_runs, lightning_runs)))
                print(f"{family:<12} {precision:<11} {memory_format:<13} {zoo_rate:10.1f} {plain_rate:12.1f} "
                      f"{zoo_plain:10.3f} {zoo_rate / baselines[family]:28.2f}x "
                      f"{lightning_plain:16.3f} {zoo_lightning:14.3f}", flush=True)

            interleaved(pairs, args.repeats, report)
        if "epoch" in args.parts:
            pairs = [(lambda d=data: zoo_epoch(d, root, args.epochs), lambda d=data: plain_epoch(d, root, args.epochs))
                     for data in args.epoch_data]
            runs = interleaved(pairs, args.repeats)
            print(f"\n2. per epoch: default autoencoder, median s/epoch over epochs 2-{args.epochs} "
                  "(zoo: validation, logging, checkpoint, progress bar; plain: train + a no-grad val pass)")
            print(f"{'data':<40} {'zoo s/epoch':>12} {'plain s/epoch':>14} {'zoo/plain':>10}")
            for data, (zoo_runs, plain_runs) in zip(args.epoch_data, runs):
                label = "folder: 450 PNGs of digit 3 (360 train)" if data == "folder" else "digits (4,000 train)"
                zoo_time, plain_time = statistics.median(zoo_runs), statistics.median(plain_runs)
                print(f"{label:<40} {zoo_time:12.4f} {plain_time:14.4f} {zoo_time / plain_time:10.2f}")
        if "startup" in args.parts:
            times = [startup_times(root) for _ in range(args.repeats)]
            print("\n3. start-up: wall time of a fresh process")
            baseline = statistics.median(run['python -c "import torch"'] for run in times)
            for key in times[0]:
                median = statistics.median(run[key] for run in times)
                print(f"{key:<55} {median:7.2f} s  ({median / baseline:4.1f}x import torch)")
    print(f"\n(python benchmarks/throughput.py {' '.join(sys.argv[1:] if argv is None else argv)})")


if __name__ == "__main__":
    main()
