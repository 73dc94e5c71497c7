"""Anomaly decisions: a threshold chosen on validation and kept in the checkpoint, normalized scores, anomaly maps.

A score is not a decision. :class:`AnomalyThreshold` is the callback the CLI attaches to every
``zoo fit``; for a model with ``anomaly_score(x)`` it scores the validation split after every
validation and writes into each checkpoint (under ``"anomaly_threshold"``):

- ``threshold``: a score above it is an anomaly. With normal-only validation data (one-class
  training, ``--data.normal_classes``) it is the ``quantile`` of the normal scores
  (``--anomaly.quantile 0.99``: about 1% of normal inputs flagged); when validation holds
  labelled anomalies (classes outside the datamodule's ``normal_classes``) it is the threshold
  that maximises F1 on them.
- ``min`` / ``max`` of the validation scores and ``normal_quantiles`` (the normal scores at
  quantiles 0, 0.001, ..., 1), so ``zoo score --threshold-quantile Q`` picks another quantile
  without scoring validation again, and scores can be normalized like anomalib's: the threshold
  maps to 0.5, ``(score - threshold) / (max - min) + 0.5`` clipped to [0, 1].

``zoo score`` reads it back (:func:`read_threshold`) and returns a decision on unlabelled data.
Anomaly maps (:func:`error_maps`, :func:`write_map_sheet`) are the per-pixel reconstruction
error of models with ``encode``/``decode``, drawn over the inputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch

from zoo.errors import ZooError
from zoo.interfaces import AnomalyScoring

CHECKPOINT_KEY = "anomaly_threshold"
QUANTILE_GRID = torch.linspace(0.0, 1.0, 1001, dtype=torch.float64)


def order_preserving_unit(scores: torch.Tensor) -> torch.Tensor:
    """Scores as dense ranks scaled to [0, 1] (ties stay ties).

    torchmetrics reads binary predictions outside [0, 1] as logits and squashes them; AUROC, AUPR
    and the best threshold depend only on the order, so ranks give the same values safely.
    """
    _, ranks = torch.unique(scores, return_inverse=True)
    return ranks.double() / max(1, int(ranks.max()))


def f1_optimal_threshold(scores: torch.Tensor, anomalous: torch.Tensor) -> tuple[float, float]:
    """The score threshold (``score > threshold`` is an anomaly) with the highest F1 on labelled data, and that F1."""
    from torchmetrics.functional.classification import binary_precision_recall_curve

    scores = scores.double()
    unit = order_preserving_unit(scores)
    precision, recall, unit_thresholds = binary_precision_recall_curve(unit, anomalous.long())
    f1 = 2 * precision * recall / (precision + recall).clamp_min(1e-12)
    best = int(f1[:-1].argmax())  # the last point (recall 0) has no threshold
    # torchmetrics flags ``unit >= t``; place the score threshold just below the first flagged score.
    flagged = scores[unit >= unit_thresholds[best]]
    below = scores[unit < unit_thresholds[best]]
    threshold = (float(flagged.min()) + float(below.max())) / 2 if len(below) else float(flagged.min()) - 1e-12
    return threshold, float(f1[best])


def threshold_state(scores: torch.Tensor, labels: torch.Tensor | None, normal_ids: list[int] | None,
                    quantile: float) -> dict[str, Any]:
    """What the checkpoint keeps: the threshold and how it was chosen, and the statistics that normalize scores."""
    scores = scores.double()
    anomalous = None
    if labels is not None and normal_ids is not None:
        anomalous = ~torch.isin(labels, torch.tensor(normal_ids, dtype=labels.dtype))
    normal_scores = scores if anomalous is None else scores[~anomalous]
    if anomalous is not None and anomalous.any() and (~anomalous).any():
        threshold, f1 = f1_optimal_threshold(scores, anomalous)
        method = "f1"
    else:
        normal_scores = scores
        threshold, f1, method = float(torch.quantile(scores, quantile)), None, "quantile"
    return {
        "threshold": threshold,
        "method": method,
        "quantile": quantile if method == "quantile" else None,
        "f1": f1,
        "min": float(scores.min()),
        "max": float(scores.max()),
        "normal_quantiles": torch.quantile(normal_scores, QUANTILE_GRID).tolist(),
        "num_scores": len(scores),
        "num_anomalies": int(anomalous.sum()) if anomalous is not None else 0,
    }


def threshold_at_quantile(state: dict[str, Any], quantile: float) -> float:
    """The stored normal validation scores' ``quantile`` (0-1), interpolated on the stored grid."""
    if not 0.0 <= quantile <= 1.0:
        raise ZooError(f"--threshold-quantile must be between 0 and 1, got {quantile}")
    grid = torch.tensor(state["normal_quantiles"], dtype=torch.float64)
    position = quantile * (len(grid) - 1)
    low = int(position)
    high = min(low + 1, len(grid) - 1)
    return float(grid[low] + (grid[high] - grid[low]) * (position - low))


def normalize(scores: torch.Tensor, threshold: float, minimum: float, maximum: float) -> torch.Tensor:
    """anomalib's min-max normalization: the threshold maps to 0.5, clipped to [0, 1]."""
    return ((scores.double() - threshold) / max(maximum - minimum, 1e-12) + 0.5).clamp(0.0, 1.0)


def read_threshold(checkpoint_path: str | Path) -> dict[str, Any] | None:
    """The threshold state a fit stored in the checkpoint, or None (fitted without the callback, or no validation)."""
    from zoo.checkpoints import newest_checkpoint

    checkpoint = torch.load(newest_checkpoint(Path(checkpoint_path).expanduser()), map_location="cpu",
                            weights_only=True)
    return checkpoint.get(CHECKPOINT_KEY)


