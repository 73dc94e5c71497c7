"""What a model can do, asked in one place: the task interfaces as ``typing.Protocol``s.

Every feature that depends on a model's abilities (FID and sample grids during training, the
commands ``zoo sample``/``encode``/``score``/``reconstruct``/``translate``, ``zoo export``, the
hints that name the models able to do something) asks this module, never ``getattr``. The
protocols are structural: a plugin offers an interface by having the methods, with no zoo base
class to inherit (docs/plugins.md). ``isinstance`` works on models, ``issubclass`` on classes
(for the method-only protocols); :func:`registered_with` turns a protocol into the registry names
that offer it, for error hints.

| task | protocol | methods |
| --- | --- | --- |
| generation | :class:`Generation` | ``sample(n, generator=None) -> (n, C, H, W)`` in [0, 1] |
| conditional generation | :class:`ConditionalGeneration` | ``num_classes``, ``sample(n, generator, labels)`` |
| reconstruction | :class:`Reconstruction` | ``encode(x) -> z``, ``decode(z) -> x`` (or ``Encoding``, ``Decoding``) |
| anomaly scoring | :class:`AnomalyScoring` | ``anomaly_score(x) -> (N,)``, higher = more anomalous |
| translation | :class:`Translation` | ``translate(x, direction="AtoB") -> x`` |

Two facts a class declares rather than implements: ``task`` (the one ``zoo list`` shows and
``zoo export`` prefers) and ``batch_kind`` (``images``, ``paired`` or ``unpaired``, on models
and datamodules alike); :func:`batch_kind_of` reads the latter with its default.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class Generation(Protocol):
    """New images from noise: ``n`` images in [0, 1]; a seeded ``generator`` (a torch.Generator) repeats them."""

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor: ...


@runtime_checkable
class LatentSpace(Protocol):
    """A generator's input size: ``latent_dim`` noise values per image (interpolation, export)."""

    latent_dim: int


@runtime_checkable
class ConditionalGeneration(Protocol):
    """New images of chosen classes: ``labels`` (n,) in ``range(num_classes)``; None draws them at random."""

    num_classes: int

    def sample(self, n: int, generator: torch.Generator | None = None,
               labels: torch.Tensor | None = None) -> torch.Tensor: ...


@runtime_checkable
class Encoding(Protocol):
    """Latent features of images: ``encode(x) -> z`` (``zoo encode``)."""

    def encode(self, images: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Decoding(Protocol):
    """Images from latent codes in [0, 1]: ``decode(z) -> x`` (interpolation and exported generation graphs prefer it
    to ``forward``, which a tutorial GAN leaves in tanh's [-1, 1])."""

    def decode(self, latents: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Reconstruction(Protocol):
    """Images back through a latent code: ``decode(encode(x))`` (``zoo reconstruct``, anomaly maps)."""

    def encode(self, images: torch.Tensor) -> torch.Tensor: ...

    def decode(self, latents: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class AnomalyScoring(Protocol):
    """One score per image, higher = more anomalous (``zoo score``, thresholds at fit)."""

    def anomaly_score(self, images: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Translation(Protocol):
    """Images of one domain into the other: ``translate(x, direction="AtoB")``, same shape, in [0, 1]."""

    def translate(self, images: torch.Tensor, direction: str = "AtoB") -> torch.Tensor: ...


@runtime_checkable
class TranslationGrid(Protocol):
    """A model that draws its own translation sheet for logging (one image, C x H' x W', in [0, 1])."""

    def translation_grid(self, batch: Any, max_images: int = 8) -> torch.Tensor: ...


@runtime_checkable
class ManualOptimization(Protocol):
    """Families that step their optimizers by hand (the GANs): the CLI picks a DDP mode that allows it."""

    automatic_optimization: bool


def uses_manual_optimization(model: Any) -> bool:
    return isinstance(model, ManualOptimization) and model.automatic_optimization is False


def latent_dim_of(model: Any) -> int | None:
    """The generator's input size: a ``latent_dim`` attribute, or the hyper-parameter (tutorial-style modules)."""
    for value in (getattr(model, "latent_dim", None), getattr(model, "hparams", {}).get("latent_dim")):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


# What each task of `zoo export` and `zoo list` needs, and what the FID callback measures, in preference order.
TASK_INTERFACES: dict[str, tuple[type, ...]] = {
    "translation": (Translation,),
    "reconstruction": (Reconstruction, AnomalyScoring),
    "generation": (Generation,),
}


def offers(model: Any, task: str) -> bool:
    """True when ``model`` has every interface of ``task`` (generation also needs a latent size)."""
    if task == "generation" and latent_dim_of(model) is None:
        return False
    return all(isinstance(model, protocol) for protocol in TASK_INTERFACES[task])


def offered_tasks(model: Any) -> list[str]:
    """The tasks whose interfaces ``model`` has, translation first, then reconstruction, then generation."""
    return [task for task in TASK_INTERFACES if offers(model, task)]


def preferred_task(model: Any) -> str | None:
    """The task a model is used for when it offers several: its declared ``task``, else the first offered."""
    offered = offered_tasks(model)
    declared = declared_task(model)
    if declared in offered:
        return declared
    return offered[0] if offered else None


def fid_interface(model: Any) -> type | None:
    """Where FID takes a model's fakes from during training: :class:`Translation` first, then :class:`Generation`."""
    for protocol in (Translation, Generation):
        if isinstance(model, protocol):
            return protocol
    return None


def declared_task(cls_or_model: Any) -> str | None:
    """The task a class declares (``task = "generation"``), if any."""
    task = getattr(cls_or_model, "task", None)
    return task if isinstance(task, str) else None


def batch_kind_of(cls_or_object: Any) -> str:
    """What batches a model needs or a datamodule gives: ``images`` (the default), ``paired`` or ``unpaired``."""
    kind = getattr(cls_or_object, "batch_kind", "images")
    return kind if isinstance(kind, str) else "images"


def registered_with(protocol: type) -> list[str]:
    """Names of the registered models whose class has ``protocol``'s methods, for "use one of ..." hints.

    Loads every registered model class (only on the error path that needs the list); a broken
    plugin is left out, as it cannot be used either.
    """
    from zoo import registry
    from zoo.errors import ZooError

    names = []
    for name, entry in registry.entries("model").items():
        try:
            cls = entry.load()
        except ZooError:
            continue
        if can_condition(cls) if protocol is ConditionalGeneration else issubclass(cls, protocol):
            names.append(name)
    return names


def can_condition(cls: type) -> bool:
    """Whether a model class can be built class-conditional: ``sample`` takes ``labels`` and ``__init__`` takes
    ``num_classes`` (``num_classes`` is an instance attribute, which ``issubclass`` on a protocol cannot see)."""
    import inspect

    sample = getattr(cls, "sample", None)
    return (callable(sample) and "labels" in inspect.signature(sample).parameters
            and "num_classes" in inspect.signature(cls.__init__).parameters)
