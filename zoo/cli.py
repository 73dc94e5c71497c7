"""The ``zoo`` command: LightningCLI for fit/validate/test/predict, plus list and info.

``zoo fit --model vae --data digits`` accepts registry names, Lightning class names and
full class paths. Every user-facing failure is a :class:`~zoo.errors.ZooError`, printed
by :func:`main` as one line (``zoo: error: ...``) with exit status 2: the one error path.
"""

from __future__ import annotations

import inspect
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from zoo import registry
from zoo.errors import ZooError
from zoo.metrics.fid import FIDCallback

TRAINER_SUBCOMMANDS = ("fit", "validate", "test", "predict")
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


class ZooCLI(LightningCLI):
    """LightningCLI in subclass mode, wired to the registry and the zoo's conventions."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # Shapes flow from data to model: `--model dcgan --data cifar10` builds a 3x32x32 DCGAN.
        parser.link_arguments("data.image_shape", "model.init_args.image_shape", apply_on="instantiate")
        # A `last.ckpt` in every run, so an interrupted run resumes with `--ckpt_path last`.
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.save_last": True})
        # Attached to every run; it switches on by interface (`sample` or `translate`), so a plugin gets it too.
        parser.add_lightning_class_args(FIDCallback, "fid")

    def before_instantiate_classes(self) -> None:
        config = self.config.get(self.subcommand) if self.subcommand else self.config
        model_class, data_class = _class_of(config, "model"), _class_of(config, "data")
        if model_class is not None and data_class is not None:
            check_batch_kinds(model_class, data_class)
        trainer = config.get("trainer")
        if trainer is not None and trainer.get("logger") in (None, True):
            # One folder per family and a fresh version per run: runs/vae/version_3/{config.yaml,metrics.csv,...}.
            name = (registry.name_of(model_class, "model") if model_class else None) or "model"
            from jsonargparse import Namespace

            trainer.logger = Namespace(
                class_path="lightning.pytorch.loggers.CSVLogger",
                init_args=Namespace(save_dir=trainer.get("default_root_dir") or RUNS_DIR, name=name),
            )

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
    argv = resolve_names(argv)
    from lightning.pytorch import LightningDataModule, LightningModule

    return ZooCLI(
        LightningModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        trainer_defaults={"default_root_dir": RUNS_DIR},
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"prog": "zoo"},
        args=argv,
        run=run,
    )


# ---------------------------------------------------------------- zoo list / zoo info


def _console():
    from rich.console import Console

    return Console(soft_wrap=False, width=160)


def command_list(argv: Sequence[str]) -> None:
    """``zoo list``: every registered model and datamodule, built-in or plugin."""
    from rich.table import Table

    if argv:
        raise ZooError(f"`zoo list` takes no arguments, got {' '.join(argv)}")
    console = _console()
    models = Table(title="models", title_justify="left")
    for column in ("name", "task", "source", "default data", "summary"):
        models.add_column(column)
    for entry in registry.entries("model").values():
        models.add_row(entry.name, entry.task, entry.distribution, str(entry.metadata.get("default_data", "-")),
                       str(entry.metadata.get("summary", "")))
    datamodules = Table(title="datamodules", title_justify="left")
    for column in ("name", "gives", "source", "summary"):
        datamodules.add_column(column)
    for entry in registry.entries("datamodule").values():
        datamodules.add_row(entry.name, str(entry.metadata.get("gives", "images")), entry.distribution,
                            str(entry.metadata.get("summary", "")))
    console.print(models)
    console.print(datamodules)


def hyperparameters(cls: type) -> list[tuple[str, str, str]]:
    """(name, type, default) for each ``__init__`` argument: what LightningCLI turns into flags."""
    rows = []
    for parameter in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        annotation = parameter.annotation
        type_name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
        default = "required" if parameter.default is parameter.empty else repr(parameter.default)
        rows.append((parameter.name, str(type_name).replace("typing.", ""), default))
    return rows


def command_info(argv: Sequence[str]) -> None:
    """``zoo info NAME``: one model or datamodule, with its hyper-parameters and their defaults."""
    from rich.table import Table

    if len(argv) != 1:
        raise ZooError("usage: zoo info NAME (a model or datamodule name from `zoo list`)")
    name = argv[0]
    kind = "model" if name in registry.entries("model") else "datamodule"
    if name not in registry.entries(kind):
        registry.get("model", name)  # raises with close matches
    entry = registry.entries(kind)[name]
    cls = entry.load()
    console = _console()
    console.print(f"[bold]{entry.name}[/bold]  ({kind}, {entry.target}, from {entry.distribution})")
    for key, value in entry.metadata.items():
        console.print(f"  {key}: {value}")
    doc = inspect.getdoc(cls)
    if doc:
        console.print("\n" + doc.split("\n\n")[0])
    table = Table(title="hyper-parameters (--model.NAME / --data.NAME)", title_justify="left")
    for column in ("name", "type", "default"):
        table.add_column(column)
    for row in hyperparameters(cls):
        table.add_row(*row)
    console.print(table)


COMMANDS: dict[str, Callable[[Sequence[str]], Any]] = {"list": command_list, "info": command_info}


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in COMMANDS:
            COMMANDS[argv[0]](argv[1:])
        else:
            run_cli(argv)
    except ZooError as error:
        print(f"zoo: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
