"""Find models, datamodules and FID feature extractors by name.

Everything comes from entry points: the built-ins register in zoo's own pyproject.toml
exactly as a third-party package would (groups ``zoo.models``, ``zoo.datamodules``,
``zoo.features``). Each registration fact has one home. What the code relies on is declared by
the class: ``task`` (models) and ``batch_kind`` (models and datamodules; see
:mod:`zoo.interfaces`). ``registry.yaml`` adds what neither an entry point nor the code needs
(summary, default data and config, paper, budget, reference results); a plugin may carry the
same as class attributes. Discovery is lazy: listing reads entry points, registry.yaml and the
built-ins' declared facts from their source (:func:`declared_attributes`), and a class is
imported when it is used, so one broken plugin breaks nothing else.

A broken plugin becomes an :class:`Entry` that raises a one-line :class:`ZooError` when it is
loaded, naming the entry point's distribution and the problem: an import that fails, a class
that is not a LightningModule (:func:`contract_problems`; docs/plugins.md), or a name that
two distributions register. Anything LightningCLI accepts is accepted; :func:`signature_notes`
says what the CLI makes of it. Every other name keeps working.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.util
import inspect
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import yaml

from zoo.errors import ZooError

GROUPS = {"model": "zoo.models", "datamodule": "zoo.datamodules", "feature": "zoo.features"}
# Metadata a plugin class may declare as attributes instead of a registry.yaml entry.
METADATA_ATTRIBUTES = ("task", "summary", "default_data", "config", "paper", "reference_results", "batch_kind",
                       "budget")
# Facts the code relies on, declared by the class only (never in registry.yaml), per kind.
DECLARED_BY_CLASS = {"model": ("task",), "datamodule": ("batch_kind",), "feature": ()}
# The order `zoo info` and the model cards show a built-in's metadata in.
METADATA_ORDER = ("budget", "task", "summary", "default_data", "config", "download", "paper", "reference_results",
                  "batch_kind")


@dataclass
class Entry:
    """One registered name: where it comes from, what the catalogue says of it, and how to load it."""

    name: str
    kind: str
    target: str  # "module:Class", as the entry point says
    distribution: str
    metadata: dict[str, Any] = field(default_factory=dict)
    _entry_point: EntryPoint | None = field(default=None, repr=False)
    # Known at discovery, before any import: the name is registered by several distributions.
    problem: str | None = None

    @property
    def task(self) -> str:
        return str(self.metadata.get("task", "?"))

    @property
    def batch_kind(self) -> str:
        """What batches the class needs (model) or gives (datamodule); a plugin's class is loaded to ask it."""
        if "batch_kind" not in self.metadata and not self.builtin:
            try:
                self.load()
            except ZooError:
                pass
        return str(self.metadata.get("batch_kind", "images"))

    @property
    def builtin(self) -> bool:
        """The zoo's own entries: their metadata is in registry.yaml, so listing them needs no import."""
        return self.distribution == "zoo"

    def load(self) -> type:
        """Import the class and check it against the plugin contract.

        Every failure becomes a one-line ZooError naming the entry, its distribution and the
        problem, so the CLI reports a broken plugin the same way wherever it is first used.
        """
        if self.problem is not None:
            raise ZooError(self.problem)
        try:
            loaded = self._entry_point.load() if self._entry_point is not None else import_path(self.target)
        except Exception as exc:  # a plugin may fail in any way; report it, don't crash the zoo
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ZooError(
                f"{self.kind} '{self.name}' from {self.distribution} is broken: "
                f"{type(exc).__name__}: {first_line}"
            ) from exc
        problems = contract_problems(loaded, self.kind)
        if problems:
            raise ZooError(
                f"{self.kind} '{self.name}' from {self.distribution} ({self.target}) breaks the plugin contract: "
                f"{'; '.join(problems)} (see docs/plugins.md)"
            )
        for attribute in METADATA_ATTRIBUTES:
            if attribute == "batch_kind" and self.kind != "datamodule":
                continue  # a model's batch kind is asked of its class (zoo.interfaces.batch_kind_of), not listed
            if attribute not in self.metadata and isinstance(getattr(loaded, attribute, None), (str, dict)):
                self.metadata[attribute] = getattr(loaded, attribute)
        return loaded


def _base_class(kind: str) -> type:
    """What a registered class of ``kind`` must subclass; imported here so listing stays free of torch."""
    if kind == "model":
        from lightning.pytorch import LightningModule

        return LightningModule
    if kind == "datamodule":
        from lightning.pytorch import LightningDataModule

        return LightningDataModule
    from torch import nn

    return nn.Module


