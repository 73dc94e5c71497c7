"""Shareable model folders: safetensors weights plus the resolved config, no pickle.

    zoo.save_pretrained(model, "dcgan-digits/")      # model.safetensors + config.json
    model = zoo.from_pretrained("dcgan-digits/")     # eval mode, on the CPU, with its task interface

A plain function, not a ``model.save_pretrained`` method: families are plain
``LightningModule`` subclasses with no zoo base class to carry one (docs/STYLE: features by
interface, never by inheritance), and a plugin gets it without changing a line.

``config.json`` holds the registry name, the class path and the ``__init__`` arguments the
model was built with (``model.hparams``, as ``save_hyperparameters`` recorded them), so the
folder is rebuilt by calling the registered class, never by unpickling. Only registered
classes (built-in or plugin) are imported, as with checkpoints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo import registry
from zoo.errors import ZooError

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT_VERSION = 1
# Lightning's CLI records how it built a module; this is the one instantiator a folder may name.
CLI_INSTANTIATOR = "lightning.pytorch.cli.instantiate_module"


def _plain(value: Any, name: str) -> Any:
    """``value`` as JSON data (tuples become lists), or a ZooError naming the hyper-parameter."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item, name) for item in value]
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(key): _plain(item, f"{name}.{key}") for key, item in value.items()}
    raise ZooError(f"hyper-parameter '{name}' holds a {type(value).__name__}, which config.json cannot hold as plain "
                   "data; build the model with plain values (a config dict, not an object) to share it")


def save_pretrained(model, directory: str | Path) -> Path:
    """Write ``model``'s weights (``model.safetensors``) and resolved config (``config.json``) into ``directory``."""
    from zoo.exporting import optional_import

    save_model = optional_import("safetensors.torch").save_model

    cls = type(model)
    name = registry.name_of(cls, "model")
    if name is None:
        raise ZooError(f"{registry.class_path_of(cls)} is not a registered zoo model; register it through the "
                       "zoo.models entry-point group (docs/plugins.md) so from_pretrained can find it")
    hparams = dict(getattr(model, "hparams", {}))
    instantiator = hparams.pop("_instantiator", None)
    hparams.pop("_class_path", None)
    config = {
        "zoo_format": FORMAT_VERSION,
        "model": name,
        "class_path": registry.class_path_of(cls),
        "instantiator": CLI_INSTANTIATOR if instantiator is not None else None,
        "init_args": {key: _plain(value, key) for key, value in hparams.items()},
    }
    directory = Path(directory).expanduser()
    directory.mkdir(parents=True, exist_ok=True)
    # save_model (not save_file) keeps one copy of tensors that share storage, e.g. tied weights.
    save_model(model, str(directory / WEIGHTS_FILE))
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return directory


def read_config(directory: str | Path) -> dict[str, Any]:
    path = Path(directory).expanduser() / CONFIG_FILE
    if not path.is_file():
        raise ZooError(f"{path.parent} is not a zoo pretrained folder: it has no {CONFIG_FILE}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ZooError(f"{path} is not valid JSON: {exc}") from exc


def from_pretrained(directory: str | Path):
    """The model a :func:`save_pretrained` folder holds, in eval mode on the CPU; its class found in the registry."""
    from zoo.exporting import optional_import

    load_model = optional_import("safetensors.torch").load_model

    directory = Path(directory).expanduser()
    config = read_config(directory)
    target = ":".join(str(config.get("class_path", "")).rsplit(".", 1))
    entry = registry.entries("model").get(config.get("model"))
    if entry is None or entry.target != target:
        raise ZooError(f"{directory} holds a {config.get('class_path')} registered as '{config.get('model')}', which "
                       "no installed package registers; install the plugin that provides it (see `zoo list`)")
    cls = entry.load()
    init_args = config.get("init_args", {})
    if config.get("instantiator") == CLI_INSTANTIATOR:
        # Built by `zoo fit`: the arguments are LightningCLI's config (optimizers as class_path dicts).
        from lightning.pytorch.cli import instantiate_module

        model = instantiate_module(cls, init_args)
    else:
        model = cls(**init_args)
    missing, unexpected = load_model(model, str(directory / WEIGHTS_FILE), strict=False)
    if missing or unexpected:
        raise ZooError(f"{directory / WEIGHTS_FILE} does not fit {entry.name} built from {CONFIG_FILE}: "
                       f"missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}")
    return model.eval()


def load(path: str | Path):
    """Any saved model, in eval mode on the CPU: a Lightning checkpoint file or a :func:`save_pretrained` folder."""
    path = Path(path).expanduser()
    if path.is_dir():
        return from_pretrained(path)
    from zoo.checkpoints import load_model

    return load_model(path)
