"""Find models, datamodules and FID feature extractors by name.

Everything comes from entry points: the built-ins register in zoo's own pyproject.toml
exactly as a third-party package would (groups ``zoo.models``, ``zoo.datamodules``,
``zoo.features``). ``registry.yaml`` adds what an entry point cannot carry (task, default
data and config, paper, reference results); a plugin may carry the same as class
attributes. Discovery is lazy: listing reads entry points and metadata only, and a class
is imported when it is used, so one broken plugin breaks nothing else.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import yaml

from zoo.errors import ZooError

GROUPS = {"model": "zoo.models", "datamodule": "zoo.datamodules", "feature": "zoo.features"}
# Metadata a plugin class may declare as attributes instead of a registry.yaml entry.
METADATA_ATTRIBUTES = ("task", "summary", "default_data", "config", "paper", "reference_results", "gives")


@dataclass
class Entry:
    """One registered name: where it comes from, what the catalogue says of it, and how to load it."""

    name: str
    kind: str
    target: str  # "module:Class", as the entry point says
    distribution: str
    metadata: dict[str, Any] = field(default_factory=dict)
    _entry_point: EntryPoint | None = field(default=None, repr=False)

    @property
    def task(self) -> str:
        return str(self.metadata.get("task", "?"))

    def load(self) -> type:
        """Import the class; an import failure becomes a ZooError naming the distribution."""
        try:
            loaded = self._entry_point.load() if self._entry_point is not None else _import_path(self.target)
        except Exception as exc:  # a plugin may fail in any way; report it, don't crash the zoo
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ZooError(
                f"{self.kind} '{self.name}' from {self.distribution} is broken: "
                f"{type(exc).__name__}: {first_line}"
            ) from exc
        for attribute in METADATA_ATTRIBUTES:
            if attribute not in self.metadata and isinstance(getattr(loaded, attribute, None), (str, dict)):
                self.metadata[attribute] = getattr(loaded, attribute)
        return loaded


def _import_path(path: str) -> Any:
    module_name, _, attribute = path.replace(":", ".").rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


def registry_yaml_path() -> Path:
    """The catalogue: inside the installed package, or at the top of a source checkout."""
    packaged = Path(__file__).with_name("registry.yaml")
    return packaged if packaged.exists() else Path(__file__).resolve().parent.parent / "registry.yaml"


@cache
def catalogue() -> dict[str, dict[str, dict[str, Any]]]:
    with open(registry_yaml_path()) as handle:
        data = yaml.safe_load(handle) or {}
    return {"model": data.get("models") or {}, "datamodule": data.get("datamodules") or {},
            "feature": data.get("features") or {}}


@cache
def entries(kind: str) -> dict[str, Entry]:
    """Every registered name of one kind ("model", "datamodule" or "feature"), not yet imported."""
    found: dict[str, Entry] = {}
    for entry_point in entry_points(group=GROUPS[kind]):
        distribution = entry_point.dist.name if entry_point.dist is not None else "unknown"
        previous = found.get(entry_point.name)
        if previous is not None and previous.target != entry_point.value:
            raise ZooError(
                f"{kind} name '{entry_point.name}' is registered twice: by {previous.distribution} "
                f"({previous.target}) and by {distribution} ({entry_point.value}); uninstall one of them"
            )
        metadata = dict(catalogue()[kind].get(entry_point.name, {})) if distribution == "zoo" else {}
        found[entry_point.name] = Entry(entry_point.name, kind, entry_point.value, distribution, metadata, entry_point)
    return dict(sorted(found.items()))


def get(kind: str, name: str) -> Entry:
    """Look a name up, or fail with the close matches."""
    registered = entries(kind)
    if name in registered:
        return registered[name]
    matches = difflib.get_close_matches(name.lower(), list(registered), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(matches)}?" if matches else ""
    raise ZooError(f"unknown {kind} '{name}'{hint} (known: {', '.join(registered)}; see `zoo list`)")


def name_of(cls: type, kind: str) -> str | None:
    """The registry name of a loaded class, if it is registered."""
    target = f"{cls.__module__}:{cls.__qualname__}"
    for entry in entries(kind).values():
        if entry.target == target:
            return entry.name
    return None


def resolve_class_path(kind: str, value: str) -> str:
    """Turn what a user typed after ``--model``/``--data`` into a class path LightningCLI accepts.

    Registry names become ``module.Class``; a dotted path is checked to import; a bare
    class name is left for LightningCLI, which knows the subclasses imported so far.
    """
    registered = entries(kind)
    if value in registered:
        registered[value].load()  # a broken plugin fails here, with its own message
        return registered[value].target.replace(":", ".")
    if "." in value:
        try:
            _import_path(value)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ZooError(f"{kind} class path '{value}' does not import: {exc}") from exc
        return value
    for entry in registered.values():
        if entry.target.rpartition(":")[2] == value:
            entry.load()
            return entry.target.replace(":", ".")
    get(kind, value)  # raises with close matches
    return value
