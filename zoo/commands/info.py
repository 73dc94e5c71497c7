"""``zoo info NAME``: one model's or datamodule's card, with its hyper-parameters and their defaults."""

from __future__ import annotations

import collections.abc
import inspect
import json
import types
import typing
from collections.abc import Sequence

from zoo import registry
from zoo.commands.listing import wide_console
from zoo.errors import ZooError


def readable_type(annotation: typing.Any) -> str:
    """A type as a person writes it: ``OptimizerCallable | None``, ``list[int]``, ``"batch" | "instance"``."""
    from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable

    aliases = {OptimizerCallable: "OptimizerCallable", LRSchedulerCallable: "LRSchedulerCallable"}
    if annotation in aliases:
        return aliases[annotation]
    if annotation is type(None) or annotation is None:
        return "None"
    if isinstance(annotation, str):
        return annotation
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        names = [readable_type(argument) for argument in arguments if argument is not type(None)]
        return " | ".join(names + (["None"] if type(None) in arguments else []))
    if origin is typing.Literal:
        return " | ".join(json.dumps(value) if isinstance(value, str) else repr(value) for value in arguments)
    if origin is collections.abc.Callable:
        parameters, result = arguments
        parameters_text = "..." if parameters is Ellipsis else ", ".join(map(readable_type, parameters))
        return f"Callable[[{parameters_text}], {readable_type(result)}]"
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        inner = ", ".join("..." if argument is Ellipsis else readable_type(argument) for argument in arguments)
        return f"{name}[{inner}]"
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))


def hyperparameters(cls: type) -> list[tuple[str, str, str]]:
    """(name, type, default) for each ``__init__`` argument: what LightningCLI turns into flags."""
    try:
        hints = typing.get_type_hints(cls.__init__)
    except (NameError, TypeError, AttributeError):  # an annotation that does not resolve: show it as written
        hints = {}
    rows = []
    for parameter in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        annotation = hints.get(parameter.name, parameter.annotation)
        type_name = "untyped" if annotation is parameter.empty else readable_type(annotation)
        default = parameter.default
        if default is parameter.empty:
            default = "required"
        elif callable(default):  # an optimizer factory: show the name a config file would use
            default = registry.class_path_of(default)
        else:
            default = repr(default)
        rows.append((parameter.name, type_name, default))
    return rows


def command_info(argv: Sequence[str]) -> None:
    """``zoo info NAME``: one model or datamodule, with its hyper-parameters and their defaults."""
    from rich.markup import escape
    from rich.table import Table

    if len(argv) != 1:
        raise ZooError("usage: zoo info NAME (a model or datamodule name from `zoo list`)")
    name = argv[0]
    kind = "model" if name in registry.entries("model") else "datamodule"
    if name not in registry.entries(kind):
        registry.get("model", name)  # raises with close matches
    entry = registry.entries(kind)[name]
    cls = entry.load()
    console = wide_console()
    console.print(f"[bold]{entry.name}[/bold]  ({kind}, {entry.target}, from {entry.distribution})")
    for key, value in entry.metadata.items():
        label = "gives" if kind == "datamodule" and key == "batch_kind" else key  # the word `zoo list` uses
        if isinstance(value, dict):  # reference_results: one measure per line (docs/benchmarks.md has the tables)
            console.print(f"  {label}:")
            for measure, number in value.items():
                console.print(f"    {escape(str(measure))}: {escape(str(number))}")
        else:
            console.print(f"  {label}: {escape(str(value))}")
    doc = inspect.getdoc(cls)
    if doc:
        console.print("\n" + escape(doc.split("\n\n")[0]))
    table = Table(title="hyper-parameters (--model.NAME / --data.NAME)", title_justify="left")
    for column in ("name", "type", "default"):
        table.add_column(column)
    for row in hyperparameters(cls):
        table.add_row(*(escape(cell) for cell in row))  # "tuple[int, int, int]" is not rich markup
    console.print(table)
    notes = registry.signature_notes(cls, kind)
    if notes:
        console.print("notes:")
        for note in notes:
            console.print(f"  {note}", markup=False, highlight=False, soft_wrap=True)
