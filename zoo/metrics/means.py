"""Epoch means of evaluation values (losses, D(x), Wasserstein estimates), exact over several processes.

Why not ``self.log(value, sync_dist=True)``: Lightning reduces its per-process image counts
as integers with a mean, which truncates (9 images on 2 processes count as 4 each) whenever
an evaluation split does not divide evenly, and under DDP the zoo's evaluation splits are not
padded to divide evenly (see :func:`zoo.data.base.unrepeated_distributed_sampler`). torchmetrics'
``MeanMetric`` sums values and weights in floating point and reduces by sum, so two
processes report what one would.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torchmetrics import Metric
from torchmetrics.aggregation import MeanMetric


def reset_if_inference(*metrics: Metric) -> None:
    """Start metrics afresh when their states are inference tensors.

    States last reset under ``trainer.validate`` (inference mode) cannot be updated in place by
    validation inside ``trainer.fit`` (no_grad); they hold nothing yet, so a reset loses nothing.
    """
    if torch.is_inference_mode_enabled():
        return
    for metric in metrics:
        states = [getattr(metric, name) for name in metric._defaults]
        if any(isinstance(state, torch.Tensor) and state.is_inference() for state in states):
            metric.reset()


class EvaluationMeans(nn.Module):
    """Batch-weighted epoch means of named per-batch values, logged as ``{stage}/{name}``."""

    def __init__(self, *names: str, prog_bar: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.means = nn.ModuleDict({name: MeanMetric() for name in names})
        self.prog_bar = prog_bar

    def log(self, module: L.LightningModule, stage: str, batch_size: int, **values: torch.Tensor) -> None:
        """Add one batch's mean values (each over ``batch_size`` images) and log the running epoch means."""
        reset_if_inference(*(self.means[name] for name in values))
        for name, value in values.items():
            mean = self.means[name]
            mean.update(value.detach().float(), weight=batch_size)
            module.log(f"{stage}/{name}", mean, on_step=False, on_epoch=True, prog_bar=name in self.prog_bar)
