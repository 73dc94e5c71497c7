"""What every run gets and what it is refused, decided once for every family and plugin alike.

Callbacks are attached to every run and switch on by interface (:func:`attach_callbacks`); the
strategy, progress bar and precision the Trainer resolved are adjusted for manual optimization
(:func:`adjust_trainer`); a run without a budget trains for its family's; a model/data pair whose
batches do not fit, or a ``--ckpt_path`` of another model, is refused in one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.cli import LightningArgumentParser

from zoo import registry
from zoo.anomaly import AnomalyThreshold
from zoo.callbacks import (
    CUDASettings,
    DistinctRankNoise,
    RunCheckpoint,
    RunSummary,
    SampleGridCallback,
    TranslationGridCallback,
)
from zoo.errors import ZooError
from zoo.guards import NonFiniteGuard
from zoo.interfaces import Generation, batch_kind_of, uses_manual_optimization
from zoo.metrics.fid_callback import FIDCallback
from zoo.training.arguments import class_of
from zoo.training.run_output import PredictionWriter

# --ckpt_path values that Lightning resolves itself rather than reading a file.
LIGHTNING_CKPT_PATHS = ("last", "best", "hpc", "registry")


def attach_callbacks(parser: LightningArgumentParser) -> None:
    """The callbacks of every run, each with its options (``--checkpoint.*``, ``--fid.*``, ...)."""
    # A `last.ckpt` in every run, also written when a fit is interrupted, so a resume loses nothing.
    parser.add_lightning_class_args(RunCheckpoint, "checkpoint")
    parser.set_defaults({"checkpoint.save_last": True})
    # Attached to every run; it switches on by interface (`sample` or `translate`), so a plugin gets it too.
    parser.add_lightning_class_args(FIDCallback, "fid")
    parser.add_lightning_class_args(SampleGridCallback, "samples")
    parser.add_lightning_class_args(TranslationGridCallback, "translations")
    # A NaN or Inf in a logged loss or a gradient stops the run, keeping the weights from before it.
    parser.add_lightning_class_args(NonFiniteGuard, "nan")
    parser.add_lightning_class_args(AnomalyThreshold, "anomaly")  # switches on by `anomaly_score`
    # TF32 matmuls and cuDNN's autotuner when the run trains on a GPU; nothing on the CPU.
    parser.add_lightning_class_args(CUDASettings, "gpu")
    # `zoo predict` writes what it predicts (Lightning's own predict keeps it only in memory); idle otherwise.
    parser.add_lightning_class_args(PredictionWriter, "predictions")


def adjust_trainer(trainer, model: Any) -> None:
    """What the zoo changes on the Trainer LightningCLI built: strategy, progress bar, warnings, two callbacks."""
    allow_unused_parameters(trainer, model)
    clip_gradients_by_hand(trainer, model)
    shard_each_network_apart(trainer, model)
    show_losses_without_per_step_syncs(trainer)
    warn_slow_cpu_bf16(trainer)
    trainer.callbacks += [DistinctRankNoise(), RunSummary()]


def check_batch_kinds(model_class: type, data_class: type) -> None:
    """Refuse a model/data pair whose batches do not fit, in one line that says what would."""
    needs, gives = batch_kind_of(model_class), batch_kind_of(data_class)
    if needs != gives:
        model_name = registry.display_name(model_class, "model")
        data_name = registry.display_name(data_class, "datamodule")
        raise ZooError(f"{model_name} needs {needs} data; {data_name} gives {gives}; "
                       f"try --data {registry.suggested_datamodule(model_name, needs)}")


def check_predicts(model_class: type) -> None:
    """``zoo predict`` needs a ``predict_step`` of the model's own: Lightning's default feeds the batch to ``forward``,
    which for a GAN is the generator, and fails deep inside torch on a batch of images."""
    import lightning as L

    if getattr(model_class, "predict_step", None) is not L.LightningModule.predict_step:
        return
    name = registry.display_name(model_class, "model")
    hint = ("`zoo sample --ckpt CHECKPOINT -n N --out FOLDER/` writes its samples"
            if issubclass(model_class, Generation) else "give a model that defines predict_step(batch, batch_idx)")
    raise ZooError(f"`zoo predict` runs a model's predict_step over data, and {name} has none; {hint}")


def check_trainer_arguments(trainer_config: Any) -> None:
    """Trainer arguments Lightning takes unchecked and later divides by (a ZeroDivisionError deep in its loops)."""
    for name in ("accumulate_grad_batches", "check_val_every_n_epoch"):
        value = trainer_config.get(name)
        if value is not None and value < 1:
            raise ZooError(f"--trainer.{name} must be at least 1, got {value}")
    interval = trainer_config.get("val_check_interval")
    if interval is not None and not isinstance(interval, str) and interval <= 0:
        raise ZooError(f"--trainer.val_check_interval must be > 0 (a fraction of an epoch, or a number of batches), "
                       f"got {interval}")


def apply_default_budget(trainer_config: Any, model_class: type) -> None:
    """With no budget given, ``zoo fit`` trains for the family's documented budget, not Lightning's 1,000 epochs.

    The budget is the ``budget`` of the model's registry entry (a plugin's ``budget`` class
    attribute). Any of ``max_epochs``, ``max_steps`` or ``max_time``, from a flag or a config
    file, wins; the line printed names the budget used and how to change it.
    """
    if (trainer_config.get("max_epochs") is not None or trainer_config.get("max_steps") not in (None, -1)
            or trainer_config.get("max_time") is not None or trainer_config.get("fast_dev_run")):
        return  # fast_dev_run is a budget of its own: a batch of each loop
    name = registry.name_of(model_class, "model")
    budget = registry.entries("model")[name].metadata.get("budget") if name else None
    if not isinstance(budget, dict) or not budget:
        return
    for key, value in budget.items():
        trainer_config[key] = value
    from lightning.pytorch.utilities import rank_zero_info

    used = ", ".join(f"{key} {value}" for key, value in budget.items())
    rank_zero_info(f"zoo: no budget given; training {name} for its default {used} (registry.yaml); "
                   "--trainer.max_epochs or --trainer.max_steps sets another")


def check_ckpt_path(config: Any) -> None:
    """``--ckpt_path`` names a readable checkpoint of the model being run, from a zoo that knows its hyper-parameters.

    The class path a checkpoint names is compared as text and never imported here (a checkpoint is a file from
    anywhere); the hyper-parameters are checked against the class the user asked for, or a registered one.
    """
    from zoo.checkpoints import check_hyperparameters, read_checkpoint

    ckpt_path = str(config.get("ckpt_path") or "")
    if not ckpt_path or ckpt_path in LIGHTNING_CKPT_PATHS or ckpt_path.startswith("registry:") or "://" in ckpt_path:
        return
    checkpoint = read_checkpoint(Path(ckpt_path).expanduser())
    stored = checkpoint.get("hyper_parameters", {}).get("_class_path")
    if stored is None:  # saved through the Python API: Lightning loads it into the model given
        return
    registered = {entry.target.replace(":", "."): entry for entry in registry.entries("model").values()}
    stored_name = registered[stored].name if stored in registered else stored
    asked = class_of(config, "model")
    if asked is not None and registry.class_path_of(asked) != stored:
        asked_name = registry.display_name(asked, "model")
        raise ZooError(f"--ckpt_path {ckpt_path} holds a {stored_name} checkpoint, but --model is {asked_name}; "
                       f"give a {asked_name} checkpoint, or --model {stored_name}")
    model_class = asked or (registered[stored].load() if stored in registered else None)
    if model_class is not None:
        check_hyperparameters(model_class, checkpoint, Path(ckpt_path))


def cpu_has_bf16_units() -> bool | None:
    """True when the CPU has bf16 matrix instructions (AVX512-BF16 or AMX), None where /proc/cpuinfo is missing."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    return any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))


