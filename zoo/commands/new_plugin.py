"""``zoo new-plugin``: write a plugin package that installs and trains before its author changes a line.

    zoo new-plugin ./zoo-mygan --name mygan --task generation
    pip install -e ./zoo-mygan
    zoo fit --model mygan --data digits
    pytest ./zoo-mygan/tests

What the package holds and how it is written from the templates: :mod:`zoo.plugins`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from zoo.errors import CommandParser
from zoo.plugins import TASKS, PluginSpec, write_plugin


def command_new_plugin(argv: Sequence[str]) -> None:
    """``zoo new-plugin PATH --name NAME --task generation|reconstruction|translation``."""
    parser = CommandParser(
        prog="zoo new-plugin",
        description="Write a zoo plugin package: pyproject.toml with the entry point, a model, a config, tests.",
    )
    parser.add_argument("path", type=Path, help="folder to create (must be new or empty)")
    parser.add_argument("--name", required=True, help="registry name of the model: `zoo fit --model NAME`")
    parser.add_argument("--task", required=True, choices=list(TASKS), help="which task interface the model has")
    arguments = parser.parse_args(list(argv))
    written = write_plugin(arguments.path, arguments.name, arguments.task)
    spec = PluginSpec(arguments.name, arguments.task)
    print(f"wrote the {spec.task} plugin '{spec.name}' (distribution {spec.distribution}, "
          f"package {spec.package}) to {arguments.path}:")
    for file in written:
        print(f"  {file}")
    print("next:")
    print(f"  pip install -e {arguments.path}")
    print(f"  zoo fit --model {spec.name} --data {spec.default_data}")
    print(f"  pytest {arguments.path / 'tests'}")
