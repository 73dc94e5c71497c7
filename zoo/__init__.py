"""zoo: a Lightning model zoo for autoencoders and GANs.

Families are plain ``LightningModule`` classes registered through the ``zoo.models``
entry-point group; datamodules through ``zoo.datamodules``. See ``zoo list``.

Python API (docs/deploy.md): ``zoo.load(PATH)`` returns a checkpoint's (or a pretrained
folder's) model in eval mode; ``zoo.save_pretrained(model, DIR)`` / ``zoo.from_pretrained(DIR)``
write and read safetensors weights plus the config; ``zoo.export(model, "onnx", FILE)``.
Each imports torch only when called, so ``import zoo`` stays light.
"""

from zoo.errors import ZooError

__version__ = "0.1.0"
__all__ = ["ZooError", "__version__", "export", "from_pretrained", "load", "save_pretrained"]


def load(path):
    """Any saved model in eval mode on the CPU: a Lightning checkpoint file or a ``save_pretrained`` folder."""
    from zoo.pretrained import load as load_any

    return load_any(path)


def save_pretrained(model, directory):
    """Write ``model.safetensors`` and ``config.json`` (no pickle) into ``directory``; returns the folder."""
    from zoo.pretrained import save_pretrained as save

    return save(model, directory)


def from_pretrained(directory):
    """The model a ``save_pretrained`` folder holds, in eval mode on the CPU."""
    from zoo.pretrained import from_pretrained as read

    return read(directory)


def export(model, format, out, task=None, direction="AtoB"):
    """Write ``model``'s inference graph as ONNX or TorchScript and check it against PyTorch (see zoo.exporting)."""
    from zoo.exporting import export as write

    return write(model, format, out, task, direction)
