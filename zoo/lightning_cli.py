"""LightningCLI, zoo-flavoured: registry names, shapes linked from data, strategies chosen for GANs.

Imported only by the training subcommands (``zoo fit/validate/test/predict``) and by code
that trains, so ``zoo list`` and ``zoo info`` start without importing Lightning.
"""

from __future__ import annotations

import logging
import shutil
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

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
from zoo.interfaces import batch_kind_of, uses_manual_optimization
from zoo.metrics.fid import FIDCallback

RUNS_DIR = "runs"


def _import_class(class_path: str) -> type:
    return registry.import_path(class_path)


def _option_values(argv: list[str], option: str) -> list[int]:
    """Indices in argv that hold the value of ``--option VALUE`` or ``--option=VALUE``."""
    indices = []
    for index, token in enumerate(argv):
        if token == option and index + 1 < len(argv):
            indices.append(index + 1)
        elif token.startswith(option + "="):
            indices.append(index)
    return indices


def resolve_names(argv: Sequence[str]) -> list[str]:
    """Rewrite ``--model NAME`` / ``--data NAME`` into class paths, failing clearly on unknown names."""
    argv = list(argv)
    for option, kind in (("--model", "model"), ("--data", "datamodule")):
        for index in _option_values(argv, option):
            token = argv[index]
            prefix, value = (option + "=", token[len(option) + 1 :]) if token.startswith(option + "=") else ("", token)
            if value.startswith("{") or value.endswith((".yaml", ".yml", ".json")):
                continue  # an inline or file config: LightningCLI reads it
            argv[index] = prefix + registry.resolve_class_path(kind, value)
    return argv


# Lightning's file loggers whose ``save_dir`` is a required argument.
_FILE_LOGGERS = ("CSVLogger", "TensorBoardLogger")


def _last_value(argv: list[str], option: str) -> str | None:
    indices = _option_values(argv, option)
    if not indices:
        return None
    token = argv[indices[-1]]
    return token[len(option) + 1 :] if token.startswith(option + "=") else token


def default_logger_folders(argv: Sequence[str]) -> list[str]:
    """Give ``--trainer.logger TensorBoardLogger`` (or ``CSVLogger``) the zoo's run folders.

    Both require ``save_dir``, so ``--trainer.logger TensorBoardLogger`` alone would be
    refused while parsing. Unless the user set them, the logger writes where the default
    CSV logger does: ``<default_root_dir or runs>/<model name>/version_N``. Rewritten
    before parsing because jsonargparse validates the logger's arguments there.
    """
    argv = list(argv)
    logger = _last_value(argv, "--trainer.logger")
    if logger is None or logger.rsplit(".", 1)[-1] not in _FILE_LOGGERS:
        return argv
    at = _option_values(argv, "--trainer.logger")[-1] + 1  # its own arguments must follow the class
    if _last_value(argv, "--trainer.logger.save_dir") is None:
        argv[at:at] = ["--trainer.logger.save_dir", _last_value(argv, "--trainer.default_root_dir") or RUNS_DIR]
    model = _last_value(argv, "--model")  # a class path by now, unless given as a config
    if _last_value(argv, "--trainer.logger.name") is None and model and "." in model and not (
        model.startswith("{") or model.endswith((".yaml", ".yml", ".json"))
    ):
        name = registry.name_of(_import_class(model), "model")
        if name:
            argv[at:at] = ["--trainer.logger.name", name]
    return argv


def import_registered_classes() -> None:
    """Import every working model and datamodule so LightningCLI resolves their short class names.

    Broken plugins are skipped here; they fail with their own message when named.
    """
    for kind in ("model", "datamodule"):
        for entry in registry.entries(kind).values():
            try:
                entry.load()
            except ZooError:
                pass


def _class_of(config: Any, key: str) -> type | None:
    section = config.get(key) if config is not None else None
    class_path = getattr(section, "class_path", None) if section is not None else None
    return _import_class(class_path) if class_path else None


def check_batch_kinds(model_class: type, data_class: type) -> None:
    """Refuse a model/data pair whose batches do not fit, in one line that says what would."""
    needs, gives = batch_kind_of(model_class), batch_kind_of(data_class)
    if needs != gives:
        model_name = registry.name_of(model_class, "model") or model_class.__name__
        data_name = registry.name_of(data_class, "datamodule") or data_class.__name__
        raise ZooError(f"{model_name} needs {needs} data; {data_name} gives {gives}; "
                       f"try --data {registry.suggested_datamodule(model_name, needs)}")


