"""The one error type the CLI turns into a single line instead of a traceback, and the range checks that raise it."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import NoReturn


class ZooError(Exception):
    """A problem with what the user asked for: an unknown name, missing data, a bad value.

    The message must name the bad value and say what was expected; the CLI prints
    it as ``zoo: error: <message>`` and exits with status 2.
    """


class CommandParser(argparse.ArgumentParser):
    """argparse for the zoo's own commands: a mistake takes the one error path, naming the command's --help."""

    def error(self, message: str) -> NoReturn:
        raise ZooError(f"{message} (see `{self.prog} --help`)")


def _check(bound: str, holds, values: dict[str, float | Sequence[float] | None]) -> None:
    for name, value in values.items():
        if value is None:  # an optional hyper-parameter left to its default
            continue
        if isinstance(value, Sequence) and not isinstance(value, str):
            if not all(holds(item) for item in value):
                raise ZooError(f"{name} must all be {bound}, got {list(value)}")
        elif not holds(value):
            raise ZooError(f"{name} must be {bound}, got {value!r}")


def check_positive(**values: float | Sequence[float] | None) -> None:
    """Refuse sizes, counts and learning rates that are not > 0, naming the argument and its value.

    Called first thing in a model's ``__init__``, so ``--model.latent_dim 0`` fails in one line
    instead of in ``conv_transpose2d`` (or, worse, training a GAN whose generator gets no noise).
    A sequence (``hidden_dims``) is checked item by item; None (a default) is skipped.
    """
    _check("> 0", lambda value: value > 0, values)


def check_non_negative(**values: float | Sequence[float] | None) -> None:
    """Refuse loss weights, noise levels and pool sizes below 0 (0 is allowed: it turns the term off)."""
    _check(">= 0", lambda value: value >= 0, values)
