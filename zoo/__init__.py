"""zoo: a Lightning model zoo for autoencoders and GANs.

Families are plain ``LightningModule`` classes registered through the ``zoo.models``
entry-point group; datamodules through ``zoo.datamodules``. See ``zoo list``.
"""

from zoo.errors import ZooError

__version__ = "0.1.0"
__all__ = ["ZooError", "__version__"]