def apply_default_budget(trainer_config: Any, model_class: type) -> None:
    """With no budget given, ``zoo fit`` trains for the family's documented budget, not Lightning's 1,000 epochs.

    The budget is the ``budget`` of the model's registry entry (a plugin's ``budget`` class
    attribute). Any of ``max_epochs``, ``max_steps`` or ``max_time``, from a flag or a config
    file, wins; the line printed names the budget used and how to change it.
    """
    if (trainer_config.get("max_epochs") is not None or trainer_config.get("max_steps") not in (None, -1)
            or trainer_config.get("max_time") is not None):
        return
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


# --ckpt_path values that Lightning resolves itself rather than reading a file.
_LIGHTNING_CKPT_PATHS = ("last", "best", "hpc", "registry")


def check_ckpt_path(config: Any) -> None:
    """``--ckpt_path`` names a readable checkpoint of the model being run, from a zoo that knows its hyper-parameters.

    The class path a checkpoint names is compared as text and never imported here (a checkpoint is a file from
    anywhere); the hyper-parameters are checked against the class the user asked for, or a registered one.
    """
    from zoo.checkpoints import check_hyperparameters, read_checkpoint

    ckpt_path = str(config.get("ckpt_path") or "")
    if not ckpt_path or ckpt_path in _LIGHTNING_CKPT_PATHS or ckpt_path.startswith("registry:") or "://" in ckpt_path:
        return
    checkpoint = read_checkpoint(Path(ckpt_path).expanduser())
    stored = checkpoint.get("hyper_parameters", {}).get("_class_path")
    if stored is None:  # saved through the Python API: Lightning loads it into the model given
        return
    registered = {entry.target.replace(":", "."): entry for entry in registry.entries("model").values()}
    stored_name = registered[stored].name if stored in registered else stored
    asked = _class_of(config, "model")
    if asked is not None and f"{asked.__module__}.{asked.__qualname__}" != stored:
        asked_name = registry.name_of(asked, "model") or asked.__name__
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


def run_directory(trainer) -> Path:
    """The run's own folder, where ModelCheckpoint puts ``checkpoints/``: ``<save_dir>/<name>/<version>``."""
    logger = trainer.logger
    if logger is None:
        return Path(trainer.default_root_dir)
    if getattr(logger, "log_dir", None):  # CSV, TensorBoard
        return Path(logger.log_dir)
    version = logger.version if isinstance(logger.version, str) else f"version_{logger.version}"
    return Path(logger.save_dir or trainer.default_root_dir) / str(logger.name) / version


class RunConfigCallback(SaveConfigCallback):
    """Save the resolved config beside the run's checkpoints, and hand it to W&B as the run config.

    Lightning's default writes ``config.yaml`` to ``trainer.log_dir``, which for W&B is the
    shared save directory, so runs would overwrite each other's config.
    """

    def __init__(self, parser: LightningArgumentParser, config: Any, **kwargs: Any) -> None:
        super().__init__(parser, config, save_to_log_dir=False, **kwargs)

    def save_config(self, trainer, pl_module, stage: str) -> None:  # rank 0 only
        run_dir = run_directory(trainer)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.parser.save(self.config, str(run_dir / self.config_filename), skip_none=False, overwrite=True,
                         multifile=self.multifile)
        from lightning.pytorch.loggers import WandbLogger

        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                resolved = yaml.safe_load(self.parser.dump(self.config, skip_none=False))
                logger.experiment.config.update({"zoo": resolved}, allow_val_change=True)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        """A run that failed before its first step leaves no folder behind, so the next run keeps its number."""
        if trainer.global_step > 0 or not trainer.is_global_zero:
            return
        run_dir = run_directory(trainer)
        if not run_dir.is_dir() or any(run_dir.rglob("*.ckpt")):
            return
        shutil.rmtree(run_dir, ignore_errors=True)
        # runs/<model>/ and runs/ too, when this run made them: up to the folder the logger writes under.
        save_dir = Path(getattr(trainer.logger, "save_dir", None) or trainer.default_root_dir).resolve()
        for folder in run_dir.resolve().parents:
            if not folder.is_relative_to(save_dir) or not folder.is_dir() or any(folder.iterdir()):
                break
            folder.rmdir()


