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


def newest_checkpoint(path: Path) -> Path:
    """A checkpoint file as given; a run folder (``runs/dcgan/version_3``) or a folder of runs (``runs/dcgan``)
    stands for its newest ``last.ckpt``, so commands need not name the version a fit happened to get."""
    if not path.is_dir():
        return path
    found = sorted(path.glob("**/last.ckpt"), key=lambda candidate: candidate.stat().st_mtime)
    if not found:
        raise ZooError(f"{path} is a folder with no last.ckpt under it; pass a checkpoint file or a run folder")
    return found[-1]


def _read_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise ZooError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a file that is not a checkpoint
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ZooError(f"{path} is not a readable Lightning checkpoint ({type(exc).__name__}: {first_line})") from exc


def load_model(path: str | Path):
    """The LightningModule stored in a checkpoint, in eval mode on the CPU; its class found as the module says."""
    path = newest_checkpoint(Path(path).expanduser())
    checkpoint = _read_checkpoint(path)
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
