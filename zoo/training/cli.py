"""LightningCLI, zoo-flavoured: ``ZooCLI`` wires the stages of :mod:`zoo.training` into LightningCLI, and
:func:`run_cli` runs it. Imported only by ``zoo fit/validate/test/predict`` and by code that trains, so
``zoo list`` and ``zoo info`` start without importing Lightning.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from zoo import registry
from zoo.errors import ZooError
from zoo.training.arguments import (
    ZooArgumentParser,
    class_of,
    default_logger_folders,
    import_registered_classes,
    resolve_names,
)
from zoo.training.policy import (
    adjust_trainer,
    apply_default_budget,
    attach_callbacks,
    check_batch_kinds,
    check_ckpt_path,
    check_predicts,
    check_trainer_arguments,
)
from zoo.training.run_output import (
    RUNS_DIR,
    RunConfigCallback,
    default_loggers,
    finish_wandb_runs,
    hide_lightning_adverts,
    keep_preemption_checkpoints_apart,
    resolve_last_checkpoint,
)


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
        attach_callbacks(parser)

    def _parse_ckpt_path(self) -> None:
        # Lightning replaces the model's config with the class and hyper-parameters the checkpoint holds, so
        # `--model vae --ckpt_path gan.ckpt` would quietly train a GAN: check the checkpoint before it does.
        if self.config.get("subcommand"):
            check_ckpt_path(self.config[self.config.subcommand])
        super()._parse_ckpt_path()

    def before_instantiate_classes(self) -> None:
        config = self.config.get(self.subcommand) if self.subcommand else self.config
        model_class, data_class = class_of(config, "model"), class_of(config, "data")
        if model_class is not None and data_class is not None:
            check_batch_kinds(model_class, data_class)
        if self.subcommand == "predict" and model_class is not None:
            check_predicts(model_class)
        trainer = config.get("trainer")
        if trainer is None:
            return
        check_trainer_arguments(trainer)
        default_loggers(trainer, model_class)
        if config.get("ckpt_path") == "last":  # after default_loggers: it looks where this run's logger writes
            resolve_last_checkpoint(config, self.subcommand, model_class)
        if self.subcommand == "fit" and model_class is not None:
            apply_default_budget(trainer, model_class)
        if self.subcommand == "fit":
            keep_preemption_checkpoints_apart(trainer, model_class)

    def _finish_loggers(self) -> None:
        finish_wandb_runs(self.trainer)

    after_fit = after_validate = after_test = after_predict = _finish_loggers

    def instantiate_classes(self) -> None:
        super().instantiate_classes()
        if self.model is not None:  # only the model's own shape arguments stay in its hparams (see the links above)
            registry.drop_unused_shape_arguments(self.model)

    def instantiate_trainer(self, **kwargs: Any):
        from lightning.fabric.utilities.exceptions import MisconfigurationException

        try:
            trainer = super().instantiate_trainer(**kwargs)
        except (MisconfigurationException, ValueError, TypeError) as error:
            if not raised_inside_lightning(error):
                raise
            # The Trainer checks its own arguments (devices, accelerator, strategy, limits) as it is built, and
            # its message names the value; a traceback through LightningCLI would bury it.
            message = " ".join(str(error).split())
            if "No supported gpu backend" in message:  # Lightning's words for "no GPU here"
                message += " This machine has no GPU that torch can use; --trainer.accelerator auto trains on the CPU."
            raise ZooError(f"the trainer refused its arguments: {message} (see `zoo fit --help`, --trainer.*)"
                           ) from error
        adjust_trainer(trainer, self.model)
        return trainer


def raised_inside_lightning(error: BaseException) -> bool:
    """Whether the innermost frame of ``error``'s traceback is Lightning's own code (its argument checks)."""
    import traceback

    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and "/lightning/" in frames[-1].filename.replace("\\", "/")


def run_cli(argv: Sequence[str], run: bool = True) -> ZooCLI:
    """Run LightningCLI on ``argv`` (without the program name); returns the CLI with its model and trainer."""
    argv = list(argv)
    # main() passes the rewritten sys.argv on purpose; LightningCLI would warn that both are set.
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
    import_registered_classes()
    argv = default_logger_folders(resolve_names(argv))
    hide_lightning_adverts()
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
