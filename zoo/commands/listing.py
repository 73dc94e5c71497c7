"""``zoo list [--check]``: every registered model and datamodule, built-in or plugin, broken ones marked.

Built-ins are listed from registry.yaml and their source without importing them, so ``zoo list``
starts without importing torch or Lightning.
"""

from __future__ import annotations

from collections.abc import Sequence

from zoo import registry
from zoo.errors import ZooError


def wide_console():
    """The console ``zoo list`` and ``zoo info`` print to: wide enough that a table's rows do not wrap."""
    from rich.console import Console

    return Console(soft_wrap=False, width=160)


def problem_of(entry: registry.Entry, check: bool) -> str | None:
    """Why ``entry`` cannot be used, or None; imports a plugin (or, with ``check``, anything) to find out.

    Built-ins are listed from registry.yaml without importing them. Plugins have no catalogue
    entry: their metadata is on the class, and an import that fails is only seen by importing,
    so listing pays for each plugin's own import and in return shows a broken one here
    rather than at the first ``zoo fit``.
    """
    if entry.problem is not None:
        return entry.problem
    if entry.builtin and not check:
        return None
    try:
        entry.load()
    except ZooError as error:
        return str(error)
    return None


def command_list(argv: Sequence[str]) -> None:
    """``zoo list [--check]``: every registered model and datamodule, built-in or plugin, broken ones marked.

    ``--check`` also imports the built-ins and exits with status 2 when anything is broken (for CI).
    """
    from rich.table import Table
    from rich.text import Text

    if list(argv) not in ([], ["--check"]):
        raise ZooError(f"usage: zoo list [--check]; got {' '.join(argv)}")
    check = bool(argv)
    console = wide_console()
    problems: list[tuple[str, str]] = []

    def cells(entry: registry.Entry, *keys: tuple[str, str]) -> list[Text]:
        """The row of one entry: name, the first metadata key, source, the other keys (each with its default)."""
        problem = problem_of(entry, check)  # loading a plugin fills its metadata from the class
        if problem is None:
            values = [str(entry.metadata.get(key, default)) for key, default in keys]
        else:
            problems.append((entry.name, problem))
            values = ["broken", *("-" for _ in keys[1:-1]), "see the problems below"]
        # Text, not markup: a plugin's summary or error may hold [brackets].
        return [Text(entry.name), Text(values[0]), Text(entry.distribution), *(Text(value) for value in values[1:])]

    models = Table(title="models", title_justify="left")
    for column in ("name", "task", "source", "default data", "summary"):
        models.add_column(column)
    for entry in registry.entries("model").values():
        models.add_row(*cells(entry, ("task", "?"), ("default_data", "-"), ("summary", "")))
    datamodules = Table(title="datamodules", title_justify="left")
    for column in ("name", "gives", "source", "summary"):
        datamodules.add_column(column)
    for entry in registry.entries("datamodule").values():
        datamodules.add_row(*cells(entry, ("batch_kind", "images"), ("summary", "")))
    console.print(models)
    console.print(datamodules)
    if problems:
        console.print("problems:")
        for name, problem in problems:
            console.print(f"  {name}: {problem}", markup=False, highlight=False, soft_wrap=True)
    if check and problems:
        raise ZooError(f"{len(problems)} registered name(s) are broken: {', '.join(name for name, _ in problems)}")