def warn_slow_cpu_bf16(trainer) -> None:
    """bf16 on a CPU without bf16 units is emulated: far slower than 32-bit, which a user would not guess."""
    from lightning.pytorch.accelerators import CPUAccelerator
    from lightning.pytorch.utilities import rank_zero_warn

    if (isinstance(trainer.accelerator, CPUAccelerator) and str(trainer.precision).startswith("bf16")
            and cpu_has_bf16_units() is False):
        rank_zero_warn(
            f"--trainer.precision {trainer.precision} on a CPU without bf16 units (no avx512_bf16 or amx_bf16 in "
            "/proc/cpuinfo) is emulated: a DCGAN step measured 0.05x the speed of 32-true on such a CPU (AVX2 only), "
            "against 1.53x on one with AVX512-BF16 (benchmarks/dcgan_throughput.py); --trainer.precision 32-true "
            "is the fast choice here")


def allow_unused_parameters(trainer, model: Any) -> None:
    """Give a manual-optimization model DDP's unused-parameter search, whatever picked DDP.

    Manual-optimization GANs run the discriminator and generator in separate backward
    passes, so each pass leaves the other network's parameters without gradients and plain
    DDP aborts ("parameters that were not used in producing the loss", Lightning #20328).
    DDP's unused-parameter search is the documented remedy. The choice is made on the
    strategy the Trainer resolved, so every way of getting DDP is covered alike: no strategy
    flag (``auto`` picks DDP for several devices or nodes, under torchrun or SLURM too),
    ``ddp``, ``ddp_spawn`` or a ``DDPStrategy`` from a config. The wrapper is built when the
    fit starts, after this. FSDP and single-device strategies are left alone.
    """
    from lightning.pytorch.strategies import DDPStrategy

    if uses_manual_optimization(model) and isinstance(trainer.strategy, DDPStrategy):
        # DDPStrategy keeps the DistributedDataParallel arguments here and has no public setter.
        trainer.strategy._ddp_kwargs["find_unused_parameters"] = True


