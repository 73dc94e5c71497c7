"""Training-time callbacks that switch on by interface, so a plugin model gets them without inheriting from us.

:class:`SampleGridCallback` serves every model with ``sample(n, generator=None)`` (the
generation task: the GANs, the VAE): a grid of samples from the same fixed noise after every
validation, so one run's grids show the same latent points improving, written through
whatever logger is attached.
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import Logger, TensorBoardLogger, WandbLogger
from torchvision.utils import make_grid, save_image

from zoo.errors import ZooError


def can_sample(model: L.LightningModule) -> bool:
    """True when the model offers the generation interface ``sample(n, generator=None)``."""
    return callable(getattr(model, "sample", None))


class SampleGridCallback(L.Callback):
    """A grid of ``num_samples`` images from fixed noise after validation, sent to every attached logger.

    W&B gets ``log_image``, TensorBoard ``add_image``; any other logger (CSV, none) gets a PNG
    at ``<log_dir>/samples/epoch=003.png``. Rank 0 only, never during the sanity check, and
    nothing at all for models without ``sample``.
    """

    def __init__(self, num_samples: int = 64, every_n_epochs: int = 1, seed: int = 0, key: str = "samples") -> None:
        """
        Args:
            num_samples: images per grid, laid out in a square-ish grid.
            every_n_epochs: write a grid after the validation of every n-th training epoch.
            seed: seed of the fixed noise, the same for every grid of the run.
            key: the name images are logged under (and the folder the PNGs go to).
        """
        super().__init__()
        if num_samples < 1 or every_n_epochs < 1:
            raise ZooError(f"SampleGridCallback needs num_samples >= 1 and every_n_epochs >= 1, "
                           f"got {num_samples} and {every_n_epochs}")
        self.num_samples = num_samples
        self.every_n_epochs = every_n_epochs
        self.seed = seed
        self.key = key

    def sample_grid(self, model: L.LightningModule) -> torch.Tensor:
        """The grid as a float image (3, H, W) in [0, 1], from this callback's fixed noise."""
        # A CPU generator: the same noise whatever device the model is on.
        images = model.sample(self.num_samples, generator=torch.Generator().manual_seed(self.seed))
        nrow = math.ceil(math.sqrt(self.num_samples))
        return make_grid(images.detach().float().cpu().clamp(0, 1), nrow=nrow, padding=2)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not can_sample(pl_module):
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs != 0 or not trainer.is_global_zero:
            return
        grid = self.sample_grid(pl_module)
        loggers: list[Logger] = list(trainer.loggers)
        if not loggers:
            self._save_png(grid, trainer.default_root_dir, trainer.current_epoch)
        for logger in loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(key=self.key, images=[grid], step=trainer.global_step)
            elif isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(self.key, grid, global_step=trainer.global_step)
            else:
                self._save_png(grid, logger.log_dir or trainer.default_root_dir, trainer.current_epoch)

    def _save_png(self, grid: torch.Tensor, directory: str | Path, epoch: int) -> None:
        path = Path(directory) / self.key / f"epoch={epoch:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(grid, path)
