"""Class-conditional generation, the parts the conditional families share (vae, dcgan).

A family takes ``conditional: bool = False`` and ``num_classes: int = 0``; the CLI links
``num_classes`` from the datamodule (as it links ``image_shape``), so ``--model.conditional true``
is all a user types and the class count cannot disagree with the data. A conditional model has
``num_classes`` and ``sample(n, generator, labels)`` (:class:`zoo.interfaces.ConditionalGeneration`);
an unconditional one has neither attribute nor extra parameters, its state_dict unchanged.
"""

from __future__ import annotations

from typing import Any

import torch

from zoo.errors import ZooError


def conditional_classes(family: str, conditional: bool, num_classes: int) -> int:
    """How many classes a family conditions on: 0 when unconditional; refuses a conditional model without labels."""
    if not conditional:
        return 0
    if num_classes < 1:
        raise ZooError(f"{family}: --model.conditional true needs labelled data (a datamodule with num_classes, e.g. "
                       "--data digits or a folder with one sub-folder per class); this data has no classes")
    return num_classes


def network_labels(model: Any, labels: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    """The extra arguments of a model's networks: ``(labels,)`` when it is conditional, ``()`` otherwise."""
    if not hasattr(model, "num_classes"):
        return ()
    if labels is None:
        raise ZooError(f"this {type(model).__name__} is class-conditional: pass the images' labels")
    return (labels.long().to(model.device),)


def example_input(model: Any, inputs_shape: tuple[int, ...]) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """Two zero inputs of ``forward`` (and their labels when ``model`` is conditional): Lightning's model summary
    runs them once at the start of a fit to show each network's input and output sizes and its FLOPs."""
    inputs = torch.zeros(2, *inputs_shape)
    return (inputs, torch.zeros(2, dtype=torch.long)) if hasattr(model, "num_classes") else inputs


def sample_labels(model: Any, n: int, labels: torch.Tensor | None, rng: torch.Generator | None) -> torch.Tensor | None:
    """The (n,) class labels of a ``sample`` call: ``labels`` checked, or drawn uniformly from ``rng``; None when
    ``model`` is unconditional (which refuses labels rather than ignore them)."""
    num_classes = getattr(model, "num_classes", 0)
    if not num_classes:
        if labels is not None:
            raise ZooError(f"sample: this {type(model).__name__} is not class-conditional; it takes no labels")
        return None
    if labels is None:
        labels = torch.randint(num_classes, (n,), generator=rng, device=rng.device if rng is not None else "cpu")
    labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    if labels.numel() == 1 and n != 1:
        labels = labels.expand(n)
    if labels.numel() != n:
        raise ZooError(f"sample: {labels.numel()} labels for {n} images")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ZooError(f"sample: labels must lie in range({num_classes}), got {sorted(set(labels.tolist()))}")
    return labels.to(model.device)


def batch_labels(batch: Any, num_classes: int) -> torch.Tensor:
    """The labels of an ``(images, labels)`` batch, for a conditional training step."""
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise ZooError("a conditional model needs (images, labels) batches; this datamodule gives no labels")
    return batch[1].long()


def one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(labels.long(), num_classes).float()


def class_names_of(model: Any) -> list[str]:
    """A conditional model's class names: the data's, kept in its checkpoint, else the label indices."""
    names = getattr(model, "class_names", None)
    return list(names) if names and len(names) == model.num_classes else [str(i) for i in range(model.num_classes)]


def load_class_names(model: Any, checkpoint: dict) -> None:
    if checkpoint.get("class_names"):
        model.class_names = list(checkpoint["class_names"])


def save_class_names(model: Any, checkpoint: dict) -> None:
    """Keep the datamodule's class names in a conditional model's checkpoint (``zoo sample`` names folders by them)."""
    trainer = getattr(model, "_trainer", None)
    names = getattr(getattr(trainer, "datamodule", None), "class_names", None)
    if names and len(names) == getattr(model, "num_classes", 0):
        checkpoint["class_names"] = [str(name) for name in names]