def clip_gradients_by_hand(trainer, model: Any) -> None:
    """``--trainer.gradient_clip_val`` on a manual-optimization family: clipped by the zoo, not refused by Lightning.

    Lightning's own clipping runs only under automatic optimization, and its check of the Trainer
    stops such a fit with a traceback; the value moves to :class:`ClipGradientsByHand`.
    """
    if not uses_manual_optimization(model) or not trainer.gradient_clip_val:
        return
    from lightning.pytorch.strategies import FSDPStrategy

    from zoo.manual_optimization import ClipGradientsByHand

    # Lightning keeps the algorithm as its GradClipAlgorithmType, a str enum whose value is "norm" or "value".
    value, algorithm = trainer.gradient_clip_val, getattr(trainer.gradient_clip_algorithm, "value", None) or "norm"
    if isinstance(trainer.strategy, FSDPStrategy) and algorithm == "norm":
        # Lightning's FSDPPrecision cannot clip by norm; it would say so from inside the first step.
        raise ZooError(f"--trainer.gradient_clip_val {value} clips by norm, which Lightning does not support under "
                       "FSDP; add --trainer.gradient_clip_algorithm value, or train without FSDP")
    trainer.gradient_clip_val = trainer.gradient_clip_algorithm = None
    trainer.callbacks.append(ClipGradientsByHand(value, algorithm))


def shard_each_network_apart(trainer, model: Any) -> None:
    """Give a manual-optimization model one FSDP root per network when the strategy is Lightning's ``FSDPStrategy``.

    Under one root for the whole LightningModule its checkpoint cannot be saved (``zoo.sharding`` says why). The
    Trainer has resolved and set up the strategy already; the subclass changes only how the model is wrapped, so
    the object changes class. From the Python API pass ``zoo.sharding.NetworkFSDPStrategy``.
    """
    from lightning.pytorch.strategies import FSDPStrategy

    from zoo.sharding import NetworkFSDPStrategy

    if uses_manual_optimization(model) and type(trainer.strategy) is FSDPStrategy:
        trainer.strategy.__class__ = NetworkFSDPStrategy


def show_losses_without_per_step_syncs(trainer) -> None:
    """Lightning's default progress bar, made one that shows the training losses without a host sync per step.

    The bar was built by the Trainer with the user's settings; the subclass adds only when it reads the losses
    (``zoo.callbacks.LossProgressBar``), so the object changes class. A bar of another class is left alone.
    """
    from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar

    from zoo.callbacks import LossProgressBar, LossRichProgressBar

    bar = trainer.progress_bar_callback
    loss_bars = {TQDMProgressBar: LossProgressBar, RichProgressBar: LossRichProgressBar}
    if type(bar) in loss_bars:
        bar.__class__ = loss_bars[type(bar)]