def _gather(pl_module: L.LightningModule, values: torch.Tensor) -> torch.Tensor:
    """Every process's values (different counts allowed), concatenated; a no-op on one process."""
    if pl_module.trainer.world_size <= 1:
        return values
    count = torch.tensor([len(values)], device=pl_module.device)
    counts = pl_module.all_gather(count).flatten().tolist()
    padded = torch.zeros(max(counts), dtype=values.dtype, device=pl_module.device)
    padded[: len(values)] = values.to(pl_module.device)
    gathered = pl_module.all_gather(padded)
    return torch.cat([gathered[rank, :n] for rank, n in enumerate(counts)]).cpu()


class AnomalyThreshold(L.Callback):
    """Score the validation split after every validation and keep the anomaly threshold in each checkpoint.

    Nothing happens for models without ``anomaly_score``. Every process scores its shard; the
    scores are gathered, so all processes hold the same threshold and the checkpoint (written by
    rank 0) holds the one-process value.
    """

    def __init__(self, quantile: float = 0.99) -> None:
        """
        Args:
            quantile: with normal-only validation data, the threshold is this quantile of the normal
                validation scores (0.99: about 1 in 100 normal inputs is flagged). With labelled
                anomalies in validation the F1-optimal threshold is used instead.
        """
        super().__init__()
        if not 0.0 < quantile <= 1.0:
            raise ZooError(f"anomaly quantile must be in (0, 1], got {quantile}")
        self.quantile = quantile
        self.state: dict[str, Any] | None = None
        self._scores: list[torch.Tensor] = []
        self._labels: list[torch.Tensor] = []

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._scores, self._labels = [], []

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if trainer.sanity_checking or not isinstance(pl_module, AnomalyScoring) or not isinstance(batch, (tuple, list)):
            return
        self._scores.append(pl_module.anomaly_score(batch[0]).detach().double().flatten())
        if len(batch) > 1 and self._labels is not None:
            self._labels.append(torch.as_tensor(batch[1]).detach().long().flatten())
        else:
            self._labels = None

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not self._scores:
            return
        scores = _gather(pl_module, torch.cat(self._scores).to(pl_module.device))
        labels = _gather(pl_module, torch.cat(self._labels).to(pl_module.device)) if self._labels else None
        normal_ids = getattr(trainer.datamodule, "normal_class_ids", None) if trainer.datamodule else None
        self.state = threshold_state(scores.cpu(), labels.cpu() if labels is not None else None, normal_ids,
                                     self.quantile)
        self.state["epoch"] = trainer.current_epoch
        self.state["normal_classes"] = normal_ids
        pl_module.log("val/anomaly_threshold", self.state["threshold"], sync_dist=False)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        if self.state is not None:
            checkpoint[CHECKPOINT_KEY] = self.state

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        self.state = checkpoint.get(CHECKPOINT_KEY, self.state)


# --------------------------------------------------------------------------------- anomaly maps


@torch.no_grad()
def error_maps(model: Any, images: torch.Tensor, sigma: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Reconstructions (N, C, H, W) and per-pixel squared error averaged over channels (N, H, W).

    ``sigma > 0`` smooths the error with a Gaussian of that standard deviation in pixels (as
    anomalib smooths its maps): isolated pixel noise fades, regions that fail to reconstruct stay.
    """
    reconstructions = model.decode(model.encode(images)).float().clamp(0, 1)
    errors = (reconstructions - images.float()).pow(2).mean(1, keepdim=True)
    if sigma > 0:
        from torchvision.transforms.v2.functional import gaussian_blur

        size = 2 * int(round(3 * sigma)) + 1
        errors = gaussian_blur(errors, kernel_size=[size, size], sigma=[sigma, sigma])
    return reconstructions, errors[:, 0]


def write_map_sheet(path: Path, title: str, images: torch.Tensor, reconstructions: torch.Tensor,
                    errors: torch.Tensor, captions: list[str], vmax: float) -> None:
    """One PNG: a row per input, input | reconstruction | error heat map over the input, one colour scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = len(images)
    figure, axes = plt.subplots(rows, 3, figsize=(6.6, 2.0 * rows + 0.6), dpi=100, squeeze=False,
                                layout="constrained")

    def shown(image: torch.Tensor):
        return image[0].numpy() if image.shape[0] == 1 else image.permute(1, 2, 0).numpy()

    for row in range(rows):
        image, reconstruction = images[row].float().cpu(), reconstructions[row].float().cpu()
        grey = image.mean(0).numpy()
        axes[row, 0].imshow(shown(image), cmap="gray", vmin=0, vmax=1)
        axes[row, 1].imshow(shown(reconstruction), cmap="gray", vmin=0, vmax=1)
        axes[row, 2].imshow(grey, cmap="gray", vmin=0, vmax=1)
        heat = axes[row, 2].imshow(errors[row].cpu().numpy(), cmap="jet", alpha=0.55, vmin=0, vmax=vmax)
        axes[row, 0].set_ylabel(captions[row], fontsize=7, rotation=0, ha="right", va="center")
        for column in range(3):
            axes[row, column].set_xticks([])
            axes[row, column].set_yticks([])
    for column, name in enumerate(("input", "reconstruction", "squared error")):
        axes[0, column].set_title(name, fontsize=9)
    figure.suptitle(title, fontsize=10)
    figure.colorbar(heat, ax=axes[:, 2].tolist(), shrink=0.6, label="per-pixel error (same scale on every sheet)")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
