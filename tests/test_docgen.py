"""The generated model pages read as Markdown: plain type names, no HTML entities, no Sphinx roles."""

from __future__ import annotations

import re
from typing import Callable, Literal, Optional, Union

from torch.optim import Optimizer
from lightning.pytorch.cli import ReduceLROnPlateau  # the one in LightningCLI's LRSchedulerCallable
from torch.optim.lr_scheduler import LRScheduler

from zoo.commands.docgen import DOCS, builtin_models, markdown_of_docstring, model_page, readable_type


def test_types_read_as_a_person_writes_them():
    assert readable_type(Optional[Callable[[Optimizer], Union[LRScheduler, ReduceLROnPlateau]]]) == (
        "LRSchedulerCallable | None")
    assert readable_type(Optional[list[int]]) == "list[int] | None"
    assert readable_type(tuple[int, ...]) == "tuple[int, ...]"
    assert readable_type(Literal["batch", "instance"]) == '"batch" | "instance"'
    assert readable_type(int | None) == "int | None"


def test_sphinx_roles_and_rst_literals_become_markdown_code():
    text = "a :class:`~zoo.errors.ZooError` from :func:`zoo.losses.gradient_penalty` with ``beta``"
    assert markdown_of_docstring(text) == "a `ZooError` from `zoo.losses.gradient_penalty` with `beta`"


def _cells(row: str) -> list[str]:
    """A table row's cells the way GitHub splits them: at every pipe not escaped with a backslash."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def test_every_page_is_plain_markdown_with_four_cells_per_parameter_row():
    for name in builtin_models():
        page = model_page(name)
        assert page == (DOCS / f"{name}.md").read_text(), f"run python -m zoo.commands.docgen ({name})"
        assert "&#" not in page and not re.search(r":(class|func|mod|meth):`", page) and "``" not in page.replace(
            "```", "")
        rows = [line for line in page.splitlines() if line.startswith("| `")]
        assert rows, name
        for row in rows:
            name_cell, type_cell, default_cell, _ = _cells(row)
            assert "typing." not in type_cell and "Optional[" not in type_cell and "Callable[[" not in type_cell, row
            assert not default_cell.startswith("`'"), row  # a value, not a repr: `instance`, not `'instance'`
