"""The command line of ``zoo fit/validate/test/predict`` before and while LightningCLI parses it.

Names after ``--model`` / ``--data`` may be registry names, class names or class paths:
:func:`resolve_names` turns them into class paths; :func:`default_logger_folders` gives a file
logger the zoo's run folders; :class:`ZooArgumentParser` reports a parse error as one line that
names the option, with close matches.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from lightning.pytorch.cli import LightningArgumentParser

from zoo import registry
from zoo.errors import ZooError
from zoo.training.run_output import RUNS_DIR

# Lightning's file loggers whose ``save_dir`` is a required argument.
FILE_LOGGERS = ("CSVLogger", "TensorBoardLogger")


def option_values(argv: list[str], option: str) -> list[int]:
    """Indices in argv that hold the value of ``--option VALUE`` or ``--option=VALUE``."""
    indices = []
    for index, token in enumerate(argv):
        if token == option and index + 1 < len(argv):
            indices.append(index + 1)
        elif token.startswith(option + "="):
            indices.append(index)
    return indices


def last_value(argv: list[str], option: str) -> str | None:
    """The value the last ``--option`` in argv gives (the one LightningCLI uses), or None."""
    indices = option_values(argv, option)
    if not indices:
        return None
    token = argv[indices[-1]]
    return token[len(option) + 1 :] if token.startswith(option + "=") else token


def is_config(value: str) -> bool:
    """An inline or file config after ``--model`` / ``--data``, which LightningCLI reads itself."""
    return value.startswith("{") or value.endswith((".yaml", ".yml", ".json"))


def resolve_names(argv: Sequence[str]) -> list[str]:
    """Rewrite ``--model NAME`` / ``--data NAME`` into class paths, failing clearly on unknown names."""
    argv = list(argv)
    for option, kind in (("--model", "model"), ("--data", "datamodule")):
        for index in option_values(argv, option):
            token = argv[index]
            prefix, value = (option + "=", token[len(option) + 1 :]) if token.startswith(option + "=") else ("", token)
            if is_config(value):
                continue
            argv[index] = prefix + registry.resolve_class_path(kind, value)
    return argv


def default_logger_folders(argv: Sequence[str]) -> list[str]:
    """Give ``--trainer.logger TensorBoardLogger`` (or ``CSVLogger``) the zoo's run folders.

    Both require ``save_dir``, so ``--trainer.logger TensorBoardLogger`` alone would be
    refused while parsing. Unless the user set them, the logger writes where the default
    CSV logger does: ``<default_root_dir or runs>/<model name>/version_N``. Rewritten
    before parsing because jsonargparse validates the logger's arguments there.
    """
    argv = list(argv)
    logger = last_value(argv, "--trainer.logger")
    if logger is None or logger.rsplit(".", 1)[-1] not in FILE_LOGGERS:
        return argv
    at = option_values(argv, "--trainer.logger")[-1] + 1  # its own arguments must follow the class
    if last_value(argv, "--trainer.logger.save_dir") is None:
        argv[at:at] = ["--trainer.logger.save_dir", last_value(argv, "--trainer.default_root_dir") or RUNS_DIR]
    model = last_value(argv, "--model")  # a class path by now, unless given as a config
    if last_value(argv, "--trainer.logger.name") is None and model and "." in model and not is_config(model):
        name = registry.name_of(registry.import_path(model), "model")
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


def class_of(config: Any, key: str) -> type | None:
    """The class a parsed config names under ``key`` (``model``, ``data``), or None."""
    section = config.get(key) if config is not None else None
    class_path = getattr(section, "class_path", None) if section is not None else None
    return registry.import_path(class_path) if class_path else None


def class_options(class_paths: list[str]) -> list[str]:
    """``--model.NAME`` / ``--data.NAME`` for each argument of the named classes, for close matches of a typo."""
    from lightning.pytorch import LightningDataModule

    options = []
    for class_path in class_paths:
        try:
            cls = registry.import_path(class_path)
            parameters = list(inspect.signature(cls.__init__).parameters)[1:]
        except (ZooError, TypeError, ValueError):
            continue
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
        named = [value for option in ("--model", "--data")
                 if "." in (value := last_value(argv, option) or "") and not is_config(value)]
        options = class_options(named + classes_named(message)) + list(self._option_string_actions)
        subcommand = self.prog.replace(" [options]", "").split()[-1]
        if self._subcommands_action is not None:  # the root parser: what the subcommands accept
            for parser in self._subcommands_action._name_parser_map.values():
                options += parser._option_string_actions
            subcommand = argv[0] if argv and argv[0] in self._subcommands_action._name_parser_map else None
        hint = f"zoo {subcommand} --help" if subcommand else "zoo --help"
        line = condense(message, options, subcommand, last_value(argv, "--config") or last_value(argv, "-c"))
        raise ZooError(f"{line} (see `{hint}`)") from ArgumentError(None, message)