def contract_problems(loaded: Any, kind: str) -> list[str]:
    """What keeps a registered class from working in the zoo, as short phrases; empty when it fits.

    Only the base class is a hard rule: the zoo hands a model to Lightning's ``Trainer``, a
    datamodule to its ``fit``, a feature extractor to torchmetrics. Everything LightningCLI
    itself accepts is accepted too (untyped arguments, ``**kwargs``, no shape argument); what
    the zoo makes of such a signature is reported by :func:`signature_notes` in ``zoo info``.
    """
    base = _base_class(kind)
    if not (isinstance(loaded, type) and issubclass(loaded, base)):
        what = f"class {loaded.__name__}" if isinstance(loaded, type) else f"{type(loaded).__name__} object"
        return [f"{what} is not a {base.__module__.split('.')[0]} {base.__name__} subclass"]
    return []


# Module-level functions, not closures: ddp_spawn pickles the CLI's links into its processes.
def _channels_of(image_shape):
    return int(image_shape[0])


def _height_of(image_shape):
    return int(image_shape[1])


def _width_of(image_shape):
    return int(image_shape[2])


def _as_tuple(image_shape):
    return tuple(int(size) for size in image_shape)


# The spellings of "the data's shape" a model may take, each linked from ``data.image_shape``
# (channels, height, width) by the CLI. jsonargparse drops a link whose target a model lacks,
# so every spelling is linked and each model receives the ones it takes.
SHAPE_ARGUMENTS = {
    "image_shape": _as_tuple,
    "img_shape": _as_tuple,
    "input_shape": _as_tuple,
    "channels": _channels_of,
    "height": _height_of,
    "width": _width_of,
}


def class_count_of(datamodule):
    """A datamodule's ``num_classes``; 0 for data without labels, which a conditional model refuses by name."""
    return int(getattr(datamodule, "num_classes", None) or 0)


# Linked like the shape: ``data.num_classes`` into a model's ``num_classes`` (conditional families).
CLASS_COUNT_ARGUMENT = "num_classes"


def init_parameters(cls: type) -> list[inspect.Parameter]:
    return list(inspect.signature(cls.__init__).parameters.values())[1:]


def shape_arguments(cls: type) -> list[str]:
    """Which of :data:`SHAPE_ARGUMENTS` a model's ``__init__`` takes, in signature order."""
    return [parameter.name for parameter in init_parameters(cls) if parameter.name in SHAPE_ARGUMENTS]


def drop_unused_shape_arguments(model: Any) -> None:
    """Remove from a model's recorded hyper-parameters the shape spellings its ``__init__`` does not take.

    LightningCLI records every applied link in ``hparams``, also a link jsonargparse dropped
    because the model lacks the argument; left there, ``img_shape`` or ``channels`` would show
    in loggers and checkpoints of a model that never took them, and break rebuilding the model
    from them (``from_pretrained``).
    """
    taken = {parameter.name for parameter in init_parameters(type(model))}
    for hparams in (getattr(model, "_hparams", None), getattr(model, "_hparams_initial", None)):
        for name in (*SHAPE_ARGUMENTS, CLASS_COUNT_ARGUMENT):
            if hparams is not None and name not in taken and name in hparams:
                del hparams[name]


def signature_notes(cls: type, kind: str) -> list[str]:
    """What the CLI makes of a class's ``__init__``, for ``zoo info``: untyped arguments, ``**kwargs``, the shape.

    LightningCLI (jsonargparse) reads an untyped argument's value as YAML (``0.1`` is a float,
    ``[1, 2]`` a list) and ignores ``**kwargs``; the zoo does the same and says so here.
    """
    notes = []
    for parameter in init_parameters(cls):
        if parameter.kind is parameter.VAR_KEYWORD:
            notes.append(f"takes **{parameter.name}: the CLI ignores it; only named arguments become flags")
        elif parameter.kind is parameter.VAR_POSITIONAL:
            notes.append(f"takes *{parameter.name}: the CLI ignores it; only named arguments become flags")
        elif parameter.annotation is parameter.empty:
            default = parameter.default
            typed = ("required, no default" if default is parameter.empty
                     else f"default {default!r}, of type {type(default).__name__}")
            notes.append(f"argument '{parameter.name}' has no type annotation ({typed}): its flag takes any YAML value")
    if kind == "model":
        linked = shape_arguments(cls)
        if linked:
            notes.append(f"the data's shape (channels, height, width) is linked into {', '.join(linked)}")
        else:
            notes.append("takes no shape argument (image_shape, img_shape, input_shape or channels/height/width): "
                         "nothing is linked from the data, so the model trains at the shape it builds itself")
    return notes