def _class_options(class_paths: list[str]) -> list[str]:
    """``--model.NAME`` / ``--data.NAME`` for each argument of the named classes, for close matches of a typo."""
    import inspect

    options = []
    for class_path in class_paths:
        try:
            cls = _import_class(class_path)
            parameters = list(inspect.signature(cls.__init__).parameters)[1:]
        except (ZooError, TypeError, ValueError):
            continue
        from lightning.pytorch import LightningDataModule

        group = "--data" if issubclass(cls, LightningDataModule) else "--model"
        options += [f"{group}.{name}" for name in parameters]
    return options


class ZooArgumentParser(LightningArgumentParser):
    """Parse errors take the zoo's one error path: a ZooError of one line that names the option and the value.

    jsonargparse's own inner parsers (``exit_on_error=False``) keep raising ArgumentError, which it catches
    while it tries each type of a union; only the parsers that would print and exit report here.
    """

    zoo_argv: list[str] = []

    def error(self, message: str, ex: Exception | None = None):
        from argparse import ArgumentError

        from zoo.parse_errors import classes_named, condense

        if not self.exit_on_error:
            super().error(message, ex)
        argv = self.zoo_argv
        named = [value for option in ("--model", "--data") if "." in (value := _last_value(argv, option) or "")
                 and not value.endswith((".yaml", ".yml", ".json"))]
        options = _class_options(named + classes_named(message)) + list(self._option_string_actions)
        subcommand = self.prog.replace(" [options]", "").split()[-1]
        if self._subcommands_action is not None:  # the root parser: what the subcommands accept
            for parser in self._subcommands_action._name_parser_map.values():
                options += parser._option_string_actions
            subcommand = argv[0] if argv and argv[0] in self._subcommands_action._name_parser_map else None
        hint = f"zoo {subcommand} --help" if subcommand else "zoo --help"
        line = condense(message, options, subcommand, _last_value(argv, "--config") or _last_value(argv, "-c"))
        raise ZooError(f"{line} (see `{hint}`)") from ArgumentError(None, message)


class ZooCLI(LightningCLI):
    """LightningCLI in subclass mode, wired to the registry and the zoo's conventions."""

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        for each in (parser, *getattr(self, "_subcommand_parsers", {}).values()):
            each.zoo_argv = list(args) if isinstance(args, list) else []  # ZooArgumentParser.error suggests from it
        super().parse_arguments(parser, args)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # Shapes flow from data to model: `--model dcgan --data cifar10` builds a 3x32x32 DCGAN. Each spelling a
        # model may take (image_shape, channels/height/width, ...) is linked; a model receives those it has.
        for argument, compute in registry.SHAPE_ARGUMENTS.items():
            parser.link_arguments("data.image_shape", f"model.init_args.{argument}", compute_fn=compute,
                                  apply_on="instantiate")
        # Classes flow the same way: `--model.conditional true` is all a user types; the count comes from the data.
        parser.link_arguments("data", f"model.init_args.{registry.CLASS_COUNT_ARGUMENT}",
                              compute_fn=registry.class_count_of, apply_on="instantiate")
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

    def _parse_ckpt_path(self) -> None:
        # Lightning replaces the model's config with the class and hyper-parameters the checkpoint holds, so
        # `--model vae --ckpt_path gan.ckpt` would quietly train a GAN: check the checkpoint before it does.
        if self.config.get("subcommand"):
            check_ckpt_path(self.config[self.config.subcommand])
        super()._parse_ckpt_path()

    def before_instantiate_classes(self) -> None:
        config = self.config.get(self.subcommand) if self.subcommand else self.config
        model_class, data_class = _class_of(config, "model"), _class_of(config, "data")
        if model_class is not None and data_class is not None:
            check_batch_kinds(model_class, data_class)
        trainer = config.get("trainer")
        logger = trainer.get("logger") if trainer is not None else None
        if str(getattr(logger, "class_path", "")).endswith("WandbLogger") and logger.init_args.get("save_dir") == ".":
            # W&B files go with every other run's files, not into the working directory.
            logger.init_args.save_dir = trainer.get("default_root_dir") or RUNS_DIR
        if self.subcommand == "fit" and trainer is not None and model_class is not None:
            apply_default_budget(trainer, model_class)
        if trainer is not None and logger in (None, True):
            # One folder per family and a fresh version per run: runs/vae/version_3/{config.yaml,metrics.csv,...}.
            name = (registry.name_of(model_class, "model") if model_class else None) or "model"
            from jsonargparse import Namespace

            trainer.logger = Namespace(
                class_path="lightning.pytorch.loggers.CSVLogger",
                init_args=Namespace(save_dir=trainer.get("default_root_dir") or RUNS_DIR, name=name),
            )

    def _finish_loggers(self) -> None:
        """Close W&B runs cleanly: an offline run directory is complete when the command returns."""
        from lightning.pytorch.loggers import WandbLogger

        for logger in self.trainer.loggers:
            if isinstance(logger, WandbLogger) and logger._experiment is not None:
                logger.experiment.finish()

    after_fit = after_validate = after_test = after_predict = _finish_loggers

    def instantiate_classes(self) -> None:
        super().instantiate_classes()
        if self.model is not None:  # only the model's own shape arguments stay in its hparams (see the links above)
            registry.drop_unused_shape_arguments(self.model)

    def instantiate_trainer(self, **kwargs: Any):
        trainer = super().instantiate_trainer(**kwargs)
        allow_unused_parameters(trainer, self.model)
        shard_each_network_apart(trainer, self.model)
        show_losses_without_per_step_syncs(trainer)
        warn_slow_cpu_bf16(trainer)
        trainer.callbacks += [DistinctRankNoise(), RunSummary()]
        return trainer


