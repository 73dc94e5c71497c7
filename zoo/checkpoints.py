"""Load any registered model from a Lightning checkpoint, its class read from the checkpoint.

``zoo fit`` checkpoints record the class (``hyper_parameters._class_path``, written by
LightningCLI); for checkpoints saved through the Python API each registered model is tried
in turn. Only registered classes (built-in or plugin) are ever imported, never a class path
read from an untrusted file. Used by ``zoo sample``, ``encode``, ``score`` and ``translate``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from zoo import registry
from zoo.errors import ZooError


def last_checkpoints(folder: Path) -> list[Path]:
    """Every ``last.ckpt`` under ``folder`` (runs of any depth), oldest first; none when the folder is missing."""
    if not folder.is_dir():
        return []
    return sorted(folder.glob("**/last.ckpt"), key=lambda candidate: candidate.stat().st_mtime)


def newest_checkpoint(path: Path) -> Path:
    """A checkpoint file as given; a run folder (``runs/dcgan/version_3``) or a folder of runs (``runs/dcgan``)
    stands for its newest ``last.ckpt``, so commands need not name the version a fit happened to get."""
    if not path.is_dir():
        return path
    found = last_checkpoints(path)
    if not found:
        raise ZooError(f"{path} is a folder with no last.ckpt under it; pass a checkpoint file or a run folder")
    return found[-1]


def read_checkpoint(path: Path) -> dict:
    """The checkpoint's contents (tensors and plain data only: ``weights_only=True``), or a one-line ZooError."""
    if not path.is_file():
        raise ZooError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a file that is not a checkpoint
        # The first sentence: torch's weights-only refusal goes on to suggest weights_only=False, which is unsafe.
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0].rstrip(".")
        raise ZooError(f"{path} is not a readable Lightning checkpoint ({type(exc).__name__}: {first}); the zoo "
                       "loads only tensors and plain data (torch.load(weights_only=True))") from exc
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ZooError(f"{path} is not a Lightning checkpoint (it holds no state_dict)")
    return checkpoint


def check_hyperparameters(cls: type, checkpoint: dict, path: Path) -> None:
    """Refuse a checkpoint whose hyper-parameters ``cls`` does not take: one written by a newer zoo.

    Lightning drops such keys without a word, and the model would come back built differently from the
    one that was trained.
    """
    import inspect

    accepted = set(list(inspect.signature(cls.__init__).parameters)[1:])
    stored = [name for name in checkpoint.get("hyper_parameters", {}) if not name.startswith("_")]
    unknown = [name for name in stored if name not in accepted]
    if unknown:
        name = registry.display_name(cls, "model")
        raise ZooError(f"checkpoint {path} has hyper-parameter(s) {', '.join(unknown)} that {name} in this zoo "
                       f"does not know (zoo {_zoo_version()}); it was written by a newer zoo: upgrade zoo to load it")


def _zoo_version() -> str:
    from zoo import __version__

    return __version__


def load_model(path: str | Path):
    """The LightningModule stored in a checkpoint, in eval mode on the CPU; its class found as the module says."""
    path = newest_checkpoint(Path(path).expanduser())
    checkpoint = read_checkpoint(path)
    class_path = checkpoint.get("hyper_parameters", {}).get("_class_path")
    entries = registry.entries("model")
    if class_path is not None:
        target = ":".join(class_path.rsplit(".", 1))
        matching = [entry for entry in entries.values() if entry.target == target]
        if not matching:
            raise ZooError(f"checkpoint {path} holds a {class_path}, which no installed package registers as a zoo "
                           "model; install the plugin that provides it (see `zoo list`)")
        candidates = matching
    else:
        candidates = list(entries.values())
    failures = []
    for entry in candidates:
        try:
            cls = entry.load()
        except ZooError as exc:
            failures.append(str(exc))
            continue
        if class_path is not None:
            check_hyperparameters(cls, checkpoint, path)
        try:
            model = cls.load_from_checkpoint(path, map_location="cpu")
        except Exception as exc:  # a model of another class fails to load its state or its hyper-parameters
            if class_path is not None:
                raise ZooError(f"checkpoint {path} does not load into {entry.name}: {type(exc).__name__}: "
                               f"{(str(exc).strip().splitlines() or [''])[0]}") from exc
            failures.append(f"{entry.name}: {type(exc).__name__}")
            continue
        return model.eval()
    raise ZooError(f"checkpoint {path} does not load into any registered model (tried {', '.join(failures)})")


def load_with(checkpoint: str | Path, protocol: type, refusal: str):
    """The checkpoint's model (:func:`load_model`), refused in one line when it lacks ``protocol``.

    ``refusal`` is the command's own sentence, formatted with ``checkpoint``, ``name`` (the model's
    registry name), ``task`` (its declared task, or "another") and ``models`` (the registered models
    that offer ``protocol``, so the hint never names a model by hand).
    """
    from zoo import interfaces

    model = load_model(checkpoint)
    if not isinstance(model, protocol):
        raise ZooError(refusal.format(checkpoint=checkpoint, name=registry.display_name(type(model), "model"),
                                      task=interfaces.declared_task(model) or "another",
                                      models=", ".join(interfaces.registered_with(protocol))))
    return model