def import_path(path: str) -> Any:
    """The object at ``module.attribute`` or ``module:attribute``, imported."""
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
    """Every registered name of one kind ("model", "datamodule" or "feature"), not yet imported.

    A name that several distributions register with different classes stays listed, as an
    entry whose ``load()`` fails naming all of them: the zoo cannot pick one, but the other
    names must keep working.
    """
    registrations: dict[str, list[tuple[str, EntryPoint]]] = {}
    for entry_point in entry_points(group=GROUPS[kind]):
        distribution = entry_point.dist.name if entry_point.dist is not None else "unknown"
        claims = registrations.setdefault(entry_point.name, [])
        if all(claimed.value != entry_point.value for _, claimed in claims):
            claims.append((distribution, entry_point))
    found: dict[str, Entry] = {}
    for name, claims in registrations.items():
        distribution, entry_point = claims[0]
        if len(claims) > 1:
            claimants = " and by ".join(f"{claimant} ({claimed.value})" for claimant, claimed in claims)
            times = "twice" if len(claims) == 2 else f"{len(claims)} times"
            found[name] = Entry(
                name, kind, " or ".join(claimed.value for _, claimed in claims),
                ", ".join(claimant for claimant, _ in claims),
                problem=f"{kind} name '{name}' is registered {times}: by {claimants}; uninstall all but one of them",
            )
            continue
        metadata = builtin_metadata(kind, name, entry_point.value) if distribution == "zoo" else {}
        found[name] = Entry(name, kind, entry_point.value, distribution, metadata, entry_point)
    return dict(sorted(found.items()))


def declared_attributes(target: str, names: tuple[str, ...]) -> dict[str, str]:
    """String class attributes (``task = "generation"``) of ``module:Class``, read from its source unimported.

    Literal assignments in the class body count, then those of its base classes defined in the
    same module or imported by name (``from zoo.models.autoencoder import Autoencoder``). A test
    checks that what is read equals what the loaded class says, for every built-in.
    """
    module_name, _, class_name = target.partition(":")
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return {}
    tree = ast.parse(Path(spec.origin).read_text())
    imported = {alias.asname or alias.name: f"{node.module}:{alias.name}" for node in tree.body
                if isinstance(node, ast.ImportFrom) and node.module for alias in node.names}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            found: dict[str, str] = {}
            for base in reversed(node.bases):  # the first base wins, as in the MRO
                if isinstance(base, ast.Name) and base.id != class_name:
                    found.update(declared_attributes(imported.get(base.id, f"{module_name}:{base.id}"), names))
            found.update({statement.targets[0].id: statement.value.value for statement in node.body
                          if isinstance(statement, ast.Assign) and len(statement.targets) == 1
                          and isinstance(statement.targets[0], ast.Name) and statement.targets[0].id in names
                          and isinstance(statement.value, ast.Constant) and isinstance(statement.value.value, str)})
            return found
    return {}


def builtin_metadata(kind: str, name: str, target: str) -> dict[str, Any]:
    """A built-in's card: registry.yaml's entry plus the facts its class declares, in :data:`METADATA_ORDER`."""
    metadata = {**catalogue()[kind].get(name, {}), **declared_attributes(target, DECLARED_BY_CLASS[kind])}
    ordered = [key for key in METADATA_ORDER if key in metadata]
    ordered += [key for key in metadata if key not in METADATA_ORDER]
    return {key: metadata[key] for key in ordered}


def datamodules_giving(batch_kind: str) -> list[str]:
    """Registered datamodule names whose batches are of ``batch_kind``."""
    return [name for name, entry in entries("datamodule").items() if entry.batch_kind == batch_kind]


def suggested_datamodule(model_name: str, batch_kind: str) -> str:
    """The datamodule to suggest to a model needing ``batch_kind``: its default data if that fits, else the first."""
    model = entries("model").get(model_name)
    default = model.metadata.get("default_data") if model is not None else None
    fitting = datamodules_giving(batch_kind)
    if default in fitting:
        return str(default)
    return fitting[0] if fitting else batch_kind


def get(kind: str, name: str) -> Entry:
    """Look a name up, or fail with the close matches."""
    registered = entries(kind)
    if name in registered:
        return registered[name]
    matches = difflib.get_close_matches(name.lower(), list(registered), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(matches)}?" if matches else ""
    raise ZooError(f"unknown {kind} '{name}'{hint} (known: {', '.join(registered)}; see `zoo list`)")


def class_path_of(cls: Any) -> str:
    """``module.Class``: how configs, checkpoints (``_class_path``) and LightningCLI name a class or function."""
    return f"{cls.__module__}.{cls.__qualname__}"


def name_of(cls: type, kind: str) -> str | None:
    """The registry name of a loaded class, if it is registered."""
    target = f"{cls.__module__}:{cls.__qualname__}"
    for entry in entries(kind).values():
        if entry.target == target:
            return entry.name
    return None


def display_name(cls: type, kind: str) -> str:
    """The registry name of a class, or its class name when it is not registered: the name messages use."""
    return name_of(cls, kind) or cls.__name__


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
            import_path(value)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ZooError(f"{kind} class path '{value}' does not import: {exc}") from exc
        return value
    for entry in registered.values():
        if entry.target.rpartition(":")[2] == value:
            entry.load()
            return entry.target.replace(":", ".")
    get(kind, value)  # raises with close matches
    return value
