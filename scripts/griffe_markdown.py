"""A griffe extension for the API reference (mkdocs.yml): docstrings' Sphinx roles and ``literals`` as Markdown.

The same conversion ``python -m zoo.commands.docgen`` applies to the generated model pages.
"""

from __future__ import annotations

import griffe

from zoo.commands.docgen import markdown_of_docstring


class MarkdownDocstrings(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_of_docstring(obj.docstring.value)
