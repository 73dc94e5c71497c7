"""LightningCLI, zoo-flavoured: registry names, shapes linked from data, strategies chosen for GANs.

Imported only by the training subcommands (``zoo fit/validate/test/predict``) and by code
that trains, so ``zoo list`` and ``zoo info`` start without importing Lightning.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from zoo import registry
from zoo.anomaly import AnomalyThreshold
from zoo.callbacks import RunCheckpoint, SampleGridCallback, TranslationGridCallback
from zoo.errors import ZooError
from zoo.metrics.fid import FIDCallback

RUNS_DIR = "runs"


def _import_class(class_path: str) -> type:
    return registry._import_path(class_path)


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
    needs = getattr(model_class, "batch_kind", "images")
    gives = getattr(data_class, "batch_kind", "images")
    if needs != gives:
        model_name = registry.name_of(model_class, "model") or model_class.__name__
        data_name = registry.name_of(data_class, "datamodule") or data_class.__name__
        suggestion = {"images": "digits", "paired": "paired", "unpaired": "unpaired"}.get(needs, needs)
        raise ZooError(f"{model_name} needs {needs} data; {data_name} gives {gives}; try --data {suggestion}")


def uses_manual_optimization(model: Any) -> bool:
    return getattr(model, "automatic_optimization", True) is False


def strategy_for(model: Any, strategy: Any) -> Any:
    """The strategy a model can train under, chosen by the zoo so the user never has to.

    Manual-optimization GANs run the discriminator and generator in separate backward
    passes, so each pass leaves the other network's parameters without gradients and plain
    DDP aborts ("parameters that were not used in producing the loss", Lightning #20328).
    DDP's unused-parameter search is the documented remedy.
    """
    if not uses_manual_optimization(model):
        return strategy
    if strategy in ("ddp", "ddp_spawn"):
        return f"{strategy}_find_unused_parameters_true"
    from lightning.pytorch.strategies import DDPStrategy

    if isinstance(strategy, DDPStrategy):
        strategy._ddp_kwargs["find_unused_parameters"] = True
    return strategy


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


class ZooCLI(LightningCLI):
    """LightningCLI in subclass mode, wired to the registry and the zoo's conventions."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # Shapes flow from data to model: `--model dcgan --data cifar10` builds a 3x32x32 DCGAN.
        parser.link_arguments("data.image_shape", "model.init_args.image_shape", apply_on="instantiate")
        # A `last.ckpt` in every run, also written when a fit is interrupted, so a resume loses nothing.
        parser.add_lightning_class_args(RunCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.save_last": True})
        # Attached to every run; it switches on by interface (`sample` or `translate`), so a plugin gets it too.
        parser.add_lightning_class_args(FIDCallback, "fid")
        parser.add_lightning_class_args(SampleGridCallback, "samples")
        parser.add_lightning_class_args(TranslationGridCallback, "translations")
        parser.add_lightning_class_args(AnomalyThreshold, "anomaly")  # switches on by `anomaly_score`

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

    def instantiate_trainer(self, **kwargs: Any):
        trainer_config = self._get(self.config_init, "trainer", default={})
        if "strategy" not in kwargs:
            kwargs["strategy"] = strategy_for(self.model, trainer_config.get("strategy", "auto"))
        return super().instantiate_trainer(**kwargs)


def run_cli(argv: Sequence[str], run: bool = True) -> ZooCLI:
    """Run LightningCLI on ``argv`` (without the program name); returns the CLI with its model and trainer."""
    argv = list(argv)
    # main() passes the rewritten sys.argv on purpose; LightningCLI would warn that both are set.
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
    import_registered_classes()
    argv = default_logger_folders(resolve_names(argv))
    from lightning.pytorch import LightningDataModule, LightningModule

    return ZooCLI(
        LightningModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        trainer_defaults={"default_root_dir": RUNS_DIR},
        seed_everything_default=0,
        save_config_callback=RunConfigCallback,
        parser_kwargs={"prog": "zoo"},
        args=argv,
        run=run,
    )