class _LightningAdverts(logging.Filter):
    """Drop Lightning's lines that help no zoo user: tips to install other services, TPU availability."""

    NOISE = ("💡 Tip:", "TPU available:", "HPU available:")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.NOISE)


def run_cli(argv: Sequence[str], run: bool = True) -> ZooCLI:
    """Run LightningCLI on ``argv`` (without the program name); returns the CLI with its model and trainer."""
    argv = list(argv)
    # main() passes the rewritten sys.argv on purpose; LightningCLI would warn that both are set.
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
    import_registered_classes()
    argv = default_logger_folders(resolve_names(argv))
    # Lightning's info lines all go through this one logger (rank_zero_info).
    rank_zero_log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(existing, _LightningAdverts) for existing in rank_zero_log.filters):
        rank_zero_log.addFilter(_LightningAdverts())
    from lightning.pytorch import LightningDataModule, LightningModule

    try:
        return stopped_by_signal_exits_nonzero(lambda: ZooCLI(
            LightningModule,
            LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            trainer_defaults={"default_root_dir": RUNS_DIR},
            seed_everything_default=0,
            save_config_callback=RunConfigCallback,
            parser_class=ZooArgumentParser,
            parser_kwargs={"prog": "zoo"},
            args=argv,
            run=run,
        ))
    finally:
        end_process_group()


# What shells and schedulers expect of a process ended by a signal: 128 + the signal's number.
EXIT_SIGINT, EXIT_SIGTERM = 128 + 2, 128 + 15


def stopped_by_signal_exits_nonzero(start_cli: Callable[[], ZooCLI]) -> ZooCLI:
    """Run the CLI; a fit stopped by SIGTERM exits 143 and one stopped by Ctrl-C (SIGINT) 130.

    Lightning ends a SIGTERM'd fit with ``SIGTERMException``, a ``SystemExit`` whose status is
    0, so a pre-empted run would look finished to SLURM or any scheduler; and it ends a
    Ctrl-C'd one with ``sys.exit(1)``. ``last.ckpt`` is written before either (``RunCheckpoint``).
    """
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    try:
        return start_cli()
    except SIGTERMException:
        raise SystemExit(EXIT_SIGTERM) from None
    except SystemExit as exit_:
        if isinstance(exit_.__context__, KeyboardInterrupt):  # Lightning's sys.exit(1) after a Ctrl-C
            raise SystemExit(EXIT_SIGINT) from None
        raise


def end_process_group() -> None:
    """Leave the process group a launcher's processes joined, so every rank exits cleanly.

    Lightning leaves it open; under ``torchrun --nnodes 2`` a rank that exits with it open
    can abort (SIGABRT) and the other node then waits on torchrun's barrier until it times out.
    """
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
